"""Which live messages a trainer should see: those the model was unsure about.

"Unsure" is wider than Rasa's fallback: a message the bot acted on at 0.55 confidence, or one
where the second intent came within a whisker of the first, is exactly the kind of example the
training data lacks. Pure functions; the gateway stores what they return in the review inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.settings import Settings
from bot.triage import FALLBACK_INTENT, Triage, base_intent

__all__ = ["Uncertainty", "should_review", "uncertainty"]


@dataclass(frozen=True, slots=True)
class Uncertainty:
    """What the model made of a message it was unsure about, as the review inbox keeps it.

    Attributes:
        guess: The classifier's best base intent (never the fallback).
        confidence: Its confidence.
        second: The runner-up base intent, if any.
        second_confidence: Its confidence.
        reason: "low_confidence" or "close_second".
    """

    guess: str
    confidence: float
    second: str | None
    second_confidence: float | None
    reason: str


def uncertainty(
    parse_data: Mapping[str, Any], triage: Triage, *, min_confidence: float, min_margin: float
) -> Uncertainty | None:
    """The model's doubt about one message, or None when it was sure enough.

    Args:
        parse_data: Rasa's parse result (for the intent ranking).
        triage: What the gateway made of it.
        min_confidence: Below this confidence in the best intent, the message is reviewed.
        min_margin: When the second intent is closer than this to the first, it is reviewed.
    """
    ranking = _ranking(parse_data)
    second, second_confidence = next(
        ((name, confidence) for name, confidence in ranking if name != triage.guess), (None, None)
    )
    if triage.unsure or triage.guess_confidence < min_confidence:
        reason = "low_confidence"
    elif second_confidence is not None and triage.guess_confidence - second_confidence < min_margin:
        reason = "close_second"
    else:
        return None
    return Uncertainty(triage.guess, triage.guess_confidence, second, second_confidence, reason)


def should_review(parse_data: Mapping[str, Any], triage: Triage, settings: Settings) -> Uncertainty | None:
    """`uncertainty` with the thresholds from the settings (`review_confidence`, `review_margin`)."""
    return uncertainty(
        parse_data, triage, min_confidence=settings.review_confidence, min_margin=settings.review_margin
    )


def _ranking(parse_data: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Base intents by confidence, best first, each once, without the fallback."""
    best: dict[str, float] = {}
    for entry in parse_data.get("intent_ranking") or []:
        name = base_intent(str(entry.get("name") or ""))
        if name and name != FALLBACK_INTENT:
            best[name] = max(best.get(name, 0.0), float(entry.get("confidence") or 0.0))
    return sorted(best.items(), key=lambda item: -item[1])
