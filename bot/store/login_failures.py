"""Failed sign-ins per username, kept in the store so every instance throttles the same count.

The per-instance dictionary this replaces was cleared whole once it held 10,000 names, so failing
on 10,000 made-up names lifted the real account's lockout. Here nothing is ever evicted for room:
a name's row goes only when its last failure is older than `forget_after`, and a success clears it.
The table stays small because rows are tiny and a name's row is updated, not added, per failure;
the login's per-address rate limit bounds how many names one client can fail on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.store.models import LoginFailure

__all__ = ["FORGET_AFTER", "FailureCount", "LoginFailureStore", "failure_key"]

FORGET_AFTER = timedelta(hours=24)
"""How long a name's failures are remembered after the last one: long past the throttle's longest
wait, so that a patient guesser keeps waiting 15 minutes a try instead of earning fresh free
attempts after each pause."""


def failure_key(username: str) -> str:
    """The row's key: the SHA-256 of the name as the throttle compares it (trimmed, lowercased),
    so a password typed into the username field is not kept in the store."""
    name = username.strip().lower()
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class FailureCount:
    failures: int
    last_failed_at: datetime


class LoginFailureStore:
    def __init__(self, engine: Engine, forget_after: timedelta) -> None:
        self.engine = engine
        self.forget_after = forget_after

    def get(self, username: str, now: datetime) -> FailureCount | None:
        """The name's failures, unless the last is older than `forget_after`."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(LoginFailure.failures, LoginFailure.last_failed_at).where(
                    LoginFailure.key == failure_key(username)
                )
            ).first()
        if row is None or now - row.last_failed_at >= self.forget_after:
            return None
        return FailureCount(int(row.failures), row.last_failed_at)

    def record(self, username: str, now: datetime) -> int:
        """Counts one more failure for the name and returns the count; forgets the names whose
        last failure is older than `forget_after` (an indexed range delete, never a live row)."""
        key = failure_key(username)
        with self.engine.begin() as conn:
            conn.execute(delete(LoginFailure).where(LoginFailure.last_failed_at <= now - self.forget_after))
            if self._bump(conn, key, now):
                return self._count(conn, key)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(LoginFailure).values(key=key, failures=1, last_failed_at=now))
                return 1
        except IntegrityError:  # another instance inserted the same name just now
            with self.engine.begin() as conn:
                self._bump(conn, key, now)
                return self._count(conn, key)

    def clear(self, username: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(LoginFailure).where(LoginFailure.key == failure_key(username)))

    @staticmethod
    def _bump(conn: Connection, key: str, now: datetime) -> bool:
        result = conn.execute(
            update(LoginFailure)
            .where(LoginFailure.key == key)
            .values(failures=LoginFailure.failures + 1, last_failed_at=now)
        )
        return bool(result.rowcount == 1)

    @staticmethod
    def _count(conn: Connection, key: str) -> int:
        return int(conn.execute(select(LoginFailure.failures).where(LoginFailure.key == key)).scalar_one())
