"""Delivery through the outbox: retries, dead letters, and exactly one answer across a crash.

The platform is the in-memory fake adapter, scripted to fail the way real platforms fail; the
store and the model are real.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.fake_adapter import FakeAdapter
from bot.errors import DeliveryFailed, PlatformUnavailable
from bot.messages import Customer, InboundMessage, OutboundMessage, utcnow
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.models import MessageRow

pytestmark = pytest.mark.model


def _message(n: int, text: str = "my parcel never arrived, 2 weeks now") -> InboundMessage:
    return InboundMessage(
        platform="fake",
        platform_message_id=f"m{n}",
        conversation_key=f"chat:{n}",
        public=False,
        customer=Customer(f"user{n}", handle=f"user{n}", display_name=f"User {n}"),
        text=text,
    )


def _build(settings: Settings, rasa: RasaRuntime, model: Path, fake: FakeAdapter) -> Service:
    return Service.build(settings, model, rasa=rasa, extra_adapters=[fake])


def _outbound(service: Service) -> list[MessageRow]:
    return [
        row
        for conversation in range(1, 50)
        for row in service.repository.messages_after(conversation)
        if row.direction == "out"
    ]


async def test_unavailable_then_working_delivers_exactly_once(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    fake = FakeAdapter()
    fake.fail_next(PlatformUnavailable("502 Bad Gateway"))
    service = _build(settings.copy(update={"send_backoff_seconds": 0.0}), rasa_runtime, model_path, fake)

    outcome = await service.gateway.receive(_message(1))
    assert [r.status for r in outcome.replies][:1] == ["pending"]
    assert outcome.replies[0].text not in [m.text for m in fake.sent]

    assert await service.outbox.tick() == 1
    assert await service.outbox.tick() == 0
    texts = Counter(m.text for m in fake.sent)
    assert texts[outcome.replies[0].text] == 1
    assert {row.status for row in _outbound(service)} == {"sent"}
    assert outcome.handoff_id is not None
    assert service.casework.packet(outcome.handoff_id)["timestamps"]["acknowledged"] is not None


async def test_a_rate_limit_waits_as_long_as_the_platform_asked(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    fake = FakeAdapter()
    fake.fail_next(PlatformUnavailable("429 Too Many Requests", retry_after=90))
    service = _build(settings, rasa_runtime, model_path, fake)
    before = utcnow()

    await service.gateway.receive(_message(1))
    [waiting] = [row for row in _outbound(service) if row.status == "pending"]
    assert waiting.error == "429 Too Many Requests"
    assert waiting.next_attempt_at >= before + timedelta(seconds=90)
    assert await service.outbox.tick() == 0  # not due yet: the platform is not hammered


async def test_a_refused_message_is_dead_lettered_and_can_be_retried(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    fake = FakeAdapter()
    fake.fail_next(DeliveryFailed("403 Forbidden: bot was blocked by the user"))
    service = _build(settings, rasa_runtime, model_path, fake)

    outcome = await service.gateway.receive(_message(1))
    first = outcome.replies[0]
    assert (first.status, first.error) == ("dead", "403 Forbidden: bot was blocked by the user")
    assert [row.id for row in service.repository.dead_letters()] == [first.id]
    assert await service.outbox.tick() == 0  # dead letters wait for a person

    retried = await service.delivery.retry(first.id)
    assert retried is not None and retried.status == "sent"
    assert service.repository.dead_letters() == []


async def test_a_platform_that_keeps_failing_ends_in_the_dead_letters(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    fake = FakeAdapter()
    fake.fail_next(*[PlatformUnavailable("timed out")] * 3)
    service = _build(
        settings.copy(update={"send_backoff_seconds": 0.0, "send_max_attempts": 3}),
        rasa_runtime,
        model_path,
        fake,
    )
    outcome = await service.gateway.receive(_message(1, "hello there"))
    assert outcome.replies[0].status == "pending"
    while await service.outbox.tick():
        pass
    [dead] = service.repository.dead_letters()
    assert dead.attempts == 3 and dead.error == "gave up after 3 attempts: timed out"
    assert fake.sent == []


async def test_after_a_crash_every_accepted_message_is_answered_exactly_once(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    """Instance A stops at three different moments; instance B, on the same store, finishes.

    1: stored, never read (A died right after accepting it).
    2: turn finished, replies queued, never sent (A died before calling the platform).
    3: answered completely before the crash.
    """
    settings = settings.copy(update={"turn_lease_seconds": 0.0})
    fake_a = FakeAdapter()
    first = _build(settings, rasa_runtime, model_path, fake_a)
    assert first.repository.record_inbound(_message(1)) is not None
    second = first.repository.record_inbound(_message(2))
    assert second is not None
    first.repository.finish_turn(
        second,
        "handled",
        [
            OutboundMessage("fake", "chat:2", False, "Sorry to hear that, we are on it.", "user2", "m2"),
        ],
    )
    await first.gateway.receive(_message(3))
    answered_before = len(fake_a.sent)
    assert answered_before >= 1
    first.repository.engine.dispose()

    fake_b = FakeAdapter()
    restarted = _build(settings, rasa_runtime, model_path, fake_b)
    while await restarted.outbox.tick():
        pass
    assert (await restarted.gateway.receive(_message(3))).status == "duplicate"

    per_chat = Counter(m.conversation_key for m in fake_b.sent)
    assert set(per_chat) == {"chat:1", "chat:2"}  # chat 3 was answered before the crash
    assert per_chat["chat:2"] == 1
    inbound = [
        row
        for conversation in (1, 2, 3)
        for row in restarted.repository.messages_after(conversation)
        if row.direction == "in"
    ]
    assert [row.status for row in inbound] == ["handled"] * 3
    assert {row.status for row in _outbound(restarted)} == {"sent"}
    # Nothing is sent again on later passes.
    assert await restarted.outbox.tick() == 0


async def test_a_message_taken_over_by_another_instance_is_not_sent_again_from_here(
    settings: Settings, rasa_runtime: RasaRuntime, model_path: Path
) -> None:
    """This instance queued a reply and then stalled past its lease; another instance took the
    reply over. When this one wakes, it must not send it too."""
    fake = FakeAdapter()
    service = _build(settings, rasa_runtime, model_path, fake)
    recorded = service.repository.record_inbound(_message(3))
    assert recorded is not None
    service.repository.lease = timedelta(seconds=-1)  # the claim below has run out at once
    _, (mine,) = service.repository.finish_turn(
        recorded, "handled", [OutboundMessage("fake", "chat:3", False, "Sorry about that!", "user3")]
    )
    service.repository.lease = timedelta(seconds=30)
    (theirs,) = service.repository.due_outbound()  # the other instance's claim

    stale = await service.delivery.attempt(mine)
    assert stale.status == "taken_over" and fake.sent == []
    assert (await service.delivery.attempt(theirs)).status == "sent"
    assert [m.text for m in fake.sent] == ["Sorry about that!"]
