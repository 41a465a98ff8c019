"""The write-behind tracker store over Rasa's real SQL tracker store on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import WriteBehindTrackerStore

DOMAIN = Domain.from_yaml("version: '3.1'\nintents: [greet]")


class SlowStore(SQLTrackerStore):
    """Rasa's SQL store, with each save held until the test lets it go."""

    def __init__(self, path: Path) -> None:
        super().__init__(DOMAIN, dialect="sqlite", db=str(path))
        self.gate = asyncio.Event()
        self.saves = 0

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.gate.wait()
        self.saves += 1
        await super().save(tracker)


def _tracker(sender: str, *texts: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, DOMAIN.slots)
    for text in texts:
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
        tracker.update(ActionExecuted("action_listen"))
    return tracker


async def _user_texts(store: TrackerStore, sender: str) -> list[str]:
    tracker = await store.retrieve(sender)
    assert tracker is not None
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


async def test_a_turn_s_tracker_is_read_at_once_and_written_behind_its_commit(tmp_path: Path) -> None:
    inner = SlowStore(tmp_path / "tracker.db")
    store = WriteBehindTrackerStore(inner)

    await store.save(_tracker("c1", "hello"))  # held until the turn ends
    assert await _user_texts(store, "c1") == ["hello"]
    writer = store.commit("c1")  # returns although the inner save is held
    assert writer is not None and inner.saves == 0
    assert await _user_texts(store, "c1") == ["hello"]
    assert await inner.retrieve("c1") is None

    inner.gate.set()
    await writer
    assert await _user_texts(inner, "c1") == ["hello"]
    assert store.commit("c1") is None  # nothing more was saved


async def test_a_turn_that_did_not_end_here_is_never_written(tmp_path: Path) -> None:
    # An instance whose turn another took over drops its copy: the tracker holds the turn once.
    inner = SlowStore(tmp_path / "tracker.db")
    inner.gate.set()
    store = WriteBehindTrackerStore(inner)
    await store.save(_tracker("c1", "one"))
    store.commit("c1")
    await store.save(_tracker("c1", "one", "two"))
    store.discard("c1")
    await store.flush()
    assert await _user_texts(store, "c1") == ["one"]
    assert await _user_texts(inner, "c1") == ["one"]


async def test_a_write_in_flight_takes_only_what_was_committed(tmp_path: Path) -> None:
    inner = SlowStore(tmp_path / "tracker.db")
    store = WriteBehindTrackerStore(inner)
    await store.save(_tracker("c1", "one"))
    store.commit("c1")
    await store.save(_tracker("c1", "one", "two"))  # the next turn, not ended yet
    assert await _user_texts(store, "c1") == ["one", "two"]
    inner.gate.set()
    await store.flush()
    assert await _user_texts(inner, "c1") == ["one"]


async def test_writes_of_one_conversation_keep_their_order_and_write_each_event_once(tmp_path: Path) -> None:
    inner = SlowStore(tmp_path / "tracker.db")
    store = WriteBehindTrackerStore(inner)
    for texts in (["one"], ["one", "two"], ["one", "two", "three"]):
        await store.save(_tracker("c1", *texts))
        store.commit("c1")
    inner.gate.set()
    await store.flush()
    assert await _user_texts(inner, "c1") == ["one", "two", "three"]
    # The newest state was written; older ones still waiting were skipped, not written twice.
    assert inner.saves <= 2


async def test_a_reader_may_change_what_it_got_without_touching_the_pending_write(tmp_path: Path) -> None:
    inner = SlowStore(tmp_path / "tracker.db")
    store = WriteBehindTrackerStore(inner)
    await store.save(_tracker("c1", "hello"))
    store.commit("c1")
    read = await store.retrieve("c1")
    assert read is not None
    read.update(UserUttered("not saved", {"name": "greet", "confidence": 1.0}))
    inner.gate.set()
    await store.flush()
    assert await _user_texts(inner, "c1") == ["hello"]
