"""Whether a message is shaped like a question: a question mark, or the words a question starts with.

Chatter gets silence in public, and the model sometimes files a plain product question there
("how do I reset my password in the app?"). Silence to a question breaks the promise that every
question to the brand is answered, while "a person will answer" to a chatty question costs
nothing; so a question-shaped message is never left in silence.
"""

from __future__ import annotations

import re

from bot.language import clean_for_detection

__all__ = ["asks_something"]

_OPENING = re.compile(
    r"^(how|what|when|where|why|who|which|can|could|do|does|did|is|are|will|would|should|may|"
    r"any|anyone|pls|please)\b",
    re.IGNORECASE,
)


def asks_something(text: str) -> bool:
    cleaned = clean_for_detection(text)
    return "?" in cleaned or _OPENING.match(cleaned) is not None
