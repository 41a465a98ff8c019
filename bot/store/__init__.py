"""Firstline's store: SQLAlchemy models, migrations and the repository."""

from __future__ import annotations

from bot.settings import Settings
from bot.store.database import create_store_engine, migrate
from bot.store.repository import NewHandoff, Recorded, Repository

__all__ = [
    "NewHandoff",
    "Recorded",
    "Repository",
    "create_store_engine",
    "migrate",
    "shared_repository",
    "use_repository",
]

_shared: Repository | None = None


def use_repository(repository: Repository) -> None:
    """Makes `repository` the one `shared_repository()` returns in this process.

    The service calls this so that actions running in-process write to the very store the
    service reads (tests point it at a temporary database this way).
    """
    global _shared
    _shared = repository


def shared_repository() -> Repository:
    """The process's repository; an action server process builds it from the environment."""
    global _shared
    if _shared is None:
        _shared = Repository(create_store_engine(Settings().store_url))
    return _shared
