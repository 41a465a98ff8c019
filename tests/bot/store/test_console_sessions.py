"""Console sessions as rows, on SQLite and PostgreSQL: found by the cookie's token only while
live, ended by signing out, by a new password or a disabled account, by the absolute lifetime
and by the idle timeout; `last_seen_at` written at most once a minute."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.messages import utcnow
from bot.store import Repository
from bot.store.accounts import Account, AccountRepository
from bot.store.console_sessions import SessionStore, session_key
from bot.store.models import ConsoleSession

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"  # never verified here
LIFETIME, IDLE = timedelta(hours=12), timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(repository: Repository, clock: Clock) -> SessionStore:
    return SessionStore(repository.engine, LIFETIME, IDLE, clock)


@pytest.fixture
def people(repository: Repository) -> dict[str, Account]:
    accounts = AccountRepository(repository.engine)
    return {name: accounts.create(name, HASH, "agent", name.capitalize()) for name in ("ana", "ben")}


def _rows(repository: Repository) -> list[ConsoleSession]:
    with repository.engine.connect() as conn:
        return list(conn.execute(select(ConsoleSession)).all())  # type: ignore[arg-type]


def test_a_token_finds_its_session_and_only_its_hash_is_stored(
    repository: Repository, sessions: SessionStore, people: dict[str, Account]
) -> None:
    token, created = sessions.create(people["ana"].id)
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    found = sessions.find(token)
    assert found is not None and found.account.username == "ana"
    assert found.csrf_token == created.csrf_token and found.key == session_key(token)
    [row] = _rows(repository)
    assert row.id == session_key(token) != token
    assert sessions.find(token + "x") is None
    assert sessions.find("") is None and sessions.find("x" * 10_000) is None


def test_signing_out_ends_the_session_and_leaves_the_others(
    sessions: SessionStore, people: dict[str, Account]
) -> None:
    desk, _ = sessions.create(people["ana"].id)
    phone, _ = sessions.create(people["ana"].id)
    found = sessions.find(desk)
    assert found is not None
    sessions.end(found.key)
    assert sessions.find(desk) is None
    assert sessions.find(phone) is not None


def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    repository: Repository, sessions: SessionStore, clock: Clock, people: dict[str, Account]
) -> None:
    token, _ = sessions.create(people["ana"].id)
    for _ in range(23):  # used every half hour for eleven and a half hours
        clock.advance(minutes=30)
        assert sessions.find(token) is not None
    clock.advance(minutes=30)
    assert sessions.find(token) is None
    assert _rows(repository) == []  # an expired session is deleted when it is presented


def test_a_session_ends_after_the_idle_timeout(
    sessions: SessionStore, clock: Clock, people: dict[str, Account]
) -> None:
    token, _ = sessions.create(people["ana"].id)
    clock.advance(minutes=59)
    assert sessions.find(token) is not None  # and that use counts as activity
    clock.advance(minutes=59)
    assert sessions.find(token) is not None
    clock.advance(minutes=60)
    assert sessions.find(token) is None


def test_last_seen_is_written_at_most_once_a_minute(
    repository: Repository, sessions: SessionStore, clock: Clock, people: dict[str, Account]
) -> None:
    token, created = sessions.create(people["ana"].id)
    clock.advance(seconds=30)
    assert sessions.find(token) is not None
    assert _rows(repository)[0].last_seen_at == created.last_seen_at
    clock.advance(seconds=31)
    assert sessions.find(token) is not None
    assert _rows(repository)[0].last_seen_at == clock.now


def test_signing_in_sweeps_expired_sessions_of_anyone(
    repository: Repository, sessions: SessionStore, clock: Clock, people: dict[str, Account]
) -> None:
    sessions.create(people["ben"].id)
    clock.advance(hours=2)
    token, _ = sessions.create(people["ana"].id)
    assert [row.id for row in _rows(repository)] == [session_key(token)]


def test_a_new_password_or_disabling_ends_the_accounts_sessions_but_the_one_making_the_change(
    repository: Repository, sessions: SessionStore, people: dict[str, Account]
) -> None:
    accounts = AccountRepository(repository.engine)
    ana = people["ana"]
    desk, _ = sessions.create(ana.id)
    phone, _ = sessions.create(ana.id)
    ben, _ = sessions.create(people["ben"].id)

    # Nothing about signing in changes with a role, a name or a stronger hash of the same password.
    accounts.update(ana.id, role="admin", display_name="Ana L.")
    accounts.rehash(ana.id, HASH)
    assert sessions.find(desk) is not None and sessions.find(phone) is not None

    accounts.update(ana.id, password_hash=HASH, keep_session=session_key(desk))
    assert sessions.find(desk) is not None and sessions.find(phone) is None

    accounts.update(ana.id, active=False, keep_session=session_key(desk))
    assert sessions.find(desk) is None  # a disabled account has no session
    accounts.update(ana.id, active=True)
    assert sessions.find(desk) is None  # enabling again does not revive a session
    assert sessions.find(ben) is not None
