"""What the model understood of a message, reduced to what the first line acts on.

Rasa's parse result is rich and nested (intent ranking, response selectors per retrieval intent,
entities with extractor details). `Triage` keeps what an agent and the actions need, and survives
being stored as JSON next to the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.language import LANGUAGE_ENTITY

__all__ = [
    "CHATTER_INTENT",
    "FALLBACK_INTENT",
    "KINDS",
    "NO_ANSWER_TOPIC",
    "RETRIEVAL_DELIMITER",
    "Triage",
    "base_intent",
    "best_guess",
    "kind_of",
    "triage",
]

FALLBACK_INTENT = "nlu_fallback"
"""Rasa's FallbackClassifier puts this intent first when the model was unsure."""

RETRIEVAL_DELIMITER = "/"
"""Between a retrieval intent and its topic: "complaint/delivery"."""

CHATTER_INTENT = "chatter"
"""Posts that need no answer (passing mentions, jokes, shared photos, promotions): the bot stays
silent on them in public (`actions.chatter`), and the console lists them (`/console/chatter`)."""

NO_ANSWER_TOPIC = "question/other"
"""The topic of every question no curated answer serves: a person answers it, never a guess.
Its response (`utter_question/other`) says so."""

KINDS = ("complaint", "question", "praise", "other")
"""The four ways a first line sorts messages, each with its own fitting first response: an
apology and a person, an answer or a person, thanks, and no apology, thanks or refusal."""

_KIND_BY_INTENT = {
    "complaint": "complaint",
    "question": "question",
    # Asking for a person asks the brand to act; a person is the fitting answer, as for a question.
    "request_human": "question",
    "praise": "praise",
}


def base_intent(intent: str) -> str:
    """The intent without its retrieval topic ("complaint/delivery" -> "complaint")."""
    return intent.split(RETRIEVAL_DELIMITER, 1)[0]


def best_guess(intent: str, confidence: float, ranking: Iterable[tuple[str, float]]) -> tuple[str, float]:
    """The classifier's own best base intent and its confidence, even when it was unsure.

    Under a fallback this is the top other intent of the ranking: what an agent wants to see, and
    what the metrics credit, so that the threshold does not blur the classifier's quality. A
    fallback with nothing else ranked stays the fallback.
    """
    if base_intent(intent) != FALLBACK_INTENT:
        return base_intent(intent), confidence
    for name, score in ranking:
        if name and base_intent(name) != FALLBACK_INTENT:
            return base_intent(name), score
    return FALLBACK_INTENT, confidence


def kind_of(intent: str) -> str:
    """The kind of a (base or retrieval) intent: complaint, question, praise or other."""
    return _KIND_BY_INTENT.get(base_intent(intent), "other")


@dataclass(frozen=True, slots=True)
class Triage:
    intent: str
    """The base intent the bot acts on (`nlu_fallback` when the model was unsure)."""
    confidence: float
    guess: str
    """The classifier's best intent even when it was unsure: what an agent wants to see."""
    guess_confidence: float
    topic: str | None = None
    """For complaints and questions: delivery, billing, opening_hours, ..."""
    topic_confidence: float | None = None
    entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    language: str | None = None
    """The ISO 639-1 code of a message in another language than the model's (English): the
    model did not read it, and a person who reads that language must."""

    @property
    def kind(self) -> str:
        """complaint, question, praise or other: the first line's three kinds plus the rest."""
        return kind_of(self.intent)

    @property
    def unsure(self) -> bool:
        return self.intent == FALLBACK_INTENT

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["entities"] = list(self.entities)
        data["kind"] = self.kind
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Triage:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["entities"] = tuple(fields.get("entities") or ())
        return cls(**fields)


def triage(parse_data: dict[str, Any]) -> Triage:
    """Reduces a Rasa parse result (as `/model/parse` returns it) to a `Triage`."""
    intent = parse_data.get("intent") or {}
    name = base_intent(intent.get("name") or FALLBACK_INTENT)
    confidence = float(intent.get("confidence") or 0.0)
    ranking = (
        (str(entry.get("name") or ""), float(entry.get("confidence") or 0.0))
        for entry in parse_data.get("intent_ranking") or []
    )
    guess, guess_confidence = best_guess(name, confidence, ranking)

    topic, topic_confidence = None, None
    selector = (parse_data.get("response_selector") or {}).get(guess) or {}
    response = selector.get("response") or {}
    full_intent = response.get("intent_response_key")
    if full_intent and RETRIEVAL_DELIMITER in full_intent:
        topic = full_intent.split(RETRIEVAL_DELIMITER, 1)[1]
        topic_confidence = float(response.get("confidence") or 0.0)

    entities = tuple(
        {"entity": e.get("entity"), "value": e.get("value"), "start": e.get("start"), "end": e.get("end")}
        for e in parse_data.get("entities") or []
        if e.get("entity") != LANGUAGE_ENTITY
    )
    language = next(
        (
            str(e["value"])
            for e in parse_data.get("entities") or []
            if e.get("entity") == LANGUAGE_ENTITY and isinstance(e.get("value"), str)
        ),
        None,
    )
    return Triage(
        intent=name,
        confidence=round(confidence, 4),
        guess=guess,
        guess_confidence=round(guess_confidence, 4),
        topic=topic,
        topic_confidence=None if topic_confidence is None else round(topic_confidence, 4),
        entities=entities,
        language=language,
    )
