"""Planned follow-ups in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bot.business_hours import BusinessHours
from bot.errors import NotFound
from bot.followups import CHECKBACK, STILL_HERE, FollowupPolicy
from bot.messages import Customer, InboundMessage, utcnow
from bot.store import Recorded, Repository
from bot.store.casework import CaseworkRepository
from bot.store.followups import FollowupStore
from bot.store.models import MessageRow
from tests.fakes.handoffs import open_complaint_handoff

ALWAYS = BusinessHours.parse("", "UTC")
POLICY = FollowupPolicy(timedelta(hours=2), timedelta(hours=24), ALWAYS)
ALICE = Customer("alice", "alice", "Alice")


def _message(key: str, public: bool, text: str, n: int, join: str | None = None) -> InboundMessage:
    return InboundMessage("web", f"m{n}", key, public, ALICE, text, join_token=join)


def _complaint(repository: Repository, *, public: bool = True, invite: bool = True) -> tuple[Recorded, int]:
    recorded = repository.record_inbound(_message("public:alice", public, "my parcel never arrived", 1))
    assert recorded is not None
    handoff_id = open_complaint_handoff(repository.engine, recorded, summary="parcel")
    if invite:
        _bot_says(repository, recorded, f"So sorry! DM us: http://firstline.test/?join={recorded.join_token}")
    return recorded, handoff_id


def _bot_says(repository: Repository, recorded: Recorded, text: str, author: str = "bot") -> None:
    with Session(repository.engine) as session, session.begin():
        session.add(
            MessageRow(
                case_id=recorded.case_id,
                conversation_id=recorded.conversation_id,
                platform="web",
                direction="out",
                author=author,
                text=text,
                created_at=utcnow(),
                status="sent",
            )
        )


def _come_to_private_chat(repository: Repository, recorded: Recorded) -> Recorded:
    joined = repository.record_inbound(
        _message("private:alice", False, "hi, it's me", 2, recorded.join_token)
    )
    assert joined is not None and joined.case_id == recorded.case_id
    return joined


def test_a_public_handoff_gets_one_still_here_follow_up(repository: Repository) -> None:
    recorded, handoff_id = _complaint(repository)
    store, now = FollowupStore(repository.engine), utcnow()
    [planned] = store.plan(POLICY, now)
    assert store.plan(POLICY, now) == []
    [row] = store.for_case(recorded.case_id)
    assert (row.id, row.kind, row.status, row.handoff_id) == (planned, STILL_HERE, "scheduled", handoff_id)
    assert row.conversation_id == recorded.conversation_id
    assert abs(row.due_at - row.created_at - timedelta(hours=2)) < timedelta(seconds=5)
    assert row.to_dict()["cancellable"] is True


def test_two_instances_planning_at_once_write_it_once(repository: Repository) -> None:
    recorded, handoff_id = _complaint(repository)
    first, second = FollowupStore(repository.engine), FollowupStore(repository.engine)
    due, now = utcnow() + timedelta(hours=2), utcnow()
    assert first._insert(STILL_HERE, recorded.case_id, handoff_id, recorded.conversation_id, due, now)
    assert (
        second._insert(STILL_HERE, recorded.case_id, handoff_id, recorded.conversation_id, due, now) is None
    )


@pytest.mark.parametrize(
    ("public", "policy", "later"),
    [
        (False, POLICY, timedelta()),  # a private chat needs no invitation follow-up
        (True, FollowupPolicy(None, None, ALWAYS), timedelta()),  # turned off
        (True, POLICY, timedelta(days=2)),  # too old to follow up (first start after an upgrade)
    ],
)
def test_nothing_is_planned(
    repository: Repository, public: bool, policy: FollowupPolicy, later: timedelta
) -> None:
    _complaint(repository, public=public)
    assert FollowupStore(repository.engine).plan(policy, utcnow() + later) == []


def test_due_follow_ups_are_claimed_by_exactly_one_instance(repository: Repository) -> None:
    _complaint(repository)
    first, second = FollowupStore(repository.engine), FollowupStore(repository.engine)
    now = utcnow()
    [planned] = first.plan(POLICY, now)
    assert first.claim_due(now) == []
    later = now + timedelta(hours=3)
    [due] = first.claim_due(later)
    assert second.claim_due(later) == []
    assert due.followup.id == planned and first.get(planned).status == "sending"
    assert due.facts.invitation_sent and due.facts.handoff_status == "open" and due.facts.open_handoff
    assert not due.facts.agent_wrote_since_planned
    [place] = due.facts.places
    assert (place.public, place.last_customer_message) == (True, "m1")
    assert (due.customer_id, due.customer_name) == ("alice", "Alice")
    first.finish(planned, "sent", later, message_id=None)
    assert first.get(planned).status == "sent"


def test_the_facts_say_when_no_invitation_went_out_and_when_an_agent_wrote(repository: Repository) -> None:
    recorded, _ = _complaint(repository, invite=False)
    store, now = FollowupStore(repository.engine), utcnow()
    store.plan(POLICY, now)
    _bot_says(repository, recorded, "Hello, this is Sam from the team.", author="agent")
    [due] = store.claim_due(now + timedelta(hours=3))
    assert not due.facts.invitation_sent
    assert due.facts.agent_wrote_since_planned


def test_coming_to_the_private_chat_cancels_the_still_here(repository: Repository) -> None:
    recorded, _ = _complaint(repository)
    store, now = FollowupStore(repository.engine), utcnow()
    [planned] = store.plan(POLICY, now)
    assert store.cancel_obsolete(now) == 0
    _come_to_private_chat(repository, recorded)
    assert store.cancel_obsolete(now) == 1
    row = store.get(planned)
    assert (row.status, row.cancelled_by, row.detail) == (
        "cancelled",
        "system",
        "the customer came to the private chat",
    )
    assert store.claim_due(now + timedelta(hours=3)) == []
    assert store.plan(POLICY, now) == []  # once per case, even after it was called off


def test_a_resolved_handoff_gets_a_check_back(repository: Repository) -> None:
    recorded, handoff_id = _complaint(repository)
    store = FollowupStore(repository.engine)
    CaseworkRepository(repository.engine).close(handoff_id, "resolved", None, "refund sent", override=True)
    planned = store.plan(POLICY, utcnow())
    kinds = {row.kind: row for row in store.for_case(recorded.case_id)}
    assert set(kinds) == {CHECKBACK} and [kinds[CHECKBACK].id] == planned
    assert kinds[CHECKBACK].due_at - utcnow() > timedelta(hours=23)


def test_a_handed_back_handoff_gets_no_check_back(repository: Repository) -> None:
    _, handoff_id = _complaint(repository, public=False)
    CaseworkRepository(repository.engine).close(handoff_id, "handed_back", None, override=True)
    assert FollowupStore(repository.engine).plan(POLICY, utcnow()) == []


def test_agents_cancel_a_scheduled_follow_up_once(repository: Repository) -> None:
    _complaint(repository)
    store, now = FollowupStore(repository.engine), utcnow()
    [planned] = store.plan(POLICY, now)
    assert store.cancel_followup(planned, "sam") is True
    assert store.cancel_followup(planned, "kim") is False
    row = store.get(planned)
    assert (row.status, row.cancelled_by, row.cancellable) == ("cancelled", "sam", False)
    assert store.claim_due(now + timedelta(hours=3)) == []
    with pytest.raises(NotFound):
        store.cancel_followup(planned + 100, "sam")


def test_finish_only_ends_a_claimed_follow_up(repository: Repository) -> None:
    _complaint(repository)
    store, now = FollowupStore(repository.engine), utcnow()
    [planned] = store.plan(POLICY, now)
    store.finish(planned, "sent", now)  # not claimed: nothing happens
    assert store.get(planned).status == "scheduled"
    with pytest.raises(ValueError, match="sent, cancelled or failed"):
        store.finish(planned, "scheduled", now)
