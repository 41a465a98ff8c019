"""Handoff decisions and the packet an agent reads: plain functions, no I/O.

The packet is the whole story in one document (who, where, every message both ways with what the
bot understood, why it handed off, how urgent), so the agent never asks the customer to repeat.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.triage import Triage

__all__ = [
    "HANDOFF_PAYLOAD",
    "REASONS",
    "HandoffRequest",
    "InvalidHandoffRequest",
    "build_packet",
    "priority",
    "reason_for",
    "summarise",
    "urgency",
]

HANDOFF_PAYLOAD = "firstline_handoff"
"""The key of the custom bot message in which the hand-off action asks for a handoff."""


class InvalidHandoffRequest(ValueError):
    """A hand-off payload that is not one (it can come over HTTP from a separate action server)."""


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """A hand-off as the action decides it: why, how urgent, and what the agent reads first.

    The action sends it back as data (a custom bot message, `to_payload`), and the gateway opens
    the handoff in the store it owns (`from_bot_messages`), so the actions need no store and work
    the same in-process and in a separate action server.
    """

    reason: str
    intent: str | None
    topic: str | None
    priority: int
    summary: str
    flags: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["flags"] = list(self.flags)
        return {HANDOFF_PAYLOAD: fields}

    @classmethod
    def from_bot_messages(cls, messages: Sequence[Mapping[str, Any]]) -> HandoffRequest | None:
        """The hand-off asked for among the bot's messages of one turn, if any (the last one wins).

        Raises:
            InvalidHandoffRequest: the payload is there but not a hand-off request.
        """
        payloads = [
            m["custom"][HANDOFF_PAYLOAD]
            for m in messages
            if isinstance(m.get("custom"), Mapping) and HANDOFF_PAYLOAD in m["custom"]
        ]
        if not payloads:
            return None
        raw = payloads[-1]
        if not isinstance(raw, Mapping):
            raise InvalidHandoffRequest("a hand-off request is a JSON object")
        text_fields = ("reason", "summary")
        optional_fields = ("intent", "topic")
        flags = raw.get("flags") or []
        if (
            any(not isinstance(raw.get(name), str) or not raw.get(name) for name in text_fields)
            or any(
                raw.get(name) is not None and not isinstance(raw.get(name), str) for name in optional_fields
            )
            or type(raw.get("priority")) is not int
            or not 0 <= raw["priority"] <= 100
            or not isinstance(flags, list)
            or not all(isinstance(flag, str) and flag for flag in flags)
        ):
            raise InvalidHandoffRequest(f"not a hand-off request: {dict(raw)!r:.200}")
        return cls(
            reason=raw["reason"],
            intent=raw.get("intent"),
            topic=raw.get("topic"),
            priority=raw["priority"],
            summary=raw["summary"],
            flags=tuple(flags),
        )


REASONS = {
    "complaint": "A complaint: a person must follow it up.",
    "asked_for_human": "The customer asked for a person.",
    "unsure": "The bot was not sure what the customer meant, so it did not guess.",
    "unanswered_question": "A question without a confident curated answer.",
    "abuse": "Flagged as abusive or spam; the bot did not engage.",
    "error": "Firstline failed while handling the message; the customer got an apology.",
    "media": "The customer sent something the bot cannot read (a sticker, voice note or file).",
    "follow_up": "A short reply right after the bot answered: the next step of that conversation.",
    "other_language": "Written in another language (see the lang flag): the bot acknowledged it in "
    "that language and needs a person who reads it.",
    "too_old": "Written too long ago for an automatic answer (FIRSTLINE_MAX_REPLY_AGE): the bot "
    "stayed silent; a person decides whether to reply.",
    "cannot_reply": "A Telegram Business chat the bot may not answer (the connection is off or has "
    "no right to reply): answer from the brand's own account.",
    "budget": "The platform's daily API budget is spent (FIRSTLINE_X_DAILY_BUDGET_USD): the bot "
    "stopped posting in public; a person decides whether to reply.",
}

_BASE_PRIORITY = {
    "complaint": 60,
    "asked_for_human": 50,
    "unsure": 40,
    "unanswered_question": 30,
    "abuse": 10,
    "error": 55,
    "media": 35,
    "follow_up": 40,
    # Unread, so possibly a complaint: ranked like a message the bot was unsure of.
    "other_language": 40,
    # Already late; a person looks when the fresh cases allow.
    "too_old": 20,
    # Unread and fresh, so possibly a complaint: ranked like a message the bot was unsure of.
    "budget": 40,
    "cannot_reply": 40,
}


def reason_for(triage: Triage) -> str:
    """Why the bot hands this message off, from what it understood."""
    if triage.language is not None:
        return "other_language"
    if triage.unsure:
        return "unsure"
    return {
        "complaint": "complaint",
        "request_human": "asked_for_human",
        "question": "unanswered_question",
        # Chatter is handed off only when it is shaped like a question (actions/chatter.py).
        "chatter": "unanswered_question",
        "abuse": "abuse",
    }.get(triage.intent, "unsure")


def priority(reason: str, *, public: bool, audience: int | None, engagement: int | None = None) -> int:
    """0-100: complaints first, and public posts by large audiences before private chats.

    Audience adds up to 30 points on a log scale: 1,000 followers is +18, 100,000 is +30. A post
    that is being shared (reposts, replies, likes) is seen beyond its author's audience, so
    engagement adds up to 15 more: 10 is +8, 100 is +15.
    """
    score = _BASE_PRIORITY.get(reason, 30)
    if public and reason != "abuse":
        score += 10
        if audience:
            score += min(30, round(6 * math.log10(audience + 1)))
        if engagement:
            score += min(15, round(8 * math.log10(engagement + 1)))
    return min(100, score)


def urgency(priority_score: int, waited: timedelta) -> float:
    """Queue order: priority, raised by waiting so nothing starves (one point per two minutes)."""
    return priority_score + max(0.0, waited.total_seconds()) / 120.0


def summarise(triage: Triage, text: str, limit: int = 120) -> str:
    """One line for the queue: what kind of message, about what, in the customer's own words."""
    label = triage.guess if triage.unsure else triage.intent
    if triage.topic:
        label = f"{label} ({triage.topic.replace('_', ' ')})"
    words = " ".join(text.split())
    if len(words) > limit:
        words = words[: limit - 1].rstrip() + "…"
    return f"{label}: {words}"


class _Message(Protocol):
    id: int
    direction: str
    author: str
    text: str
    created_at: datetime
    status: str
    intent: str | None
    confidence: float | None
    understanding: dict[str, Any] | None
    conversation_id: int


def build_packet(
    *,
    handoff: Any,
    customer: Any,
    conversations: Iterable[Any],
    messages: Iterable[_Message],
    join_token: str,
) -> dict[str, Any]:
    """The handoff as one JSON-ready document; rows come from the store, nothing is queried here."""
    conversation_list = list(conversations)
    by_id = {c.id: c for c in conversation_list}
    return {
        "id": handoff.id,
        "case_id": handoff.case_id,
        "status": handoff.status,
        "reason": handoff.reason,
        "reason_text": REASONS.get(handoff.reason, handoff.reason),
        "intent": handoff.intent,
        "topic": handoff.topic,
        "priority": handoff.priority,
        "summary": handoff.summary,
        "flags": list(handoff.flags or []),
        "timestamps": {
            "received": _iso(handoff.received_at),
            "acknowledged": _iso(handoff.acknowledged_at),
            "handed_off": _iso(handoff.created_at),
            "closed": _iso(handoff.closed_at),
        },
        "outcome": handoff.outcome,
        "customer": {
            "platform": customer.platform,
            "id": customer.platform_user_id,
            "handle": customer.handle,
            "display_name": customer.display_name,
            "audience": customer.audience,
        },
        "join_token": join_token,
        "conversations": [
            {
                "id": c.id,
                "platform": c.platform,
                "key": c.conversation_key,
                "public": c.public,
                "url": c.url,
                "started": _iso(c.created_at),
            }
            for c in conversation_list
        ],
        "messages": [
            {
                "id": m.id,
                "at": _iso(m.created_at),
                "direction": m.direction,
                "author": m.author,
                "where": "public" if by_id[m.conversation_id].public else "private",
                "conversation_id": m.conversation_id,
                "text": m.text,
                "status": m.status,
                "understood": m.understanding,
            }
            for m in messages
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
