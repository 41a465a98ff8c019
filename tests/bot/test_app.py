"""End to end through the HTTP service, with the real model trained on the project's data."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.models import MessageRow
from bot.text_limits import measure

pytestmark = pytest.mark.model

COMPLAINT = "@KestrelHelp my order never arrived, 2 weeks waiting and nobody answers 😡"


async def _say(client: httpx.AsyncClient, text: str, **fields: object) -> dict:
    body = {"user": "alice", "text": text, "display_name": "Alice", **fields}
    response = await client.post("/api/web/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _count_messages(service: Service) -> int:
    with service.repository.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(MessageRow)).scalar_one()


async def test_public_complaint_gets_ack_dm_invitation_and_handoff_with_context(
    client: httpx.AsyncClient, service: Service
) -> None:
    result = await _say(client, COMPLAINT, public=True, audience=5400)

    assert result["status"] == "answered"
    assert result["understood"]["intent"] == "complaint"
    [reply] = result["replies"]
    assert reply["status"] == "sent"
    assert "sorry" in reply["text"].lower() or "apologise" in reply["text"].lower()
    assert "http://firstline.test/?user=alice&join=" in reply["text"]
    assert measure(reply["text"], "web") <= 2000

    handoff = (await client.get(f"/api/handoffs/{result['handoff_id']}")).json()
    assert handoff["reason"] == "complaint"
    assert handoff["customer"]["audience"] == 5400
    assert handoff["customer"]["display_name"] == "Alice"
    assert [(m["direction"], m["text"]) for m in handoff["messages"]] == [
        ("in", COMPLAINT),
        ("out", reply["text"]),
    ]
    assert handoff["messages"][0]["understood"]["intent"] == "complaint"
    assert handoff["messages"][0]["understood"]["confidence"] > 0.5
    stamps = handoff["timestamps"]
    assert stamps["received"] <= stamps["handed_off"] <= stamps["acknowledged"]
    listed = (await client.get("/api/handoffs")).json()["handoffs"]
    assert [h["id"] for h in listed] == [handoff["id"]]


async def test_private_chat_through_the_invitation_joins_the_case(client: httpx.AsyncClient) -> None:
    public = await _say(client, COMPLAINT, public=True)
    token = (await client.get(f"/api/handoffs/{public['handoff_id']}")).json()["join_token"]

    private = await _say(client, "here's my order number 4839201", public=False, join=token)

    assert private["status"] == "attached"
    # The person who has the case answers; the bot only says so, instead of leaving silence.
    assert [r["text"] for r in private["replies"]] == [
        "Thanks for coming over here. A colleague already has your case and will continue with you in "
        "this chat."
    ]
    assert private["case_id"] == public["case_id"]
    handoff = (await client.get(f"/api/handoffs/{public['handoff_id']}")).json()
    assert [m["where"] for m in handoff["messages"]] == ["public", "public", "private", "private"]


async def test_public_complaint_with_personal_data_is_not_repeated(client: httpx.AsyncClient) -> None:
    text = "order #4839201 STILL not here, email me at jane.doe@example.com or call +44 7700 900123!!"
    result = await _say(client, text, public=True)
    [reply] = result["replies"]
    for secret in ("4839201", "jane.doe@example.com", "7700"):
        assert secret not in reply["text"]
    assert "join=" in reply["text"]
    handoff = (await client.get(f"/api/handoffs/{result['handoff_id']}")).json()
    assert "personal_data_public" in handoff["flags"]


async def test_question_gets_the_curated_answer(client: httpx.AsyncClient) -> None:
    result = await _say(client, "what are your opening hours on saturday?")
    assert result["understood"]["intent"] == "question"
    [reply] = result["replies"]
    assert "Saturday 9:00-17:00" in reply["text"]
    assert result["handoff_id"] is None


async def test_praise_gets_a_warm_thanks_and_no_handoff(client: httpx.AsyncClient) -> None:
    result = await _say(client, "just got my new buds, absolutely love them!! thank you 😍", public=True)
    assert result["understood"]["intent"] == "praise"
    [reply] = result["replies"]
    assert "thank" in reply["text"].lower()
    assert result["handoff_id"] is None


async def test_asking_for_a_person_hands_off(client: httpx.AsyncClient) -> None:
    result = await _say(client, "can I please talk to a real human being")
    assert result["understood"]["intent"] == "request_human"
    assert result["handoff_id"] is not None
    handoff = (await client.get(f"/api/handoffs/{result['handoff_id']}")).json()
    assert handoff["reason"] == "asked_for_human"


async def test_bot_is_silent_during_a_handoff_and_answers_after_hand_back(
    client: httpx.AsyncClient,
) -> None:
    first = await _say(client, "my parcel arrived smashed, the blender is broken", message_id="a1")
    handoff_id = first["handoff_id"]
    assert handoff_id is not None

    during = await _say(client, "hello? anyone there?", message_id="a2")
    assert during["status"] == "attached"
    assert during["replies"] == []
    packet = (await client.get(f"/api/handoffs/{handoff_id}")).json()
    assert packet["messages"][-1]["text"] == "hello? anyone there?"

    back = await client.post(f"/api/handoffs/{handoff_id}/hand-back", json={"outcome": "replacement sent"})
    assert back.json()["status"] == "handed_back"
    assert (await client.get("/api/handoffs")).json()["handoffs"] == []

    after = await _say(client, "what are your opening hours?", message_id="a3")
    assert after["status"] == "answered"
    assert after["replies"]


async def test_resolve_closes_the_handoff(client: httpx.AsyncClient) -> None:
    result = await _say(client, "I was charged twice for the same order!!")
    resolved = await client.post(
        f"/api/handoffs/{result['handoff_id']}/resolve", json={"outcome": "refunded"}
    )
    assert resolved.status_code == 200
    assert (resolved.json()["status"], resolved.json()["outcome"]) == ("resolved", "refunded")
    unknown = await client.post(f"/api/handoffs/{result['handoff_id']}/delete")
    assert unknown.status_code == 404


async def test_duplicate_delivery_gets_one_reply(client: httpx.AsyncClient, service: Service) -> None:
    first = await _say(client, COMPLAINT, message_id="dup-1", public=True)
    second = await _say(client, COMPLAINT, message_id="dup-1", public=True)
    assert first["status"] == "answered" and len(first["replies"]) == 1
    assert second == {**second, "status": "duplicate", "replies": []}
    assert _count_messages(service) == 2  # the message and the one reply


async def test_customer_cannot_inject_rasa_intent_syntax(client: httpx.AsyncClient) -> None:
    result = await _say(client, '/praise{"product": "x"}')
    assert result["understood"]["intent"] != "praise" or result["understood"]["confidence"] < 1.0


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'"just a string"', 422, "JSON object"),
        (json.dumps({"user": "alice", "text": ""}).encode(), 422, "'text'"),
        (json.dumps({"user": "alice", "text": "x" * 100_000}).encode(), 422, "longer than"),
        (json.dumps({"user": "alice", "text": "hi", "evil": True}).encode(), 422, "unknown field"),
        (b"{" + b" " * 300_000 + b"}", 413, "larger than"),
        pytest.param(b"[" * 100_000, 400, "nested", id="nested-100000"),
        pytest.param(
            b'{"user": "alice", "text": "hi", "deep": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            400,
            "nested",
            id="nested-1000-in-a-field",
        ),
        (b'{"user": "alice", "text": "\\ud800"}', 400, "surrogate"),
        (b'{"user": "alice", "text": "hi", "display_name": "Al\\udfffce"}', 400, "surrogate"),
        (b'{"user": "alice", "text": "hi", "message_id": "\\ud800"}', 400, "surrogate"),
        (b'{"user": "alice", "text": "hi", "join": "\\udbff"}', 400, "surrogate"),
        (b'{"user": "alice", "text": "hi", "\\ud800": 1}', 400, "surrogate"),
        (b'{"user": "alice", "text": "hi", "audience": NaN}', 400, "not valid JSON"),
        (json.dumps({"user": "alice", "text": "hi", "audience": 2**64}).encode(), 422, "'audience'"),
        (json.dumps({"user": "alice", "text": "hi", "audience": 2**31}).encode(), 422, "'audience'"),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_stores_nothing(
    client: httpx.AsyncClient, service: Service, body: bytes, status: int, error: str
) -> None:
    response = await client.post(
        "/api/web/messages", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert error in response.json()["error"]
    assert _count_messages(service) == 0


async def test_conversation_api_returns_both_directions(client: httpx.AsyncClient) -> None:
    await _say(client, "hi there!", public=False)
    response = await client.get("/api/web/messages", params={"user": "alice", "public": "false"})
    messages = response.json()["messages"]
    assert [m["direction"] for m in messages] == ["in", "out"]
    newer = await client.get("/api/web/messages", params={"user": "alice", "after": messages[-1]["id"]})
    assert newer.json()["messages"] == []
    for after in ("x", "-1", "²", "١", str(2**31), str(2**63), str(2**64), "9" * 5000):
        bad = await client.get("/api/web/messages", params={"user": "alice", "after": after})
        assert bad.status_code == 400, after
    largest = await client.get("/api/web/messages", params={"user": "alice", "after": str(2**31 - 1)})
    assert largest.json()["messages"] == []


@pytest.mark.parametrize("handoff_id", [2**31, 2**63, 2**64, 10**40])
async def test_ids_beyond_what_the_store_holds_are_not_found(
    client: httpx.AsyncClient, handoff_id: int
) -> None:
    assert (await client.get(f"/api/handoffs/{handoff_id}")).status_code == 404
    assert (await client.post(f"/api/handoffs/{handoff_id}/resolve", json={})).status_code == 404


async def test_demo_page_and_health(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "Firstline demo" in page.text
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_the_whole_path_on_postgresql(
    settings_on_postgres: Settings, rasa_runtime: RasaRuntime
) -> None:
    service = Service.build(settings_on_postgres, rasa=rasa_runtime)
    try:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://firstline.test") as client:
            first = await _say(client, COMPLAINT, public=True, message_id="pg-1")
            again = await _say(client, COMPLAINT, public=True, message_id="pg-1")
            during = await _say(client, "still waiting!!", public=True, message_id="pg-2")
        assert first["handoff_id"] is not None and first["replies"]
        assert again["status"] == "duplicate"
        assert during["status"] == "attached"
        assert service.repository.engine.dialect.name == "postgresql"
        assert len(service.repository.packet(first["handoff_id"])["messages"]) == 3
    finally:
        service.repository.engine.dispose()
