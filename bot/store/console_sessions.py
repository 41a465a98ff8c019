"""Signed-in console sessions as rows, so that ending one is deleting it, on every instance.

The cookie holds a random 256-bit token and nothing else that matters; the row is found by the
token's SHA-256 (a plain hash is enough for a random token: there is nothing to guess). A session
ends when it is signed out, when its account gets a new password or is disabled, when it is
older than its absolute lifetime, or when nobody has used it for the idle timeout.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.messages import utcnow
from bot.store.accounts import Account, account_from_row
from bot.store.models import ConsoleSession, User

__all__ = ["TOUCH_EVERY", "SessionStore", "SignedIn", "session_key"]

TOUCH_EVERY = timedelta(minutes=1)
"""`last_seen_at` is written at most this often per session: the console polls every few
seconds, and a write per poll would cost more than the idle timeout's precision is worth."""


def session_key(token: str) -> str:
    """What the store keeps of a cookie's token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and its account, as the request handlers see them."""

    key: str
    account: Account
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


class SessionStore:
    def __init__(
        self,
        engine: Engine,
        lifetime: timedelta,
        idle_timeout: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self.clock = clock

    def create(self, user_id: int) -> tuple[str, SignedIn]:
        """A new session for the account: the token for the cookie, and the session. Expired
        rows of anyone are swept here, on the rare write that signing in is anyway."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        row = ConsoleSession(
            id=session_key(token),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
        with self._sessions() as session, session.begin():
            session.execute(delete(ConsoleSession).where(self._expired(now)))
            session.add(row)
            user = session.get(User, user_id)
            if user is None:
                raise ValueError(f"no user {user_id}")
            account = account_from_row(user)
        return token, SignedIn(row.id, account, row.csrf_token, now, now)

    def find(self, token: str) -> SignedIn | None:
        """The live session the token belongs to, with its active account; None otherwise (an
        expired session is deleted on the way). Touches `last_seen_at` at most once a minute."""
        if not token or len(token) > 128:
            return None
        key = session_key(token)
        now = self.clock()
        with self._sessions() as session:
            found = session.execute(
                select(ConsoleSession, User)
                .join(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.id == key)
            ).first()
            if found is None:
                return None
            row, user = found
            account = account_from_row(user)
        if not self._live(row, now):
            self.end(key)
            return None
        if not account.active:
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= TOUCH_EVERY:
            with self._sessions() as session, session.begin():
                session.execute(
                    update(ConsoleSession).where(ConsoleSession.id == key).values(last_seen_at=now)
                )
            last_seen = now
        return SignedIn(key, account, row.csrf_token, row.created_at, last_seen)

    def end(self, key: str) -> None:
        """Signs one session out (logout)."""
        with self._sessions() as session, session.begin():
            session.execute(delete(ConsoleSession).where(ConsoleSession.id == key))

    def count(self, user_id: int) -> int:
        with self._sessions() as session:
            return len(
                session.execute(select(ConsoleSession.id).where(ConsoleSession.user_id == user_id)).all()
            )

    def _live(self, row: ConsoleSession, now: datetime) -> bool:
        return now - row.created_at < self.lifetime and now - row.last_seen_at < self.idle_timeout

    def _expired(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            ConsoleSession.created_at <= now - self.lifetime,
            ConsoleSession.last_seen_at <= now - self.idle_timeout,
        )
