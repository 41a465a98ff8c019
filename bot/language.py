"""Which language a customer wrote in, so that an English model never guesses at another language.

Firstline's intent model reads English. Run over Spanish or Japanese it still answers, with a
confident and random intent, and the bot would act on it in public. A message detected as
another language therefore skips the intent model: it is acknowledged in its own language and
goes to a person who reads it.

Detection is Google's Compact Language Detector 2 (`pycld2`, its tables compiled into the
package: nothing is downloaded). Of the detectors measured on short social posts
(`bench/language_detection.py`: fastText's compact model, lingua, langdetect and CLD2), it
kept the most English posts English (99.95% of 14,790) while finding the most foreign ones
(91.9% of 405), in 30 microseconds a post. Handles, links and hashtags are removed first, since
"@NorthwindAir" says nothing about the language. A message is called foreign only when CLD2
calls its detection reliable, gives the language at least `FOREIGN_CONFIDENCE` of the text,
and enough letters are left to judge (`MIN_LETTERS`): an English post taken for foreign loses
its English understanding, the worse of the two mistakes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pycld2

__all__ = [
    "ENGLISH",
    "FOREIGN_CONFIDENCE",
    "MIN_LETTERS",
    "Detected",
    "LanguageDetector",
    "clean_for_detection",
]

ENGLISH = "en"
FOREIGN_CONFIDENCE = 0.5
"""A language other than English is believed from this confidence on."""
MIN_LETTERS = 4
"""Fewer letters than this (after cleaning) say nothing reliable: the message stays English."""

LANGUAGE_ENTITY = "language"
"""The entity (and Rasa slot) that carries a foreign message's language to the dialogue, where the
domain's responses have variations conditioned on it."""

_NOISE = re.compile(r"(?:https?://|www\.)\S+|[@#][\w.]+|&\w+;")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Detected:
    """A detection: the ISO 639-1 code (`en` when unsure) and the detector's confidence."""

    language: str
    confidence: float

    @property
    def foreign(self) -> bool:
        return self.language != ENGLISH


def clean_for_detection(text: str) -> str:
    """The text without handles, links, hashtags and HTML entities, spaces squeezed."""
    return " ".join(_NOISE.sub(" ", text).split())


class LanguageDetector:
    """Detects the language of short social posts (CLD2 holds no state: safe from any thread)."""

    def __init__(self, confidence: float = FOREIGN_CONFIDENCE, min_letters: int = MIN_LETTERS) -> None:
        self.confidence = confidence
        self.min_letters = min_letters

    @staticmethod
    def raw(text: str) -> tuple[str, float]:
        """CLD2's best language for already cleaned text, and the share of the text it covers
        (0 when CLD2 calls its own answer unreliable)."""
        try:
            reliable, _, details = pycld2.detect(text)
        except (pycld2.error, UnicodeEncodeError):
            # CLD2 refuses some byte sequences and lone surrogates: such a text is not judged.
            return "un", 0.0
        code, percent = details[0][1], details[0][2]
        return code.split("-")[0], (percent / 100 if reliable else 0.0)

    def detect(self, text: str) -> Detected:
        """The language of `text`: English unless another is sure and there is enough to judge."""
        cleaned = clean_for_detection(text)
        if len(_LETTER.findall(cleaned)) < self.min_letters:
            return Detected(ENGLISH, 0.0)
        language, confidence = self.raw(cleaned)
        if language not in (ENGLISH, "un") and confidence >= self.confidence:
            return Detected(language, confidence)
        return Detected(ENGLISH, confidence if language == ENGLISH else 0.0)


def foreign_parse(text: str, detected: Detected) -> dict[str, Any]:
    """What the dialogue is told instead of the English model's guess about a foreign message.

    The intent is the fallback, so the rules do what they do for any message the bot does not
    understand (an honest acknowledgement, then a person); the language entity fills the
    `language` slot, so the acknowledgement is worded in the customer's language.
    """
    return {
        "text": text,
        "intent": {"name": "nlu_fallback", "confidence": 1.0},
        "intent_ranking": [{"name": "nlu_fallback", "confidence": 1.0}],
        "entities": [
            {
                "entity": LANGUAGE_ENTITY,
                "value": detected.language,
                "start": 0,
                "end": len(text),
                "confidence_entity": round(detected.confidence, 4),
                "extractor": "LanguageDetector",
            }
        ],
    }
