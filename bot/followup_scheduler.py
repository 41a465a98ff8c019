"""The background task that plans and sends follow-ups (see `bot.followups`).

Every few seconds, one `tick`: plan what lately opened or resolved handoffs call for, call off the
`still_here` follow-ups whose customer came to the private chat, then claim what is due and send
it through `Delivery` like any other bot message (so it lands in the outbox and the case's
history). Instances share the work through the store; a tick never raises, so one bad row cannot
stop the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.delivery import Delivery
from bot.followups import STILL_HERE, SYSTEM, FollowupPolicy, compose, decide
from bot.messages import Customer, OutboundMessage, utcnow
from bot.store.followups import DueFollowup, FollowupStore
from bot.text_limits import LIMITS
from bot.wording import Phrasebook

__all__ = ["FollowupScheduler", "Tick"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tick:
    planned: int = 0
    cancelled: int = 0
    sent: int = 0
    failed: int = 0


class FollowupScheduler:
    def __init__(
        self,
        store: FollowupStore,
        delivery: Delivery,
        policy: FollowupPolicy,
        phrases: Phrasebook,
        *,
        interval: float = 5.0,
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.policy = policy
        self.phrases = phrases
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.policy.still_here_after is not None or self.policy.checkback_after is not None

    async def tick(self, now: datetime | None = None) -> Tick:
        """One round of planning and sending; what a test drives instead of waiting.

        `now` is the moment follow-ups are due by (a test looks ahead instead of sleeping).
        """
        now = now or utcnow()
        planned = len(self.store.plan(self.policy, now))
        cancelled = self.store.cancel_obsolete(now)
        sent = failed = 0
        for due in self.store.claim_due(now):
            outcome = await self._send(due)
            if outcome == "sent":
                sent += 1
            elif outcome == "cancelled":
                cancelled += 1
            else:
                failed += 1
        return Tick(planned, cancelled, sent, failed)

    async def _send(self, due: DueFollowup) -> str:
        followup = due.followup
        decision = decide(due.facts)
        if not decision.send or decision.place is None:
            logger.info("follow-up %s called off: %s", followup.id, decision.reason)
            self.store.finish(followup.id, "cancelled", utcnow(), detail=decision.reason, cancelled_by=SYSTEM)
            return "cancelled"
        place = decision.place
        adapter = self.delivery.adapters.get(place.platform)
        dm_link = None
        if followup.kind == STILL_HERE and adapter is not None:
            customer = Customer(due.customer_id, due.customer_handle, due.customer_name)
            dm_link = adapter.dm_link(customer, due.join_token)
        text = compose(
            followup.kind,
            self.phrases,
            seed=str(followup.id),
            platform=place.platform,
            limit=adapter.char_limit if adapter is not None else LIMITS.get(place.platform, 280),
            # In public, only a name the platform gave (see `BaseAdapter.names_from_platform`).
            display_name=due.customer_name
            if not place.public or (adapter is not None and adapter.names_from_platform)
            else None,
            dm_link=dm_link,
        )
        message = OutboundMessage(
            platform=place.platform,
            conversation_key=place.conversation_key,
            public=place.public,
            text=text,
            recipient_id=due.customer_id,
            in_reply_to=place.last_customer_message,
        )
        try:
            reply = await self.delivery.send(
                message, conversation_id=place.conversation_id, author="bot", in_reply_to_id=None
            )
        except Exception as exc:
            logger.exception("follow-up %s could not be sent", followup.id)
            self.store.finish(followup.id, "failed", utcnow(), detail=f"{type(exc).__name__}: {exc}")
            return "failed"
        if reply.status == "dead":
            self.store.finish(followup.id, "failed", utcnow(), message_id=reply.id, detail=reply.error)
            return "failed"
        # `pending` is in the outbox and will be retried: as far as the follow-up goes, it is sent.
        self.store.finish(followup.id, "sent", utcnow(), message_id=reply.id)
        logger.info("follow-up %s (%s) sent as message %s", followup.id, followup.kind, reply.id)
        return "sent"

    # --- the background loop -------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled:
            logger.info("follow-ups: off (followup_after_minutes and checkback_after_hours are 0)")
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="firstline-followups")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                # The store may be briefly unreachable; the next tick tries again.
                logger.exception("follow-up tick failed")
            await asyncio.sleep(self.interval)
