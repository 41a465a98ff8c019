from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.errors import LeaseLost
from bot.messages import Customer, InboundMessage, OutboundMessage, utcnow
from bot.store import NewHandoff, Recorded, Repository
from bot.store.casework import CaseworkRepository
from bot.store.models import Case, Handoff, MessageRow


def _message(
    message_id: str = "m1",
    *,
    user: str = "alice",
    public: bool = True,
    text: str = "my order never arrived",
    join: str | None = None,
    audience: int | None = 120,
) -> InboundMessage:
    return InboundMessage(
        platform="web",
        platform_message_id=message_id,
        conversation_key=f"{'public' if public else 'private'}:{user}",
        public=public,
        customer=Customer(user, handle=user, display_name="Alice", audience=audience),
        text=text,
        join_token=join,
    )


def _handoff(repository: Repository, case_id: int, message_id: int) -> int:
    return CaseworkRepository(repository.engine).open(
        NewHandoff(
            case_id=case_id,
            trigger_message_id=message_id,
            reason="complaint",
            intent="complaint",
            topic="delivery",
            priority=70,
            summary="complaint (delivery): my order never arrived",
        )
    )


def _count(repository: Repository, model: type) -> int:
    with repository.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def test_records_a_message_with_its_customer_conversation_and_case(repository: Repository) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    assert recorded.open_handoff_id is None
    conversation = repository.conversation(recorded.conversation_id)
    assert (conversation.platform, conversation.public) == ("web", True)
    assert [m.text for m in repository.messages_after(recorded.conversation_id)] == ["my order never arrived"]


def test_repeated_delivery_is_dropped(repository: Repository) -> None:
    assert repository.record_inbound(_message("same")) is not None
    assert repository.record_inbound(_message("same")) is None
    assert _count(repository, MessageRow) == 1


def _linked_case_id(repository: Repository, case_id: int) -> int | None:
    with repository.engine.connect() as connection:
        return connection.execute(select(Case.linked_case_id).where(Case.id == case_id)).scalar_one()


@pytest.mark.parametrize(
    ("who", "verified", "age_days", "outcome"),
    [
        ("alice", True, 0, "joined"),  # the post's author, as the platform vouches
        ("alice", True, 6.9, "joined"),
        ("mallory", True, 0, "linked"),  # issue 12, finding 2: a stranger holding the public token
        ("alice", False, 0, "linked"),  # the right name, but self-declared (the web)
        ("mallory", False, 0, "linked"),
        ("alice", True, 7.1, "own"),  # expired: joins nothing
        ("mallory", True, 30, "own"),
    ],
)
def test_a_join_token_joins_only_its_own_customer(
    repository: Repository, who: str, verified: bool, age_days: float, outcome: str
) -> None:
    public = repository.record_inbound(_message("p1"))
    assert public is not None
    with repository.engine.begin() as connection:
        opened = utcnow() - timedelta(days=age_days)
        connection.execute(update(Case).where(Case.id == public.case_id).values(created_at=opened))
    arrival = dataclasses.replace(
        _message("d1", user=who, public=False, join=public.join_token), identity_verified=verified
    )
    private = repository.record_inbound(arrival)
    assert private is not None
    joined = private.case_id == public.case_id
    assert joined is (outcome == "joined")
    assert _linked_case_id(repository, private.case_id) == (public.case_id if outcome == "linked" else None)
    if outcome != "joined":
        # Nothing of the case reaches that chat: it is in a case of its own, with its own token.
        assert private.join_token != public.join_token
        assert private.open_handoff_id is None


def test_an_unverified_link_is_made_even_while_the_case_has_an_open_handoff(repository: Repository) -> None:
    public = repository.record_inbound(_message("p1"))
    assert public is not None
    _handoff(repository, public.case_id, public.message_id)
    stranger = dataclasses.replace(
        _message("d1", user="alice", public=False, join=public.join_token), identity_verified=False
    )
    private = repository.record_inbound(stranger)
    assert private is not None and private.case_id != public.case_id
    assert private.open_handoff_id is None


def test_private_chat_joins_the_open_case_of_the_same_customer(repository: Repository) -> None:
    public = repository.record_inbound(_message("p1"))
    assert public is not None
    _handoff(repository, public.case_id, public.message_id)
    private = repository.record_inbound(_message("d1", public=False))
    assert private is not None
    assert private.case_id == public.case_id
    assert private.open_handoff_id is not None


def test_unrelated_customers_get_their_own_cases(repository: Repository) -> None:
    a = repository.record_inbound(_message("a", user="alice"))
    b = repository.record_inbound(_message("b", user="bob"))
    assert a is not None and b is not None
    assert a.case_id != b.case_id


def test_one_open_handoff_per_case(repository: Repository) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    first = _handoff(repository, recorded.case_id, recorded.message_id)
    assert _handoff(repository, recorded.case_id, recorded.message_id) == first
    with repository._session() as session, pytest.raises(IntegrityError), session.begin():
        # Even a writer that skips the check cannot open a second one: the database refuses.
        now = utcnow()
        session.add(
            Handoff(
                case_id=recorded.case_id,
                trigger_message_id=recorded.message_id,
                status="open",
                reason="complaint",
                priority=1,
                summary="x",
                flags=[],
                received_at=now,
                created_at=now,
            )
        )


def test_closing_reopens_the_case_to_the_bot(repository: Repository) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    handoff_id = _handoff(repository, recorded.case_id, recorded.message_id)
    CaseworkRepository(repository.engine).close(handoff_id, "handed_back", None, override=True)
    assert repository.open_handoff_id(recorded.case_id) is None
    again = _handoff(repository, recorded.case_id, recorded.message_id)
    assert again != handoff_id


def test_close_refuses_unknown_status(repository: Repository) -> None:
    with pytest.raises(ValueError, match="resolved or handed_back"):
        CaseworkRepository(repository.engine).close(1, "deleted", None, override=True)


def test_packet_holds_the_whole_story(repository: Repository) -> None:
    public = repository.record_inbound(_message("p1"))
    assert public is not None
    assert (
        repository.record_understanding(
            public.message_id, public.case_id, {"intent": "complaint", "confidence": 0.97}
        )
        is None
    )
    handoff_id = _handoff(repository, public.case_id, public.message_id)
    open_id, queued = repository.finish_turn(public, "handled", [_reply(public, "Sorry! DM us")])
    assert open_id == handoff_id
    sent_at = utcnow() + timedelta(milliseconds=5)
    repository.mark_delivered(queued[0], "web-1", sent_at)
    repository.record_inbound(_message("d1", public=False, text="order 4839201"))

    packet = CaseworkRepository(repository.engine).packet(handoff_id)
    assert packet["customer"] == {
        "platform": "web",
        "id": "alice",
        "handle": "alice",
        "display_name": "Alice",
        "audience": 120,
    }
    assert [c["public"] for c in packet["conversations"]] == [True, False]
    assert [(m["direction"], m["where"], m["text"]) for m in packet["messages"]] == [
        ("in", "public", "my order never arrived"),
        ("out", "public", "Sorry! DM us"),
        ("in", "private", "order 4839201"),
    ]
    assert packet["messages"][0]["understood"] == {"intent": "complaint", "confidence": 0.97}
    stamps = packet["timestamps"]
    assert stamps["received"] <= stamps["acknowledged"]
    assert stamps["handed_off"] is not None
    assert packet["reason"] == "complaint" and packet["priority"] == 70


def _reply(recorded: Recorded, text: str) -> OutboundMessage:
    return OutboundMessage(
        platform="web",
        conversation_key="public:alice",
        public=True,
        text=text,
        recipient_id="alice",
        in_reply_to="m1",
    )


def test_a_refused_message_is_dead_with_its_reason(repository: Repository) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    queued = repository.queue_outbound(
        _reply(recorded, "hi"), conversation_id=recorded.conversation_id, author="bot", in_reply_to_id=None
    )
    repository.mark_dead(queued, "403 Forbidden: bot was blocked by the user")
    row = repository.messages_after(recorded.conversation_id)[-1]
    assert (row.status, row.error) == ("dead", "403 Forbidden: bot was blocked by the user")
    assert [r.id for r in repository.dead_letters()] == [queued.id]


def test_the_outbox_hands_out_due_messages_once(repository: Repository) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    _, queued = repository.finish_turn(
        recorded, "handled", [_reply(recorded, "one"), _reply(recorded, "two")]
    )
    # Held by this instance for the first attempt: nobody else may take them yet.
    assert repository.due_outbound() == []
    repository.mark_retry(queued[0], "503", utcnow() - timedelta(seconds=1))
    repository.mark_retry(queued[1], "503", utcnow() + timedelta(hours=1))
    due = repository.due_outbound()
    assert [(q.id, q.message.text, q.attempts) for q in due] == [(queued[0].id, "one", 1)]
    assert due[0].message.in_reply_to == "m1" and due[0].message.recipient_id == "alice"
    assert repository.due_outbound() == []  # claimed: a second instance gets nothing


def test_an_expired_lease_releases_a_message_and_a_turn(repository: Repository) -> None:
    repository.lease = timedelta(seconds=-1)  # every claim has already run out
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    turns = repository.unfinished_turns()
    assert [(t.recorded.message_id, t.message.text, t.attempts) for t in turns] == [
        (recorded.message_id, "my order never arrived", 2)
    ]
    assert turns[0].message.customer.display_name == "Alice"
    _, queued = repository.finish_turn(turns[0].recorded, "handled", [_reply(recorded, "hi")])
    assert repository.unfinished_turns() == []
    assert [q.id for q in repository.due_outbound()] == [queued[0].id]


def test_a_turn_taken_over_cannot_be_ended_or_renewed_by_the_instance_that_lost_it(
    repository: Repository,
) -> None:
    """The fence: the instance that stalled past its lease holds claim 1, the one that took the
    turn over holds claim 2; only claim 2 ends it, and claim 1 queues no reply."""
    repository.lease = timedelta(seconds=-1)
    stalled = repository.record_inbound(_message())
    assert stalled is not None and stalled.attempt == 1
    (taken,) = repository.unfinished_turns()
    assert taken.recorded.attempt == 2
    with pytest.raises(LeaseLost, match="claim 1"):
        repository.renew_turn(stalled)
    with pytest.raises(LeaseLost):
        repository.finish_turn(stalled, "handled", [_reply(stalled, "answer from the stalled instance")])
    repository.renew_turn(taken.recorded)
    repository.finish_turn(taken.recorded, "handled", [_reply(taken.recorded, "answer")])
    with pytest.raises(LeaseLost, match="handled"):
        repository.finish_turn(taken.recorded, "handled", [_reply(taken.recorded, "the same turn again")])
    outbound = [m.text for m in repository.messages_after(stalled.conversation_id) if m.direction == "out"]
    assert outbound == ["answer"]


def test_a_send_taken_over_is_neither_sent_nor_marked_by_the_instance_that_lost_it(
    repository: Repository,
) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    repository.lease = timedelta(seconds=-1)  # the first attempt's lease has run out at once
    _, (mine,) = repository.finish_turn(recorded, "handled", [_reply(recorded, "hi")])
    repository.lease = timedelta(seconds=30)
    (theirs,) = repository.due_outbound()
    assert theirs.id == mine.id and not repository.holds(mine) and repository.holds(theirs)
    assert not repository.mark_delivered(mine, "x-1", utcnow())
    assert not repository.mark_retry(mine, "503", utcnow())
    assert not repository.mark_dead(mine, "403")
    assert repository.mark_delivered(theirs, "x-2", utcnow())
    (row,) = [m for m in repository.messages_after(recorded.conversation_id) if m.direction == "out"]
    assert (row.status, row.sent_id) == ("sent", "x-2")


def test_sending_stamps_the_acknowledgement(repository: Repository) -> None:
    recorded = repository.record_inbound(_message())
    assert recorded is not None
    handoff_id = _handoff(repository, recorded.case_id, recorded.message_id)
    _, queued = repository.finish_turn(recorded, "handled", [_reply(recorded, "hi")])
    repository.mark_delivered(queued[0], "x-1", utcnow())
    assert CaseworkRepository(repository.engine).packet(handoff_id)["timestamps"]["acknowledged"] is not None


def test_a_concurrent_insert_is_retried_not_mistaken_for_a_duplicate(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = repository._record_inbound
    calls = []

    def racing(message: InboundMessage) -> object:
        calls.append(message.platform_message_id)
        if len(calls) == 1:
            # What a second instance creating the same conversation first looks like from here.
            raise IntegrityError("INSERT INTO conversations", {}, Exception("unique constraint"))
        return original(message)

    monkeypatch.setattr(repository, "_record_inbound", racing)
    recorded = repository.record_inbound(_message("race-1"))
    assert recorded is not None
    assert calls == ["race-1", "race-1"]
    assert _count(repository, MessageRow) == 1


def test_the_case_reads_in_the_order_firstline_got_it_not_by_platform_clocks(repository: Repository) -> None:
    """Platforms stamp coarse times (Telegram: whole seconds) and polls arrive late, so a later
    message can carry an earlier time than the reply before it."""
    public = repository.record_inbound(_message("p1"))
    assert public is not None
    handoff_id = _handoff(repository, public.case_id, public.message_id)
    repository.finish_turn(public, "handled", [_reply(public, "Sorry! DM us")])
    late = dataclasses.replace(
        _message("d1", public=False, text="order 4839201"),
        received_at=utcnow() - timedelta(seconds=5),
        join_token=CaseworkRepository(repository.engine).packet(handoff_id)["join_token"],
    )
    assert repository.record_inbound(late) is not None
    assert [m["text"] for m in CaseworkRepository(repository.engine).packet(handoff_id)["messages"]] == [
        "my order never arrived",
        "Sorry! DM us",
        "order 4839201",
    ]
