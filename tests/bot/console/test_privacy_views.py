"""The console's page for a customer's data: an admin finds, downloads and erases it."""

from __future__ import annotations

from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.service import Service
from bot.store.data_subjects import SubjectNotFound, records_of
from tests.bot.console.conftest import SignIn

SAID = "my order 55123 never arrived, call me on 0612345678"


def _customer_wrote(service: Service) -> None:
    recorded = service.repository.record_inbound(
        InboundMessage("web", "w1", "private:dora", False, Customer("dora", display_name="Dora"), SAID)
    )
    assert recorded is not None
    service.repository.finish_turn(
        recorded, "handled", [OutboundMessage("web", "private:dora", False, "Sorry Dora!", "dora")]
    )


async def test_an_admin_downloads_then_erases_a_customer_s_data_after_confirming(
    sign_in: SignIn, service: Service
) -> None:
    _customer_wrote(service)
    http = await sign_in("ada")
    page = await http.get("/console/admin/privacy", params={"platform": "web", "user": "dora"})
    assert page.status_code == 200
    assert "<b>2</b> messages" in page.text and "Download everything (JSON)" in page.text

    download = await http.get("/console/admin/privacy/export", params={"platform": "web", "user": "dora"})
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.json()["messages"][0]["text"] == SAID

    unconfirmed = await http.post(
        "/console/admin/privacy/erase", data={"platform": "web", "user": "dora", "confirm": "dor"}
    )
    assert unconfirmed.status_code == 303
    assert records_of(service.repository.engine, "web", "dora")["messages"][0]["text"] == SAID  # untouched

    erased = await http.post(
        "/console/admin/privacy/erase", data={"platform": "web", "user": "dora", "confirm": "dora"}
    )
    assert erased.status_code == 303
    after = await http.get(erased.headers["location"])
    assert "Erased: 2 messages and 0 handoffs anonymised" in after.text
    try:
        records_of(service.repository.engine, "web", "dora")
    except SubjectNotFound:
        pass
    else:
        raise AssertionError("the customer is still held")
    gone = await http.get("/console/admin/privacy", params={"platform": "web", "user": "dora"})
    assert "Nothing is held about web user dora." in gone.text


async def test_an_agent_cannot_see_or_erase_a_customer_s_data(sign_in: SignIn, service: Service) -> None:
    _customer_wrote(service)
    http = await sign_in("ana")
    assert (
        await http.get("/console/admin/privacy", params={"platform": "web", "user": "dora"})
    ).status_code == 403
    answer = await http.post(
        "/console/admin/privacy/erase", data={"platform": "web", "user": "dora", "confirm": "dora"}
    )
    assert answer.status_code == 403
    assert records_of(service.repository.engine, "web", "dora")["messages"]
