"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from bot.store import Repository, create_store_engine, migrate
from bot.store.database import alembic_config
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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_session_versions_arrive_on_existing_accounts_and_leave_again(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_store_engine(url)
    config = alembic_config(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
            connection.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, display_name, active, created_at)"
                    " VALUES ('ana', 'hash', 'agent', 'Ana', true, CURRENT_TIMESTAMP)"
                )
            )
            command.upgrade(config, "head")
            assert connection.execute(text("SELECT session_version FROM users")).scalar_one() == 0
            command.downgrade(config, "0005")
            columns = {c["name"] for c in inspect(connection).get_columns("users")}
            assert "session_version" not in columns
            assert connection.execute(text("SELECT username FROM users")).scalar_one() == "ana"
            command.upgrade(config, "head")
        test_one_open_handoff_per_case_survives_the_migrations(Repository(engine))
    finally:
        engine.dispose()


def test_ten_instances_starting_together_on_an_empty_postgres_all_come_up(postgres_url: str) -> None:
    """Without the migration lock, two starts at once failed 3 times in 6 on a unique violation
    (`alembic_version`); ten at once all come up, and the schema is whole."""
    # A lock wait that never ends fails the test instead of hanging it (the advisory lock's own
    # waits are far shorter: one migration takes about a second).
    options = {"options": "-c lock_timeout=30000"}
    engines = [create_engine(postgres_url, future=True, connect_args=options) for _ in range(10)]
    start = threading.Barrier(len(engines))

    def start_up(engine: Engine) -> None:
        start.wait()
        migrate(engine)

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            for future in [pool.submit(start_up, engine) for engine in engines]:
                future.result()  # raises what a start raised
        with engines[0].connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        for engine in engines:
            engine.dispose()
