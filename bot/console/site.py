"""The console as one site inside the service: its routes, static files and session cookies."""

from __future__ import annotations

from pathlib import Path

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from bot.console.api import api_routes
from bot.console.auth import session_secret
from bot.console.chatter_views import chatter_routes
from bot.console.context import Console
from bot.console.metrics_views import metrics_routes
from bot.console.privacy_views import privacy_routes
from bot.console.review_views import review_routes
from bot.console.unreadable_views import unreadable_routes
from bot.console.views import page_routes
from bot.settings import Settings

__all__ = ["SESSION_COOKIE", "console_routes", "session_middleware"]

SESSION_COOKIE = "firstline_session"


def session_middleware(settings: Settings) -> Middleware:
    """Signed session cookies: HttpOnly always, SameSite=Lax, Secure when served over https.
    Once signed in they carry only the session's id; the store decides whether it still counts
    (`bot.console.auth`), so the cookie living as long as a session may is only a courtesy."""
    return Middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.console_session_hours * 3600),
        same_site="lax",
        https_only=settings.base_url.startswith("https://"),
    )


def console_routes(console: Console) -> list[BaseRoute]:
    static = StaticFiles(directory=str(Path(__file__).resolve().parent / "static"))
    return [
        *page_routes(console),
        *api_routes(console),
        *review_routes(console),
        *metrics_routes(console),
        *chatter_routes(console),
        *unreadable_routes(console),
        *privacy_routes(console),
        Mount("/console/static", app=static, name="console-static"),
    ]
