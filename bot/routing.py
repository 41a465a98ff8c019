"""Where an accepted customer message goes: to the person who owns the case, or to the bot.

Routing is a list of small rules tried in order; the first whose `matches` is true decides the
message's turn. Human takeover comes first, Rasa last, so the bot can never talk over an agent.
A rule only decides (`TurnResult`: how the turn ends, what is said, which handoff opens); the
gateway ends every turn in one place, so the fence, the outbox and the handoff are written the
same way whichever rule decided.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.adapters.base import BaseAdapter
from bot.delivery import Reply
from bot.handoff import HandoffRequest
from bot.messages import InboundMessage
from bot.rasa_runtime import RasaRuntime
from bot.store.models import tracker_id
from bot.store.repository import Recorded
from bot.triage import Triage

__all__ = ["AskRasa", "HumanOwnsCase", "Outcome", "Routed", "RoutingRule", "TurnResult", "action_metadata"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Routed:
    """An accepted message on its way through the rules."""

    message: InboundMessage
    recorded: Recorded
    triage: Triage
    parse_data: dict[str, Any]
    open_handoff_id: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one inbound message; the web API and `firstline say` return it as JSON."""

    status: str
    """answered, attached (a person owns the case: the bot stayed silent), duplicate, limited
    (stored, but the account sent too much this minute: no bot turn), too_old (stored and given to
    a person without a reply: written longer ago than `Settings.max_reply_age`), budget (the same,
    for a public message on a platform whose daily API budget is spent), taken_over (this
    instance stalled past its lease and another one answered), or failed
    (Firstline broke; the customer got an apology and the case went to a person)."""
    message_id: int | None = None
    case_id: int | None = None
    triage: Triage | None = None
    replies: tuple[Reply, ...] = field(default_factory=tuple)
    handoff_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message_id": self.message_id,
            "case_id": self.case_id,
            "understood": self.triage.to_dict() if self.triage else None,
            "replies": [
                {"id": r.id, "text": r.text, "status": r.status, "error": r.error} for r in self.replies
            ],
            "handoff_id": self.handoff_id,
        }


@dataclass(frozen=True, slots=True)
class TurnResult:
    """How one turn ends, as a rule (or the gateway itself) decides it; the gateway carries it out."""

    status: str
    """The outcome's status (`Outcome.status`)."""
    replies: tuple[str, ...] = ()
    """What is said to the customer, in order; blank texts are dropped."""
    handoff: HandoffRequest | None = None
    """A handoff to open for the case, before the turn ends."""

    @property
    def stored_status(self) -> str:
        """The inbound message's status in the store: `handled` for a message the bot answered."""
        return "handled" if self.status == "answered" else self.status


class RoutingRule(Protocol):
    def matches(self, routed: Routed) -> bool: ...

    async def handle(self, routed: Routed) -> TurnResult: ...


class HumanOwnsCase:
    """While a handoff is open the bot is silent; the message is already part of the case.

    One exception: a customer who just followed the invitation into a private chat would
    otherwise meet silence there, so they are told, once per arrival, that a person has their
    case (`joined_note`, the domain's `utter_private_chat_joined`).
    """

    def __init__(self, joined_note: str | None = None) -> None:
        self.joined_note = joined_note

    def matches(self, routed: Routed) -> bool:
        return routed.open_handoff_id is not None

    async def handle(self, routed: Routed) -> TurnResult:
        message = routed.message
        arrived = bool(message.join_token) and not message.public
        return TurnResult("attached", (self.joined_note,) if arrived and self.joined_note else ())


def action_metadata(routed: Routed, adapter: BaseAdapter) -> dict[str, Any]:
    """What the actions need to know beyond the text: where it was written and by whom."""
    message, recorded = routed.message, routed.recorded
    return {
        "firstline": {
            "message_id": recorded.message_id,
            "case_id": recorded.case_id,
            "conversation_id": recorded.conversation_id,
            "platform": message.platform,
            "public": message.public,
            "kind": message.kind,
            "engagement": message.engagement,
            "received_at": message.received_at.isoformat(),
            "char_limit": adapter.reply_budget(message),
            "dm_link": adapter.dm_link(message.customer, recorded.join_token) if message.public else None,
            "customer": {
                "id": message.customer.platform_user_id,
                "handle": message.customer.handle,
                # What the bot may call the customer: in public, only a name the platform gave.
                "display_name": message.customer.display_name
                if adapter.names_from_platform or not message.public
                else None,
                "audience": message.customer.audience,
            },
        }
    }


class AskRasa:
    """The bot's turn: Rasa's dialogue runs the actions; what they say, and the hand-off they ask
    for, are the turn's result."""

    def __init__(self, rasa: RasaRuntime, adapters: dict[str, BaseAdapter]) -> None:
        self.rasa = rasa
        self.adapters = adapters

    def matches(self, routed: Routed) -> bool:
        return True

    async def handle(self, routed: Routed) -> TurnResult:
        message, recorded = routed.message, routed.recorded
        bot_messages = await self.rasa.respond(
            sender_id=tracker_id(recorded.conversation_id),
            text=message.text,
            parse_data=routed.parse_data,
            metadata=action_metadata(routed, self.adapters[message.platform]),
            message_id=str(recorded.message_id),
        )
        texts = tuple((m.get("text") or "").strip() for m in bot_messages)
        return TurnResult("answered", texts, HandoffRequest.from_bot_messages(bot_messages))
