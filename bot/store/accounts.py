"""Console accounts: who may sign in, with which role.

Only password hashes are stored; hashing and checking them is `bot.console.auth`'s work, so this
module stays plain reads and writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.errors import BotError, NotFound
from bot.messages import utcnow
from bot.store.models import ConsoleSession, User

__all__ = [
    "ROLES",
    "Account",
    "AccountExists",
    "AccountRepository",
    "InvalidAccount",
    "account_from_row",
    "normalise_username",
]

ROLES = ("agent", "trainer", "admin")
"""Agents work cases; trainers read them (and later review what the bot misunderstood); admins
do both and manage accounts and canned replies."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class InvalidAccount(BotError):
    """A username, role or display name that cannot be stored."""


class AccountExists(InvalidAccount):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: str
    display_name: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None


def normalise_username(username: str) -> str:
    """Usernames are compared case-insensitively, so `Alice` and `alice` are one account."""
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise InvalidAccount(
            "a username is 1 to 64 characters: letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def account_from_row(row: User) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        role=row.role,
        display_name=row.display_name,
        active=row.active,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidAccount(f"a role is one of {', '.join(ROLES)}, not {role!r}")
    return role


def _check_display_name(display_name: str) -> str:
    name = " ".join(display_name.split())
    if not name or len(name) > 128:
        raise InvalidAccount("a display name is 1 to 128 characters")
    return name


class AccountRepository:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    def create(
        self, username: str, password_hash: str, role: str, display_name: str | None = None
    ) -> Account:
        name = normalise_username(username)
        row = User(
            username=name,
            password_hash=password_hash,
            role=_check_role(role),
            display_name=_check_display_name(display_name or name),
            active=True,
            created_at=utcnow(),
        )
        try:
            with self._sessions() as session, session.begin():
                session.add(row)
                session.flush()
                return account_from_row(row)
        except IntegrityError as exc:
            raise AccountExists(f"the username {name!r} is taken") from exc

    def get(self, user_id: int) -> Account | None:
        with self._sessions() as session:
            row = session.get(User, user_id)
            return account_from_row(row) if row is not None else None

    def credentials(self, username: str) -> tuple[Account, str] | None:
        """The account and its password hash, for signing in; None for an unknown name."""
        try:
            name = normalise_username(username)
        except InvalidAccount:
            return None
        with self._sessions() as session:
            row = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
            return (account_from_row(row), row.password_hash) if row is not None else None

    def all(self) -> list[Account]:
        with self._sessions() as session:
            return [
                account_from_row(r) for r in session.execute(select(User).order_by(User.username)).scalars()
            ]

    def count(self) -> int:
        with self._sessions() as session:
            return int(session.execute(select(func.count()).select_from(User)).scalar_one())

    def update(
        self,
        user_id: int,
        *,
        role: str | None = None,
        display_name: str | None = None,
        active: bool | None = None,
        password_hash: str | None = None,
        keep_session: str | None = None,
    ) -> Account:
        """Changes an account. A new password or disabling the account deletes its console
        sessions in the same transaction, so on every instance they are signed out at once; a
        new password spares `keep_session` (the key of the session making the change: people
        changing their own password stay signed in there), disabling spares none. A role change
        needs no such thing: the role is read on every request."""
        values: dict[str, object] = {}
        if role is not None:
            values["role"] = _check_role(role)
        if display_name is not None:
            values["display_name"] = _check_display_name(display_name)
        if active is not None:
            values["active"] = active
        if password_hash is not None:
            values["password_hash"] = password_hash
        with self._sessions() as session, session.begin():
            if values:
                session.execute(update(User).where(User.id == user_id).values(**values))
            if password_hash is not None or active is False:
                ended = delete(ConsoleSession).where(ConsoleSession.user_id == user_id)
                if keep_session is not None and active is not False:
                    ended = ended.where(ConsoleSession.id != keep_session)
                session.execute(ended)
            row = session.get(User, user_id)
            if row is None:
                raise NotFound(f"user {user_id}")
            return account_from_row(row)

    def rehash(self, user_id: int, password_hash: str) -> None:
        """Replaces the hash of the same password (stronger parameters): sessions stay signed in."""
        with self._sessions() as session, session.begin():
            session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))

    def record_login(self, user_id: int, at: datetime | None = None) -> None:
        with self._sessions() as session, session.begin():
            session.execute(update(User).where(User.id == user_id).values(last_login_at=at or utcnow()))
