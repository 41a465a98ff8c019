"""Metric logic of bot.trainer.evaluation on hand-made predictions (no model needed)."""

from __future__ import annotations

import json

import pytest

from bot.trainer.evaluation import (
    Confusion,
    EvaluationReport,
    IntentScores,
    LabelledExample,
    Prediction,
    WrongExample,
    prediction_from_parse,
    score,
    scored_intent,
)
from bot.triage import base_intent


def _pair(
    text: str,
    expected: str,
    intent: str,
    confidence: float = 0.9,
    ranking: tuple[tuple[str, float], ...] = (),
    topics: dict[str, str] | None = None,
) -> tuple[LabelledExample, Prediction]:
    return LabelledExample(text, expected), Prediction(intent, confidence, ranking, topics or {})


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("complaint/delivery", "complaint"),
        ("complaint", "complaint"),
        ("nlu_fallback", "nlu_fallback"),
        ("", ""),
    ],
)
def test_base_intent(intent: str, expected: str) -> None:
    assert base_intent(intent) == expected


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        (Prediction("greet", 0.9), ("greet", 0.9)),
        (Prediction("complaint", 0.8), ("complaint", 0.8)),
        # A fallback is scored as the classifier's best real guess ...
        (
            Prediction("nlu_fallback", 0.5, (("nlu_fallback", 0.5), ("complaint", 0.42), ("question", 0.3))),
            ("complaint", 0.42),
        ),
        # ... and stays a fallback (so, wrong) when there is none.
        (Prediction("nlu_fallback", 0.5, (("nlu_fallback", 0.5),)), ("nlu_fallback", 0.5)),
        (Prediction("nlu_fallback", 0.5), ("nlu_fallback", 0.5)),
    ],
)
def test_scored_intent(prediction: Prediction, expected: tuple[str, float]) -> None:
    assert scored_intent(prediction) == expected


def test_perfect_predictions() -> None:
    report = score(
        [
            _pair(
                "late again", "complaint/delivery", "complaint", topics={"complaint": "complaint/delivery"}
            ),
            _pair("hi", "greet", "greet"),
            _pair(
                "when do you open",
                "question/opening_hours",
                "question",
                topics={"question": "question/opening_hours"},
            ),
        ]
    )
    assert report.n_examples == 3
    assert report.intent_macro_f1 == 1.0
    assert (report.complaint_precision, report.complaint_recall) == (1.0, 1.0)
    assert (report.topic_accuracy, report.topic_support) == (1.0, 2)
    assert report.topic_accuracy_by_intent == {"complaint": 1.0, "question": 1.0}
    assert report.fallback_rate == 0.0
    assert report.errors == report.topic_errors == report.confusions == ()


@pytest.fixture
def mixed_report() -> EvaluationReport:
    return score(
        [
            # complaints: 3 right (one through a fallback), 1 taken for a question
            _pair("late", "complaint/delivery", "complaint", topics={"complaint": "complaint/delivery"}),
            _pair(
                "charged twice", "complaint/billing", "complaint", topics={"complaint": "complaint/delivery"}
            ),
            _pair(
                "hmm broken?",
                "complaint/product",
                "nlu_fallback",
                0.5,
                (("nlu_fallback", 0.5), ("complaint", 0.45), ("question", 0.4)),
                {"complaint": "complaint/product"},
            ),
            _pair(
                "is the app down",
                "complaint/outage",
                "question",
                0.7,
                topics={"complaint": "complaint/billing"},
            ),
            # questions: 1 right, 1 taken for a complaint
            _pair(
                "opening hours?",
                "question/opening_hours",
                "question",
                topics={"question": "question/opening_hours"},
            ),
            _pair(
                "how do refunds work",
                "question/refunds",
                "complaint",
                0.6,
                topics={"question": "question/refunds"},
            ),
            # greet: right
            _pair("hi", "greet", "greet"),
            # goodbye: a bare fallback, wrong
            _pair("bye", "goodbye", "nlu_fallback", 0.5, (("nlu_fallback", 0.5),)),
        ]
    )


def test_intent_metrics(mixed_report: EvaluationReport) -> None:
    report = mixed_report
    # complaint: tp=3, fp=1, fn=1; question: tp=1, fp=1, fn=1; greet perfect; goodbye 0
    assert report.per_intent["complaint"] == IntentScores(0.75, 0.75, 0.75, 4)
    assert report.per_intent["question"] == IntentScores(0.5, 0.5, 0.5, 2)
    assert report.per_intent["greet"] == IntentScores(1.0, 1.0, 1.0, 1)
    assert report.per_intent["goodbye"] == IntentScores(0.0, 0.0, 0.0, 1)
    # The unexpected "nlu_fallback" label is listed but left out of the macro average.
    assert report.per_intent["nlu_fallback"].support == 0
    assert report.intent_macro_f1 == pytest.approx((0.75 + 0.5 + 1.0 + 0.0) / 4)
    assert (report.complaint_precision, report.complaint_recall) == (0.75, 0.75)
    assert report.fallback_rate == pytest.approx(2 / 8)


def test_confusions_and_errors(mixed_report: EvaluationReport) -> None:
    assert mixed_report.confusions == (
        Confusion("complaint", "question", 1),
        Confusion("goodbye", "nlu_fallback", 1),
        Confusion("question", "complaint", 1),
    )
    assert mixed_report.errors == (
        WrongExample("is the app down", "complaint", "question", 0.7),
        WrongExample("how do refunds work", "question", "complaint", 0.6),
        WrongExample("bye", "goodbye", "nlu_fallback", 0.5),
    )


def test_topics_are_judged_by_the_expected_intents_selector(mixed_report: EvaluationReport) -> None:
    # complaint topics: delivery right, billing wrong, product right, outage wrong;
    # question topics both right, although one was classified as a complaint.
    assert mixed_report.topic_support == 6
    assert mixed_report.topic_accuracy == pytest.approx(4 / 6)
    assert mixed_report.topic_accuracy_by_intent == {"complaint": 0.5, "question": 1.0}
    assert [(e.text, e.expected, e.predicted) for e in mixed_report.topic_errors] == [
        ("charged twice", "complaint/billing", "complaint/delivery"),
        ("is the app down", "complaint/outage", "complaint/billing"),
    ]


def test_confusions_are_capped_most_frequent_first() -> None:
    pairs = (
        [_pair("a", "greet", "goodbye")] * 3
        + [_pair("b", "praise", "greet")]
        + [_pair("c", "abuse", "complaint")] * 2
    )
    report = score(pairs, max_confusions=2)
    assert report.confusions == (Confusion("greet", "goodbye", 3), Confusion("abuse", "complaint", 2))


def test_missing_topic_and_default_selector() -> None:
    report = score(
        [
            _pair("late", "complaint/delivery", "complaint"),
            _pair("double charge", "complaint/billing", "complaint", topics={"default": "complaint/billing"}),
        ]
    )
    assert report.topic_accuracy == 0.5
    assert report.topic_errors[0].predicted == ""


def test_no_complaints_and_no_topics_score_zero() -> None:
    report = score([_pair("hi", "greet", "greet")])
    assert (report.complaint_recall, report.complaint_precision) == (0.0, 0.0)
    assert (report.topic_accuracy, report.topic_support) == (0.0, 0)


def test_empty_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="No held-out examples"):
        score([])


def test_to_dict_is_json(mixed_report: EvaluationReport) -> None:
    data = json.loads(json.dumps(mixed_report.to_dict()))
    assert data["per_intent"]["complaint"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert data["confusions"][0] == {"expected": "complaint", "predicted": "question", "count": 1}
    assert data["errors"][0]["text"] == "is the app down"
    assert data["n_examples"] == 8


def test_prediction_from_parse() -> None:
    parse = {
        "text": "hmm broken?",
        "intent": {"name": "nlu_fallback", "confidence": 0.5},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.5},
            {"name": "complaint", "confidence": 0.45},
        ],
        "response_selector": {
            "all_retrieval_intents": ["complaint", "question"],
            "complaint": {
                "response": {
                    "responses": [{"text": "..."}],
                    "confidence": 0.8,
                    "intent_response_key": "complaint/product",
                    "utter_action": "utter_complaint/product",
                },
                "ranking": [],
            },
            "question": {"response": {"intent_response_key": None, "confidence": 0.0}, "ranking": []},
        },
    }
    assert prediction_from_parse(parse) == Prediction(
        "nlu_fallback",
        0.5,
        (("nlu_fallback", 0.5), ("complaint", 0.45)),
        {"complaint": "complaint/product"},
        {"complaint": 0.8},
    )


def test_prediction_from_an_empty_parse() -> None:
    assert prediction_from_parse({"text": ""}) == Prediction("", 0.0)
