"""Does a curated answer go only to the questions it answers?

The bot promises never to guess. A curated answer given to a question it does not answer ("can I
change the delivery date?" answered with delivery times) breaks that promise with confidence.
Two sets measure it:

- `tests/data/off_faq_questions.yml`: everyday questions to brands that no curated answer serves,
  written by the project across industries and never trained on. A curated answer should go to
  almost none of them.
- the FAQ questions of the held-out set (`question/<topic>` in `tests/data/nlu_heldout.yml`):
  a curated answer should still go to nearly all of them, and the right one.

Whether a curated answer is given follows `actions.answer.ActionAnswerQuestion`: the message is
understood as a question (not a fallback), its topic has a curated answer (not `other`) and the
topic's confidence reaches `Settings.question_confidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.trainer.evaluation import LabelledExample, Prediction
from bot.triage import FALLBACK_INTENT, NO_ANSWER_TOPIC, base_intent

__all__ = ["FaqScope", "curated_answer", "score_faq_scope"]
_QUESTION = "question"


@dataclass(frozen=True, slots=True)
class FaqScope:
    off_faq: int
    """Questions no curated answer serves."""
    off_faq_answered: float
    """Share of them that would get a curated answer anyway (should be near 0)."""
    faq: int
    """Held-out questions that a curated answer serves."""
    faq_answered: float
    """Share of them that get a curated answer (should be near 1)."""
    faq_answered_right: float
    """Share of them that get the right curated answer."""


def curated_answer(prediction: Prediction, threshold: float) -> str | None:
    """The curated answer's topic ("question/shipping") the bot would give, or None."""
    if base_intent(prediction.intent) != _QUESTION or prediction.intent == FALLBACK_INTENT:
        return None
    # The topic classifier writes under the retrieval intent's key, Rasa's selectors under "default".
    topic = prediction.topics.get(_QUESTION) or prediction.topics.get("default")
    if not topic or topic == NO_ANSWER_TOPIC:
        return None
    key = _QUESTION if _QUESTION in prediction.topics else "default"
    return topic if prediction.topic_confidences.get(key, 0.0) >= threshold else None


def score_faq_scope(
    off_faq: Sequence[Prediction], faq: Sequence[tuple[LabelledExample, Prediction]], threshold: float
) -> FaqScope:
    """Raises ValueError when either set is empty: an empty set must not pass a check."""
    if not off_faq or not faq:
        raise ValueError("both the off-FAQ and the FAQ questions are needed")
    given = [curated_answer(prediction, threshold) for _, prediction in faq]
    return FaqScope(
        off_faq=len(off_faq),
        off_faq_answered=sum(curated_answer(p, threshold) is not None for p in off_faq) / len(off_faq),
        faq=len(faq),
        faq_answered=sum(topic is not None for topic in given) / len(faq),
        faq_answered_right=sum(
            topic == example.intent for topic, (example, _) in zip(given, faq, strict=True)
        )
        / len(faq),
    )
