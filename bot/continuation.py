"""A short reply right after the bot answered continues that conversation: it is not a new one.

"I have. Please check." or "yes, same account" says little on its own, so the model is often
unsure of it. Read as a fresh message it would get "I'm not sure I understood", which tells a
customer who is answering us that we were not listening. When the bot spoke in the conversation
shortly before, such a reply is taken as the next step of it: a person picks it up, with the
earlier exchange in the case, and the customer is told so plainly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.language import clean_for_detection

__all__ = ["MAX_WORDS", "WINDOW_SECONDS", "continues", "seconds_since_bot_spoke"]

MAX_WORDS = 12
"""A reply longer than this carries its own meaning; the model's reading of it stands."""
WINDOW_SECONDS = 30 * 60
"""How long after the bot's last message a short reply still answers it."""


def continues(text: str, seconds_since_bot: float | None) -> bool:
    """Whether a message the model was unsure of continues the conversation the bot just had."""
    if seconds_since_bot is None or not 0 <= seconds_since_bot <= WINDOW_SECONDS:
        return False
    words = clean_for_detection(text).split()
    return 0 < len(words) <= MAX_WORDS


def seconds_since_bot_spoke(events: Iterable[Mapping[str, Any]]) -> float | None:
    """Seconds from the bot's last message to the customer's latest one, in Rasa tracker events.

    Only bot messages before the latest user message count: the replies to that message itself
    are not "earlier".
    """
    bot_at: float | None = None
    bot_before_user: float | None = None
    user_at: float | None = None
    for event in events:
        stamp = event.get("timestamp")
        if not isinstance(stamp, (int, float)):
            continue
        if event.get("event") == "user":
            user_at, bot_before_user = float(stamp), bot_at
        elif event.get("event") == "bot":
            bot_at = float(stamp)
    if user_at is None or bot_before_user is None:
        return None
    return user_at - bot_before_user
