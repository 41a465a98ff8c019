"""Every console endpoint refuses the signed-out and the wrong role, and every action works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from bot.app import create_app
from bot.console.auth import hash_password
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.accounts import AccountRepository
from bot.store.casework import CaseworkRepository
from bot.store.review import ReviewInbox
from tests.bot.console.conftest import PASSWORD, SignIn, make_handoff, signed_in_client
from tests.conftest import MODEL_CACHE

READERS = {"agent", "trainer", "admin"}
WORKERS = {"agent", "admin"}
ADMINS = {"admin"}
TRAINERS = {"trainer", "admin"}

# (method, path, who may, body). {h} is an open handoff, {m} a message in it, {u} the agent's id.
ENDPOINTS: list[tuple[str, str, set[str], dict[str, str]]] = [
    ("GET", "/console/", READERS, {}),
    ("GET", "/console/queue/rows", READERS, {}),
    ("GET", "/console/handoffs/{h}", READERS, {}),
    ("GET", "/console/handoffs/{h}/live", READERS, {}),
    ("POST", "/console/logout", READERS, {}),
    ("GET", "/console/admin/users", ADMINS, {}),
    ("POST", "/console/admin/users", ADMINS, {"username": "newbie", "password": "long enough pw"}),
    ("POST", "/console/admin/users/{u}", ADMINS, {"display_name": "Ana A."}),
    ("GET", "/console/admin/canned", ADMINS, {}),
    ("POST", "/console/admin/canned", ADMINS, {"title": "Sorry", "text": "Sorry {name}!"}),
    ("POST", "/console/admin/canned/{c}", ADMINS, {"title": "Sorry", "text": "So sorry {name}!"}),
    ("GET", "/console/api/me", READERS, {}),
    ("GET", "/console/api/queue", READERS, {}),
    ("GET", "/console/api/canned", WORKERS, {}),
    ("GET", "/console/api/users", ADMINS, {}),
    ("GET", "/console/api/handoffs/{h}", READERS, {}),
    ("POST", "/console/api/handoffs/{h}/claim", WORKERS, {}),
    ("POST", "/console/api/handoffs/{h}/assign", WORKERS, {"user_id": "{u}"}),
    ("POST", "/console/api/handoffs/{h}/reply", WORKERS, {"conversation_id": "{v}", "text": "On it!"}),
    ("POST", "/console/api/handoffs/{h}/messages/{m}/retry", WORKERS, {}),
    ("POST", "/console/api/handoffs/{h}/notes", WORKERS, {"text": "called the depot"}),
    ("POST", "/console/api/handoffs/{h}/tags", WORKERS, {"tag": "late delivery"}),
    ("POST", "/console/api/handoffs/{h}/tags/remove", WORKERS, {"tag": "late delivery"}),
    ("POST", "/console/api/handoffs/{h}/resolve", WORKERS, {"outcome": "refunded"}),
    ("POST", "/console/api/handoffs/{h}/hand-back", WORKERS, {}),
    ("POST", "/console/api/handoffs/{h}/reopen", WORKERS, {}),
    ("GET", "/console/review", TRAINERS, {}),
    ("GET", "/console/review/{r}", TRAINERS, {}),
    ("POST", "/console/review/{r}", TRAINERS, {"decision": "discard"}),
    ("POST", "/console/messages/{m}/relabel", WORKERS, {"intent": "complaint/delivery"}),
    ("GET", "/api/handoffs", READERS, {}),
    ("GET", "/api/handoffs/{h}", READERS, {}),
    ("POST", "/api/handoffs/{h}/resolve", WORKERS, {}),
]
USERNAMES = {"agent": "ana", "trainer": "tara", "admin": "ada"}
OPEN = {"/console/login", "/console", "/console/static"}


def _route_paths(app: Starlette) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(("/console", "/api/handoffs")):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
        elif isinstance(route, Mount):
            found.add(("GET", route.path))
    return found


def _normalise(path: str) -> str:
    for name in (
        "handoff_id:int",
        "message_id:int",
        "user_id:int",
        "reply_id:int",
        "item_id:int",
        "action:str",
    ):
        path = path.replace("{" + name + "}", "{}")
    return path


def test_the_table_covers_every_console_route(app: Starlette) -> None:
    listed = {
        (
            m,
            _normalise(
                p.replace("{h}", "{}")
                .replace("{m}", "{}")
                .replace("{u}", "{}")
                .replace("{c}", "{}")
                .replace("{r}", "{}")
            ),
        )
        for m, p, _, _ in ENDPOINTS
    }
    listed |= {("GET", p) for p in OPEN} | {("POST", "/console/login"), ("POST", "/api/handoffs/{}/{}")}
    actual = {(m, _normalise(p)) for m, p in _route_paths(app)}
    assert actual - listed == set(), "add new console endpoints to ENDPOINTS"


@dataclass
class Matrix:
    app: Starlette
    clients: dict[str, httpx.AsyncClient]
    ids: dict[str, str]


@pytest.fixture(scope="module")
async def matrix(
    tmp_path_factory: pytest.TempPathFactory, rasa_runtime: RasaRuntime, model_path: Path
) -> AsyncIterator[Matrix]:
    """One service and one signed-in client per role for the whole table: building a service
    and hashing passwords per case would make the table slow. Actions change the shared handoff,
    which is fine: the table only asks whether the guard let the request through."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console-matrix"),
        model_dir=MODEL_CACHE,
        tracker_store_url="memory",
        public_url="http://firstline.test",
        _env_file=None,
    )
    service = Service.build(settings, model_path, rasa=rasa_runtime)
    app = create_app(service)
    repository = AccountRepository(service.repository.engine)
    password_hash = hash_password(PASSWORD)
    agent = repository.create("ana", password_hash, "agent")
    repository.create("tara", password_hash, "trainer")
    repository.create("ada", password_hash, "admin")
    handoff_id = make_handoff(service)
    case = service.repository.packet(handoff_id)
    canned = CaseworkRepository(service.repository.engine).save_canned_reply("Hello", "Hello {name}")
    clients = {
        "signed_out": httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://firstline.test"
        )
    }
    for role, name in USERNAMES.items():
        clients[role] = await signed_in_client(app, name)
    yield Matrix(
        app,
        clients,
        {
            "h": str(handoff_id),
            "m": str(case["messages"][0]["id"]),
            "v": str(case["conversations"][0]["id"]),
            "u": str(agent.id),
            "c": str(canned.id),
            "r": str(
                ReviewInbox(service.repository.engine).relabel(int(case["messages"][0]["id"]), "greet", None)
            ),
        },
    )
    for http in clients.values():
        await http.aclose()
    service.repository.engine.dispose()


def _fill(text: str, ids: dict[str, str]) -> str:
    for key, value in ids.items():
        text = text.replace("{" + key + "}", value)
    return text


async def _call(http: httpx.AsyncClient, method: str, path: str, body: dict[str, str]) -> httpx.Response:
    if method == "GET":
        return await http.get(path)
    return await http.post(path, json=body)


@pytest.mark.parametrize(
    ("method", "path", "allowed", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
@pytest.mark.parametrize("role", ["signed_out", "agent", "trainer", "admin"])
async def test_authorisation(
    role: str, method: str, path: str, allowed: set[str], body: dict[str, str], matrix: Matrix
) -> None:
    url = _fill(path, matrix.ids)
    body = {k: _fill(v, matrix.ids) for k, v in body.items()}
    http = matrix.clients[role]
    if path == "/console/logout" and role != "signed_out":
        http = await signed_in_client(
            http._transport.app, {"agent": "ana", "trainer": "tara", "admin": "ada"}[role]
        )  # type: ignore[attr-defined]
    response = await _call(http, method, url, body)
    if role == "signed_out":
        if url.startswith(("/console/api/", "/api/")) or method == "POST":
            assert response.status_code == 401
        else:
            # Pages send people to sign in.
            assert response.status_code == 303
            assert response.headers["location"].startswith("/console/login")
    elif role in allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text


async def test_posts_without_the_csrf_token_are_refused(
    sign_in: SignIn, handoff_id: int, service: Service
) -> None:
    http = await sign_in("ana")
    del http.headers["X-CSRF-Token"]
    response = await http.post(f"/console/api/handoffs/{handoff_id}/claim", json={})
    assert response.status_code == 403
    form = await http.post(f"/console/api/handoffs/{handoff_id}/claim", data={"csrf_token": "forged"})
    assert form.status_code == 403
    assert service.repository.packet(handoff_id)["status"] == "open"
    assert (await http.get(f"/console/api/handoffs/{handoff_id}")).json()["assignee_id"] is None
