"""Outside business hours the actions say when the team is back instead of promising "now".

The schedule comes from the same `Settings` as everything else (read once per process, like
`question_confidence`); the time that counts is when the customer wrote, from the tracker.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from functools import lru_cache

from rasa_sdk import Tracker

from actions.context import MessageContext, settings
from bot.acknowledgement import BACK_AT_FALLBACK, pick
from bot.business_hours import BusinessHours, describe_opening
from bot.messages import utcnow
from bot.text_limits import measure
from bot.wording import Phrasebook, fill

__all__ = ["back_at", "business_hours", "with_back_at", "written_at"]


@lru_cache(maxsize=1)
def business_hours() -> BusinessHours:
    return BusinessHours.from_settings(settings())


def written_at(tracker: Tracker) -> datetime:
    """When the customer wrote: the platform's time as Firstline received it, which stays right
    when a turn is run again after a restart; else when the message reached Rasa; else now."""
    meta = ((tracker.latest_message or {}).get("metadata") or {}).get("firstline") or {}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        received = datetime.fromisoformat(meta["received_at"])
        if received.tzinfo is not None:
            return received
    event = tracker.get_last_event_for("user")
    stamp = event.get("timestamp") if event else None
    if isinstance(stamp, (int, float)):
        return datetime.fromtimestamp(stamp, timezone.utc)
    return utcnow()


def back_at(tracker: Tracker) -> str | None:
    """`Monday at 09:00 CET` when the team is away at the time of the message, else None."""
    hours = business_hours()
    at = written_at(tracker)
    if hours.is_open(at):
        return None
    return describe_opening(hours.next_opening(at), at)


def with_back_at(context: MessageContext, phrases: Phrasebook, text: str, back: str | None) -> str:
    """`text` followed by when the team is back, when it is away and the sentence fits."""
    if not back:
        return text
    variants = pick(phrases.get("utter_back_at", ()), context.seed, "utter_back_at") or [BACK_AT_FALLBACK]
    for variant in variants:
        candidate = f"{text} {fill(variant, {**context.placeholders, 'back_at': back})}"
        if measure(candidate, context.platform) <= context.char_limit:
            return candidate
    return text
