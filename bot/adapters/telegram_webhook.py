"""The endpoint Telegram posts updates to in webhook mode.

Telegram signs nothing; it repeats the `secret_token` given to setWebhook in a header on every
request, so the check is a constant-time comparison of that header, done before anything is read.
The update is handled before the answer: when it could not be stored the answer is a 5xx and
Telegram delivers it again later (the repeat is recognised by its message id), and a 200 means the
update is safe, or was skipped on purpose with a log line, or could not be read and was kept raw
for people to see (an update that can never be read must not be asked for again forever, ahead of
every later update). What is not an update at all (not JSON, nested absurdly deep, no
`update_id`) is a 400.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.input_limits import InputError, parse_json, read_body

__all__ = ["MAX_BODY_BYTES", "SECRET_HEADER", "WEBHOOK_PATH", "webhook_route"]

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1 << 20


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def webhook_route(secret: str, handle: Callable[[dict[str, Any]], Awaitable[None]]) -> Route:
    """POST `WEBHOOK_PATH`: 401 without the secret, 400 for what is not an update, else `handle`.

    Args:
        secret: the `secret_token` given to setWebhook.
        handle: stores and answers the update's JSON (or keeps it raw when it cannot be read);
            raises when it could not be stored.
    """
    expected = secret.encode()

    async def receive_update(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return _error(401, "wrong or missing secret token")
        try:
            # A lone surrogate is let through here: Telegram's strings are UTF-16 underneath, so
            # a real update may carry one. The gateway refuses the message that holds it, and the
            # update is acknowledged (with a log line) instead of being sent again and again.
            raw = parse_json(await read_body(request, MAX_BODY_BYTES), lone_surrogates=True)
        except InputError as exc:
            return _error(exc.status, str(exc))
        if not isinstance(raw, dict) or type(raw.get("update_id")) is not int:
            return _error(400, "a Telegram update is a JSON object with an integer 'update_id'")
        try:
            await handle(raw)
        except Exception:
            logger.exception("telegram: webhook update %s was not stored", raw["update_id"])
            return _error(503, "the update was not stored; Telegram will send it again")
        # Never put a "method" in this answer: Telegram would run it as a Bot API call.
        return JSONResponse({"ok": True})

    return Route(WEBHOOK_PATH, receive_update, methods=["POST"])
