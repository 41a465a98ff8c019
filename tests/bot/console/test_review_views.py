"""The review inbox pages: trainers review, agents relabel, and agents cannot open trainer pages."""

from __future__ import annotations

import pytest

from bot.messages import Customer, InboundMessage
from bot.service import Service
from bot.store.accounts import Account
from bot.store.review import ReviewInbox
from bot.uncertainty import Uncertainty
from tests.bot.console.conftest import SignIn


def _unsure_item(service: Service, text: str = "is the lamp meant to flicker like that") -> tuple[int, int]:
    recorded = service.repository.record_inbound(
        InboundMessage("web", f"m-{text}", "private:cara", False, Customer("cara", display_name="Cara"), text)
    )
    assert recorded is not None
    doubt = Uncertainty("question", 0.44, "complaint", 0.41, "low_confidence")
    item_id = ReviewInbox(service.repository.engine).add_review_item(
        recorded.message_id, recorded.case_id, text, doubt, topic="pricing"
    )
    assert item_id is not None
    return item_id, recorded.message_id


@pytest.mark.parametrize("path", ["/console/review", "/console/review/1"])
async def test_agents_cannot_open_trainer_pages(
    sign_in: SignIn, service: Service, accounts: dict[str, Account], path: str
) -> None:
    _unsure_item(service)
    agent = await sign_in("ana")
    assert (await agent.get(path)).status_code == 403
    assert (await agent.post("/console/review/1", data={"decision": "discard"})).status_code == 403
    assert ReviewInbox(service.repository.engine).item(1).status == "open"


async def test_a_trainer_corrects_an_item_with_its_context(sign_in: SignIn, service: Service) -> None:
    item_id, _ = _unsure_item(service)
    trainer = await sign_in("tara")
    inbox_page = await trainer.get("/console/review")
    assert inbox_page.status_code == 200
    assert (
        "is the lamp meant to flicker like that" in inbox_page.text
        and "question/pricing 44%" in inbox_page.text
    )

    page = await trainer.get(f"/console/review/{item_id}")
    assert page.status_code == 200 and "The conversation around it" in page.text
    assert 'value="complaint/product"' in page.text  # the training data's intents are offered

    bad = await trainer.post(
        f"/console/review/{item_id}", data={"decision": "correct", "intent": "Complaint!"}
    )
    assert bad.status_code == 422 and "not an intent name" in bad.text

    done = await trainer.post(
        f"/console/review/{item_id}",
        data={
            "decision": "correct",
            "intent": "complaint/product",
            "entities": '[{"entity": "product", "start": 7, "end": 11}]',
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/review"
    item = ReviewInbox(service.repository.engine).item(item_id)
    assert (item.status, item.corrected_intent) == ("corrected", "complaint/product")
    assert item.corrected_entities == ({"entity": "product", "value": "lamp", "start": 7, "end": 11},)


async def test_an_agent_relabels_a_message_for_the_trainers(
    sign_in: SignIn, service: Service, accounts: dict[str, Account]
) -> None:
    recorded = service.repository.record_inbound(
        InboundMessage("web", "m1", "private:dan", False, Customer("dan"), "brilliant, charged twice again")
    )
    assert recorded is not None
    agent = await sign_in("ana")
    answer = await agent.post(
        f"/console/messages/{recorded.message_id}/relabel",
        data={"intent": "complaint/billing", "next": "https://evil.example/"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    [item] = ReviewInbox(service.repository.engine).items()
    assert (item.source, item.suggested_intent, item.text) == (
        "relabelled",
        "complaint/billing",
        "brilliant, charged twice again",
    )
    trainer = await sign_in("tara")
    assert "agent says <b>complaint/billing</b>" in (await trainer.get("/console/review")).text
    assert (
        await trainer.post(f"/console/messages/{recorded.message_id}/relabel", data={"intent": "praise"})
    ).status_code == 403


@pytest.mark.parametrize("fields", [{}, {"decision": ""}, {"intent": "greet"}])
async def test_a_review_without_a_decision_is_refused(
    sign_in: SignIn, service: Service, fields: dict[str, str]
) -> None:
    item_id, _ = _unsure_item(service)
    trainer = await sign_in("tara")
    response = await trainer.post(f"/console/review/{item_id}", data=fields)
    assert response.status_code == 422 and "unknown decision" in response.text
    missing = await trainer.post(f"/console/review/{item_id + 1}", data=fields)
    assert missing.status_code == 404
    assert ReviewInbox(service.repository.engine).item(item_id).status == "open"


@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"decision": "\\ud800"}', b"{not json", b"[1]"])
async def test_a_json_body_that_cannot_be_read_is_a_400_on_every_console_form(
    sign_in: SignIn, service: Service, body: bytes
) -> None:
    item_id, message_id = _unsure_item(service)
    admin = await sign_in("ada")
    headers = {"content-type": "application/json"}
    for path in (
        f"/console/review/{item_id}",
        f"/console/messages/{message_id}/relabel",
        "/console/admin/users",
    ):
        response = await admin.post(path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]
    assert ReviewInbox(service.repository.engine).item(item_id).status == "open"
