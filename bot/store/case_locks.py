"""One turn at a time per case, across every instance that shares the store.

A customer's messages must be answered in the order they were written, whichever instance
receives them: with two instances, a message answered on one while the previous message's turn
still runs on the other can overtake it. Within one process an `asyncio.Lock` per case is
enough; across processes the lock must live where all of them look.

On PostgreSQL it is a session advisory lock keyed on the case, taken with `pg_try_advisory_lock`
and retried every few milliseconds, so a waiting turn never blocks the event loop or holds a
database connection while it waits; the connection that holds the lock is kept only for the turn
(tens of milliseconds) and, should the process die, PostgreSQL releases the lock with its session.
SQLite is one machine's database, where one instance runs: the in-process lock is the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["CASE_LOCK_SPACE", "CaseLocks"]

logger = logging.getLogger(__name__)

CASE_LOCK_SPACE = 0x464C4353  # "FLCS": the first key of the two-key advisory lock; the case is the second
_RETRY_SECONDS = 0.005


class CaseLocks:
    def __init__(self, engine: Engine | None) -> None:
        """`engine`: the lock engine (`bot.store.database.create_lock_engine`); None keeps the
        locks in this process only (SQLite)."""
        self.engine = engine
        self.shared = engine is not None
        """Whether the lock is also held in the database, for the other instances."""
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def hold(self, case_id: int, wait: float) -> AsyncIterator[bool]:
        """Runs the block while no other turn of `case_id` runs, here or in another instance.

        Yields whether the case is held across instances. A lock another instance keeps for
        longer than `wait` (a turn lease) belongs to an instance that is frozen, not slow: the
        block then runs without it, and the fenced claims of the store keep that instance from
        answering when it wakes.
        """
        lock = self._local.get(case_id)
        if lock is None:
            lock = self._local[case_id] = asyncio.Lock()
        async with lock:
            if self.engine is None:
                yield False
                return
            key = (CASE_LOCK_SPACE, case_id)
            clock = asyncio.get_running_loop()
            deadline = clock.time() + wait
            while True:
                # A connection only for the attempt, so turns waiting for a busy case hold none;
                # an empty pool (every connection holding a case) is waited for the same way.
                connection = self._try(key)
                if connection is not None or clock.time() >= deadline:
                    break
                await asyncio.sleep(_RETRY_SECONDS)
            if connection is None:
                logger.warning(
                    "case %s: its lock has been held for over %.0f s; going on without it", case_id, wait
                )
                yield False
                return
            try:
                yield True
            finally:
                try:
                    connection.execute(select(func.pg_advisory_unlock(*key)))
                    connection.commit()
                except Exception:
                    # A connection back in the pool must not keep the lock: drop it, and
                    # PostgreSQL ends its session and the lock with it.
                    logger.exception("case %s: could not release its lock; dropping the connection", case_id)
                    connection.invalidate()
                connection.close()

    def _try(self, key: tuple[int, int]) -> Connection | None:
        """One attempt at the lock: the connection that now holds it, or None."""
        assert self.engine is not None
        try:
            connection = self.engine.connect()
        except PoolTimeout:
            return None  # the lock pool never waits (`pool_timeout=0`): try again soon
        try:
            held = bool(connection.execute(select(func.pg_try_advisory_lock(*key))).scalar_one())
            connection.commit()  # no transaction left open while the turn runs
        except BaseException:
            connection.close()
            raise
        if not held:
            connection.close()
            return None
        return connection
