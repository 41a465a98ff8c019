"""The gateway's side paths: what reaches the trainers' review inbox, and what skips the model."""

from __future__ import annotations

import dataclasses

import pytest

from bot.messages import Customer, InboundMessage
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
    packet = service.repository.packet(outcome.handoff_id)
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
    packet = service.repository.packet(complaint.handoff_id)

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
