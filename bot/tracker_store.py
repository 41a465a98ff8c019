"""Rasa's tracker store, written once the turn is known to be this instance's, after the reply.

Rasa saves a conversation's tracker at the end of every message, before `handle_message`
returns, so on the SQL store each acknowledgement waited for that write: about a third of a
turn. Firstline's own store is the record of the conversation (every message, both ways, with
what was understood), and Rasa's dialogue here is rules over the latest message, so the tracker
write can safely follow the reply.

With several instances the write also has to wait for the turn's fence. An instance frozen
mid-turn whose message another instance took over must not write its copy of the turn (the
tracker would hold it twice), so what Rasa saves is held until the gateway has ended the turn:
`commit` writes it, `discard` drops it. And the next message of the case may be handled by
another instance, which reads the tracker from the database, so where the case lock is shared
the gateway waits for the write before it lets the case go.
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
    """Wraps a tracker store: `save` keeps the tracker, `commit` writes it behind the reply.

    Writes for one conversation run one after the other, in order (Rasa's SQL store computes
    which events are new from what is already stored, so two at once would write some twice).
    Until a tracker is written, reads of its conversation get a copy of it. `flush` waits for
    every committed write; the service calls it when it stops.
    """

    def __init__(self, inner: TrackerStore) -> None:
        super().__init__(inner.domain, inner.event_broker)
        self.inner = inner
        self._held: dict[str, DialogueStateTracker] = {}
        """Saved by Rasa in a turn that has not ended yet."""
        self._pending: dict[str, DialogueStateTracker] = {}
        """Committed, waiting for its write."""
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def save(self, tracker: DialogueStateTracker) -> None:
        # Saving is the last thing Rasa does with this object, so it is kept as it is; whoever
        # reads it before it is written gets a copy to change.
        self._held[tracker.sender_id] = tracker

    def commit(self, sender_id: str) -> asyncio.Task[None] | None:
        """Writes what the turn saved for `sender_id`, behind the turns before it; returns the
        write (None: the turn saved nothing)."""
        tracker = self._held.pop(sender_id, None)
        if tracker is None:
            return None
        self._pending[sender_id] = tracker
        previous = self._writers.get(sender_id)
        writer = asyncio.get_running_loop().create_task(
            self._write(sender_id, previous), name=f"tracker-save-{sender_id}"
        )
        self._writers[sender_id] = writer
        return writer

    def discard(self, sender_id: str) -> None:
        """Forgets what a turn that did not end here saved: its tracker is never written."""
        self._held.pop(sender_id, None)

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
        newest = self._held.get(sender_id) or self._pending.get(sender_id)
        if newest is not None:
            return copy.deepcopy(newest)
        return await self.inner.retrieve(sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        if conversation_id in self._pending:
            await self.flush()
        return await self.inner.retrieve_full_tracker(conversation_id)

    async def keys(self) -> Iterable[str]:
        await self.flush()
        return await self.inner.keys()
