"""Which messages go to the trainers' review inbox."""

from __future__ import annotations

from typing import Any

import pytest

from bot.settings import Settings
from bot.triage import triage
from bot.uncertainty import Uncertainty, should_review, uncertainty


def _parse(*ranking: tuple[str, float], fallback: bool = False) -> dict[str, Any]:
    ranked = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    top = {"name": "nlu_fallback", "confidence": 0.5} if fallback else ranked[0]
    if fallback:
        ranked.insert(0, top)
    return {"intent": top, "intent_ranking": ranked}


@pytest.mark.parametrize(
    ("parse", "expected"),
    [
        # sure, with a clear runner-up gap: not reviewed
        (_parse(("complaint", 0.92), ("question", 0.05)), None),
        # sure enough, but the second intent is close behind
        (
            _parse(("complaint", 0.62), ("question", 0.55)),
            Uncertainty("complaint", 0.62, "question", 0.55, "close_second"),
        ),
        # acted on, but below the review threshold
        (
            _parse(("praise", 0.55), ("greet", 0.2)),
            Uncertainty("praise", 0.55, "greet", 0.2, "low_confidence"),
        ),
        # Rasa's fallback: the classifier's guess is what the trainer sees
        (
            _parse(("question", 0.41), ("complaint", 0.38), fallback=True),
            Uncertainty("question", 0.41, "complaint", 0.38, "low_confidence"),
        ),
        # retrieval intents in the ranking count by their base intent, once
        (
            _parse(("complaint/delivery", 0.7), ("complaint", 0.65), ("question", 0.1)),
            None,
        ),
        # nothing ranked at all
        ({"intent": {"name": "greet", "confidence": 0.95}}, None),
    ],
)
def test_uncertainty(parse: dict[str, Any], expected: Uncertainty | None) -> None:
    assert uncertainty(parse, triage(parse), min_confidence=0.6, min_margin=0.1) == expected


def test_should_review_uses_the_settings() -> None:
    parse = _parse(("complaint", 0.7), ("question", 0.25))
    strict = Settings(review_confidence=0.8, review_margin=0.1, _env_file=None)
    lenient = Settings(review_confidence=0.5, review_margin=0.5, _env_file=None)
    assert should_review(parse, triage(parse), strict) == Uncertainty(
        "complaint", 0.7, "question", 0.25, "low_confidence"
    )
    assert should_review(parse, triage(parse), lenient) == Uncertainty(
        "complaint", 0.7, "question", 0.25, "close_second"
    )
    assert should_review(parse, triage(parse), Settings(_env_file=None)) is None
