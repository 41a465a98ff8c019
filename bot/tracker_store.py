"""Rasa's tracker store, saved after the customer has been answered instead of before.

Rasa saves a conversation's tracker at the end of every message, before `handle_message`
returns, so on the SQL store each acknowledgement waited for that write: about a third of a
turn. Firstline's own store is the record of the conversation (every message, both ways, with
what was understood), and Rasa's dialogue here is rules over the latest message, so the tracker
write can safely follow the reply. Until it is written, the tracker is served from memory, so
the next message of the same conversation always sees it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable

from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

__all__ = ["WriteBehindTrackerStore"]

logger = logging.getLogger(__name__)


class WriteBehindTrackerStore(TrackerStore):
    """Wraps a tracker store so that `save` returns at once and the write happens next.

    Writes for one conversation run one after the other, in order (Rasa's SQL store computes
    which events are new from what is already stored, so two at once would write some twice).
    `flush` waits for every write; the service calls it when it stops.
    """

    def __init__(self, inner: TrackerStore) -> None:
        super().__init__(inner.domain, inner.event_broker)
        self.inner = inner
        self._pending: dict[str, DialogueStateTracker] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        # Saving is the last thing Rasa does with this object, so it is kept as it is; whoever
        # reads it before it is written gets a copy to change.
        self._pending[sender_id] = tracker
        previous = self._writers.get(sender_id)
        self._writers[sender_id] = asyncio.get_running_loop().create_task(
            self._write(sender_id, previous), name=f"tracker-save-{sender_id}"
        )

    async def _write(self, sender_id: str, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            tracker = self._pending.get(sender_id)
            if tracker is None:
                return  # an earlier writer already saved the newest state
            try:
                # Rasa's SQL store does blocking I/O inside `async def save`; run it on a worker
                # thread with a loop of its own, so the service's loop goes on answering.
                await asyncio.to_thread(asyncio.run, self.inner.save(tracker))
            except Exception:
                # The reply has gone out and Firstline's own store has the messages; a lost
                # tracker write costs Rasa's memory of earlier turns, not a customer's answer.
                logger.exception("saving Rasa's tracker for %s failed", sender_id)
            if self._pending.get(sender_id) is tracker:
                del self._pending[sender_id]
        finally:
            if self._writers.get(sender_id) is asyncio.current_task():
                del self._writers[sender_id]

    async def flush(self) -> None:
        while self._writers:
            await asyncio.gather(*list(self._writers.values()), return_exceptions=True)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        pending = self._pending.get(sender_id)
        if pending is not None:
            return copy.deepcopy(pending)
        return await self.inner.retrieve(sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        pending = self._pending.get(conversation_id)
        if pending is not None:
            await self.flush()
        return await self.inner.retrieve_full_tracker(conversation_id)

    async def keys(self) -> Iterable[str]:
        await self.flush()
        return await self.inner.keys()
