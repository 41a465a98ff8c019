"""The console's list of unreadable updates: what a platform sent that could not be read."""

from __future__ import annotations

from bot.messages import utcnow
from bot.service import Service
from tests.bot.console.conftest import SignIn


async def test_every_role_sees_what_could_not_be_read_as_it_arrived(
    sign_in: SignIn, service: Service
) -> None:
    http = await sign_in("ana")
    empty = await http.get("/console/unreadable")
    assert empty.status_code == 200 and "Nothing unreadable has arrived." in empty.text

    raw = {"update_id": 31, "message": {"text": "<script>alert(1)</script> my order?", "date": "yesterday"}}
    service.unreadable.keep("telegram", "31", raw, "malformed Telegram update 31: date", utcnow())
    for username in ("ana", "tara", "ada"):
        page = await (await sign_in(username)).get("/console/unreadable")
        assert page.status_code == 200, username
        assert "malformed Telegram update 31" in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; my order?" in page.text  # shown, never run
        assert "<script>alert(1)" not in page.text
        assert 'href="/console/unreadable"' in page.text  # in the navigation
