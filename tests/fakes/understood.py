"""Customer messages as the gateway stores them once the model has read them, without the model.

Tests of what the console and the reports do with understood messages (the chatter list, the
counts) need many messages of known intents at known times; running each through Rasa would be
slow and leave the intent to the model. This stores the message and a `Triage` of it directly.
"""

from __future__ import annotations

from datetime import datetime

from bot.messages import Customer, InboundMessage, utcnow
from bot.store import Recorded, Repository
from bot.triage import Triage

__all__ = ["store_understood"]


def store_understood(
    repository: Repository,
    key: str,
    text: str,
    intent: str = "chatter",
    *,
    at: datetime | None = None,
    confidence: float = 0.91,
    public: bool = True,
    platform: str = "x",
    who: str = "jo",
    conversation: str | None = None,
) -> Recorded:
    """Stores `text` from `who` (handle `who`, name `Who`) as message `key`, understood as
    `intent`; in a conversation of its own unless `conversation` names one."""
    recorded = repository.record_inbound(
        InboundMessage(
            platform,
            key,
            conversation or f"{'post' if public else 'dm'}:{key}",
            public,
            Customer(who, handle=who, display_name=who.capitalize()),
            text,
            received_at=at or utcnow(),
        )
    )
    assert recorded is not None, f"message {key} was stored before"
    understanding = Triage(intent, confidence, intent, confidence).to_dict()
    repository.record_understanding(recorded.message_id, recorded.case_id, understanding)
    return recorded
