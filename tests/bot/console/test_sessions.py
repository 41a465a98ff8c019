"""Console sessions over HTTP: a saved cookie stops working after signing out, after the absolute
lifetime and after the idle timeout; the cookie carries only the session's id."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import httpx
from starlette.applications import Starlette

from bot.messages import utcnow
from bot.store.accounts import Account
from tests.bot.console.conftest import PASSWORD, SignIn, csrf_from


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _thief(app: Starlette, stolen: httpx.Cookies) -> httpx.AsyncClient:
    """Another browser with a copy of the cookie."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firstline.test", cookies=stolen
    )


async def test_a_saved_cookie_stops_working_after_logout(app: Starlette, sign_in: SignIn) -> None:
    ana = await sign_in("ana")
    saved = httpx.Cookies(ana.cookies)
    async with _thief(app, saved) as thief:
        assert (await thief.get("/console/api/me")).status_code == 200
        assert (await ana.post("/console/logout")).status_code == 303
        assert (await thief.get("/console/api/me")).status_code == 401
        page = await thief.get("/console/")
        assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    assert (await ana.get("/console/api/me")).status_code == 401


async def test_a_session_ends_at_the_absolute_lifetime_even_while_used(
    app: Starlette, sign_in: SignIn
) -> None:
    clock = Clock()
    app.state.console.sessions.clock = clock
    ana = await sign_in("ana")
    for _ in range(23):  # the console open all day: used every half hour
        clock.now += timedelta(minutes=30)
        assert (await ana.get("/console/api/me")).status_code == 200
    clock.now += timedelta(minutes=30)  # twelve hours after signing in
    assert (await ana.get("/console/api/me")).status_code == 401


async def test_a_session_ends_after_the_idle_timeout(app: Starlette, sign_in: SignIn) -> None:
    clock = Clock()
    app.state.console.sessions.clock = clock
    ana = await sign_in("ana")
    clock.now += timedelta(minutes=59)
    assert (await ana.get("/console/api/me")).status_code == 200
    clock.now += timedelta(minutes=61)
    assert (await ana.get("/console/api/me")).status_code == 401


async def test_the_cookie_carries_only_the_session_id(app: Starlette, accounts: dict[str, Account]) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firstline.test"
    ) as http:
        token = csrf_from((await http.get("/console/login")).text)
        fields = {"username": "ana", "password": PASSWORD, "csrf_token": token}
        response = await http.post("/console/login", data=fields)
        assert response.status_code == 303
        header = response.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=lax" in header
        value = http.cookies["firstline_session"]
    payload = json.loads(base64.b64decode(value.split(".")[0] + "=="))
    assert set(payload) == {"sid"} and len(payload["sid"]) >= 43
