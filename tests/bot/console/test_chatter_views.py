"""The chatter page: what the bot let pass, for every signed-in role; agents send a mis-read post
to the trainers from it. Messages go straight into the store with what the model understood."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from bot.messages import utcnow
from bot.service import Service
from bot.store import Recorded
from bot.store.review import ReviewInbox
from tests.bot.console.conftest import SignIn
from tests.fakes.handoffs import open_complaint_handoff
from tests.fakes.understood import store_understood

JOKE = "lol <b>your</b> van & my cat"
COMPLAINT = "my parcel never arrived"


@pytest.fixture
def posts(service: Service) -> dict[str, Recorded]:
    repository = service.repository
    said = {
        "joke": store_understood(repository, "p1", JOKE, at=utcnow() - timedelta(minutes=5), confidence=0.87),
        "complaint": store_understood(repository, "p2", COMPLAINT, "complaint", who="bo"),
        "dm": store_understood(repository, "p3", "haha thanks", platform="telegram", public=False, who="ann"),
        "old": store_understood(
            repository, "p4", "shoutout to the Kestrel team", at=utcnow() - timedelta(days=3)
        ),
    }
    complaint = said["complaint"]
    open_complaint_handoff(repository.engine, complaint, topic=None, priority=60)
    # Chatter in the complaint's thread, after it: the page links to that case.
    said["in_case"] = store_understood(repository, "p5", "😂😂", who="bo", conversation="post:p2")
    return said


async def test_an_agent_sees_chatter_not_complaints_escaped_with_its_case(
    client: httpx.AsyncClient, service: Service, posts: dict[str, Recorded]
) -> None:
    page = await client.get("/console/chatter")
    assert page.status_code == 200
    html = page.text
    assert 'href="/console/chatter"' in html  # in the navigation
    assert "lol &lt;b&gt;your&lt;/b&gt; van &amp; my cat" in html and JOKE not in html
    assert COMPLAINT not in html
    assert "haha thanks" in html and "shoutout to the Kestrel team" in html
    row = re.search(rf'<tr id="message-{posts["joke"].message_id}">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = row.group(1)
    assert "x <span" in cells and ">public</span>" in cells and "silent" in cells
    assert "Jo" in cells and "@jo" in cells and "87%" in cells and "no handoff" in cells
    assert f'action="/console/messages/{posts["joke"].message_id}/relabel"' in cells  # "Wrong label?"
    [handoff] = service.casework.handoffs()
    assert f'<a href="/console/handoffs/{handoff.id}">case {posts["complaint"].case_id}</a>' in html
    # Newest first: the thread's 😂 (just now) before the joke (five minutes ago) before last week's.
    assert html.index("😂😂") < html.index("lol &lt;b&gt;") < html.index("shoutout")


async def test_the_window_and_platform_filters(client: httpx.AsyncClient, posts: dict[str, Recorded]) -> None:
    day = (await client.get("/console/chatter", params={"hours": "24"})).text
    assert "lol &lt;b&gt;" in day and "shoutout" not in day
    assert '<option value="24" selected>' in day
    telegram = (await client.get("/console/chatter", params={"platform": "telegram"})).text
    assert "haha thanks" in telegram and "lol &lt;b&gt;" not in telegram
    assert '<option value="telegram" selected>' in telegram
    odd = await client.get("/console/chatter", params={"hours": "-5", "platform": "<script>"})
    assert odd.status_code == 200 and "<script>" not in odd.text
    assert "lol &lt;b&gt;" in odd.text and "shoutout" in odd.text  # unknown filters are dropped


async def test_an_agent_sends_a_misread_post_to_the_trainers_and_comes_back(
    client: httpx.AsyncClient, service: Service, posts: dict[str, Recorded]
) -> None:
    message_id = posts["joke"].message_id
    answer = await client.post(
        f"/console/messages/{message_id}/relabel",
        data={"intent": "complaint/delivery", "next": "/console/chatter?hours=24&platform=x"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/chatter?hours=24&platform=x"
    [item] = ReviewInbox(service.repository.engine).items()
    assert (item.message_id, item.source) == (message_id, "relabelled")
    assert item.suggested_intent == "complaint/delivery"
    page = (await client.get(answer.headers["location"])).text
    assert "Sent to the trainers as <b>complaint/delivery</b>." in page
    assert f'action="/console/messages/{message_id}/relabel"' not in page


@pytest.mark.parametrize(
    "target", ["//evil.example/console/chatter", "/console/chatterbox", "/console/chatter\\x"]
)
async def test_a_relabel_returns_only_to_console_pages(
    client: httpx.AsyncClient, posts: dict[str, Recorded], target: str
) -> None:
    answer = await client.post(
        f"/console/messages/{posts['joke'].message_id}/relabel",
        data={"intent": "complaint/delivery", "next": target},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"


async def test_a_trainer_reads_the_page_but_relabels_in_the_review_inbox(
    sign_in: SignIn, posts: dict[str, Recorded]
) -> None:
    trainer = await sign_in("tara")
    page = await trainer.get("/console/chatter")
    assert page.status_code == 200
    assert "lol &lt;b&gt;" in page.text and COMPLAINT not in page.text
    assert "/relabel" not in page.text  # relabelling is the agents' control; trainers review


async def test_anyone_signed_out_is_sent_to_sign_in(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/console/chatter?hours=24")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/chatter"
    as_json = await anonymous.get("/console/chatter", headers={"Accept": "application/json"})
    assert as_json.status_code == 401


async def test_nothing_to_list(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/chatter", params={"hours": "168"})
    assert page.status_code == 200 and "No chatter in the last 7 days." in page.text
