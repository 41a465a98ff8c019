"""What every Firstline action needs: where the message was written, the wording, the store.

The service passes the message's context as metadata on the user message (see
`bot.routing.action_metadata`); outside Firstline (say in `rasa shell`) there is none, and the
actions fall back to a private web chat so they still answer sensibly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker

from bot import wording
from bot.acknowledgement import first_name, pick
from bot.continuation import continues, seconds_since_bot_spoke
from bot.privacy import PersonalData, find_personal_data
from bot.settings import Settings
from bot.text_limits import LIMITS, measure
from bot.triage import Triage, triage
from bot.wording import Phrasebook, fill

__all__ = ["MessageContext", "fit", "message_context", "phrasebook", "settings"]

TOPIC_CONFIDENCE = 0.4
"""Below this the acknowledgement does not name a topic: a wrong topic reads worse than none."""


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


@dataclass(frozen=True, slots=True)
class MessageContext:
    text: str
    triage: Triage
    platform: str
    public: bool
    char_limit: int
    message_id: int | None
    case_id: int | None
    dm_link: str | None
    name: str | None
    audience: int | None
    personal_data: tuple[PersonalData, ...]
    """Personal data the customer posted publicly (empty in private chats, where it is fine)."""
    kind: str = "text"
    """What the customer sent: text, or a sticker, voice note or file the model cannot read."""
    engagement: int | None = None
    """How much a public post is being shared, when the platform says (X)."""
    continues: bool = False
    """A short message the model was unsure of, right after the bot spoke in this conversation:
    the next step of that conversation, not a new one (`bot.continuation`)."""

    @property
    def seed(self) -> str:
        return str(self.message_id if self.message_id is not None else self.text)

    @property
    def placeholders(self) -> dict[str, str | None]:
        """What the wording's `{name}` and `{dm_link}` stand for in this message's reply."""
        return {"name": self.name, "dm_link": self.dm_link}

    @property
    def topic(self) -> str | None:
        confident = (self.triage.topic_confidence or 0.0) >= TOPIC_CONFIDENCE
        return self.triage.topic if confident else None


def message_context(tracker: Tracker) -> MessageContext:
    latest: dict[str, Any] = tracker.latest_message or {}
    meta = (latest.get("metadata") or {}).get("firstline") or {}
    customer = meta.get("customer") or {}
    platform = meta.get("platform", "web")
    public = bool(meta.get("public", False))
    text = latest.get("text") or ""
    understood = triage(latest)
    return MessageContext(
        text=text,
        triage=understood,
        platform=platform,
        public=public,
        char_limit=int(meta.get("char_limit") or LIMITS.get(platform, 2000)),
        message_id=meta.get("message_id"),
        case_id=meta.get("case_id"),
        dm_link=meta.get("dm_link"),
        name=first_name(customer.get("display_name")),
        audience=customer.get("audience"),
        personal_data=tuple(find_personal_data(text)) if public else (),
        kind=str(meta.get("kind") or "text"),
        engagement=meta.get("engagement"),
        continues=understood.unsure
        and understood.language is None
        and continues(text, seconds_since_bot_spoke(tracker.events)),
    )


def phrasebook(domain: dict[str, Any], language: str | None = None) -> Phrasebook:
    """The domain's wording in the message's language (`bot.wording.phrasebook`)."""
    return wording.phrasebook(domain.get("responses") or {}, language)


def fit(context: MessageContext, phrases: Phrasebook, text: str) -> str:
    """`text`, plus on a public post the invitation to continue in private when there is room.

    When the customer posted personal data in public, the privacy wording of the invitation is
    used, since that is the thing they most need to hear.
    """
    if not (context.public and context.dm_link):
        return text
    key = "utter_dm_privacy" if context.personal_data else "utter_dm_invite"
    for variant in pick(phrases.get(key, ()), context.seed, key):
        candidate = f"{text} {fill(variant, context.placeholders)}"
        if measure(candidate, context.platform) <= context.char_limit:
            return candidate
    return text
