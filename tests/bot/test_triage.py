from __future__ import annotations

from typing import Any

import pytest

from bot.triage import Triage, base_intent, best_guess, triage


def _parse(intent: str, confidence: float, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"text": "t", "intent": {"name": intent, "confidence": confidence}, "entities": []}
    data.update(extra)
    return data


def test_complaint_with_topic() -> None:
    parsed = _parse(
        "complaint",
        0.93,
        response_selector={
            "complaint": {"response": {"intent_response_key": "complaint/delivery", "confidence": 0.81}}
        },
        entities=[{"entity": "order_number", "value": "4839201", "start": 7, "end": 15, "extractor": "DIET"}],
    )
    result = triage(parsed)
    assert (result.intent, result.kind, result.topic) == ("complaint", "complaint", "delivery")
    assert result.topic_confidence == 0.81
    assert result.entities == ({"entity": "order_number", "value": "4839201", "start": 7, "end": 15},)
    assert not result.unsure


def test_fallback_keeps_the_classifiers_guess() -> None:
    parsed = _parse(
        "nlu_fallback",
        0.5,
        intent_ranking=[
            {"name": "nlu_fallback", "confidence": 0.5},
            {"name": "question", "confidence": 0.41},
            {"name": "complaint", "confidence": 0.39},
        ],
    )
    result = triage(parsed)
    assert result.unsure and result.kind == "other"
    assert (result.guess, result.guess_confidence) == ("question", 0.41)


def test_round_trips_through_json_dict() -> None:
    result = triage(_parse("praise", 0.99))
    assert Triage.from_dict(result.to_dict()) == result


def test_empty_parse_is_unsure() -> None:
    assert triage({}).unsure


@pytest.mark.parametrize(
    ("intent", "confidence", "ranking", "expected"),
    [
        ("complaint/delivery", 0.9, (), ("complaint", 0.9)),
        ("praise", 0.7, (("praise", 0.7), ("complaint", 0.2)), ("praise", 0.7)),
        # Unsure: the classifier's own best guess, topic stripped.
        ("nlu_fallback", 0.5, (("nlu_fallback", 0.5), ("question/pricing", 0.41)), ("question", 0.41)),
        ("nlu_fallback", 0.5, (("", 0.45), ("chatter", 0.3)), ("chatter", 0.3)),
        # Nothing else ranked: the fallback stays, and so counts as wrong in the metrics.
        ("nlu_fallback", 0.5, (("nlu_fallback", 0.5),), ("nlu_fallback", 0.5)),
        ("nlu_fallback", 0.5, (), ("nlu_fallback", 0.5)),
    ],
)
def test_best_guess(
    intent: str, confidence: float, ranking: tuple[tuple[str, float], ...], expected: tuple[str, float]
) -> None:
    assert best_guess(intent, confidence, ranking) == expected


@pytest.mark.parametrize(
    ("intent", "expected"),
    [("complaint/delivery", "complaint"), ("question", "question"), ("a/b/c", "a"), ("", "")],
)
def test_base_intent(intent: str, expected: str) -> None:
    assert base_intent(intent) == expected
