"""Follow-ups end to end: a public complaint through the service, the scheduler driven tick by tick."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.followups import CHECKBACK, STILL_HERE, compose
from bot.messages import Customer, InboundMessage, utcnow
from bot.service import Service
from bot.settings import Settings
from bot.store.followups import FollowupStore, FollowupView

pytestmark = pytest.mark.model

COMPLAINT = "@KestrelHelp my order never arrived, 2 weeks waiting and nobody answers 😡"
ALICE = Customer("alice", "alice", "Alice Smith")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Follow-ups one minute after the invitation and after the resolution."""
    return Settings(
        data_dir=tmp_path,
        tracker_store_url="memory",
        public_url="http://firstline.test",
        followup_after_minutes=1,
        checkback_after_hours=1 / 60,
        _env_file=None,
    )


async def _say(service: Service, text: str, n: int, *, public: bool, join: str | None = None) -> int:
    key = f"{'public' if public else 'private'}:alice"
    outcome = await service.receive(InboundMessage("web", f"m{n}", key, public, ALICE, text, join_token=join))
    assert outcome.case_id is not None
    return outcome.case_id


def _followups(service: Service, case_id: int) -> dict[str, FollowupView]:
    return {row.kind: row for row in FollowupStore(service.repository.engine).for_case(case_id)}


def _bot_texts(service: Service, public: bool) -> list[str]:
    conversation_id = service.repository.conversation_id("web", f"{'public' if public else 'private'}:alice")
    assert conversation_id is not None
    return [m.text for m in service.repository.messages_after(conversation_id) if m.direction == "out"]


def _join_token(service: Service, case_id: int) -> str:
    [handoff] = service.casework.handoffs()
    assert handoff.case_id == case_id
    return str(service.casework.packet(handoff.id)["join_token"])


async def test_an_invited_customer_who_does_not_come_gets_one_public_follow_up(service: Service) -> None:
    case_id = await _say(service, COMPLAINT, 1, public=True)
    [acknowledgement] = _bot_texts(service, public=True)
    token = _join_token(service, case_id)
    assert token in acknowledgement

    first = await service.followups.tick()
    assert (first.planned, first.sent) == (1, 0)
    planned = _followups(service, case_id)[STILL_HERE]
    assert planned.status == "scheduled" and planned.cancellable

    due = await service.followups.tick(utcnow() + timedelta(minutes=2))
    assert due.sent == 1
    sent = _followups(service, case_id)[STILL_HERE]
    assert sent.status == "sent" and sent.message_id is not None
    texts = _bot_texts(service, public=True)
    assert texts[:-1] == [acknowledgement]
    expected = compose(
        STILL_HERE,
        service.followups.phrases,
        seed=str(sent.id),
        platform="web",
        limit=2000,
        display_name="Alice Smith",
        dm_link=service.adapters["web"].dm_link(ALICE, token),
    )
    assert texts[-1] == expected and token in expected

    again = await service.followups.tick(utcnow() + timedelta(hours=3))
    assert (again.planned, again.sent) == (0, 0)
    assert len(_bot_texts(service, public=True)) == 2


async def test_coming_to_the_private_chat_cancels_the_follow_up(service: Service) -> None:
    case_id = await _say(service, COMPLAINT, 1, public=True)
    await service.followups.tick()
    assert _followups(service, case_id)[STILL_HERE].status == "scheduled"

    joined = await _say(
        service, "hi, here is my order number 4839201", 2, public=False, join=_join_token(service, case_id)
    )
    assert joined == case_id
    tick = await service.followups.tick(utcnow() + timedelta(minutes=2))
    assert (tick.cancelled, tick.sent) == (1, 0)
    cancelled = _followups(service, case_id)[STILL_HERE]
    assert (cancelled.status, cancelled.cancelled_by) == ("cancelled", "system")
    assert len(_bot_texts(service, public=True)) == 1


async def test_an_agent_cancels_the_follow_up(service: Service) -> None:
    case_id = await _say(service, COMPLAINT, 1, public=True)
    await service.followups.tick()
    planned = _followups(service, case_id)[STILL_HERE]
    assert service.followups.store.cancel_followup(planned.id, "sam")
    tick = await service.followups.tick(utcnow() + timedelta(minutes=2))
    assert tick.sent == 0
    assert _followups(service, case_id)[STILL_HERE].cancelled_by == "sam"


async def test_a_resolved_case_gets_a_check_back_where_the_customer_wrote(service: Service) -> None:
    case_id = await _say(service, COMPLAINT, 1, public=True)
    token = _join_token(service, case_id)
    await _say(service, "it's order 4839201", 2, public=False, join=token)
    [handoff] = service.casework.handoffs()
    service.casework.close(handoff.id, "resolved", None, "parcel re-sent", override=True)

    tick = await service.followups.tick(utcnow() + timedelta(minutes=2))
    assert tick.sent == 1
    rows = _followups(service, case_id)
    assert rows[CHECKBACK].status == "sent"
    assert STILL_HERE not in rows  # the customer came to the private chat before it was planned
    # In the private chat: the note that a colleague has the case, then the check-back.
    [_joined, checkback] = _bot_texts(service, public=False)
    expected = compose(
        CHECKBACK,
        service.followups.phrases,
        seed=str(rows[CHECKBACK].id),
        platform="web",
        limit=2000,
        display_name="Alice Smith",
    )
    assert checkback == expected and "{" not in checkback
    assert len(_bot_texts(service, public=True)) == 1
