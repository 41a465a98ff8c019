"""The Firstline HTTP service: the web demo channel, its JSON API, the agent console and the
handoff API (which, like the console, needs a signed-in account).

Errors are answered as JSON `{"error": ...}` with a 4xx status that says what was wrong; a
refused request stores nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from bot.adapters.web_adapter import WebAdapter
from bot.console import READ, WORK, Console, console_routes, session_middleware
from bot.errors import InvalidMessage, NotFound
from bot.input_limits import InputError, ascii_int, read_json
from bot.metrics_endpoints import metrics_endpoint, snapshot_endpoint
from bot.service import Service
from bot.store.reporting import Reporting

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
    return _error(exc.status, str(exc))


def _guarded(handler: Handler) -> Handler:
    """Turns the service's expected errors into clear JSON answers."""

    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except InputError as exc:
            return _error(exc.status, str(exc))
        except InvalidMessage as exc:
            return _error(422, str(exc))
        except NotFound as exc:
            return _error(404, f"not found: {exc}")

    return wrapper


def create_app(service: Service) -> Starlette:
    web: WebAdapter = service.adapters["web"]  # type: ignore[assignment]
    repository = service.repository
    console = Console.build(service)

    async def demo_page(request: Request) -> Response:
        return FileResponse(_STATIC / "demo.html")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @_guarded
    async def post_message(request: Request) -> Response:
        message = web.parse(await _json_body(request))
        outcome = await service.gateway.receive(message)
        return JSONResponse(outcome.to_dict(), status_code=200)

    @_guarded
    async def conversation_messages(request: Request) -> Response:
        user = request.query_params.get("user", "")
        public = request.query_params.get("public", "false") == "true"
        try:
            after = ascii_int(request.query_params.get("after", "0"))
        except ValueError:
            return _error(400, "'after' must be a message id")
        conversation_id = repository.conversation_id("web", web.conversation_key(user, public))
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
        handoffs = repository.handoffs(None if status == "all" else status)
        return JSONResponse({"handoffs": [repository.packet(h.id) for h in handoffs]})

    @console.guard(READ)
    @_guarded
    async def get_handoff(request: Request) -> Response:
        return JSONResponse(repository.packet(int(request.path_params["handoff_id"])))

    @console.guard(WORK)
    @_guarded
    async def close_handoff(request: Request) -> Response:
        handoff_id = int(request.path_params["handoff_id"])
        status = {"resolve": "resolved", "hand-back": "handed_back"}.get(request.path_params["action"])
        if status is None:
            return _error(404, "a handoff can be resolved (/resolve) or handed back (/hand-back)")
        body = await _json_body(request) or {}
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        outcome = body.get("outcome")
        if outcome is not None and not isinstance(outcome, str):
            return _error(422, "'outcome' must be a string")
        repository.close_handoff(handoff_id, status, outcome)
        return JSONResponse(repository.packet(handoff_id))

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
    return Starlette(
        routes=[
            *webhook_routes,
            Route("/", demo_page),
            Route("/healthz", health),
            Route("/api/web/messages", post_message, methods=["POST"]),
            Route("/api/web/messages", conversation_messages, methods=["GET"]),
            Route("/api/handoffs", list_handoffs),
            Route("/api/handoffs/{handoff_id:id}", get_handoff),
            Route("/api/handoffs/{handoff_id:id}/{action:str}", close_handoff, methods=["POST"]),
            Route("/metrics", metrics_endpoint(Reporting(repository.engine))),
            Route("/api/metrics", console.guard(READ)(snapshot_endpoint(Reporting(repository.engine)))),
            *console_routes(console),
        ],
        middleware=[session_middleware(service.settings)],
        exception_handlers={InputError: _input_error},
        lifespan=lifespan,
    )
