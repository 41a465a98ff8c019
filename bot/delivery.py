"""Sending through the platform a message belongs to, with the store as the outbox.

Every outgoing message is written to the store before the platform is called and marked after,
so an agent can always see what the customer was (or was not) told, and a restart loses nothing:
- a platform that is unavailable, rate-limits or times out gets the message again later, with a
  growing pause (at least as long as the platform asked for);
- a platform that refuses the message for good, or fails too often, leaves it `dead` with the
  reason, for a person to see and retry;
- a message held by an instance that stopped mid-send is picked up by the outbox worker once that
  instance's lease on it runs out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.adapters.base import BaseAdapter
from bot.backoff import backoff
from bot.errors import DeliveryFailed, PlatformUnavailable
from bot.messages import InboundMessage, OutboundMessage, utcnow
from bot.store.repository import Queued, Repository

__all__ = ["Delivery", "Reply", "reply_to"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    text: str
    status: str
    """sent, pending (waiting for a retry), dead (refused; `error` says why) or taken_over
    (another instance took the message over while this one stalled; it sends it)."""
    error: str | None = None


def reply_to(message: InboundMessage, text: str) -> OutboundMessage:
    """A message to the customer where they wrote: same thread or chat, as a reply."""
    return OutboundMessage(
        platform=message.platform,
        conversation_key=message.conversation_key,
        public=message.public,
        text=text,
        recipient_id=message.customer.platform_user_id,
        in_reply_to=message.platform_message_id,
    )


class Delivery:
    def __init__(
        self,
        repository: Repository,
        adapters: Mapping[str, BaseAdapter],
        *,
        max_attempts: int = 6,
        first_backoff: float = 2.0,
    ) -> None:
        self.repository = repository
        self.adapters = adapters
        self.max_attempts = max_attempts
        self.first_backoff = first_backoff

    async def send(
        self, message: OutboundMessage, *, conversation_id: int, author: str, in_reply_to_id: int | None
    ) -> Reply:
        """Writes `message` to the outbox and makes the first attempt at once."""
        message = dataclasses.replace(message, author=author)
        queued = self.repository.queue_outbound(
            message, conversation_id=conversation_id, author=author, in_reply_to_id=in_reply_to_id
        )
        return await self.attempt(queued)

    async def deliver(self, queued: Sequence[Queued]) -> list[Reply]:
        """First attempts for messages already in the outbox, in order (a reply in two parts
        must not arrive the wrong way round)."""
        return [await self.attempt(item) for item in queued]

    async def retry(self, message_id: int) -> Reply | None:
        """Tries a pending or dead message again now, with a fresh count of attempts (an agent
        asked for it). None when it has been sent meanwhile or another instance holds it."""
        queued = self.repository.claim_outbound(message_id)
        return await self.attempt(queued) if queued is not None else None

    async def attempt(self, queued: Queued) -> Reply:
        """One delivery attempt of a message this instance holds; records what happened."""
        message = queued.message
        adapter = self.adapters.get(message.platform)
        attempts = queued.attempts + 1
        if adapter is None:
            return self._failed(queued, attempts, f"no adapter for platform {message.platform!r} is running")
        if not self.repository.holds(queued):
            # This instance stalled past its lease and another took the message over: sending
            # now could answer the customer twice.
            logger.warning("message %s: taken over by another instance; not sent from here", queued.id)
            return Reply(queued.id, message.text, "taken_over")
        try:
            sent_id = await adapter.send(message)
        except DeliveryFailed as exc:
            logger.warning("message %s refused by %s: %s", queued.id, message.platform, exc)
            self._mark(self.repository.mark_dead(queued, str(exc)), queued)
            return Reply(queued.id, message.text, "dead", str(exc))
        except PlatformUnavailable as exc:
            return self._failed(queued, attempts, str(exc), exc.retry_after)
        self._mark(self.repository.mark_delivered(queued, sent_id, utcnow()), queued)
        return Reply(queued.id, message.text, "sent")

    @staticmethod
    def _mark(marked: bool, queued: Queued) -> None:
        if not marked:
            logger.warning(
                "message %s: its lease ran out during the attempt and another instance holds it now; "
                "the outcome here was not recorded",
                queued.id,
            )

    def _failed(self, queued: Queued, attempts: int, error: str, retry_after: float | None = None) -> Reply:
        if attempts >= self.max_attempts:
            logger.warning("message %s dead after %d attempts: %s", queued.id, attempts, error)
            self._mark(
                self.repository.mark_dead(queued, f"gave up after {attempts} attempts: {error}"), queued
            )
            return Reply(queued.id, queued.message.text, "dead", error)
        delay = backoff(attempts, self.first_backoff, retry_after)
        logger.info("message %s: attempt %d failed (%s); next in %.1f s", queued.id, attempts, error, delay)
        self._mark(self.repository.mark_retry(queued, error, utcnow() + timedelta(seconds=delay)), queued)
        return Reply(queued.id, queued.message.text, "pending", error)
