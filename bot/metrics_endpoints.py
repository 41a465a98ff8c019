"""The first line's figures over HTTP: for Prometheus at `GET /metrics`, and as JSON for the
console's metrics page at `GET /api/metrics?hours=24&bucket=hour`.

A custom collector reads the store on each scrape instead of counting in memory: several
instances share one store, so any one of them reports the same truth, and a restart loses no
count. Quantiles cover a sliding window (24 hours unless told otherwise); counters are totals.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.messages import utcnow
from bot.metrics import BUCKETS, QUANTILES, Distribution, by_platform, distribution
from bot.store.reporting import Reporting

__all__ = ["MAX_WINDOW", "WINDOW", "FirstlineCollector", "metrics_endpoint", "snapshot_endpoint"]

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=92)


def _summary(
    name: str, documentation: str, labelled: dict[tuple[tuple[str, str], ...], Distribution]
) -> Metric:
    """A summary family: quantile samples, `_count` and `_sum`, for each label set."""
    family = Metric(name, documentation, "summary")
    for labels, dist in labelled.items():
        base = dict(labels)
        for q in QUANTILES:
            value = dist.quantiles.get(q)
            family.add_sample(name, {**base, "quantile": str(q)}, float("nan") if value is None else value)
        family.add_sample(f"{name}_count", base, dist.count)
        family.add_sample(f"{name}_sum", base, dist.total)
    return family


class FirstlineCollector(Collector):
    def __init__(
        self, reporting: Reporting, window: timedelta = WINDOW, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.reporting = reporting
        self.window = window
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        since = now - self.window
        window = f"over the last {self.window.total_seconds() / 3600:g} hours"

        acks = by_platform(self.reporting.ack_samples(since, now))
        yield _summary(
            "firstline_first_ack_seconds",
            f"Seconds from a customer message to the bot's first reply, by platform, {window}.",
            {(("platform", platform),): dist for platform, dist in acks.items()},
        )
        yield _summary(
            "firstline_pickup_seconds",
            f"Seconds from a handoff to a person picking it up, {window}.",
            {(): distribution(self.reporting.pickup_seconds(since, now))},
        )

        open_now = GaugeMetricFamily("firstline_handoffs_open", "Handoffs waiting for or owned by a person.")
        statuses = self.reporting.handoffs_by_status()
        open_now.add_metric([], statuses.get("open", 0))
        yield open_now
        closed = CounterMetricFamily(
            "firstline_handoffs_closed", "Handoffs closed so far, by how.", labels=["status"]
        )
        for status in ("resolved", "handed_back"):
            closed.add_metric([status], statuses.get(status, 0))
        yield closed

        by_intent = CounterMetricFamily(
            "firstline_messages", "Customer messages so far, by the intent understood.", labels=["intent"]
        )
        for intent, count in sorted(self.reporting.messages_by_intent().items()):
            by_intent.add_metric([intent], count)
        yield by_intent
        by_topic = CounterMetricFamily(
            "firstline_messages_by_topic", "Customer messages so far, by topic.", labels=["topic"]
        )
        for topic, count in sorted(self.reporting.messages_by_topic().items()):
            by_topic.add_metric([topic], count)
        yield by_topic

        # A gauge over the window, not a running counter: a person may still answer a post the
        # bot let pass, and a counter must never go down.
        chatter = GaugeMetricFamily(
            "firstline_chatter_unanswered",
            f"Public posts read as chatter that got no reply, {window}.",
        )
        chatter.add_metric([], self.reporting.chatter_unanswered(since, now))
        yield chatter

        spend = CounterMetricFamily(
            "firstline_x_api_cost_usd",
            "What X has charged so far, in USD, by operation (X's pay-per-use prices, FIRSTLINE_X_PRICES).",
            labels=["operation"],
        )
        for operation, usd in sorted(self.reporting.spend.totals("x").items()):
            spend.add_metric([operation], usd)
        yield spend

        leaders = GaugeMetricFamily(
            "firstline_poller_leader",
            "1 for the instance that polls each platform account now (one per account).",
            labels=["role", "instance"],
        )
        for held in self.reporting.leases.holders(now.timestamp()):
            leaders.add_metric([held.role, held.holder], 1)
        yield leaders

        followups = GaugeMetricFamily(
            "firstline_followups", "Follow-ups by kind and status.", labels=["kind", "status"]
        )
        for (kind, status), count in sorted(self.reporting.followups_by_status().items()):
            followups.add_metric([kind, status], count)
        yield followups


def metrics_endpoint(
    reporting: Reporting, window: timedelta = WINDOW
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint for `GET /metrics` with its own registry (one per app, not global)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FirstlineCollector(reporting, window))

    async def metrics(request: Request) -> Response:
        # The store is read synchronously; keep it off the event loop.
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics


def snapshot_endpoint(reporting: Reporting) -> Callable[[Request], Awaitable[Response]]:
    """`GET /api/metrics?hours=24&bucket=hour`: the snapshot the console charts."""

    async def snapshot(request: Request) -> Response:
        bucket = request.query_params.get("bucket", "hour")
        if bucket not in BUCKETS:
            return JSONResponse({"error": f"'bucket' is one of {', '.join(BUCKETS)}"}, status_code=400)
        try:
            hours = float(request.query_params.get("hours", "24"))
        except ValueError:
            hours = -1.0
        if not 0 < hours <= MAX_WINDOW.total_seconds() / 3600:
            return JSONResponse(
                {"error": f"'hours' is a number of hours up to {MAX_WINDOW.days * 24}"}, status_code=400
            )
        data = await run_in_threadpool(reporting.snapshot, utcnow(), timedelta(hours=hours), bucket)
        return JSONResponse(data)

    return snapshot
