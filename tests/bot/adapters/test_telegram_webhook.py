"""The webhook endpoint: the secret first, then the body, then the update is handled, kept raw
when it cannot be read, or refused when it is no update at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.adapters.telegram_updates import to_update
from bot.adapters.telegram_webhook import MAX_BODY_BYTES, SECRET_HEADER, WEBHOOK_PATH, webhook_route
from bot.errors import InvalidMessage
from tests.fakes.telegram_api import message as tg_message
from tests.fakes.telegram_api import private_chat, user

SECRET = "s3cret-webhook_token"
ALICE = user(42, "Alice")
UPDATE = {"update_id": 77, "message": tg_message(private_chat(ALICE), ALICE, "hello")}


def _update_dated(date: bytes) -> bytes:
    return (
        b'{"update_id": 1, "message": {"message_id": 1, "date": %s, "chat": {"id": 1, "type": "private"}}}'
        % date
    )


class Handler:
    """Does what the adapter does with an update: reads it, or keeps it raw when it cannot."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.kept: list[int] = []
        self.fail = False

    async def __call__(self, raw: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("the store is down")
        try:
            self.handled.append(to_update(raw).update_id)
        except InvalidMessage:
            self.kept.append(raw["update_id"])


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def http(handler: Handler) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[webhook_route(SECRET, handler)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://bot.test"
    ) as client:
        yield client


@pytest.mark.parametrize(
    "headers", [{}, {SECRET_HEADER: ""}, {SECRET_HEADER: SECRET[:-1]}, {SECRET_HEADER: "x" * 300}]
)
async def test_without_the_secret_nothing_is_read(
    http: httpx.AsyncClient, handler: Handler, headers: dict[str, str]
) -> None:
    response = await http.post(WEBHOOK_PATH, json=UPDATE, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "wrong or missing secret token"}
    assert handler.handled == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b'{"text": "hi"}', 400),
        (b"[1, 2]", 400),
        (b'{"update_id": "1", "message": {}}', 400),
        (b" " * (MAX_BODY_BYTES + 1), 413),
        pytest.param(b"[" * 100_000, 400, id="nested-100000"),
        # JSON the input limits refuse before anything reads it: too deep, a number out of range.
        pytest.param(b'{"update_id": 1, "message": ' + b"[" * 1000 + b"]" * 1000 + b"}", 400, id="nested"),
        pytest.param(_update_dated(b"1e400"), 400, id="date-1e400"),
    ],
)
async def test_what_is_not_an_update_is_refused_clearly(
    http: httpx.AsyncClient, handler: Handler, body: bytes, status: int
) -> None:
    response = await http.post(WEBHOOK_PATH, content=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == status
    assert response.json()["error"]
    assert handler.handled == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"update_id": 1, "message": {"message_id": 1, "text": "no chat"}}',
        pytest.param(_update_dated(b"9" * 30), id="date-30-digits"),
        pytest.param(_update_dated(b'"yesterday"'), id="date-text"),
    ],
)
async def test_an_update_that_cannot_be_read_is_kept_and_acknowledged(
    http: httpx.AsyncClient, handler: Handler, body: bytes
) -> None:
    response = await http.post(WEBHOOK_PATH, content=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200  # not asked for again, ahead of every later update
    assert (handler.handled, handler.kept) == ([], [1])


async def test_an_update_is_handled_before_the_answer(http: httpx.AsyncClient, handler: Handler) -> None:
    response = await http.post(WEBHOOK_PATH, json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    assert handler.handled == [77]
    # Telegram runs a Bot API method named in the answer; ours names none.
    assert "method" not in response.json()


async def test_an_update_that_could_not_be_stored_is_asked_for_again(
    http: httpx.AsyncClient, handler: Handler
) -> None:
    handler.fail = True
    response = await http.post(WEBHOOK_PATH, json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 503


async def test_only_post_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.get(WEBHOOK_PATH, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 405
