"""The Firstline HTTP service: the web demo channel, its JSON API, the agent console and the
handoff API (which, like the console, needs a signed-in account).

Errors are answered as JSON `{"error": ...}` with a 4xx status that says what was wrong; a
refused request stores nothing.

The web channel's visitor is the one its signed cookie names (`bot.adapters.web_identity`): a
`user` in a body or query that names anyone else is refused with 403, so nobody can read or write
another customer's chat. Its posts are rate-limited per client address and per visitor before
anything is read or stored (429 with `Retry-After`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DisconnectionError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from bot.adapters.web_adapter import WebAdapter
from bot.adapters.web_identity import Visitors
from bot.console.api import CLOSE_ACTIONS, close_handoff
from bot.console.auth import READ, WORK
from bot.console.context import Console
from bot.console.site import console_routes, session_middleware
from bot.errors import BotError, Forbidden
from bot.input_limits import InputError, ascii_int, read_json
from bot.metrics_endpoints import metrics_endpoint, snapshot_endpoint
from bot.service import Service

__all__ = ["MAX_BODY_BYTES", "create_app"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
_STATIC = Path(__file__).resolve().parent / "static"

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> Any:
    return await read_json(request, MAX_BODY_BYTES)


async def _input_error(request: Request, exc: Exception) -> Response:
    """A request whose body could not be read, wherever it was read (see `bot.input_limits`)."""
    assert isinstance(exc, InputError)
    return _error(exc.status, exc.public_message())


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """The database went away under a request (a restart, a failover): nothing of this request
    was kept, so the caller is told to send it again, not that the service is broken."""
    logger.warning(
        "%s %s: the store is unavailable (%s)", request.method, request.url.path, type(exc).__name__
    )
    response = _error(503, "the store is unavailable for a moment; send the request again")
    response.headers["retry-after"] = "1"
    return response


def _guarded(handler: Handler) -> Handler:
    """Turns the service's expected errors into clear JSON answers."""

    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except BotError as exc:
            if exc.status is None:
                raise
            return _error(exc.status, exc.public_message())

    return wrapper


def create_app(service: Service) -> Starlette:
    web: WebAdapter = service.adapters["web"]  # type: ignore[assignment]
    repository = service.repository
    console = Console.build(service)
    visitors = Visitors.from_settings(service.settings)
    limits = service.limits

    async def demo_page(request: Request) -> Response:
        response = FileResponse(_STATIC / "demo.html")
        visitor, new = visitors.current(request)
        if new:
            visitors.remember(response, visitor)
        return response

    @_guarded
    async def current_visitor(request: Request) -> Response:
        visitor, new = visitors.current(request)
        response = JSONResponse(visitor.to_dict())
        if new:
            visitors.remember(response, visitor)
        return response

    @_guarded
    async def change_visitor(request: Request) -> Response:
        """`{}`: a fresh anonymous visitor; `{"identifier", "identifier_hash"}`: the brand's
        signed-in customer, when the hash is valid. Not rate-limited: an identity costs nothing
        until it posts, and posts are limited per address too."""
        visitor = visitors.verified(await _json_body(request))
        response = JSONResponse(visitor.to_dict())
        visitors.remember(response, visitor)
        return response

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @_guarded
    async def post_message(request: Request) -> Response:
        visitor, new = visitors.current(request)
        refused = await limits.refuse(
            (limits.web_address, limits.address(request)), (limits.web_visitor, visitor.id)
        )
        if refused is not None:
            return refused
        message = web.parse(await _json_body(request), visitor=visitor.id)
        outcome = await service.gateway.receive(message)
        response = JSONResponse(outcome.to_dict(), status_code=200)
        if new:
            visitors.remember(response, visitor)
        return response

    @_guarded
    async def conversation_messages(request: Request) -> Response:
        visitor = visitors.read(request)
        user = request.query_params.get("user")
        if visitor is None:
            raise Forbidden("no visitor cookie: open the page or GET /api/web/visitor first")
        if user is not None and user != visitor.id:
            raise Forbidden("a visitor reads only their own conversation")
        public = request.query_params.get("public", "false") == "true"
        try:
            after = ascii_int(request.query_params.get("after", "0"))
        except ValueError:
            return _error(400, "'after' must be a message id")
        conversation_id = repository.conversation_id("web", web.conversation_key(visitor.id, public))
        rows = repository.messages_after(conversation_id, after) if conversation_id else []
        return JSONResponse(
            {
                "messages": [
                    {
                        "id": r.id,
                        "direction": r.direction,
                        "author": r.author,
                        "text": r.text,
                        "at": r.created_at.isoformat(),
                        "status": r.status,
                    }
                    for r in rows
                ]
            }
        )

    @console.guard(READ)
    @_guarded
    async def list_handoffs(request: Request) -> Response:
        status = request.query_params.get("status", "open")
        handoffs = service.casework.handoffs(None if status == "all" else status)
        return JSONResponse({"handoffs": [service.casework.packet(h.id) for h in handoffs]})

    @console.guard(READ)
    @_guarded
    async def get_handoff(request: Request) -> Response:
        return JSONResponse(service.casework.packet(int(request.path_params["handoff_id"])))

    @console.guard(WORK)
    @_guarded
    async def close(request: Request) -> Response:
        """The JSON API's close: the console's own path (ownership, events), a packet back."""
        handoff_id = int(request.path_params["handoff_id"])
        status = CLOSE_ACTIONS.get(request.path_params["action"])
        if status is None:
            return _error(404, "a handoff can be resolved (/resolve) or handed back (/hand-back)")
        body = await _json_body(request) or {}
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        close_handoff(console.casework, handoff_id, status, request.state.user, body.get("outcome"))
        return JSONResponse(service.casework.packet(handoff_id))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    webhook_routes = [
        route for adapter in service.adapters.values() for route in adapter.webhook_routes(service)
    ]
    app = Starlette(
        routes=[
            *webhook_routes,
            Route("/", demo_page),
            Route("/healthz", health),
            Route("/api/web/messages", post_message, methods=["POST"]),
            Route("/api/web/messages", conversation_messages, methods=["GET"]),
            Route("/api/web/visitor", current_visitor, methods=["GET"]),
            Route("/api/web/visitor", change_visitor, methods=["POST"]),
            Route("/api/handoffs", list_handoffs),
            Route("/api/handoffs/{handoff_id:id}", get_handoff),
            Route("/api/handoffs/{handoff_id:id}/{action:str}", close, methods=["POST"]),
            Route("/metrics", metrics_endpoint(service.reporting)),
            Route("/api/metrics", console.guard(READ)(snapshot_endpoint(service.reporting))),
            *console_routes(console),
        ],
        middleware=[session_middleware(service.settings)],
        exception_handlers={
            InputError: _input_error,
            OperationalError: _store_unavailable,
            DisconnectionError: _store_unavailable,
        },
        lifespan=lifespan,
    )
    app.state.console = console  # for tests that move the sessions' clock
    return app
