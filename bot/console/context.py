"""The console's shared parts, built once per app from the running service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bot.business_hours import BusinessHours
from bot.console.auth import Guard, LoginThrottle, csrf_token
from bot.messages import utcnow
from bot.service import Service
from bot.sla import SlaClock, sla_clock
from bot.store.accounts import AccountRepository
from bot.store.casework import CaseworkRepository
from bot.store.console_sessions import SessionStore

__all__ = ["Console", "human_duration", "time_tag"]

_HERE = Path(__file__).resolve().parent
_TIME_STYLES = {"datetime": "%Y-%m-%d %H:%M", "seconds": "%Y-%m-%d %H:%M:%S", "time": "%H:%M"}
SECURITY_HEADERS = {
    # Everything the console loads is its own: no inline scripts, no frames, no other origins.
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def human_duration(seconds: float) -> str:
    """ "45 s", "12 min", "3 h 05 min", "2 d 4 h": precise enough to sort a queue by eye."""
    value = int(abs(seconds))
    sign = "-" if seconds < 0 else ""
    if value < 60:
        return f"{sign}{value} s"
    minutes, hours, days = value // 60, value // 3600, value // 86400
    if hours == 0:
        return f"{sign}{minutes} min"
    if days == 0:
        return f"{sign}{hours} h {minutes % 60:02d} min"
    return f"{sign}{days} d {hours % 24} h"


def time_tag(value: datetime | None, style: str = "datetime") -> Markup:
    """A `<time>` element that `console.js` rewrites in the reader's own time zone and locale.

    The server cannot know where the agent sits; it writes UTC, marked as such, which is also
    what a page read without JavaScript shows. `style` is "datetime", "seconds" or "time".
    """
    if value is None:
        return Markup("")
    if style not in _TIME_STYLES:
        raise ValueError(f"unknown time style {style!r}")
    at = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return Markup('<time datetime="{}" data-style="{}">{} UTC</time>').format(
        at.isoformat(), style, at.strftime(_TIME_STYLES[style])
    )


def _utc_iso(value: datetime) -> str:
    """For `data-title-at`: the attribute `console.js` turns into a local time in a tooltip."""
    return value.astimezone(timezone.utc).isoformat()


@dataclass
class Console:
    service: Service
    accounts: AccountRepository
    casework: CaseworkRepository
    guard: Guard
    sessions: SessionStore
    throttle: LoginThrottle
    templates: Jinja2Templates
    hours: BusinessHours

    @classmethod
    def build(cls, service: Service) -> Console:
        stores = service.stores
        templates = Jinja2Templates(directory=str(_HERE / "templates"))
        templates.env.filters["duration"] = human_duration
        templates.env.filters["time_tag"] = time_tag
        templates.env.filters["utc_iso"] = _utc_iso
        templates.env.globals["brand"] = service.settings.brand_name
        return cls(
            service=service,
            accounts=stores.accounts,
            casework=service.casework,
            guard=Guard(stores.console_sessions),
            sessions=stores.console_sessions,
            throttle=LoginThrottle(stores.login_failures),
            templates=templates,
            hours=BusinessHours.from_settings(service.settings),
        )

    @property
    def sla_minutes(self) -> float:
        return float(self.service.settings.sla_pickup_minutes)

    def clock(
        self, received_at: datetime, claimed_at: datetime | None, now: datetime | None = None
    ) -> SlaClock:
        return sla_clock(received_at, claimed_at, now or utcnow(), self.sla_minutes, self.hours)

    def render(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        user = getattr(request.state, "user", None)
        context = {
            "user": user,
            "csrf": csrf_token(request),
            "flash": request.session.pop("flash", None),
            "now": utcnow(),
            **context,
        }
        response = self.templates.TemplateResponse(request, name, context, status_code=status_code)
        response.headers.update(SECURITY_HEADERS)
        return response


def flash(request: Request, message: str, kind: str = "info") -> None:
    """A one-line message shown on the next page (after a form's redirect)."""
    request.session["flash"] = {"message": message, "kind": kind}


def admin_answer(request: Request, page: str, message: str, status: int = 200) -> Response:
    """An admin form's answer: JSON for a JSON request, else a flash and a redirect to `page`."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = {"error": message} if status >= 400 else {"ok": True, "message": message}
        return JSONResponse(body, status_code=status, headers=SECURITY_HEADERS)
    flash(request, message, "error" if status >= 400 else "info")
    return RedirectResponse(page, status_code=303)
