"""The gateway's side paths: what reaches the trainers' review inbox, and what skips the model."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.gateway import unstorable
from bot.messages import Customer, InboundMessage, utcnow
from bot.service import Service

pytestmark = pytest.mark.model


def _message(n: int, text: str, kind: str = "text") -> InboundMessage:
    return InboundMessage(
        platform="web",
        platform_message_id=f"g{n}",
        conversation_key=f"private:user{n}",
        public=False,
        customer=Customer(f"user{n}"),
        text=text,
        kind=kind,
    )


async def test_a_message_the_model_cannot_place_lands_in_the_review_inbox(service: Service) -> None:
    outcome = await service.gateway.receive(_message(1, "blorp zxcvq wibble frob"))
    assert outcome.status == "answered"
    [item] = service.gateway.review_inbox.items()
    assert (item.message_id, item.text, item.source) == (
        outcome.message_id,
        "blorp zxcvq wibble frob",
        "unsure",
    )


async def test_a_sticker_goes_to_a_person_without_troubling_the_model_or_the_trainers(
    service: Service,
) -> None:
    sticker = dataclasses.replace(_message(2, "[sticker 👍]"), kind="sticker")
    outcome = await service.gateway.receive(sticker)
    assert outcome.handoff_id is not None and outcome.replies
    packet = service.casework.packet(outcome.handoff_id)
    assert packet["reason"] == "media"
    assert service.gateway.review_inbox.items() == []


async def test_a_customer_arriving_in_private_while_a_person_has_the_case_is_not_met_with_silence(
    service: Service,
) -> None:
    public = dataclasses.replace(
        _message(3, "@kestrel my order never arrived and nobody answers!!"),
        public=True,
        conversation_key="public:user3",
    )
    complaint = await service.gateway.receive(public)
    assert complaint.handoff_id is not None
    packet = service.casework.packet(complaint.handoff_id)

    arrived = dataclasses.replace(
        _message(4, "hi"), customer=public.customer, join_token=packet["join_token"]
    )
    outcome = await service.gateway.receive(arrived)
    assert outcome.status == "attached" and outcome.case_id == complaint.case_id
    [note] = outcome.replies
    assert "colleague" in note.text and note.status == "sent"

    # Later messages in that chat reach the person only.
    later = await service.gateway.receive(
        dataclasses.replace(arrived, platform_message_id="g5", join_token=None)
    )
    assert later.status == "attached" and later.replies == ()


STORABLE = _message(1, "where is my parcel?")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"text": "hi \ud800"}, "text holds a lone UTF-16 surrogate"),
        ({"text": 5}, "text is not text"),
        ({"platform_message_id": "\udfff"}, "message id holds a lone"),
        ({"platform_message_id": "x" * 129}, "message id is longer than 128"),
        ({"conversation_key": "k" * 257}, "conversation key is longer than 256"),
        ({"join_token": "\ud800"}, "join token holds a lone"),
        ({"engagement": -1}, "engagement is not a count"),
        ({"engagement": 2**31}, "engagement is not a count"),
        ({"customer": Customer("u1", display_name="Al\udfffce")}, "display name holds a lone"),
        ({"customer": Customer("u1", display_name=7)}, "display name is not text"),  # type: ignore[arg-type]
        ({"customer": Customer("u1", handle="h" * 129)}, "handle is longer than 128"),
        ({"customer": Customer("u" * 129)}, "user id is longer than 128"),
        ({"customer": Customer("u1", audience=2**64)}, "audience is not a count"),
        ({"customer": Customer("u1", audience=True)}, "audience is not a count"),
        ({"received_at": None}, "not a time"),
    ],
)
def test_what_the_store_cannot_hold_is_refused_before_anything_is_stored(
    change: dict[str, object], problem: str
) -> None:
    assert unstorable(STORABLE) is None
    assert problem in (unstorable(dataclasses.replace(STORABLE, **change)) or "")  # type: ignore[arg-type]


async def test_a_weeks_old_public_post_is_stored_and_goes_to_a_person_without_a_reply(
    service: Service,
) -> None:
    weeks_ago = utcnow() - timedelta(days=21)
    old = dataclasses.replace(
        _message(5, "@kestrel my order never arrived and nobody answers!!"),
        public=True,
        conversation_key="public:user5",
        received_at=weeks_ago,
    )
    outcome = await service.gateway.receive(old)
    assert (outcome.status, outcome.replies) == ("too_old", ())
    packet = service.casework.packet(outcome.handoff_id)
    assert (packet["reason"], packet["flags"]) == ("too_old", ["too_old"])
    assert [m["text"] for m in packet["messages"]] == [old.text]  # stored, and nothing sent

    # The same post written a minute ago is answered as usual.
    fresh = dataclasses.replace(
        old, platform_message_id="g6", conversation_key="public:user6", customer=Customer("user6"),
        received_at=utcnow() - timedelta(minutes=1),
    )  # fmt: skip
    answered = await service.gateway.receive(fresh)
    assert answered.status == "answered" and answered.replies
