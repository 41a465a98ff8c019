"""The per-case lock that orders a customer's turns across instances (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import database
from bot.store.case_locks import CaseLocks

pytestmark = pytest.mark.postgres


async def _ticks_while(task: asyncio.Task, seconds: float) -> int:
    """How often the event loop ran something else while `task` waited: 0 when it was blocked."""
    ticks = 0
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline and not task.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


async def test_a_case_is_held_by_one_instance_at_a_time(postgres_url: str) -> None:
    one, two = (CaseLocks(database.create_lock_engine(postgres_url)) for _ in range(2))
    order: list[str] = []

    async def turn(locks: CaseLocks, name: str, seconds: float) -> bool:
        async with locks.hold(7, wait=5.0) as held:
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")
            return held

    first = asyncio.create_task(turn(one, "one", 0.3))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(turn(two, "two", 0.0))
    assert await first and await second
    assert order == ["one in", "one out", "two in", "two out"]
    for locks in (one, two):
        assert locks.engine is not None
        locks.engine.dispose()


async def test_a_lock_held_past_the_wait_is_gone_around(postgres_url: str) -> None:
    # A frozen instance keeps its case's lock; the others go on without it after a lease.
    one, two = (CaseLocks(database.create_lock_engine(postgres_url)) for _ in range(2))
    async with one.hold(8, wait=5.0) as held:
        assert held
        async with two.hold(8, wait=0.2) as shared:
            assert not shared
    for locks in (one, two):
        assert locks.engine is not None
        locks.engine.dispose()


async def test_with_every_lock_connection_taken_a_turn_waits_without_blocking_the_loop(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Turns hold their case's connection across awaits. When they had taken every connection,
    # the next turn waited for one inside the event loop, and the loop stopped the turns that
    # would have given theirs back: every instance of the fault suite stood still for 30 s.
    monkeypatch.setattr(database, "LOCK_CONNECTIONS", 6)
    locks = CaseLocks(database.create_lock_engine(postgres_url))
    release = asyncio.Event()

    async def busy(case_id: int) -> None:
        async with locks.hold(case_id, wait=5.0) as held:
            assert held
            await release.wait()

    holders = [asyncio.create_task(busy(case_id)) for case_id in range(1, 7)]
    await asyncio.sleep(0.2)  # six cases held: the pool is empty
    waiting = asyncio.create_task(busy(99))
    assert await _ticks_while(waiting, 0.3) > 10  # the loop ran on while it waited
    assert not waiting.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(*holders, waiting), timeout=5)
    assert locks.engine is not None
    locks.engine.dispose()


def test_sqlite_keeps_the_locks_in_the_process() -> None:
    assert database.create_lock_engine("sqlite:///firstline.db") is None
    assert CaseLocks(None).shared is False
