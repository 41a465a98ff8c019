"""The metrics page: how fast the first line answers, how long handoffs wait for a person, and
what customers write about, over the last day or week.

Every signed-in role may read it: agents and admins watch the pace of the queue, and trainers
need the volume by intent and topic to see where the training data matters most. The figures are
those of `GET /api/metrics` (`bot.store.reporting`); the charts are inline SVG drawn on the server
(`bot.charts`), so the page needs no script and works under the console's strict CSP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.charts import bar_chart, line_chart
from bot.console.auth import READ
from bot.console.context import Console, human_duration
from bot.input_limits import ascii_int
from bot.messages import utcnow
from bot.metrics import BUCKETS

__all__ = ["WINDOWS", "metrics_context", "metrics_routes"]

WINDOWS = {24: "24 hours", 168: "7 days"}
"""The window selector's choices, in hours (the same unit as `/api/metrics?hours=`)."""
_DEFAULT_BUCKET = {24: "hour", 168: "day"}
_LABEL_FORMAT = {"hour": "%d %b %H:%M", "day": "%a %d %b"}


def _choice(request: Request) -> tuple[int, str]:
    """The window and bucket asked for; anything unknown falls back to the last 24 hours."""
    try:
        hours = ascii_int(request.query_params.get("hours"))
    except ValueError:
        hours = 24
    if hours not in WINDOWS:
        hours = 24
    bucket = request.query_params.get("bucket", "")
    return hours, bucket if bucket in BUCKETS else _DEFAULT_BUCKET[hours]


def _quantiles(figures: dict[str, Any], scale: float = 1.0) -> dict[str, float | None]:
    return {q: None if figures.get(q) is None else figures[q] / scale for q in ("p50", "p90")}


def _duration(seconds: float | None) -> str:
    """Tenths of a second below a minute: the bot answers in well under one."""
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 60 else human_duration(seconds)


def _svg(data: object, draw: Callable[[], str]) -> Markup | None:
    """The chart as markup for the template (`bot.charts` escapes its labels), or None: an
    empty window gets a sentence, not an empty frame."""
    return Markup(draw()) if data else None


def metrics_context(snapshot: dict[str, Any], hours: int, bucket: str) -> dict[str, Any]:
    """What the page shows of one snapshot (see `bot.metrics.snapshot`): figures and charts."""
    acks: dict[str, dict[str, Any]] = snapshot["first_ack_seconds"]
    pickup: dict[str, Any] = snapshot["pickup_seconds"]
    volume: dict[str, Any] = snapshot["volume"]
    labels = [datetime.fromisoformat(s).strftime(_LABEL_FORMAT[bucket]) for s in volume["starts"]]
    by_intent: dict[str, list[int]] = volume["by_intent"]
    by_topic: dict[str, list[int]] = volume["by_topic"]
    spend: dict[str, dict[str, float]] = snapshot.get("x_spend_usd") or {}
    today = max(spend) if spend else ""
    return {
        "hours": hours,
        "bucket": bucket,
        "windows": WINDOWS,
        "buckets": list(BUCKETS),
        "handoffs": snapshot["handoffs"],
        "messages": sum(sum(values) for values in by_intent.values()),
        "chatter_unanswered": snapshot["chatter_unanswered"],
        "acks": [
            (platform, figures["count"], _duration(figures["p50"]), _duration(figures["p90"]))
            for platform, figures in acks.items()
        ],
        "pickup": (pickup["count"], _duration(pickup["p50"]), _duration(pickup["p90"])),
        "ack_chart": _svg(
            acks,
            lambda: bar_chart(
                "Time to first acknowledgement per platform, seconds (p50, p90)",
                {platform: _quantiles(figures) for platform, figures in acks.items()},
            ),
        ),
        "pickup_chart": _svg(
            pickup["count"],
            lambda: bar_chart(
                "Time from handoff to a person picking it up, minutes (p50, p90)",
                {"handoffs": _quantiles(pickup, 60.0)},
                unit="min",
            ),
        ),
        "intent_chart": _svg(by_intent, lambda: line_chart("Customer messages by intent", labels, by_intent)),
        "topic_chart": _svg(by_topic, lambda: line_chart("Customer messages by topic", labels, by_topic)),
        "x_spend_today": sum((spend.get(today) or {}).values()) if spend else None,
        "x_spend_chart": _svg(
            any(spend.values()),
            lambda: bar_chart(
                "What X charged per UTC day, USD, by operation",
                {day[5:]: dict(operations) for day, operations in spend.items()},
                unit="USD",
            ),
        ),
    }


def metrics_routes(console: Console) -> list[BaseRoute]:
    reporting = console.service.reporting

    @console.guard(READ)
    async def metrics_page(request: Request) -> Response:
        hours, bucket = _choice(request)
        # The store is read synchronously; a week of messages should not hold up the event loop.
        snapshot = await run_in_threadpool(reporting.snapshot, utcnow(), timedelta(hours=hours), bucket)
        return console.render(request, "metrics.html", metrics_context(snapshot, hours, bucket))

    return [Route("/console/metrics", metrics_page)]
