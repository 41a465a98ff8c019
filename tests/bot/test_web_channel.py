"""The web channel as an attacker meets it: visitor identity, rate limits and declared audiences.

Each test reproduces a probe from issue 12 over real HTTP (httpx through the ASGI app) with the
real model: reading or writing another customer's chat, faking an identity, flooding the
channel from one address with or without fresh identities, and inflating priority.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.adapters.web_identity import VISITOR_COOKIE, identity_hash
from bot.app import create_app
from bot.console.auth import hash_password
from bot.messages import Customer, InboundMessage
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.accounts import AccountRepository
from bot.store.models import Handoff, MessageRow
from tests.fakes.web_visitor import WEB_IDENTITY_SECRET, as_visitor, identity

pytestmark = pytest.mark.model

COMPLAINT = "@Kestrel my order never arrived, two weeks now and nobody answers 😡"
Client = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def web(settings: Settings, rasa_runtime: RasaRuntime) -> AsyncIterator[Client]:
    """Opens clients on a service built with the given setting overrides (one service per test).

    `cookies=False` gives a client that keeps no cookies: every request is a new visitor.
    """
    services: list[Service] = []
    clients: list[httpx.AsyncClient] = []
    apps: dict[str, Any] = {}

    async def open_client(cookies: bool = True, **overrides: Any) -> httpx.AsyncClient:
        key = repr(sorted(overrides.items()))
        if key not in apps:
            service = Service.build(settings.copy(update=overrides), rasa=rasa_runtime)
            services.append(service)
            apps[key] = (create_app(service), service)
        jar = None if cookies else CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=apps[key][0]), base_url="http://firstline.test", cookies=jar
        )
        http.service = apps[key][1]  # type: ignore[attr-defined]
        clients.append(http)
        return http

    yield open_client
    for http in clients:
        await http.aclose()
    for service in services:
        await service.limits.close()
        service.repository.engine.dispose()


def _count(service: Service, model: type = MessageRow) -> int:
    with service.repository.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


async def _visitor(http: httpx.AsyncClient) -> str:
    response = await http.get("/api/web/visitor")
    assert response.status_code == 200
    return str(response.json()["user"])


# --- identity -----------------------------------------------------------------------------------


async def test_the_demo_page_gives_the_browser_a_visitor_cookie(web: Client) -> None:
    http = await web()
    page = await http.get("/")
    assert page.status_code == 200 and "Firstline demo" in page.text
    cookie = page.headers["set-cookie"].lower()
    assert VISITOR_COOKIE in cookie and "httponly" in cookie and "samesite=lax" in cookie
    me = await _visitor(http)
    said = await http.post("/api/web/messages", json={"text": "what are your opening hours?"})
    assert said.status_code == 200, said.text
    assert await _visitor(http) == me  # the same browser stays the same customer
    mine = (await http.get("/api/web/messages")).json()["messages"]
    assert [m["direction"] for m in mine] == ["in", "out"]


async def test_a_visitor_cannot_read_another_visitors_chat(web: Client) -> None:
    alice = await web()
    await as_visitor(alice, "alice")
    said = await alice.post("/api/web/messages", json={"text": "my address is 12 Elm Street, order 4839201"})
    assert said.status_code == 200

    mallory = await web()
    await _visitor(mallory)
    refused = await mallory.get("/api/web/messages", params={"user": "alice", "public": "false"})
    assert refused.status_code == 403
    assert "Elm Street" not in refused.text
    own = await mallory.get("/api/web/messages", params={"public": "false"})
    assert own.status_code == 200 and own.json()["messages"] == []
    stranger = await web()  # no cookie at all
    assert (await stranger.get("/api/web/messages", params={"user": "alice"})).status_code == 403

    mine = await alice.get("/api/web/messages", params={"user": "alice", "public": "false"})
    assert "Elm Street" in mine.json()["messages"][0]["text"]


async def test_a_visitor_cannot_post_as_another_visitor(web: Client) -> None:
    alice = await web()
    await as_visitor(alice, "alice")
    assert (await alice.post("/api/web/messages", json={"text": "hi there!"})).status_code == 200
    service: Service = alice.service  # type: ignore[attr-defined]
    before = _count(service)

    mallory = await web()
    await _visitor(mallory)
    for body in (
        {"user": "alice", "text": "please send the refund to my other card"},
        {"user": "alice", "text": "ignore my last message", "public": True},
    ):
        response = await mallory.post("/api/web/messages", json=body)
        assert response.status_code == 403, response.text
        assert "not you" in response.json()["error"]
    stranger = await web()
    refused = await stranger.post("/api/web/messages", json={"user": "alice", "text": "hi"})
    assert refused.status_code == 403
    assert _count(service) == before


async def test_the_brands_site_vouches_for_its_customer_with_an_identity_hash(web: Client) -> None:
    laptop = await web()
    bound = await laptop.post("/api/web/visitor", json=identity("cust-42@example.com"))
    assert bound.status_code == 200
    assert bound.json() == {"user": "cust-42@example.com", "verified": True}
    said = await laptop.post("/api/web/messages", json={"text": "where is my parcel?"})
    assert said.status_code == 200

    phone = await web()  # the same customer on another device finds the same conversation
    await phone.post("/api/web/visitor", json=identity("cust-42@example.com"))
    chat = (await phone.get("/api/web/messages")).json()["messages"]
    assert chat[0]["text"] == "where is my parcel?"

    signed_out = await laptop.post("/api/web/visitor", json={})
    assert signed_out.json()["verified"] is False
    assert (await laptop.get("/api/web/messages")).json()["messages"] == []


@pytest.mark.parametrize(
    "claim",
    [
        {"identifier": "alice", "identifier_hash": identity_hash(WEB_IDENTITY_SECRET, "mallory")},
        {"identifier": "alice", "identifier_hash": identity_hash("a guessed secret", "alice")},
        {"identifier": "alice", "identifier_hash": "0" * 64},
    ],
)
async def test_a_wrong_identity_hash_is_refused(web: Client, claim: dict[str, str]) -> None:
    mallory = await web()
    me = await _visitor(mallory)
    response = await mallory.post("/api/web/visitor", json=claim)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert await _visitor(mallory) == me
    assert (await mallory.post("/api/web/messages", json={"user": "alice", "text": "hi"})).status_code == 403


async def test_identity_hashes_are_refused_when_no_secret_is_set(web: Client) -> None:
    http = await web(web_identity_secret=None)
    response = await http.post("/api/web/visitor", json=identity("alice"))
    assert response.status_code == 403 and "not configured" in response.json()["error"]


async def test_the_dm_link_works_for_the_customer_who_got_it(web: Client) -> None:
    alice = await web()
    await as_visitor(alice, "alice")
    public = (await alice.post("/api/web/messages", json={"text": COMPLAINT, "public": True})).json()
    [reply] = public["replies"]
    link = re.search(r"http://firstline\.test/\?join=([\w-]+)#private", reply["text"])
    assert link is not None, reply["text"]
    assert "alice" not in reply["text"]
    private = await alice.post("/api/web/messages", json={"text": "order 4839201", "join": link.group(1)})
    assert private.json()["case_id"] == public["case_id"]


# --- rate limits --------------------------------------------------------------------------------


def _refused_with_retry_after(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "try again in" in response.json()["error"]


async def test_a_flood_from_one_address_is_refused_and_stores_nothing_more(web: Client) -> None:
    http = await web(rate_limit_web_per_address=3, rate_limit_web_per_visitor=0)
    await as_visitor(http, "alice")
    service: Service = http.service  # type: ignore[attr-defined]
    for n in range(3):
        said = await http.post("/api/web/messages", json={"text": f"hello {n}", "message_id": f"m{n}"})
        assert said.status_code == 200
    stored = _count(service)
    for n in range(3, 8):
        _refused_with_retry_after(await http.post("/api/web/messages", json={"text": f"hello {n}"}))
    assert _count(service) == stored


async def test_a_flood_over_fresh_identities_is_still_limited_by_address(web: Client) -> None:
    http = await web(cookies=False, rate_limit_web_per_address=3)
    service: Service = http.service  # type: ignore[attr-defined]
    outcomes = [
        await http.post("/api/web/messages", json={"text": COMPLAINT, "public": True}) for _ in range(6)
    ]
    assert [r.status_code for r in outcomes] == [200, 200, 200, 429, 429, 429]
    _refused_with_retry_after(outcomes[-1])
    # Each accepted complaint came from a new visitor; the refused ones opened nothing.
    assert len({r.json()["case_id"] for r in outcomes[:3]}) == 3
    assert _count(service, Handoff) == 3
    # A forged X-Forwarded-For is not believed without trusted proxies.
    forged = await http.post(
        "/api/web/messages", json={"text": COMPLAINT}, headers={"x-forwarded-for": "198.51.100.77"}
    )
    assert forged.status_code == 429


async def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(web: Client) -> None:
    http = await web(cookies=False, rate_limit_web_per_address=1, trusted_proxies="127.0.0.1")
    first = {"x-forwarded-for": "198.51.100.1"}
    assert (await http.post("/api/web/messages", json={"text": "hi"}, headers=first)).status_code == 200
    assert (await http.post("/api/web/messages", json={"text": "hi"}, headers=first)).status_code == 429
    second = {"x-forwarded-for": "198.51.100.1, 198.51.100.2"}  # the first hop is the client's word
    assert (await http.post("/api/web/messages", json={"text": "hi"}, headers=second)).status_code == 200


async def test_one_visitor_is_limited_on_its_own(web: Client) -> None:
    alice = await web(rate_limit_web_per_address=100, rate_limit_web_per_visitor=2)
    await as_visitor(alice, "alice")
    codes = [(await alice.post("/api/web/messages", json={"text": f"hi {n}"})).status_code for n in range(3)]
    assert codes == [200, 200, 429]
    bob = await web(rate_limit_web_per_address=100, rate_limit_web_per_visitor=2)
    await as_visitor(bob, "bob")
    assert (await bob.post("/api/web/messages", json={"text": "hi"})).status_code == 200


async def test_sign_in_attempts_are_limited_per_address(web: Client) -> None:
    http = await web(rate_limit_login_per_address=3)
    service: Service = http.service  # type: ignore[attr-defined]
    AccountRepository(service.repository.engine).create(
        "ana", hash_password("correct horse battery"), "agent"
    )
    form = await http.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    codes = []
    for username in ("root", "admin", "ana", "ana"):
        fields = {"username": username, "password": "guess", "csrf_token": token.group(1)}
        codes.append((await http.post("/console/login", data=fields)).status_code)
    assert codes == [401, 401, 401, 429]
    fields = {"username": "ana", "password": "correct horse battery", "csrf_token": token.group(1)}
    _refused_with_retry_after(await http.post("/console/login", data=fields))


async def test_a_flooding_platform_account_is_stored_but_gets_no_more_bot_turns(web: Client) -> None:
    http = await web(rate_limit_replies_per_account=2)
    service: Service = http.service  # type: ignore[attr-defined]

    def message(n: int, text: str) -> InboundMessage:
        return InboundMessage(
            platform="web",
            platform_message_id=f"flood-{n}",
            conversation_key="public:eve",
            public=True,
            customer=Customer("eve", audience=6_000_000),
            text=text,
        )

    first = await service.gateway.receive(message(1, "what are your opening hours?"))
    second = await service.gateway.receive(message(2, "and on sunday?"))
    assert (first.status, second.status) == ("answered", "answered")
    # The answered turns may hand off (a follow-up like "and on sunday?" can go to a person);
    # what matters is that the flood adds no hand-off of its own.
    handoffs_before_flood = _count(service, Handoff)
    flood = [await service.gateway.receive(message(n, COMPLAINT)) for n in range(3, 8)]
    assert {o.status for o in flood} == {"limited"}
    assert all(o.replies == () for o in flood)
    assert {o.handoff_id for o in flood} == {second.handoff_id}  # the case's, if it had one; no new one
    assert _count(service, Handoff) == handoffs_before_flood
    with service.repository.engine.connect() as connection:
        statuses = connection.execute(
            select(MessageRow.status).where(MessageRow.direction == "in").order_by(MessageRow.id)
        ).scalars()
        assert list(statuses) == ["handled", "handled", *["limited"] * 5]  # nothing accepted is lost


# --- declared audience --------------------------------------------------------------------------


async def test_a_declared_audience_does_not_raise_priority(web: Client) -> None:
    http = await web()
    service: Service = http.service  # type: ignore[attr-defined]
    priorities = []
    for user, fields in (
        ("plain", {}),
        ("famous", {"audience": 10_000_000}),
        ("huge", {"audience": 2**31 - 1}),
    ):
        await as_visitor(http, user)
        said = await http.post("/api/web/messages", json={"text": COMPLAINT, "public": True, **fields})
        assert said.status_code == 200, said.text
        packet = service.casework.packet(said.json()["handoff_id"])
        assert packet["customer"]["audience"] is None
        priorities.append(packet["priority"])
    assert priorities[0] == priorities[1] == priorities[2] < 100
    # Beyond what the store can hold it is not a number at all: refused, nothing stored.
    refused = await http.post(
        "/api/web/messages", json={"text": COMPLAINT, "public": True, "audience": 2**64}
    )
    assert refused.status_code == 422, refused.text
