"""The console's metrics page: figures and inline SVG charts from what went through the service."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from bot.console.metrics_views import metrics_context
from bot.messages import OutboundMessage, utcnow
from bot.metrics import AckSample, HandoffCounts, Understood, snapshot
from bot.service import Service
from tests.bot.console.conftest import SignIn
from tests.fakes.understood import store_understood
from tests.fakes.web_visitor import as_visitor

NOW = datetime(2025, 3, 14, 12, 30, tzinfo=timezone.utc)


def _snapshot(**figures: object) -> dict:
    given = {
        "acks": [],
        "pickups": [],
        "handoffs": HandoffCounts(open=0, opened=0, resolved=0, handed_back=0),
        "messages": [],
        "chatter_unanswered": 0,
        **figures,
    }
    return snapshot(now=NOW, window=timedelta(hours=24), bucket="hour", **given)  # type: ignore[arg-type]


def test_the_figures_read_as_durations_and_each_chart_is_one_svg() -> None:
    context = metrics_context(
        _snapshot(
            acks=[AckSample("x", 2.0), AckSample("x", 4.0), AckSample("telegram", 1.0)],
            pickups=[600.0, 1800.0],
            handoffs=HandoffCounts(open=3, opened=5, resolved=2, handed_back=1),
            messages=[
                Understood(NOW - timedelta(hours=1), "complaint", "delivery"),
                Understood(NOW - timedelta(hours=1), "complaint", "delivery"),
                Understood(NOW - timedelta(hours=3), "question", None),
            ],
        ),
        24,
        "hour",
    )
    assert context["acks"] == [("telegram", 1, "1.0 s", "1.0 s"), ("x", 2, "3.0 s", "3.8 s")]
    assert context["pickup"] == (2, "20 min", "28 min")
    assert context["messages"] == 3
    for name in ("ack_chart", "pickup_chart", "intent_chart", "topic_chart"):
        assert str(context[name]).count("<svg") == 1, name
    assert "<title>handoffs p90: 28 min</title>" in str(context["pickup_chart"])
    assert "complaint 14 Mar 11:00: 2" in str(context["intent_chart"])


def test_an_empty_window_has_no_charts() -> None:
    context = metrics_context(_snapshot(), 24, "hour")
    assert context["acks"] == [] and context["pickup"] == (0, "—", "—")
    assert [context[n] for n in ("ack_chart", "pickup_chart", "intent_chart", "topic_chart")] == [None] * 4


def test_what_x_charged_is_charted_by_day_with_today_s_total() -> None:
    spend = {"2025-03-13": {}, "2025-03-14": {"post_read": 0.05, "post_create_with_url": 0.4}}
    context = metrics_context(_snapshot(x_spend=spend), 24, "hour")
    assert context["x_spend_today"] == pytest.approx(0.45)
    chart = str(context["x_spend_chart"])
    assert chart.count("<svg") == 1 and "03-14" in chart and "post_create_with_url" in chart
    # Nothing spent (X not connected): no chart at all.
    assert metrics_context(_snapshot(x_spend={"2025-03-14": {}}), 24, "hour")["x_spend_chart"] is None


async def test_every_signed_in_role_reads_the_page_even_when_nothing_happened(sign_in: SignIn) -> None:
    for username in ("ana", "tara", "ada"):
        http = await sign_in(username)
        page = await http.get("/console/metrics")
        assert page.status_code == 200, username
        assert "No customer message was answered in this window." in page.text
        assert "<svg" not in page.text
        assert 'href="/console/metrics"' in page.text  # in the navigation


@pytest.mark.model
async def test_the_page_charts_messages_that_went_through_the_web_channel(
    sign_in: SignIn, service: Service
) -> None:
    http = await sign_in("ana")
    said = [
        ("alice", "@Kestrel my order never arrived, two weeks now and nobody answers 😡", True),
        ("bob", "what are your opening hours?", False),
        ("carol", "you guys are amazing, thanks for the quick delivery!", True),
    ]
    handoffs = []
    for user, text, public in said:
        await as_visitor(http, user)
        response = await http.post("/api/web/messages", json={"user": user, "text": text, "public": public})
        assert response.status_code == 200, response.text
        handoffs.append(response.json()["handoff_id"])
    opened = [h for h in handoffs if h]
    assert opened, "the complaint opens a handoff"
    assert (await http.post(f"/console/api/handoffs/{opened[0]}/claim", json={})).status_code == 200

    page = await http.get("/console/metrics")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") == 4
    # The web channel's row: three messages answered, each within seconds.
    row = re.search(r"<tr><td>web</td><td>(\d+)</td><td>([\d.]+ s)</td><td>([\d.]+ s)</td></tr>", html)
    assert row is not None and row.group(1) == "3", html
    figures = re.search(r"<b>(\d+)</b> handoffs open now", html)
    assert figures is not None and int(figures.group(1)) == len(opened)
    assert "<b>3</b> customer messages" in html
    assert "1 picked up" in html
    assert "complaint" in html and "delivery" in html  # intent and topic series in the charts

    week = await http.get("/console/metrics", params={"hours": "168", "bucket": "day"})
    assert week.status_code == 200
    assert '<option value="168" selected>' in week.text and '<option value="day" selected>' in week.text
    assert week.text.count("<svg") == 4

    odd = await http.get("/console/metrics", params={"hours": "-5", "bucket": "<script>"})
    assert odd.status_code == 200
    assert '<option value="24" selected>' in odd.text and "<script>" not in odd.text


@pytest.mark.parametrize("hours", ["²", "١٦٨", "1" * 5000, str(2**64), " 24", "24.0"])
async def test_hours_that_are_not_ascii_digits_fall_back_to_a_day(sign_in: SignIn, hours: str) -> None:
    http = await sign_in("ana")
    page = await http.get("/console/metrics", params={"hours": hours})
    assert page.status_code == 200
    assert '<option value="24" selected>' in page.text
    api = await http.get("/api/metrics", params={"hours": hours})
    assert api.status_code in (200, 400)


async def test_the_page_and_the_json_count_public_chatter_left_unanswered(
    client: httpx.AsyncClient, service: Service
) -> None:
    repository, now = service.repository, utcnow()
    store_understood(repository, "c1", "lol your van", at=now - timedelta(hours=1))
    store_understood(repository, "c2", "[photo] cat in box", at=now - timedelta(hours=30))
    store_understood(repository, "c3", "haha ok", public=False)  # private: the bot answers those
    answered = store_understood(repository, "c4", "nice one")
    repository.queue_outbound(
        OutboundMessage("x", "post:c4", True, "😄", recipient_id="jo"),
        conversation_id=answered.conversation_id,
        author="agent",
        in_reply_to_id=answered.message_id,
    )
    store_understood(repository, "c5", "my parcel never arrived", "complaint")

    day = await client.get("/console/metrics")
    assert day.status_code == 200
    assert '<b>1</b> <a href="/console/chatter?hours=24">chatter</a> left unanswered in public' in day.text
    week = await client.get("/console/metrics", params={"hours": "168"})
    assert '<b>2</b> <a href="/console/chatter?hours=168">chatter</a>' in week.text
    data = (await client.get("/api/metrics", params={"hours": "24"})).json()
    assert data["chatter_unanswered"] == 1
