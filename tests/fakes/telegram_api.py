"""A stand-in for the Telegram Bot API on 127.0.0.1, speaking its wire format.

The adapter's real PTB `Bot` talks to it over HTTP (`base_url` points here), so requests are
encoded, errors decoded and exceptions raised by PTB itself, exactly as against api.telegram.org.
A test queues updates for getUpdates, reads what the bot sent, and can make the next calls of a
method fail with Telegram's own error bodies. The server runs in a thread with its own event
loop, so it answers while a test's loop is busy, and tests of any kind can use it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = [
    "BOT_USER",
    "TOKEN",
    "ApiCall",
    "FakeTelegramApi",
    "group_chat",
    "message",
    "private_chat",
    "unused_port",
    "user",
]

TOKEN = "123456789:AAE-fake_token_for_tests_0123456789"
BOT_USER: dict[str, Any] = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Kestrel Help",
    "username": "KestrelHelpBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

_JSON_PARAMS = {"reply_parameters", "allowed_updates", "link_preview_options", "reply_markup", "entities"}
_INT_PARAMS = {"chat_id", "offset", "limit", "timeout", "message_thread_id", "message_id"}
_BOOL_PARAMS = {"drop_pending_updates", "disable_notification", "protect_content", "show_alert"}
_MENTION = re.compile(r"@[A-Za-z0-9_]{5,32}")
_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_NO_CONNECTION = "Bad Request: BUSINESS_CONNECTION_INVALID"
_NO_REPLY_RIGHT = "Bad Request: BOT_BUSINESS_MISSING"
_TERMINATED = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)


def business_connection(
    connection_id: str, owner: dict, *, enabled: bool = True, can_reply: bool = True
) -> dict:
    """A BusinessConnection as the Bot API documents it (no recording of one is public)."""
    return {
        "id": connection_id,
        "user": owner,
        "user_chat_id": owner["id"],
        "date": int(time.time()) - 3600,
        "is_enabled": enabled,
        "rights": {"can_reply": can_reply, "can_read_messages": True},
    }


def business_message(connection_id: str, customer: dict, sender: dict, text: str) -> dict:
    """A message in the private chat between `customer` and a business account, written by
    `sender` (the customer, or the account's owner answering by hand)."""
    found = message(private_chat(customer), sender, text)
    found["business_connection_id"] = connection_id
    return found


def user(user_id: int, first_name: str, username: str | None = None, last_name: str | None = None) -> dict:
    found = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
    if username:
        found["username"] = username
    if last_name:
        found["last_name"] = last_name
    return found


def private_chat(of: dict) -> dict:
    chat = {"id": of["id"], "type": "private", "first_name": of["first_name"]}
    if "username" in of:
        chat["username"] = of["username"]
    return chat


def group_chat(
    chat_id: int = -1001234567890, title: str = "Kestrel customers", username: str | None = None
) -> dict:
    chat = {"id": chat_id, "type": "supergroup", "title": title}
    if username:
        chat["username"] = username
    return chat


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def mention_entities(text: str) -> list[dict]:
    """The `mention` entities Telegram computes for @usernames, with its UTF-16 offsets."""
    return [
        {"type": "mention", "offset": _utf16(text[: m.start()]), "length": _utf16(m.group())}
        for m in _MENTION.finditer(text)
    ]


_message_ids = itertools.count(1)


def message(chat: dict, sender: dict | None, text: str | None = None, **extra: Any) -> dict[str, Any]:
    """A message as Telegram sends it, with its entities computed the way Telegram does."""
    found: dict[str, Any] = {"message_id": next(_message_ids), "date": int(time.time()), "chat": chat}
    if sender is not None:
        found["from"] = sender
    if text is not None:
        found["text"] = text
        entities = mention_entities(text)
        if text.startswith("/"):
            # "/start@SomeBot" is one bot_command entity, not a command and a mention.
            command = text.split()[0]
            entities = [e for e in entities if e["offset"] >= _utf16(command)]
            entities.insert(0, {"type": "bot_command", "offset": 0, "length": _utf16(command)})
        if entities:
            found["entities"] = entities
    if "caption" in extra and "caption_entities" not in extra:
        entities = mention_entities(extra["caption"])
        if entities:
            extra["caption_entities"] = entities
    found.update(extra)
    return found


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class _Failure:
    status: int
    body: dict[str, Any]


class FakeTelegramApi:
    def __init__(self, token: str = TOKEN, member_count: int = 250) -> None:
        self.token = token
        self.member_count = member_count
        self.calls: list[ApiCall] = []
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1001)
        self._sent_ids = itertools.count(5001)
        self._failures: dict[str, list[_Failure]] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._polls = 0
        self.business_connections: dict[str, dict[str, Any]] = {}
        """Telegram Business connections by id, as getBusinessConnection returns them."""
        self.business_sent: list[dict[str, Any]] = []
        """sendMessage calls made on behalf of a business account."""
        self.conflicts = 0
        """getUpdates calls ended with a 409 because another one came in meanwhile."""
        self.port = 0
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])

    @property
    def base_url(self) -> str:
        """What `Settings.telegram_api_url` is set to; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- what tests drive ----------------------------------------------------------------------

    def queue(self, **fields: Any) -> dict[str, Any]:
        """Queues an update (`message=...`, `callback_query=...`) for getUpdates; returns it."""
        with self._lock:
            update = {"update_id": next(self._update_ids), **fields}
            self._updates.append(update)
        return update

    def fail(
        self,
        method: str,
        status: int,
        *,
        times: int = 1,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Makes the next `times` calls of `method` answer with Telegram's error body for `status`."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": description or _DESCRIPTIONS.get(status, "Error"),
        }
        if retry_after is not None:
            body["description"] = description or f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        with self._lock:
            self._failures.setdefault(method, []).extend([_Failure(status, body)] * times)

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        with self._lock:
            return [call.params for call in self.calls if call.method == method]

    def offsets(self) -> list[int | None]:
        """The offset of every getUpdates call, in order."""
        return [params.get("offset") for params in self.sent("getUpdates")]

    async def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """Waits until `condition()` is truthy (the bot works in the background) and returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            await asyncio.sleep(0.02)
        raise AssertionError(f"gave up waiting for {what}; calls so far: {self.calls}")

    # --- the server ----------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakeTelegramApi]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self.port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(self.app, lifespan="off", log_level="warning", ws="none"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the fake Telegram API did not start")
            time.sleep(0.01)
        try:
            yield self
        finally:
            self._closing = True
            server.should_exit = True
            thread.join(10)
            listener.close()

    async def _endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params = await self._params(request)
        if request.path_params["token"] != self.token:
            return self._error(_Failure(401, {"ok": False, "error_code": 401, "description": "Unauthorized"}))
        with self._lock:
            self.calls.append(ApiCall(method, params))
            pending = self._failures.get(method)
            failure = pending.pop(0) if pending else None
        if failure is not None:
            return self._error(failure)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(_Failure(404, {"ok": False, "error_code": 404, "description": "Not Found"}))
        result = await handler(params)
        if isinstance(result, _Failure):
            return self._error(result)
        return JSONResponse({"ok": True, "result": result})

    @staticmethod
    def _error(failure: _Failure) -> JSONResponse:
        return JSONResponse(failure.body, status_code=failure.status)

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            return json.loads(body or b"{}")
        params: dict[str, Any] = dict(parse_qsl(body.decode(), keep_blank_values=True))
        params.update(request.query_params)
        for key, value in params.items():
            if key in _JSON_PARAMS:
                params[key] = json.loads(value)
            elif key in _INT_PARAMS and re.fullmatch(r"-?\d+", value):
                params[key] = int(value)
            elif key in _BOOL_PARAMS and value in {"true", "false"}:
                params[key] = value == "true"
        return params

    # --- Bot API methods -----------------------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> Any:  # noqa: N802 - Bot API names
        return BOT_USER

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:  # noqa: N802
        if self.webhook is not None:
            return _Failure(409, {"ok": False, "error_code": 409, "description": _DESCRIPTIONS[409]})
        offset = params.get("offset")
        deadline = time.monotonic() + min(int(params.get("timeout") or 0), 5)
        with self._lock:
            self._polls += 1
            mine = self._polls
        while True:
            if self._polls != mine:
                # As on Telegram: a second getUpdates ends the one still waiting with a 409.
                self.conflicts += 1
                return _Failure(409, {"ok": False, "error_code": 409, "description": _TERMINATED})
            with self._lock:
                if offset is not None:
                    # As on Telegram: asking from an offset confirms every update before it.
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = self._updates[: int(params.get("limit") or 100)]
            if ready or self._closing or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.01)

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        text = params.get("text", "")
        if not text.strip():
            return _Failure(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
            )
        if _utf16(text) > 4096:
            return _Failure(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
            )
        connection_id = params.get("business_connection_id")
        if connection_id is not None:
            # As the Bot API says: on behalf of a business account only through an enabled
            # connection whose rights include replying, and only in its private chats.
            connection = self.business_connections.get(connection_id)
            if connection is None or not connection["is_enabled"]:
                return _Failure(400, {"ok": False, "error_code": 400, "description": _NO_CONNECTION})
            if not (connection.get("rights") or {}).get("can_reply"):
                return _Failure(400, {"ok": False, "error_code": 400, "description": _NO_REPLY_RIGHT})
            self.business_sent.append(params)
        chat_id = params["chat_id"]
        chat = (
            {"id": chat_id, "type": "private", "first_name": "Customer"}
            if chat_id > 0
            else group_chat(chat_id)
        )
        sent: dict[str, Any] = {
            "message_id": next(self._sent_ids),
            "from": BOT_USER,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        return sent

    async def _api_getBusinessConnection(self, params: dict[str, Any]) -> Any:  # noqa: N802
        connection = self.business_connections.get(params.get("business_connection_id", ""))
        if connection is None:
            return _Failure(400, {"ok": False, "error_code": 400, "description": _NO_CONNECTION})
        return connection

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_getChatMemberCount(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self.member_count

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        self.webhook = params
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        self.webhook = None
        return True


def unused_port() -> int:
    """A local port nothing listens on: calls to it are refused, like an unreachable API."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
