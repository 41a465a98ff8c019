"""The channel-neutral messages that cross the adapter boundary.

Adapters turn every platform event into an `InboundMessage` and send `OutboundMessage`s; nothing
platform-specific travels further, so the gateway, the store and the actions stay the same for
every platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

__all__ = ["Customer", "InboundMessage", "OutboundMessage", "older_than", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def older_than(written_at: datetime, limit: timedelta, now: datetime) -> bool:
    """Whether a message written at `written_at` is more than `limit` old at `now`.

    A zero (or negative) limit means no limit. A time without a zone counts as UTC, as the
    platforms send it; a time in the future (a skewed clock) is not old.
    """
    if limit <= timedelta(0):
        return False
    if written_at.tzinfo is None:
        written_at = written_at.replace(tzinfo=timezone.utc)
    return now - written_at > limit


@dataclass(frozen=True, slots=True)
class Customer:
    """Who wrote, as far as the platform tells us."""

    platform_user_id: str
    handle: str | None = None
    display_name: str | None = None
    audience: int | None = None
    """Followers or members who may see the customer's public posts, when the platform says."""

    @property
    def name(self) -> str:
        """What to call the customer in a reply: never empty, never an internal id."""
        return (self.display_name or self.handle or "there").strip() or "there"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message from any platform.

    `conversation_key` names the place the message was written: a public thread or a private chat.
    Two messages with the same `platform` and `platform_message_id` are the same delivery, repeated.
    """

    platform: str
    platform_message_id: str
    conversation_key: str
    public: bool
    customer: Customer
    text: str
    received_at: datetime = field(default_factory=utcnow)
    url: str | None = None
    join_token: str | None = None
    """Set when the customer arrived through a DM invitation, to join the private chat to the case."""
    identity_verified: bool = True
    """Whether the platform vouches for `customer.platform_user_id` (X and Telegram authenticate
    their users). The web channel's `user` is self-declared, so there it is False, and a join
    token presented from the web links a new case instead of joining (see `Repository`)."""
    kind: str = "text"
    """`text`, or what else the customer sent (`sticker`, `voice`, `media`): those are not read by
    the model; `text` then describes them ("[sticker 👍]") and the case goes to a person."""
    engagement: int | None = None
    """How much attention a public post has drawn (reposts, replies, likes, quotes), when the
    platform says; like `Customer.audience`, a sign of how visible the case is."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message from the brand (the bot or an agent) to a customer."""

    platform: str
    conversation_key: str
    public: bool
    text: str
    recipient_id: str
    in_reply_to: str | None = None
    """Platform id of the customer message this answers, so public replies stay in the thread."""
    author: str = "bot"
    """`bot` or `agent`: platforms guard against bot loops, which a person's replies never are."""
