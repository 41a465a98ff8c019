"""The background loop that keeps Firstline's promises after a failure or a restart.

It sends what is due in the outbox (retries, and messages held by an instance that stopped
mid-send) and runs again the turns of accepted messages whose instance stopped before answering
them. Claims in the store decide which instance does what, so several can run this loop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.delivery import Delivery
from bot.store.repository import PendingTurn

__all__ = ["OutboxWorker"]

logger = logging.getLogger(__name__)


class OutboxWorker:
    """`resume_turn` is the gateway's entry for a claimed unfinished turn; the worker knows no
    more about turns than that, which keeps routing out of this module."""

    def __init__(
        self,
        delivery: Delivery,
        resume_turn: Callable[[PendingTurn], Awaitable[object]],
        interval: float = 1.0,
    ) -> None:
        self.delivery = delivery
        self.repository = delivery.repository
        self.resume_turn = resume_turn
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """One pass; returns how many messages and turns it handled (tests drive this)."""
        done = 0
        for turn in self.repository.unfinished_turns():
            await self.resume_turn(turn)
            done += 1
        for queued in self.repository.due_outbound():
            await self.delivery.attempt(queued)
            done += 1
        return done

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                # The loop must outlive a bad row or a database hiccup; the next pass tries again.
                logger.exception("outbox pass failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="firstline-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
