"""Firstline's store: SQLAlchemy models, migrations and the repository."""

from __future__ import annotations

from bot.store.casework import CaseworkRepository, NewHandoff
from bot.store.database import create_store_engine, migrate
from bot.store.repository import Recorded, Repository

__all__ = [
    "CaseworkRepository",
    "NewHandoff",
    "Recorded",
    "Repository",
    "create_store_engine",
    "migrate",
]
