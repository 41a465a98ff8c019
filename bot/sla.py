"""The pickup SLA clock of a handoff: how much of the target is left before a person must take it.

The clock runs in business time only: a complaint that arrives on Friday night has not waited all
weekend when the team walks in on Monday. It starts when the customer wrote (that is what the
customer experiences) and stops when a person picks the case up. The queue colours it: amber when
less than a quarter of the target is left, red when it has run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.business_hours import BusinessHours

__all__ = ["AMBER_FRACTION", "STATES", "HandoffTimes", "SlaClock", "clock_for", "sla_clock"]

AMBER_FRACTION = 0.25
"""Below this share of the target left, the clock turns amber."""

STATES = ("ok", "amber", "red", "met", "missed")


@dataclass(frozen=True, slots=True)
class SlaClock:
    state: str
    """`ok`, `amber`, `red` (overdue) while waiting; `met` or `missed` once a person picked it up."""
    target_seconds: float
    elapsed_seconds: float
    """Business time the customer has waited (until pickup, or until now)."""
    waited_seconds: float
    """Wall-clock time the customer has waited, which is what they feel."""
    due_at: datetime
    """When the target runs out in real time (later than `received_at + target` across a night)."""
    paused: bool
    """Waiting outside business hours: the clock stands still until the team is back."""

    @property
    def remaining_seconds(self) -> float:
        """Negative once overdue."""
        return self.target_seconds - self.elapsed_seconds

    @property
    def fraction_left(self) -> float:
        """Share of the target left, between 0 and 1: the width of a progress bar."""
        return min(1.0, max(0.0, self.remaining_seconds / self.target_seconds))

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "target_seconds": self.target_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "remaining_seconds": round(self.remaining_seconds, 3),
            "waited_seconds": round(self.waited_seconds, 3),
            "fraction_left": round(self.fraction_left, 4),
            "due_at": self.due_at.isoformat(),
            "paused": self.paused,
        }


def sla_clock(
    received_at: datetime,
    claimed_at: datetime | None,
    now: datetime,
    target_minutes: float,
    hours: BusinessHours,
) -> SlaClock:
    """The clock of one handoff.

    Args:
        received_at: when the customer's message arrived.
        claimed_at: when a person picked the case up, or None while it waits.
        now: the moment to read the clock at.
        target_minutes: the pickup target in business minutes (`sla_pickup_minutes`).
        hours: the brand's business hours; always open means the clock never pauses.

    Raises:
        ValueError: a naive datetime, or a target that is not positive.
    """
    if target_minutes <= 0:
        raise ValueError(f"the SLA target must be positive, not {target_minutes!r} minutes")
    target = target_minutes * 60.0
    end = claimed_at if claimed_at is not None else now
    elapsed = hours.open_seconds_between(received_at, end)
    waited = max(0.0, (end - received_at).total_seconds())
    due_at = hours.add_open_seconds(received_at, target)
    if claimed_at is not None:
        state = "met" if elapsed <= target else "missed"
    elif elapsed >= target:
        state = "red"
    elif target - elapsed < AMBER_FRACTION * target:
        state = "amber"
    else:
        state = "ok"
    paused = claimed_at is None and not hours.is_open(now)
    return SlaClock(state, target, elapsed, waited, due_at, paused)


class HandoffTimes(Protocol):
    received_at: datetime
    created_at: datetime


def clock_for(handoff: HandoffTimes, now: datetime, target_minutes: float, hours: BusinessHours) -> SlaClock:
    """The clock of a stored handoff (a `bot.store.models.Handoff` row).

    A handoff closed without anyone claiming it (resolved or handed back straight from the queue)
    stopped waiting when it was closed.
    """
    picked_up: datetime | None = getattr(handoff, "claimed_at", None)
    if picked_up is None and getattr(handoff, "status", "open") != "open":
        picked_up = getattr(handoff, "closed_at", None) or now
    return sla_clock(handoff.received_at, picked_up, now, target_minutes, hours)
