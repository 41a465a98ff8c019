"""The chatter list: customer posts the model read as chatter, which the bot lets pass in public.

Passing mentions, jokes, shared photos and promotions need no answer, and a brand that replies to
each looks like a bot, so in public the bot stays silent (`actions.chatter`). Silence is only safe
if people can check it: every signed-in role may read the list, and agents send a post the model
mis-read (a complaint wrapped in a joke) to the trainers with the same "Wrong label?" control as
in the case view.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.adapters import ADAPTERS
from bot.console.auth import READ, WORK
from bot.console.context import Console
from bot.console.metrics_views import WINDOWS
from bot.messages import utcnow
from bot.store.accounts import Account

__all__ = ["CHATTER_PAGE", "LIMIT", "chatter_filters", "chatter_routes"]

CHATTER_PAGE = "/console/chatter"
LIMIT = 100
"""The list shows the latest posts only: it is for skimming, not an archive."""


def chatter_filters(request: Request, platforms: list[str]) -> tuple[int | None, str | None]:
    """The window in hours (24 or 168; None: no limit) and the platform asked for; anything
    unknown is dropped rather than refused, as on the metrics page."""
    raw = request.query_params.get("hours", "")
    hours = int(raw) if raw.isdigit() and int(raw) in WINDOWS else None
    platform = request.query_params.get("platform") or None
    return hours, platform if platform in platforms else None


def _here(hours: int | None, platform: str | None) -> str:
    """This page with its filters, where a relabel brings the agent back to."""
    query = "&".join(
        f"{name}={value}" for name, value in (("hours", hours), ("platform", platform)) if value is not None
    )
    return f"{CHATTER_PAGE}?{query}" if query else CHATTER_PAGE


def chatter_routes(console: Console) -> list[BaseRoute]:
    reporting = console.service.reporting
    # Every platform Firstline has an adapter for, configured here or not (old posts stay listed).
    platforms = sorted(set(ADAPTERS) | set(console.service.adapters))

    @console.guard(READ)
    async def chatter_page(request: Request) -> Response:
        hours, platform = chatter_filters(request, platforms)
        since = utcnow() - timedelta(hours=hours) if hours is not None else None
        items = await run_in_threadpool(reporting.chatter, since, None, platform, LIMIT)
        user: Account = request.state.user
        context: dict[str, Any] = {
            "items": items,
            "hours": hours,
            "platform": platform,
            "windows": WINDOWS,
            "platforms": platforms,
            "limit": LIMIT,
            "here": _here(hours, platform),
            "may_work": user.role in WORK,
        }
        return console.render(request, "chatter.html", context)

    return [Route(CHATTER_PAGE, chatter_page)]
