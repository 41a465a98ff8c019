"""Every console endpoint refuses the signed-out and the wrong role, and every action works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from bot.app import create_app
from bot.console.auth import hash_password
from bot.followups import STILL_HERE
from bot.messages import utcnow
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.accounts import Account, AccountRepository
from bot.store.casework import CaseworkRepository
from bot.store.followups import FollowupView
from bot.store.review import ReviewInbox
from tests.bot.console.conftest import PASSWORD, SignIn, make_handoff, signed_in_client
from tests.conftest import MODEL_CACHE
from tests.fakes.web_visitor import as_visitor

READERS = {"agent", "trainer", "admin"}
WORKERS = {"agent", "admin"}
ADMINS = {"admin"}
TRAINERS = {"trainer", "admin"}

# (method, path, who may, body). {h} is an open handoff, {m} a message in it, {u} the agent's id,
# {f} a follow-up planned for its case.
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
    ("GET", "/console/admin/privacy", ADMINS, {}),
    ("GET", "/console/admin/privacy/export", ADMINS, {}),
    (
        "POST",
        "/console/admin/privacy/erase",
        ADMINS,
        {"platform": "web", "user": "nobody", "confirm": "nobody"},
    ),
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
    ("POST", "/console/api/handoffs/{h}/followups/{f}/cancel", WORKERS, {}),
    ("GET", "/console/metrics", READERS, {}),
    ("GET", "/console/chatter", READERS, {}),
    ("GET", "/console/unreadable", READERS, {}),
    ("GET", "/api/metrics", READERS, {}),
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
        if isinstance(route, Route) and route.path.startswith(("/console", "/api/handoffs", "/api/metrics")):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
        elif isinstance(route, Mount):
            found.add(("GET", route.path))
    return found


def _normalise(path: str) -> str:
    for name in (
        "handoff_id:id",
        "message_id:id",
        "user_id:id",
        "reply_id:id",
        "item_id:id",
        "followup_id:id",
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
                .replace("{f}", "{}")
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
    case = service.casework.packet(handoff_id)
    canned = CaseworkRepository(service.repository.engine).save_canned_reply("Hello", "Hello {name}")
    [followup_id] = service.followups.store.plan(service.followups.policy, utcnow())
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
            "f": str(followup_id),
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
    assert service.casework.packet(handoff_id)["status"] == "open"
    assert (await http.get(f"/console/api/handoffs/{handoff_id}")).json()["assignee_id"] is None


# --- follow-ups in the case view --------------------------------------------------------------

COMPLAINT = "@Kestrel my order never arrived, two weeks now and nobody answers 😡"


async def _invited_complaint(http: httpx.AsyncClient, service: Service) -> tuple[int, FollowupView]:
    """A public complaint through the web channel (the bot invites the customer to a private
    chat), and the `still_here` follow-up the scheduler plans for it."""
    await as_visitor(http, "alice")
    said = await http.post("/api/web/messages", json={"user": "alice", "text": COMPLAINT, "public": True})
    assert said.status_code == 200, said.text
    outcome = said.json()
    assert outcome["handoff_id"], outcome
    assert (await service.followups.tick()).planned == 1
    [followup] = service.followups.store.for_case(outcome["case_id"])
    assert (followup.kind, followup.status) == (STILL_HERE, "scheduled")
    return int(outcome["handoff_id"]), followup


def _public_bot_texts(service: Service) -> list[str]:
    conversation_id = service.repository.conversation_id("web", "public:alice")
    assert conversation_id is not None
    return [m.text for m in service.repository.messages_after(conversation_id) if m.direction == "out"]


@pytest.mark.model
async def test_an_agent_cancels_a_follow_up_and_the_scheduler_does_not_send_it(
    sign_in: SignIn, service: Service
) -> None:
    http = await sign_in("ana")
    handoff_id, followup = await _invited_complaint(http, service)
    page = (await http.get(f"/console/handoffs/{handoff_id}")).text
    assert f"/followups/{followup.id}/cancel" in page
    assert "still here to help" in page

    response = await http.post(f"/console/api/handoffs/{handoff_id}/followups/{followup.id}/cancel", json={})
    assert response.status_code == 200, response.text
    [shown] = response.json()["handoff"]["followups"]
    assert (shown["status"], shown["cancelled_by"], shown["cancellable"]) == ("cancelled", "ana", False)

    before = _public_bot_texts(service)
    tick = await service.followups.tick(followup.due_at + timedelta(minutes=1))
    assert tick.sent == 0
    assert service.followups.store.get(followup.id).status == "cancelled"
    assert _public_bot_texts(service) == before

    # The case view's live part says who called it off, and offers no Cancel any more.
    live = (await http.get(f"/console/handoffs/{handoff_id}/live")).json()["followups"]
    assert "cancelled" in live and "by ana" in live
    assert "/cancel" not in live
    assert "cancelled followup by Ana" in (await http.get(f"/console/handoffs/{handoff_id}")).text


@pytest.mark.model
async def test_a_follow_up_that_went_out_cannot_be_cancelled(sign_in: SignIn, service: Service) -> None:
    http = await sign_in("ana")
    handoff_id, followup = await _invited_complaint(http, service)
    assert (await service.followups.tick(followup.due_at + timedelta(minutes=1))).sent == 1
    sent = service.followups.store.get(followup.id)
    assert sent.status == "sent" and sent.message_id is not None

    response = await http.post(f"/console/api/handoffs/{handoff_id}/followups/{followup.id}/cancel", json={})
    assert response.status_code == 409
    assert response.json()["error"] == "This follow-up has already been sent; it can no longer be cancelled."
    assert service.followups.store.get(followup.id).status == "sent"

    # Without JavaScript: back to the case with the same message, and a link to what was sent.
    form = await http.post(f"/console/api/handoffs/{handoff_id}/followups/{followup.id}/cancel", data={})
    assert form.status_code == 303
    page = (await http.get(form.headers["location"])).text
    assert "already been sent" in page
    assert f'href="#message-{sent.message_id}"' in page and f'id="message-{sent.message_id}"' in page


async def test_trainers_read_follow_ups_but_cannot_cancel_them(
    sign_in: SignIn, service: Service, handoff_id: int
) -> None:
    [followup_id] = service.followups.store.plan(service.followups.policy, utcnow())
    tara = await sign_in("tara")
    page = (await tara.get(f"/console/handoffs/{handoff_id}")).text
    assert f'data-followup="{followup_id}"' in page
    assert "/cancel" not in page

    response = await tara.post(f"/console/api/handoffs/{handoff_id}/followups/{followup_id}/cancel", json={})
    assert response.status_code == 403
    assert service.followups.store.get(followup_id).status == "scheduled"


async def test_a_follow_up_is_cancelled_only_through_its_own_case(
    sign_in: SignIn, service: Service, handoff_id: int
) -> None:
    [followup_id] = service.followups.store.plan(service.followups.policy, utcnow())
    other = make_handoff(service, user="dave", text="where is my refund")
    ana = await sign_in("ana")
    wrong_case = await ana.post(f"/console/api/handoffs/{other}/followups/{followup_id}/cancel", json={})
    assert wrong_case.status_code == 404
    missing = await ana.post(f"/console/api/handoffs/{handoff_id}/followups/999999/cancel", json={})
    assert missing.status_code == 404
    assert service.followups.store.get(followup_id).status == "scheduled"


# --- ownership: one guarded path to every close ------------------------------------------------

CLOSES = [
    ("/console/api/handoffs/{h}/resolve", "resolved"),
    ("/console/api/handoffs/{h}/hand-back", "handed_back"),
    ("/api/handoffs/{h}/resolve", "resolved"),
    ("/api/handoffs/{h}/hand-back", "handed_back"),
]


@pytest.mark.parametrize(("path", "status"), CLOSES)
async def test_no_route_closes_a_case_another_agent_owns(
    sign_in: SignIn,
    service: Service,
    accounts: dict[str, Account],
    handoff_id: int,
    path: str,
    status: str,
) -> None:
    casework = CaseworkRepository(service.repository.engine)
    ana, ben = await sign_in("ana"), await sign_in("ben")
    assert (await ana.post(f"/console/api/handoffs/{handoff_id}/claim", json={})).status_code == 200

    taken = await ben.post(path.format(h=handoff_id), json={"outcome": "closed by ben"})
    assert taken.status_code == 409, taken.text
    assert "owned by Ana" in taken.json()["error"]
    row = casework.handoff(handoff_id)
    assert (row.status, row.assignee_id, row.outcome) == ("open", accounts["agent"].id, None)
    assert [e.action for e in casework.case_view(handoff_id).events] == ["claimed"]

    closed = await ana.post(path.format(h=handoff_id), json={"outcome": "refunded"})
    assert closed.status_code == 200, closed.text
    [claimed, close] = casework.case_view(handoff_id).events
    assert (claimed.action, close.action, close.actor, close.detail) == (
        "claimed",
        status,
        "Ana",
        {"outcome": "refunded"},
    )


@pytest.mark.parametrize(("path", "status"), CLOSES)
async def test_an_admin_may_close_a_case_someone_owns_and_it_is_recorded(
    sign_in: SignIn, service: Service, handoff_id: int, path: str, status: str
) -> None:
    casework = CaseworkRepository(service.repository.engine)
    ana, ada = await sign_in("ana"), await sign_in("ada")
    assert (await ana.post(f"/console/api/handoffs/{handoff_id}/claim", json={})).status_code == 200
    assert (await ada.post(path.format(h=handoff_id), json={})).status_code == 200
    assert [(e.action, e.actor) for e in casework.case_view(handoff_id).events] == [
        ("claimed", "Ana"),
        (status, "Ada"),
    ]
    again = await ada.post(path.format(h=handoff_id), json={})
    assert again.status_code == 409, again.text


# --- ids and numbers beyond what the store holds ----------------------------------------------

HUGE = [2**31, 2**63, 2**64, 10**40]
WITH_IDS = [(m, p) for m, p, _, _ in ENDPOINTS if "{" in p]


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize(("method", "path"), WITH_IDS, ids=[f"{m} {p}" for m, p in WITH_IDS])
async def test_an_id_too_large_for_the_store_is_not_found(
    sign_in: SignIn, handoff_id: int, method: str, path: str, huge: int
) -> None:
    http = await sign_in("ada")
    url = _fill(path, dict.fromkeys("hmuvcrf", str(huge)))
    response = await _call(http, method, url, {})
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("value", ["x", "-1", "²", "١", "2147483648", str(2**63), "9" * 5000])
async def test_numbers_in_fields_and_queries_are_ascii_digits_within_bounds(
    sign_in: SignIn, handoff_id: int, value: str
) -> None:
    http = await sign_in("ada")
    assign = await http.post(f"/console/api/handoffs/{handoff_id}/assign", json={"user_id": value})
    assert assign.status_code == 422, assign.text
    conversation = {"conversation_id": value, "text": "On it!"}
    reply = await http.post(f"/console/api/handoffs/{handoff_id}/reply", json=conversation)
    assert reply.status_code == 422, reply.text
    canned = await http.get("/console/api/canned", params={"handoff": value})
    assert canned.status_code == 400, canned.text
    assert (await http.get(f"/console/api/handoffs/{handoff_id}")).json()["assignee_id"] is None


async def test_a_console_body_nested_too_deeply_or_with_a_lone_surrogate_is_refused(
    sign_in: SignIn, handoff_id: int, service: Service
) -> None:
    http = await sign_in("ana")
    json_body = {"content-type": "application/json"}
    notes = f"/console/api/handoffs/{handoff_id}/notes"
    for body in (b"[" * 60_000, b'{"text": "\\ud800"}', b'{"text": ' + b"[" * 500 + b"]" * 500 + b"}"):
        response = await http.post(notes, content=body, headers=json_body)
        assert response.status_code == 400, response.text
    casework = CaseworkRepository(service.repository.engine)
    assert casework.notes(casework.handoff(handoff_id).case_id) == []
