"""The list of platform updates no parser could read, kept raw (`bot.store.unreadable`).

Such an update is acknowledged to its platform so the ones after it keep coming; the list is
where a person can still see what arrived (a customer's message in a shape Firstline does not
know yet, a malformed one) and answer it by hand on the platform. Every signed-in role reads it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.console.auth import READ
from bot.console.context import Console

__all__ = ["LIMIT", "UNREADABLE_PAGE", "unreadable_routes"]

UNREADABLE_PAGE = "/console/unreadable"
LIMIT = 100


def unreadable_routes(console: Console) -> list[BaseRoute]:
    store = console.service.unreadable

    @console.guard(READ)
    async def unreadable_page(request: Request) -> Response:
        items = await run_in_threadpool(store.recent, LIMIT)
        return console.render(request, "unreadable.html", {"items": items, "limit": LIMIT})

    return [Route(UNREADABLE_PAGE, unreadable_page)]
