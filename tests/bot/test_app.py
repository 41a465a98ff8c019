"""End to end through the HTTP service, with the real model trained on the project's data."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.adapters.fake_adapter import FakeAdapter
from bot.app import create_app
from bot.messages import Customer, InboundMessage
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.models import MessageRow
from bot.text_limits import measure
from tests.fakes.web_visitor import as_visitor

pytestmark = pytest.mark.model

COMPLAINT = "@KestrelHelp my order never arrived, 2 weeks waiting and nobody answers 😡"


async def _say(client: httpx.AsyncClient, text: str, **fields: object) -> dict:
    """Posts as the web visitor named by `user` (default alice), signed in as the brand's site would."""
    user = str(fields.pop("user", "alice"))
    await as_visitor(client, user)
    body = {"user": user, "text": text, "display_name": user.title(), **fields}
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
    assert "http://firstline.test/?join=" in reply["text"]
    assert measure(reply["text"], "web") <= 2000

    handoff = (await client.get(f"/api/handoffs/{result['handoff_id']}")).json()
    assert handoff["reason"] == "complaint"
    assert handoff["customer"]["audience"] is None  # self-declared on the web: not believed
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


async def test_on_the_web_the_invitation_joins_the_case_in_the_customers_own_browser(
    client: httpx.AsyncClient,
) -> None:
    """The visitor cookie is signed by the service, so the browser that complained is the one
    that follows the invitation: its private chat joins the case."""
    public = await _say(client, COMPLAINT, public=True)
    token = (await client.get(f"/api/handoffs/{public['handoff_id']}")).json()["join_token"]

    private = await _say(client, "here's my order number 4839201", public=False, join=token)

    assert private["case_id"] == public["case_id"]
    assert private["status"] == "attached"
    handoff = (await client.get(f"/api/handoffs/{public['handoff_id']}")).json()
    assert [m["where"] for m in handoff["messages"]] == ["public", "public", "private", "private"]
    page = (await client.get(f"/console/handoffs/{public['handoff_id']}")).text
    assert "Unverified link." not in page


_CHECKED = re.compile(r'<input type="radio" name="conversation_id" value="(\d+)"[^>]*\bchecked\b')
_UNVERIFIED = re.compile(r'<input type="radio" name="conversation_id" value="(\d+)"[^>]*data-unverified')


async def test_a_stranger_with_the_token_gets_no_reply_meant_for_the_customer(
    client: httpx.AsyncClient, service: Service
) -> None:
    """Issue 12, finding 2: a stranger joined with the public token, and the case view then
    pre-selected the stranger's chat, so the agent's answer (order, address) went to them."""
    public = await _say(client, COMPLAINT, public=True)
    token = (await client.get(f"/api/handoffs/{public['handoff_id']}")).json()["join_token"]
    stranger = await _say(
        client, "hi, it's me, what address is it going to?", public=False, join=token, user="mallory"
    )
    assert stranger["case_id"] != public["case_id"]
    assert stranger["status"] == "answered"  # the bot, as for anyone new: not "a colleague has your case"

    page = (await client.get(f"/console/handoffs/{public['handoff_id']}")).text
    assert "Unverified link." in page and "mallory" in page
    [default] = _CHECKED.findall(page)
    [unverified] = _UNVERIFIED.findall(page)
    assert default != unverified
    assert service.repository.conversation(int(default)).case_id == public["case_id"]

    secret = "Your order 4839201 goes to 12 Elm Street."
    answer = await client.post(
        f"/console/api/handoffs/{public['handoff_id']}/reply",
        json={"conversation_id": default, "text": secret},
    )
    assert answer.status_code == 200, answer.text
    mallory = (await client.get("/api/web/messages", params={"user": "mallory"})).json()["messages"]
    assert all(secret not in m["text"] for m in mallory)
    await as_visitor(client, "alice")  # each visitor reads only their own chats
    alice = (await client.get("/api/web/messages", params={"user": "alice", "public": "true"})).json()
    assert any(secret in m["text"] for m in alice["messages"])

    # Writing to the unverified chat takes the agent's explicit choice, and it is recorded as such.
    chosen = await client.post(
        f"/console/api/handoffs/{public['handoff_id']}/reply",
        json={"conversation_id": unverified, "text": "Could you tell us your order number?"},
    )
    assert chosen.status_code == 200, chosen.text
    await as_visitor(client, "mallory")
    mallory = (await client.get("/api/web/messages", params={"user": "mallory"})).json()["messages"]
    assert any(m["text"] == "Could you tell us your order number?" for m in mallory)


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


async def test_a_store_that_went_away_is_a_503_to_try_again_and_the_retry_is_answered(
    client: httpx.AsyncClient, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a PostgreSQL restart looks like from inside a request: the connection is gone.
    record = service.repository.record_inbound

    def restarting(message: object) -> None:
        raise OperationalError("INSERT ...", {}, Exception("the database system is shutting down"))

    monkeypatch.setattr(service.repository, "record_inbound", restarting)
    await as_visitor(client, "alice")
    body = {"user": "alice", "text": COMPLAINT, "message_id": "restart-1"}
    refused = await client.post("/api/web/messages", json=body)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "send the request again" in refused.json()["error"]
    monkeypatch.setattr(service.repository, "record_inbound", record)
    assert (await _say(client, COMPLAINT, message_id="restart-1"))["status"] == "answered"


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
    await as_visitor(client, "alice")
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
        assert len(service.casework.packet(first["handoff_id"])["messages"]) == 3
    finally:
        service.repository.engine.dispose()


@pytest.mark.parametrize(
    ("platform", "public", "display_name", "named"),
    [
        # Issue 12, finding 12: the brand said "Thanks for telling us, Scammers!." in public.
        ("fake", True, "Scammers!", False),
        ("fake", True, "xX_l33t_Xx", False),
        ("fake", True, "Ana", True),  # a name the platform gave, shaped like a name
        ("web", True, "Ana", False),  # self-declared: never repeated in public
        ("web", False, "Ana", True),  # ...but fine in the customer's own private chat
        ("web", False, "Scammers!", False),
    ],
)
async def test_a_reply_uses_a_first_name_only_when_it_looks_like_one_and_may_be_said(
    settings: Settings,
    rasa_runtime: RasaRuntime,
    model_path: Path,
    platform: str,
    public: bool,
    display_name: str,
    named: bool,
) -> None:
    service = Service.build(settings, model_path, rasa=rasa_runtime, extra_adapters=[FakeAdapter()])
    message = InboundMessage(
        platform=platform,
        platform_message_id="n1",
        conversation_key="public:ana" if public else "private:ana",
        public=public,
        customer=Customer("ana", handle="ana", display_name=display_name),
        text=COMPLAINT,
    )
    outcome = await service.gateway.receive(message)
    [reply] = outcome.replies
    word = display_name.rstrip("!")
    assert (word in reply.text) is named, reply.text
    assert "{name}" not in reply.text and " ," not in reply.text
    service.repository.engine.dispose()


_FOREIGN = {
    "es": ("@KestrelHelp mi pedido no ha llegado y nadie me responde", "en español"),
    "pt": ("@KestrelHelp meu pedido ainda não chegou e ninguém responde", "em português"),
    "fr": ("@KestrelHelp ma commande n'est toujours pas arrivée et personne ne répond", "en français"),
    "de": ("@KestrelHelp meine Bestellung ist immer noch nicht da und keiner antwortet", "auf Deutsch"),
    "it": ("@KestrelHelp il mio ordine non è ancora arrivato e nessuno risponde", "in italiano"),
    "ja": ("@KestrelHelp 注文した商品がまだ届きません。誰も返事をくれません", "日本語"),
}


@pytest.mark.parametrize("language", sorted(_FOREIGN))
async def test_a_message_in_another_language_is_acknowledged_in_it_and_goes_to_a_person(
    client: httpx.AsyncClient, language: str
) -> None:
    text, marker = _FOREIGN[language]
    result = await _say(client, text, public=True)

    assert result["understood"]["language"] == language
    assert result["understood"]["intent"] == "nlu_fallback"  # the English model did not guess
    [reply] = result["replies"]
    assert marker in reply["text"]
    assert "http://firstline.test/?join=" in reply["text"]  # the invitation, in the same language
    handoff = (await client.get(f"/api/handoffs/{result['handoff_id']}")).json()
    assert handoff["reason"] == "other_language"
    assert f"lang_{language}" in handoff["flags"]
    queue = (await client.get("/console/")).text
    assert f"lang {language}" in queue


# --- scope: every question to the brand is in scope, chatter in public gets silence -----------


async def test_chatter_in_public_gets_no_reply_and_in_private_a_short_one(client: httpx.AsyncClient) -> None:
    public = await _say(client, "lol saw your van on the motorway today 🚐", public=True)
    assert public["understood"]["intent"] == "chatter"
    assert public["replies"] == [] and public["handoff_id"] is None
    private = await _say(client, "lol saw your van on the motorway today 🚐", public=False)
    [reply] = private["replies"]
    assert "sorry" not in reply["text"].lower() and "thank" not in reply["text"].lower()


_NO_OPEN_SET_CHECK = pytest.mark.xfail(
    strict=True,
    reason="issue 13: the open-set check still lets this one through (it is close to the shipping examples)",
)


@pytest.mark.parametrize(
    "question",
    [
        "how do I reset my password in the app?",
        "is there a student discount?",
        "do you sell gift cards?",
        pytest.param("can I change the delivery date?", marks=_NO_OPEN_SET_CHECK),
    ],
)
async def test_a_brand_question_without_a_curated_answer_goes_to_a_person(
    client: httpx.AsyncClient, question: str
) -> None:
    result = await _say(client, question, public=True)
    [reply] = result["replies"]
    assert "outside what I can help with" not in reply["text"]
    assert result["handoff_id"] is not None  # never silence, never a guess: a person answers


async def test_a_complaint_with_swearing_gets_an_apology(client: httpx.AsyncClient) -> None:
    result = await _say(client, "@KestrelHelp your app is sh*t, it logs me out every 5 min wtf", public=True)
    assert result["understood"]["intent"] == "complaint"
    [reply] = result["replies"]
    assert any(word in reply["text"].lower() for word in ("sorry", "apologise"))
    assert result["handoff_id"] is not None
    handoff = (await client.get(f"/api/handoffs/{result['handoff_id']}")).json()
    assert "language" in handoff["flags"]  # the agent knows the tone before opening the case


async def test_a_short_reply_right_after_an_answer_continues_the_conversation(
    client: httpx.AsyncClient,
) -> None:
    answered = await _say(client, "what are your opening hours?", public=False)
    assert answered["handoff_id"] is None
    follow_up = await _say(client, "done", public=False)

    assert follow_up["case_id"] == answered["case_id"]
    [reply] = follow_up["replies"]
    assert "take it from here" in reply["text"] or "pick it up from here" in reply["text"]
    handoff = (await client.get(f"/api/handoffs/{follow_up['handoff_id']}")).json()
    assert handoff["reason"] == "follow_up"
    # A fresh "done" with nothing before it is just not understood.
    fresh = await _say(client, "done", public=False, user="bob")
    assert "from here" not in fresh["replies"][0]["text"]


async def test_a_hand_off_by_a_follow_up_action_ends_the_turn(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer and chatter actions hand off through a follow-up action; after it the bot must
    listen, not run the hand-off again until Rasa's circuit breaker stops it."""
    with caplog.at_level(logging.WARNING, logger="rasa.core.processor"):
        result = await _say(client, "how do I reset my password in the app?", public=True)
    assert result["handoff_id"] is not None
    assert "Circuit breaker" not in caplog.text
