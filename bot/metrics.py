"""The first line's figures from stored rows: plain computations, no I/O.

What a team lead asks of the first line: how fast does every customer hear from us (time to first
acknowledgement, per platform), how long until a person picks a handoff up, how many handoffs are
waiting and how many were resolved, and what customers write about (intent and topic over time).
`bot.store.reporting` reads the rows; the console charts the snapshot and `/metrics` exposes the
same figures to Prometheus.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "BUCKETS",
    "QUANTILES",
    "AckSample",
    "Distribution",
    "HandoffCounts",
    "Understood",
    "bucket_starts",
    "by_platform",
    "distribution",
    "percentile",
    "snapshot",
    "volume",
]

QUANTILES = (0.5, 0.9)
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class AckSample:
    """How long one customer message waited for the bot's first word."""

    platform: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Understood:
    """One inbound message with what the model made of it."""

    at: datetime
    intent: str | None
    topic: str | None


@dataclass(frozen=True, slots=True)
class HandoffCounts:
    open: int
    """Waiting for or owned by a person right now."""
    opened: int
    """Opened within the window."""
    resolved: int
    """Resolved within the window."""
    handed_back: int
    """Handed back to the bot within the window."""


@dataclass(frozen=True, slots=True)
class Distribution:
    count: int
    total: float
    quantiles: dict[float, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sum": round(self.total, 3),
            **{f"p{round(q * 100)}": _rounded(v) for q, v in self.quantiles.items()},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0..1) by linear interpolation between closest ranks; None when empty."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile lies between 0 and 1, not {q!r}")
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: Iterable[float], quantiles: Sequence[float] = QUANTILES) -> Distribution:
    # A clock that went backwards between two instances says nothing about speed: leave it out.
    kept = [v for v in values if v >= 0 and math.isfinite(v)]
    return Distribution(len(kept), sum(kept), {q: percentile(kept, q) for q in quantiles})


def by_platform(samples: Iterable[AckSample]) -> dict[str, Distribution]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        grouped[sample.platform].append(sample.seconds)
    return {platform: distribution(values) for platform, values in sorted(grouped.items())}


def bucket_starts(start: datetime, end: datetime, bucket: str) -> list[datetime]:
    """The starts of the hours or days (UTC) that `[start, end)` touches."""
    size = BUCKETS[bucket]
    first = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        first = first.replace(hour=0)
    starts = []
    while first < end:
        starts.append(first)
        first += size
    return starts


def volume(
    messages: Iterable[Understood], start: datetime, end: datetime, bucket: str = "day"
) -> dict[str, Any]:
    """Messages per intent and per topic in each hour or day of the window, as chart series."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket is one of {', '.join(BUCKETS)}, not {bucket!r}")
    starts = bucket_starts(start, end, bucket)
    size = BUCKETS[bucket]
    by_intent: dict[str, Counter[int]] = defaultdict(Counter)
    by_topic: dict[str, Counter[int]] = defaultdict(Counter)
    for message in messages:
        if not (start <= message.at < end) or not starts:
            continue
        index = int((message.at - starts[0]) / size)
        by_intent[message.intent or "unknown"][index] += 1
        if message.topic:
            by_topic[message.topic][index] += 1

    def series(counts: dict[str, Counter[int]]) -> dict[str, list[int]]:
        return {key: [counts[key][i] for i in range(len(starts))] for key in sorted(counts)}

    return {
        "bucket": bucket,
        "starts": [s.isoformat() for s in starts],
        "by_intent": series(by_intent),
        "by_topic": series(by_topic),
    }


def snapshot(
    *,
    now: datetime,
    window: timedelta,
    bucket: str,
    acks: Iterable[AckSample],
    pickups: Iterable[float],
    handoffs: HandoffCounts,
    messages: Iterable[Understood],
    chatter_unanswered: int,
    x_spend: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Every figure of the metrics page for the window ending `now`, as JSON-ready data.

        `chatter_unanswered` counts the public posts read as chatter that the bot let pass without a
        reply in the window (see `bot.store.reporting.Reporting.chatter_unanswered`). `x_spend` is what X
    charged per UTC day and operation, in USD (`bot.store.spend.SpendLedger.daily`)."""
    start = now - window
    return {
        "generated_at": now.isoformat(),
        "window": {"start": start.isoformat(), "end": now.isoformat(), "seconds": window.total_seconds()},
        "first_ack_seconds": {platform: d.to_dict() for platform, d in by_platform(acks).items()},
        "pickup_seconds": distribution(pickups).to_dict(),
        "handoffs": {
            "open": handoffs.open,
            "opened": handoffs.opened,
            "resolved": handoffs.resolved,
            "handed_back": handoffs.handed_back,
        },
        "chatter_unanswered": chatter_unanswered,
        "x_spend_usd": x_spend or {},
        "volume": volume(messages, start, now, bucket),
    }
