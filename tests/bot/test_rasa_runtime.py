from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.rasa_runtime import (
    disarm_intent_syntax,
    lock_store_for,
    tracker_store_for,
    validate_action_results_once,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/request_human", "request_human"),
        ('  /praise{"x": 1}', 'praise{"x": 1}'),
        ("my order / my refund", "my order / my refund"),
        ("hello", "hello"),
    ],
)
def test_customers_cannot_send_rasa_intent_syntax(text: str, expected: str) -> None:
    assert disarm_intent_syntax(text) == expected


def test_compiled_validation_accepts_good_and_refuses_bad_results() -> None:
    validate_action_results_once()
    action = RemoteAction("action_x", None)
    assert action._validate_action_result({"events": [{"event": "action", "name": "x"}], "responses": []})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": [{"event": "no-such-event"}], "responses": []})


def test_stores_from_settings(tmp_path: Path) -> None:
    domain = Domain.empty()
    assert isinstance(tracker_store_for("memory", domain), InMemoryTrackerStore)
    store = tracker_store_for(f"sqlite:///{tmp_path / 'sub' / 'tracker.db'}", domain)
    assert isinstance(store, SQLTrackerStore)
    assert (tmp_path / "sub").is_dir()
    assert isinstance(lock_store_for("", 30), InMemoryLockStore)
    assert isinstance(lock_store_for("redis://127.0.0.1:6379/3", 30), RedisLockStore)


@pytest.mark.postgres
def test_instances_started_together_create_the_tracker_tables_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Rasa creates its `events` table on first use. Instances started together on an empty
    # database raced to create it: the losers hit a unique violation on PostgreSQL's catalogue,
    # logged it and slept five seconds before trying again.
    domain = Domain.empty()
    barrier = threading.Barrier(6)

    def start() -> TrackerStore:
        barrier.wait()
        return tracker_store_for(postgres_url, domain)

    with caplog.at_level(logging.WARNING, logger="rasa.core.tracker_store"):
        with ThreadPoolExecutor(6) as pool:
            stores = list(pool.map(lambda _: start(), range(6)))
    assert all(isinstance(store, SQLTrackerStore) for store in stores)
    assert [r.getMessage() for r in caplog.records if r.name == "rasa.core.tracker_store"] == []
    for store in stores:
        store.engine.dispose()


async def test_a_turn_waits_for_a_live_ticket_of_its_conversation(redis_url: str) -> None:
    conversation = f"firstline-test-{uuid.uuid4().hex}"
    first, second = lock_store_for(redis_url, lifetime=30.0), lock_store_for(redis_url, lifetime=30.0)

    async def next_turn() -> None:
        async with second.lock(conversation, wait_time_in_seconds=0.02):
            pass

    async with first.lock(conversation):
        waiting = asyncio.create_task(next_turn())
        await asyncio.sleep(0.3)
        assert not waiting.done()
    await asyncio.wait_for(waiting, timeout=5)


@pytest.mark.parametrize("poll", [0.05, 3.0])
async def test_a_ticket_left_by_a_killed_instance_holds_the_next_turn_one_lease(
    redis_url: str, poll: float
) -> None:
    # An instance killed mid-turn never gives its conversation ticket back. With Rasa's own
    # lifetime (60 s) the next turn of that conversation, on another instance, waited a minute
    # while renewing its claim; and a waiter that polled after its own ticket ran out (poll 3 s
    # against a 1 s lifetime) waited for ever. The fault suite lost a message that way.
    conversation = f"firstline-test-{uuid.uuid4().hex}"
    dead, alive = lock_store_for(redis_url, lifetime=1.0), lock_store_for(redis_url, lifetime=1.0)
    dead.issue_ticket(conversation)
    started = time.monotonic()

    async def next_turn() -> float:
        async with alive.lock(conversation, wait_time_in_seconds=poll):
            return time.monotonic() - started

    try:
        waited = await asyncio.wait_for(next_turn(), timeout=10)
    finally:
        alive.delete_lock(conversation)
    assert 0.9 <= waited < 10


async def test_while_redis_is_down_a_turn_goes_on_without_rasa_s_lock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Port 1: nothing listens, as while Redis restarts. Rasa's own store raised LockError, and
    # every turn in the outage ended in an apology instead of its answer.
    store = lock_store_for("redis://127.0.0.1:1/0", lifetime=1.0)
    with caplog.at_level(logging.WARNING, logger="bot.rasa_runtime"):
        async with store.lock("conversation-1") as lock:
            assert lock.conversation_id == "conversation-1"
    assert "going on without it" in caplog.text


@pytest.mark.postgres
async def test_the_tracker_store_outlives_a_database_restart(
    postgres_url: str, postgres_admin: Engine
) -> None:
    # A restart ends every session; Rasa's engine used its stale pooled connection and the turn
    # failed. Ending the store's sessions from outside stands for the restart.
    store = tracker_store_for(postgres_url, Domain.empty())
    assert await store.retrieve("conversation-1") is None  # a pooled connection now exists
    database = make_url(postgres_url).database
    with postgres_admin.connect() as admin:
        ended = admin.execute(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :db"),
            {"db": database},
        ).scalar_one()
    assert ended >= 1
    assert await store.retrieve("conversation-1") is None
    store.engine.dispose()
