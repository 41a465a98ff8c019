"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.store import Repository
from bot.store.models import Base


def test_migrated_schema_matches_the_models(repository: Repository) -> None:
    with repository.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_one_open_handoff_per_case_survives_the_migrations(repository: Repository) -> None:
    """Later migrations must not rebuild the partial index as a plain unique one."""
    indexes = {i["name"]: i for i in inspect(repository.engine).get_indexes("handoffs")}
    assert indexes["uq_handoffs_open_case"]["unique"]
    with repository.engine.connect() as connection:
        if repository.engine.dialect.name == "sqlite":
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'uq_handoffs_open_case'")
            ).scalar_one()
        else:
            sql = connection.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_handoffs_open_case'")
            ).scalar_one()
    assert "WHERE" in sql.upper() and "open" in sql
