"""Shared fixtures: the trained model, settings on a temporary store, the service, the databases.

The model is the real one, trained on the project's own data with the shipped config, once per
change of data: it is cached outside the checkout under a fingerprint of everything that shapes it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from rasa.core.tracker_store import InMemoryTrackerStore
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bot import model_store
from bot.app import create_app
from bot.console.auth import hash_password
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import PROJECT_ROOT, Settings
from bot.store import Repository, create_store_engine, migrate
from bot.store.accounts import AccountRepository
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.web_visitor import WEB_IDENTITY_SECRET

CACHE = Path(os.environ.get("FIRSTLINE_CACHE", Path.home() / ".cache" / "firstline"))
MODEL_CACHE = CACHE / "models"
POSTGRES_URL = os.environ.get("FIRSTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FIRSTLINE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def model_path() -> Path:
    if os.environ.get("FIRSTLINE_TEST_MODEL"):
        # While iterating on code, a model trained on slightly older data is good enough.
        return Path(os.environ["FIRSTLINE_TEST_MODEL"])
    found = model_store.find_model(PROJECT_ROOT, MODEL_CACHE)
    return found or model_store.train(PROJECT_ROOT, MODEL_CACHE)


@pytest.fixture(scope="session")
def rasa_runtime(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> RasaRuntime:
    """One loaded model for the whole session: loading TensorFlow graphs takes seconds."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("rasa"), tracker_store_url="memory")
    return RasaRuntime.load(settings, model_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        model_dir=MODEL_CACHE,
        tracker_store_url="memory",
        public_url="http://firstline.test",
        web_identity_secret=WEB_IDENTITY_SECRET,
        _env_file=None,
    )


@pytest.fixture
def service(settings: Settings, rasa_runtime: RasaRuntime, model_path: Path) -> Iterator[Service]:
    # The loaded model is shared by every test, and so is its in-memory tracker store; each test's
    # store numbers its conversations from 1 again, so yesterday's "conversation-1" is forgotten.
    store = rasa_runtime.agent.tracker_store
    if isinstance(store, InMemoryTrackerStore):
        store.store.clear()
    built = Service.build(settings, model_path, rasa=rasa_runtime)
    yield built
    built.repository.engine.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The service over HTTP, signed in to the console as an agent (the handoff API needs it)."""
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://firstline.test") as http:
        await _sign_in_as_agent(service, http)
        yield http


async def _sign_in_as_agent(service: Service, http: httpx.AsyncClient) -> None:
    password = "test agent password"
    AccountRepository(service.repository.engine).create("test-agent", hash_password(password), "agent")
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    login = token.search((await http.get("/console/login")).text)
    assert login is not None
    fields = {"username": "test-agent", "password": password, "csrf_token": login.group(1)}
    assert (await http.post("/console/login", data=fields)).status_code == 303
    queue = token.search((await http.get("/console/")).text)
    assert queue is not None
    http.headers["X-CSRF-Token"] = queue.group(1)


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramApi]:
    """A fake Telegram Bot API on 127.0.0.1; point `Settings.telegram_api_url` at its `base_url`."""
    with FakeTelegramApi().running() as api:
        yield api


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _ensure_postgres() -> None:
    """The machine starts PostgreSQL with each session; if it has stopped, start it again."""
    if _port_open("127.0.0.1", 5432):
        return
    clusters = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if clusters and shutil.which("pg_ctlcluster"):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main", "start"],
            check=False,
            capture_output=True,
        )
    if not _port_open("127.0.0.1", 5432):
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 and could not be started")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    _ensure_postgres()
    engine = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A fresh database per test, dropped afterwards, so tests never see each other's rows."""
    name = f"firstline_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield postgres_admin.url.set(database=name).render_as_string(hide_password=False)
    with postgres_admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings_on_postgres(settings: Settings, postgres_url: str) -> Settings:
    return settings.copy(update={"database_url": postgres_url})


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis for the tests of what Firstline keeps there; each test's keys get a unique prefix
    (`redis_prefix`) and are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        client.close()
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); set FIRSTLINE_TEST_REDIS")
    yield REDIS_URL
    client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    import redis

    prefix = f"firstline-test:{uuid.uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=["sqlite", "postgres"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    """The store on both databases Firstline supports."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_store_engine(url)
    migrate(engine)
    yield Repository(engine)
    engine.dispose()
