"""When the bot gives a curated answer, and the two rates `firstline nlu test` reports."""

from __future__ import annotations

import pytest

from bot.trainer.evaluation import LabelledExample, Prediction
from bot.trainer.faq_scope import curated_answer, score_faq_scope


def _question(topic: str, confidence: float, intent: str = "question") -> Prediction:
    return Prediction(intent, 0.9, ((intent, 0.9),), {"question": topic}, {"question": confidence})


@pytest.mark.parametrize(
    ("prediction", "given"),
    [
        (_question("question/shipping", 0.9), "question/shipping"),
        (_question("question/shipping", 0.5), None),  # not sure enough: a person answers
        (_question("question/other", 0.99), None),  # no curated answer serves it
        (_question("question/shipping", 0.9, intent="nlu_fallback"), None),
        (_question("question/shipping", 0.9, intent="complaint"), None),
        (Prediction("question", 0.9), None),
    ],
)
def test_curated_answer(prediction: Prediction, given: str | None) -> None:
    assert curated_answer(prediction, 0.6) == given


def test_score_faq_scope() -> None:
    off_faq = [_question("question/other", 0.9), _question("question/pricing", 0.9)]
    faq = [
        (LabelledExample("a", "question/shipping"), _question("question/shipping", 0.9)),
        (LabelledExample("b", "question/returns"), _question("question/shipping", 0.9)),
        (LabelledExample("c", "question/returns"), _question("question/other", 0.9)),
        (LabelledExample("d", "question/contact"), _question("question/contact", 0.9)),
    ]
    scope = score_faq_scope(off_faq, faq, 0.6)
    assert (scope.off_faq_answered, scope.faq_answered, scope.faq_answered_right) == (0.5, 0.75, 0.5)
    with pytest.raises(ValueError):
        score_faq_scope([], faq, 0.6)
