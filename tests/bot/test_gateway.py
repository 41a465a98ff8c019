"""The gateway's side paths: what reaches the trainers' review inbox, and what skips the model."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.gateway import unstorable
from bot.messages import Customer, InboundMessage, utcnow
from bot.rasa_runtime import RasaRuntime
from bot.routing import AskRasa
from bot.service import Service
from bot.settings import Settings
from bot.store.models import MessageRow

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


# --- two instances, one store: fenced turns --------------------------------------------------------


@contextlib.contextmanager
def _two_instances(
    settings: Settings, model_path: Path, rasa: RasaRuntime
) -> Iterator[tuple[Service, Service, asyncio.Event]]:
    """Two instances on one store with a half-second turn lease, and the event that lets a
    stalled one (`_stall`) go on; it is set, and the stores closed, however the test ends."""
    settings = settings.copy(update={"turn_lease_seconds": 0.5})
    first, second = (Service.build(settings, model_path, rasa=rasa) for _ in range(2))
    resume = asyncio.Event()
    try:
        yield first, second, resume
    finally:
        resume.set()
        for service in (first, second):
            service.repository.engine.dispose()


def _stall(service: Service, resume: asyncio.Event) -> None:
    """Freezes `service` in the middle of its next turns until `resume` is set, heartbeat and
    all, as SIGSTOP would."""
    understand = service.gateway._understand

    async def stalled(message: InboundMessage) -> dict:
        await resume.wait()
        return await understand(message)

    service.gateway._understand = stalled  # type: ignore[method-assign]
    service.gateway.heartbeat = None


def _replies_to(service: Service, message: InboundMessage) -> list[str]:
    """Every reply queued to `message`, by any instance."""
    with service.repository._session() as session:
        asked = select(MessageRow.id).where(MessageRow.external_id == message.platform_message_id)
        rows = session.execute(select(MessageRow.text).where(MessageRow.in_reply_to_id.in_(asked)))
        return [row[0] for row in rows]


class _TrackerEnds:
    """An instance's Rasa runtime, with a record of how each turn settled its tracker."""

    def __init__(self, rasa: RasaRuntime) -> None:
        self.rasa = rasa
        self.ends: list[tuple[bool, bool]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rasa, name)

    async def end_turn(self, conversation_id: int, *, ended: bool, wait: bool) -> None:
        self.ends.append((ended, wait))
        await self.rasa.end_turn(conversation_id, ended=ended, wait=wait)


@pytest.mark.model
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_an_instance_frozen_past_its_lease_answers_nothing_when_it_wakes(
    request: pytest.FixtureRequest,
    settings: Settings,
    rasa_runtime: RasaRuntime,
    model_path: Path,
    store: str,
) -> None:
    if store == "postgres":
        settings = settings.copy(update={"database_url": request.getfixturevalue("postgres_url")})
    with _two_instances(settings, model_path, rasa_runtime) as (frozen, survivor, resume):
        _stall(frozen, resume)
        for service in (frozen, survivor):
            service.gateway.rasa = _TrackerEnds(service.gateway.rasa)  # type: ignore[assignment]
        message = _message(7, "my order never arrived and nobody answers")
        stuck = asyncio.create_task(frozen.gateway.receive(message))
        await asyncio.sleep(0.8)  # past the lease, with no heartbeat from the frozen instance
        assert await survivor.outbox.tick() >= 1  # it takes the turn over and answers
        answered = _replies_to(survivor, message)
        assert answered

        resume.set()
        late = await stuck
        assert late.status == "taken_over" and late.replies == ()
        assert _replies_to(survivor, message) == answered  # exactly one answer
        assert len(survivor.casework.handoffs("open")) == 1
        # Rasa's tracker keeps the turn once: the survivor's, written before it let the case go
        # where another instance could take the next turn; the frozen instance's is dropped.
        shared = store == "postgres"
        assert survivor.gateway.rasa.ends == [(True, shared)]  # type: ignore[attr-defined]
        assert frozen.gateway.rasa.ends == [(False, shared)]  # type: ignore[attr-defined]


class _StalledRasa:
    """Rasa's dialogue that answers only once `resume` is set: an instance frozen after the
    model read the message and the rule chose the bot, before the turn ended."""

    def __init__(self, rasa: RasaRuntime, resume: asyncio.Event) -> None:
        self.rasa, self.resume = rasa, resume

    async def respond(self, **turn: Any) -> list[dict[str, Any]]:
        await self.resume.wait()
        return await self.rasa.respond(**turn)


@pytest.mark.model
async def test_an_instance_frozen_before_its_hand_off_opens_none_when_it_wakes(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    with _two_instances(settings, model_path, rasa_runtime) as (frozen, survivor, resume):
        frozen.gateway.heartbeat = None
        ask_rasa = frozen.gateway.rules[-1]
        assert isinstance(ask_rasa, AskRasa)
        ask_rasa.rasa = _StalledRasa(rasa_runtime, resume)  # type: ignore[assignment]
        message = _message(10, "my order never arrived and nobody answers")
        stuck = asyncio.create_task(frozen.gateway.receive(message))
        await asyncio.sleep(0.8)
        assert await survivor.outbox.tick() >= 1
        (handoff,) = survivor.casework.handoffs("open")
        survivor.casework.close(handoff.id, "resolved", None)  # an agent settles it meanwhile
        resume.set()
        assert (await stuck).status == "taken_over"
        assert len(survivor.casework.handoffs(None)) == 1  # the woken instance opened no second one


@pytest.mark.model
@pytest.mark.parametrize("hung_after", [60.0, 1.0])
async def test_a_slow_turn_keeps_its_lease_until_it_looks_hung(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path, hung_after: float
) -> None:
    # A turn that never ends (say, waiting on a lock a killed instance held) used to renew its
    # lease for ever, and its message was never answered by anyone.
    with _two_instances(settings, model_path, rasa_runtime) as (slow, other, resume):
        _stall(slow, resume)
        slow.gateway.heartbeat, slow.gateway.hung_after = 0.1, hung_after  # slow: its heartbeat runs
        message = _message(8, "my order never arrived")
        turn = asyncio.create_task(slow.gateway.receive(message))
        await asyncio.sleep(0.8)
        assert await other.outbox.tick() == 0  # the lease was renewed: nothing to take over
        await asyncio.sleep(1.2)  # past a `hung_after` of 1 s and the lease after it
        if hung_after > 2:
            assert await other.outbox.tick() == 0
            resume.set()
            outcome = await turn
            assert outcome.status == "answered" and outcome.replies
            return
        assert await other.outbox.tick() >= 1
        answered = _replies_to(other, message)
        assert answered
        resume.set()
        assert (await turn).status == "taken_over"
        assert _replies_to(other, message) == answered


# --- no action loops ------------------------------------------------------------------------------

CONVERSATIONS = [
    ["hi"],
    ["bye"],
    ["I want to talk to a human"],
    ["you are all idiots"],
    ["¿dónde está mi pedido? llevo dos semanas esperando"],
    ["asdf qwer zxcv"],
    ["what are your opening hours?", "and on sundays?"],
    ["what's the capital of France?"],
    ["can I pay with bitcoin?", "hello?"],
    ["where is my order?", "I have. Please check."],
    ["my parcel never arrived", "ok thanks"],
    ["hello", "what's your refund policy?", "thanks", "bye"],
    ["lol", "you guys are great"],
]


@pytest.mark.model
@pytest.mark.parametrize("public", [True, False], ids=["public", "private"])
async def test_no_message_kind_makes_rasa_loop_on_actions(
    service: Service, public: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Each turn runs its actions once and listens. Rasa stops a turn that keeps predicting
    actions (its circuit breaker) and logs it; a hand-off run nine times was seen that way."""
    caplog.set_level(logging.WARNING, logger="rasa.core.processor")
    for n, texts in enumerate(CONVERSATIONS):
        for m, text in enumerate(texts):
            message = dataclasses.replace(
                _message(100 * n + m, text),
                public=public,
                conversation_key=f"{public}:{n}",
                customer=Customer(f"c{n}"),
            )
            await service.gateway.receive(message)
    for kind in ("sticker", "voice"):
        await service.gateway.receive(_message(9000 + len(kind), f"[{kind}]", kind=kind))
    assert "Circuit breaker" not in caplog.text


# --- order per case across instances --------------------------------------------------------------


@pytest.fixture
def two_on_postgres(
    settings: Settings, postgres_url: str, rasa_runtime: RasaRuntime, model_path: Path
) -> Iterator[tuple[Service, Service]]:
    """Two instances on one PostgreSQL store, as two processes would be."""
    shared = settings.copy(update={"database_url": postgres_url})
    both = (
        Service.build(shared, model_path, rasa=rasa_runtime),
        Service.build(shared, model_path, rasa=rasa_runtime),
    )
    yield both
    for service in both:
        service.repository.engine.dispose()


def _in_case(n: int, text: str) -> InboundMessage:
    return dataclasses.replace(
        _message(n, text), conversation_key="private:alice", customer=Customer("alice")
    )


@pytest.mark.model
async def test_a_message_a_dead_instance_left_is_answered_before_the_customer_s_next_one(
    two_on_postgres: tuple[Service, Service],
) -> None:
    dead, alive = two_on_postgres
    first, second = _in_case(21, "hi there"), _in_case(22, "thanks so much, you are great")
    assert dead.repository.record_inbound(first) is not None  # stored; then the instance died
    outcome = await alive.gateway.receive(second)
    assert outcome.status == "answered"
    with alive.repository._session() as session:
        rows = session.execute(
            select(
                MessageRow.id, MessageRow.external_id, MessageRow.in_reply_to_id, MessageRow.status
            ).order_by(MessageRow.id)
        ).all()
    asked = {row.id: row.external_id for row in rows if row.external_id}
    answered_in_order = [asked[row.in_reply_to_id] for row in rows if row.in_reply_to_id]
    assert answered_in_order[0] == first.platform_message_id  # the first message first
    assert answered_in_order[-1] == second.platform_message_id
    assert {row.status for row in rows if row.external_id} == {"handled"}


@pytest.mark.model
async def test_the_retry_of_a_message_a_dead_instance_left_is_answered_at_once(
    two_on_postgres: tuple[Service, Service],
) -> None:
    dead, alive = two_on_postgres
    message = _in_case(31, "hi there")
    assert dead.repository.record_inbound(message) is not None
    retried = await alive.gateway.receive(message)  # the customer sent it again
    assert retried.status == "answered" and retried.replies
    assert (await alive.gateway.receive(message)).status == "duplicate"  # answered now: a repeat


@pytest.mark.model
async def test_a_case_s_turns_wait_for_each_other_across_instances(
    two_on_postgres: tuple[Service, Service],
) -> None:
    slow, other = two_on_postgres
    resume = asyncio.Event()
    _stall(slow, resume)
    slow.gateway.heartbeat = 1.0
    try:
        first = asyncio.create_task(slow.gateway.receive(_in_case(41, "hi there")))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(other.gateway.receive(_in_case(42, "thanks so much, you are great")))
        await asyncio.sleep(0.5)
        assert not second.done()  # the other instance waits for the case's lock
        resume.set()
        answered = [await first, await second]
        assert [o.status for o in answered] == ["answered", "answered"]
        assert answered[0].replies[-1].id < answered[1].replies[0].id  # in the order written
    finally:
        resume.set()
