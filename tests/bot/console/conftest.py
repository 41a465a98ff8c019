"""Console fixtures: accounts of every role, signed-in HTTP clients, a handoff to work on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import create_app
from bot.console.auth import hash_password
from bot.messages import Customer, InboundMessage
from bot.service import Service
from bot.store.accounts import Account, AccountRepository
from tests.fakes.handoffs import open_complaint_handoff

PASSWORD = "correct horse battery"
USERS = {"agent": "ana", "agent2": "ben", "trainer": "tara", "admin": "ada"}

SignIn = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
def accounts(service: Service) -> dict[str, Account]:
    repository = AccountRepository(service.repository.engine)
    password_hash = hash_password(PASSWORD)
    return {
        key: repository.create(name, password_hash, key.rstrip("2"), name.capitalize())
        for key, name in USERS.items()
    }


@pytest.fixture
def app(service: Service) -> Starlette:
    return create_app(service)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def signed_in_client(app: Starlette, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A client signed in as `username` that sends the CSRF header on every request."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://firstline.test")
    token = csrf_from((await http.get("/console/login")).text)
    response = await http.post(
        "/console/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    http.headers["X-CSRF-Token"] = csrf_from((await http.get("/console/")).text)
    return http


@pytest.fixture
async def sign_in(app: Starlette, accounts: dict[str, Account]) -> AsyncIterator[SignIn]:
    """Signs a user in on a fresh client; the client sends the CSRF header on every request."""
    clients: list[httpx.AsyncClient] = []

    async def signed_in(username: str) -> httpx.AsyncClient:
        http = await signed_in_client(app, username)
        clients.append(http)
        return http

    yield signed_in
    for http in clients:
        await http.aclose()


@pytest.fixture
async def anonymous(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firstline.test"
    ) as http:
        yield http


def make_handoff(
    service: Service, user: str = "carol", text: str = "my parcel never arrived", public: bool = True
) -> int:
    """A customer message and its handoff straight in the store: no model needed."""
    recorded = service.repository.record_inbound(
        InboundMessage(
            platform="web",
            platform_message_id=f"{user}-{text[:20]}",
            conversation_key=f"{'public' if public else 'private'}:{user}",
            public=public,
            customer=Customer(user, handle=user, display_name=user.capitalize(), audience=1200),
            text=text,
        )
    )
    assert recorded is not None
    return open_complaint_handoff(
        service.repository.engine,
        recorded,
        summary=f"complaint (delivery): {text}",
        flags=("personal_data_public",),
    )


@pytest.fixture
def handoff_id(service: Service) -> int:
    return make_handoff(service)
