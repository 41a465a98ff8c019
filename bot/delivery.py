"""Sending a reply through the platform it belongs to, with the store as the record of truth.

Each outgoing message is stored as `pending` before the adapter is called and marked `sent` or
`failed` after, so an agent can always see what the customer was (or was not) told.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.adapters.base import BaseAdapter
from bot.errors import BotError
from bot.messages import InboundMessage, OutboundMessage, utcnow
from bot.store.repository import Recorded, Repository

__all__ = ["Delivery", "Reply"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    text: str
    status: str
    error: str | None = None


class Delivery:
    def __init__(self, repository: Repository, adapters: Mapping[str, BaseAdapter]) -> None:
        self.repository = repository
        self.adapters = adapters

    async def reply(self, to: InboundMessage, recorded: Recorded, text: str, author: str = "bot") -> Reply:
        """Answers a customer message where it was written (same thread or chat, as a reply)."""
        outbound = OutboundMessage(
            platform=to.platform,
            conversation_key=to.conversation_key,
            public=to.public,
            text=text,
            recipient_id=to.customer.platform_user_id,
            in_reply_to=to.platform_message_id,
        )
        return await self.send(
            outbound,
            conversation_id=recorded.conversation_id,
            author=author,
            in_reply_to_id=recorded.message_id,
        )

    async def send(
        self, message: OutboundMessage, *, conversation_id: int, author: str, in_reply_to_id: int | None
    ) -> Reply:
        row_id = self.repository.record_outbound(
            conversation_id=conversation_id, text=message.text, author=author, in_reply_to_id=in_reply_to_id
        )
        adapter = self.adapters.get(message.platform)
        if adapter is None:
            error = f"no adapter for platform {message.platform!r} is running"
            self.repository.mark_failed(row_id, error)
            return Reply(row_id, message.text, "failed", error)
        try:
            sent_id = await adapter.send(message)
        except BotError as exc:
            logger.warning("delivery of message %s failed: %s", row_id, exc)
            self.repository.mark_failed(row_id, str(exc))
            return Reply(row_id, message.text, "failed", str(exc))
        self.repository.mark_delivered(row_id, sent_id, utcnow())
        return Reply(row_id, message.text, "sent")
