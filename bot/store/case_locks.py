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
from sqlalchemy.engine import Engine

__all__ = ["CASE_LOCK_SPACE", "CaseLocks"]

logger = logging.getLogger(__name__)

CASE_LOCK_SPACE = 0x464C4353  # "FLCS": the first key of the two-key advisory lock; the case is the second
_RETRY_SECONDS = 0.005


class CaseLocks:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shared = engine.dialect.name == "postgresql"
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
            if not self.shared:
                yield False
                return
            key = (CASE_LOCK_SPACE, case_id)
            connection = self.engine.connect()
            held = False
            try:
                deadline = asyncio.get_running_loop().time() + wait
                while True:
                    held = bool(connection.execute(select(func.pg_try_advisory_lock(*key))).scalar_one())
                    connection.commit()  # no transaction left open while the turn runs or waits
                    if held or asyncio.get_running_loop().time() >= deadline:
                        break
                    await asyncio.sleep(_RETRY_SECONDS)
                if not held:
                    logger.warning(
                        "case %s: its lock has been held for over %.0f s; going on without it", case_id, wait
                    )
                yield held
            finally:
                if held:
                    try:
                        connection.execute(select(func.pg_advisory_unlock(*key)))
                        connection.commit()
                    except Exception:
                        # A connection back in the pool must not keep the lock: drop it, and
                        # PostgreSQL ends its session and the lock with it.
                        logger.exception(
                            "case %s: could not release its lock; dropping the connection", case_id
                        )
                        connection.invalidate()
                connection.close()
