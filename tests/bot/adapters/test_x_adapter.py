"""The X adapter against a fake X API v2 on 127.0.0.1, driven by the real tweepy client.

Unit tests feed X's recorded payload shapes to `parse`; the rest talk to the fake over HTTP, and
the end-to-end tests run the whole service with the real model behind the adapter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.adapters.x_adapter import DM_CURSOR, MENTIONS_CURSOR, REPLY_LOOP_LIMIT, XAdapter
from bot.adapters.x_client import DEFAULT_PAUSE
from bot.app import create_app
from bot.errors import DeliveryFailed, InvalidMessage, PlatformUnavailable, SettingsError
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.text_limits import measure
from bot.x_costs import Charge
from tests.fakes.x_api import AccountActivitySender, FakeClock, FakeXApi

BRAND_ID = "1000"

# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_x(clock: FakeClock) -> Iterator[FakeXApi]:
    fake = FakeXApi(clock=clock).start()
    yield fake
    fake.stop()


def _x_settings(settings: Settings, fake: FakeXApi, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "x_bearer_token": SecretStr(fake.bearer_token),
        "x_consumer_key": SecretStr(fake.consumer_key),
        "x_consumer_secret": SecretStr(fake.consumer_secret),
        "x_access_token": SecretStr(fake.access_token),
        "x_access_token_secret": SecretStr(fake.access_token_secret),
        "x_api_url": fake.url,
        "x_poll_seconds": 15.0,
    }
    return settings.copy(update={**values, **overrides})


@pytest.fixture
def x_settings(settings: Settings, fake_x: FakeXApi) -> Settings:
    return _x_settings(settings, fake_x)


@pytest.fixture
def adapter(x_settings: Settings, clock: FakeClock) -> Iterator[XAdapter]:
    built = XAdapter.from_settings(x_settings)
    assert built is not None
    built.api.clock = clock
    yield built
    built.api.close()


class MemoryInbox:
    """An inbox that keeps what it receives: enough for the adapter's own behaviour."""

    def __init__(self) -> None:
        self.received: list[InboundMessage] = []
        self.cursors: dict[str, str] = {}
        self.unreadable: list[tuple[str | None, str]] = []

    async def receive(self, message: InboundMessage) -> None:
        self.received.append(message)

    def cursor(self, name: str) -> str | None:
        return self.cursors.get(name)

    def save_cursor(self, name: str, value: str) -> None:
        self.cursors[name] = value

    def lead(self, role: str, seconds: float) -> bool:
        return True  # one instance: it always leads

    def keep_unreadable(self, platform: str, external_id: str | None, raw: Any, error: str) -> None:
        self.unreadable.append((external_id, error))


def _service(x_settings: Settings, rasa: RasaRuntime, model: Path, clock: FakeClock) -> Service:
    service = Service.build(x_settings, model, rasa=rasa)
    service.adapters["x"].api.clock = clock  # type: ignore[attr-defined]
    return service


@pytest.fixture
async def x_service(
    x_settings: Settings, rasa_runtime: RasaRuntime, model_path: Path, clock: FakeClock
) -> AsyncIterator[Service]:
    service = _service(x_settings, rasa_runtime, model_path, clock)
    await _x(service).connect()
    yield service
    await service.stop()


def _x(service: Service) -> XAdapter:
    adapter = service.adapters["x"]
    assert isinstance(adapter, XAdapter)
    return adapter


# --- recorded payloads -----------------------------------------------------------------------------

MENTION = {
    "data": {
        "id": "1790000000000000100",
        "text": "@kestrel my parcel never arrived and nobody answers 😡",
        "edit_history_tweet_ids": ["1790000000000000100"],
        "author_id": "2244994945",
        "conversation_id": "1790000000000000050",
        "created_at": "2024-05-01T09:30:00.000Z",
        "referenced_tweets": [{"type": "replied_to", "id": "1790000000000000050"}],
        "public_metrics": {"retweet_count": 4, "reply_count": 2, "like_count": 10, "quote_count": 1},
    },
    "includes": {
        "users": [
            {
                "id": "2244994945",
                "name": "Alice Martin",
                "username": "alice",
                "public_metrics": {"followers_count": 12000, "following_count": 3},
            }
        ]
    },
}

DM_EVENT = {
    "data": {
        "id": "1790000000000000200",
        "event_type": "MessageCreate",
        "text": "ref AbC-12_xyZ90 my order is 12345",
        "sender_id": "2244994945",
        "dm_conversation_id": "1000-2244994945",
        "created_at": "2024-05-01T09:35:00.000Z",
    },
    "includes": {"users": [{"id": "2244994945", "name": "Alice Martin", "username": "alice"}]},
}


def _with(payload: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {**payload, "data": {**payload["data"], **data}}


# --- parse ---------------------------------------------------------------------------------------


def test_parses_a_mention_into_its_thread_with_audience_and_engagement(adapter: XAdapter) -> None:
    adapter.brand_id = BRAND_ID
    message = adapter.parse(MENTION)
    assert message is not None
    assert (message.platform, message.public) == ("x", True)
    assert message.conversation_key == "thread:1790000000000000050"
    assert message.platform_message_id == "1790000000000000100"
    assert message.customer == Customer("2244994945", "alice", "Alice Martin", 12000)
    assert message.engagement == 17
    assert message.url == "https://twitter.com/alice/status/1790000000000000100"
    assert message.received_at.isoformat() == "2024-05-01T09:30:00+00:00"


@pytest.mark.parametrize(
    "payload",
    [
        _with(MENTION, author_id=BRAND_ID),
        _with(MENTION, referenced_tweets=[{"type": "retweeted", "id": "1790000000000000050"}]),
    ],
    ids=["brand's own tweet", "retweet"],
)
def test_never_answers_the_brand_itself_or_a_retweet(adapter: XAdapter, payload: dict[str, Any]) -> None:
    adapter.brand_id = BRAND_ID
    assert adapter.parse(payload) is None


def test_parses_a_dm_with_the_case_token_from_the_invitation(adapter: XAdapter) -> None:
    adapter.brand_id = BRAND_ID
    message = adapter.parse(DM_EVENT)
    assert message is not None
    assert (message.conversation_key, message.public) == ("dm:2244994945", False)
    assert message.join_token == "AbC-12_xyZ90"
    assert adapter.parse(_with(DM_EVENT, text="no token here")).join_token is None  # type: ignore[union-attr]


def test_dm_edge_cases(adapter: XAdapter) -> None:
    adapter.brand_id = BRAND_ID
    assert adapter.parse(_with(DM_EVENT, sender_id=BRAND_ID)) is None
    assert adapter.parse(_with(DM_EVENT, event_type="ParticipantsJoin")) is None
    media = adapter.parse(_with(DM_EVENT, text="", attachments={"media_keys": ["3_1"]}))
    assert media is not None and (media.kind, media.text) == ("media", "[media]")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ([], "'data' object"),
        ({"data": "x"}, "'data' object"),
        (_with(MENTION, id=17), "numeric string 'id'"),
        (_with(MENTION, id="abc"), "numeric string 'id'"),
        ({"data": {"id": "1", "text": "hi"}}, "no author_id"),
        ({"data": {"id": "1", "author_id": "2"}}, "no text"),
        ({"data": {"id": "1", "event_type": "MessageCreate", "text": "hi"}}, "no sender_id"),
        ({"data": {"id": "1", "event_type": "MessageCreate", "sender_id": "2"}}, "neither text"),
    ],
)
def test_refuses_malformed_events(adapter: XAdapter, payload: Any, error: str) -> None:
    with pytest.raises(InvalidMessage, match=error):
        adapter.parse(payload)


# --- settings and start-up -------------------------------------------------------------------------


def test_not_configured_without_x_keys(settings: Settings) -> None:
    assert XAdapter.from_settings(settings) is None


def test_some_keys_missing_says_which(
    settings: Settings, fake_x: FakeXApi, caplog: pytest.LogCaptureFixture
) -> None:
    partial = _x_settings(settings, fake_x, x_access_token=None, x_access_token_secret=None)
    with caplog.at_level(logging.WARNING, logger="bot.adapters.x_adapter"):
        assert XAdapter.from_settings(partial) is None
    assert "FIRSTLINE_X_ACCESS_TOKEN, FIRSTLINE_X_ACCESS_TOKEN_SECRET not set" in caplog.text


async def test_connect_learns_the_brand_account(adapter: XAdapter) -> None:
    assert adapter.dm_link(Customer("1"), "tok") is None
    await adapter.connect()
    assert (adapter.brand_id, adapter.brand_handle) == (BRAND_ID, "kestrel")


async def test_a_bad_token_is_one_clear_line(
    settings: Settings, fake_x: FakeXApi, caplog: pytest.LogCaptureFixture
) -> None:
    bad = XAdapter.from_settings(_x_settings(settings, fake_x, x_access_token=SecretStr("1000-revoked")))
    assert bad is not None
    with pytest.raises(SettingsError, match=r"X refused the credentials \(X refused me: 401 Unauthorized"):
        await bad.connect()
    with caplog.at_level(logging.INFO, logger="bot.adapters.x_adapter"):
        await bad.start(MemoryInbox())
        assert bad._task is not None
        await bad._task
    records = [r for r in caplog.records if r.name == "bot.adapters.x_adapter"]
    assert [(r.levelname, r.exc_info) for r in records] == [("ERROR", None)]
    assert "not started: X refused the credentials" in records[0].getMessage()
    await bad.stop()


# --- sending -------------------------------------------------------------------------------------


def _reply(to: dict[str, Any], text: str, user: dict[str, Any]) -> OutboundMessage:
    return OutboundMessage(
        "x", f"thread:{to['conversation_id']}", True, text, recipient_id=user["id"], in_reply_to=to["id"]
    )


async def test_public_reply_goes_into_the_thread_with_the_handle_and_fits(
    adapter: XAdapter, fake_x: FakeXApi
) -> None:
    await adapter.connect()
    alice = fake_x.add_user("Alice", username="alice_in_a_very_long_wonderland"[:15])
    tweet = fake_x.post_tweet(alice, "@kestrel where is my order")
    long_text = "We are so sorry about this. " * 12 + "https://twitter.com/messages/compose?recipient_id=1000"
    sent_id = await adapter.send(_reply(tweet, long_text, alice))
    sent = fake_x.tweets[sent_id]
    assert sent["referenced_tweets"] == [{"type": "replied_to", "id": tweet["id"]}]
    assert sent["conversation_id"] == tweet["conversation_id"]
    assert sent["text"].startswith(f"@{alice['username']} We are so sorry")
    assert measure(sent["text"], "x") <= 280
    assert sent["text"].endswith("…")


def test_reply_budget_leaves_room_for_the_handle(adapter: XAdapter) -> None:
    adapter.brand_id = BRAND_ID
    mention = adapter.parse(MENTION)
    dm = adapter.parse(DM_EVENT)
    assert mention is not None and dm is not None
    assert adapter.reply_budget(mention) == 280 - len("@alice ")
    assert adapter.reply_budget(dm) == 10_000


async def test_dm_reply_is_a_direct_message(adapter: XAdapter, fake_x: FakeXApi) -> None:
    await adapter.connect()
    alice = fake_x.add_user("Alice")
    event_id = await adapter.send(
        OutboundMessage("x", f"dm:{alice['id']}", False, "Hello Alice", alice["id"])
    )
    assert [e["id"] for e in fake_x.dms_to(alice["id"])] == [event_id]


@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [
        (429, PlatformUnavailable, 120.0),
        (500, PlatformUnavailable, None),
        (503, PlatformUnavailable, None),
        (400, DeliveryFailed, None),
        (403, DeliveryFailed, None),
    ],
)
async def test_send_errors_are_classified(
    adapter: XAdapter, fake_x: FakeXApi, status: int, error: type[Exception], retry_after: float | None
) -> None:
    await adapter.connect()
    alice = fake_x.add_user("Alice")
    tweet = fake_x.post_tweet(alice, "@kestrel hello")
    fake_x.fail_next("create_tweet", status, reset_in=120 if status == 429 else None)
    with pytest.raises(error) as raised:
        await adapter.send(_reply(tweet, "Thanks!", alice))
    if error is PlatformUnavailable:
        assert raised.value.retry_after == retry_after  # type: ignore[attr-defined]
    else:
        assert not isinstance(raised.value, PlatformUnavailable)


async def test_after_a_429_sends_wait_for_the_reset_without_calling_x(
    adapter: XAdapter, fake_x: FakeXApi, clock: FakeClock
) -> None:
    await adapter.connect()
    alice = fake_x.add_user("Alice")
    tweet = fake_x.post_tweet(alice, "@kestrel hello")
    fake_x.fail_next("create_tweet", 429, reset_in=60)
    with pytest.raises(PlatformUnavailable):
        await adapter.send(_reply(tweet, "Thanks!", alice))
    clock.advance(20)
    with pytest.raises(PlatformUnavailable) as waiting:
        await adapter.send(_reply(tweet, "Thanks!", alice))
    assert waiting.value.retry_after == 40
    assert len(fake_x.requests_to("create_tweet")) == 1
    clock.advance(41)
    assert await adapter.send(_reply(tweet, "Thanks!", alice)) in fake_x.tweets


async def test_a_429_without_a_reset_time_still_pauses(adapter: XAdapter, fake_x: FakeXApi) -> None:
    await adapter.connect()
    alice = fake_x.add_user("Alice")
    fake_x.fail_next("send_dm", 429)
    with pytest.raises(PlatformUnavailable) as raised:
        await adapter.send(OutboundMessage("x", f"dm:{alice['id']}", False, "Hi", alice["id"]))
    assert raised.value.retry_after == DEFAULT_PAUSE


async def test_a_dm_to_someone_who_does_not_accept_them_fails_for_good(
    adapter: XAdapter, fake_x: FakeXApi
) -> None:
    await adapter.connect()
    alice = fake_x.add_user("Alice")
    fake_x.closed_dms.add(alice["id"])
    with pytest.raises(DeliveryFailed, match="403"):
        await adapter.send(OutboundMessage("x", f"dm:{alice['id']}", False, "Hi", alice["id"]))


async def test_x_unreachable_is_retryable(settings: Settings, fake_x: FakeXApi) -> None:
    unreachable = XAdapter.from_settings(_x_settings(settings, fake_x))
    assert unreachable is not None
    fake_x.stop()
    with pytest.raises(PlatformUnavailable, match="could not be reached"):
        await unreachable.connect()
    unreachable.api.close()


async def test_reply_loop_guard(adapter: XAdapter, fake_x: FakeXApi, clock: FakeClock) -> None:
    await adapter.connect()
    other_bot = fake_x.add_user("Helpful Bot")
    tweet = fake_x.post_tweet(other_bot, "@kestrel thanks for reaching out!")
    for n in range(REPLY_LOOP_LIMIT):
        await adapter.send(_reply(tweet, f"Thank you {n}!", other_bot))
    with pytest.raises(DeliveryFailed, match="reply-loop guard"):
        await adapter.send(_reply(tweet, "Thank you again!", other_bot))
    # A person answering is never held back by the guard, nor counted by it.
    await adapter.send(
        dataclasses.replace(_reply(tweet, "Hi, Sam from Kestrel here.", other_bot), author="agent")
    )
    clock.advance(601)
    await adapter.send(_reply(tweet, "Thank you, later!", other_bot))


# --- polling ---------------------------------------------------------------------------------------


async def test_polling_reads_mentions_oldest_first_across_pages(adapter: XAdapter, fake_x: FakeXApi) -> None:
    inbox = MemoryInbox()
    alice = fake_x.add_user("Alice")
    fake_x.post_tweet(alice, "@kestrel first")
    await adapter.poll_once(inbox)
    fake_x.page_size = 2
    texts = [f"@kestrel number {n}" for n in range(5)]
    for text in texts:
        fake_x.post_tweet(alice, text)
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["@kestrel first", *texts]
    assert inbox.cursors[MENTIONS_CURSOR] == inbox.received[-1].platform_message_id
    assert len(fake_x.requests_to("mentions")) == 1 + 3


async def test_a_rate_limit_halfway_through_the_pages_processes_nothing(
    adapter: XAdapter, fake_x: FakeXApi, clock: FakeClock
) -> None:
    inbox = MemoryInbox()
    alice = fake_x.add_user("Alice")
    fake_x.post_tweet(alice, "@kestrel first")
    await adapter.poll_once(inbox)
    fake_x.page_size = 2
    for n in range(4):
        fake_x.post_tweet(alice, f"@kestrel number {n}")
    fake_x.set_remaining("mentions", 1, reset_in=300)
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["@kestrel first"]
    clock.advance(301)
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received][1:] == [f"@kestrel number {n}" for n in range(4)]


async def test_polling_rests_while_the_window_is_spent(
    adapter: XAdapter, fake_x: FakeXApi, clock: FakeClock
) -> None:
    inbox = MemoryInbox()
    fake_x.set_remaining("mentions", 1, reset_in=120)
    await adapter.poll_once(inbox)
    assert adapter.api.limits.window("mentions")[1] == 0
    await adapter.poll_once(inbox)
    clock.advance(100)
    await adapter.poll_once(inbox)
    assert len(fake_x.requests_to("mentions")) == 1
    assert len(fake_x.requests_to("dm_events")) == 3
    assert adapter.next_poll_delay() == 15.0
    fake_x.set_remaining("dm_events", 1, reset_in=600)
    await adapter.poll_once(inbox)
    assert adapter.next_poll_delay() == 20.0, "both endpoints rest: sleep until the first reset"
    clock.advance(21)
    await adapter.poll_once(inbox)
    assert len(fake_x.requests_to("mentions")) == 2
    assert len(fake_x.requests_to("dm_events")) == 4


async def test_a_429_while_polling_waits_for_the_reset(
    adapter: XAdapter, fake_x: FakeXApi, clock: FakeClock
) -> None:
    inbox = MemoryInbox()
    alice = fake_x.add_user("Alice")
    fake_x.post_tweet(alice, "@kestrel hello")
    fake_x.fail_next("mentions", 429, reset_in=200)
    await adapter.poll_once(inbox)
    assert inbox.received == [] and MENTIONS_CURSOR not in inbox.cursors
    clock.advance(150)
    await adapter.poll_once(inbox)
    assert len(fake_x.requests_to("mentions")) == 1
    clock.advance(51)
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["@kestrel hello"]


async def test_server_errors_back_off_then_recover(
    adapter: XAdapter, fake_x: FakeXApi, clock: FakeClock
) -> None:
    inbox = MemoryInbox()
    alice = fake_x.add_user("Alice")
    fake_x.send_dm(alice, "hello?")
    fake_x.fail_next("dm_events", 503)
    fake_x.fail_next("dm_events", 500)
    await adapter.poll_once(inbox)
    clock.advance(15)
    await adapter.poll_once(inbox)
    clock.advance(15)
    await adapter.poll_once(inbox)
    assert len(fake_x.requests_to("dm_events")) == 2, "the second failure doubles the pause"
    clock.advance(15)
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["hello?"]
    assert inbox.cursors[DM_CURSOR] == inbox.received[0].platform_message_id


async def test_dm_polling_skips_what_it_has_read_and_the_brand_s_own(
    adapter: XAdapter, fake_x: FakeXApi
) -> None:
    inbox = MemoryInbox()
    alice = fake_x.add_user("Alice")
    fake_x.send_dm(alice, "one")
    await adapter.poll_once(inbox)
    fake_x.send_dm(fake_x.brand, "our answer", recipient_id=alice["id"])
    fake_x.send_dm(alice, "two")
    await adapter.poll_once(inbox)
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["one", "two"]


# --- end to end, through the service with the real model ------------------------------------------


def _inbound_ids(service: Service) -> set[str]:
    from sqlalchemy import select

    from bot.store.models import MessageRow

    with service.repository._session() as session:
        rows = session.execute(
            select(MessageRow.external_id).where(MessageRow.direction == "in", MessageRow.platform == "x")
        )
        return {row[0] for row in rows}


@pytest.mark.model
@pytest.mark.parametrize("handed_back", [False, True], ids=["handoff open", "handed back: by the token"])
async def test_mention_reply_dm_link_and_dm_join_the_same_case(
    x_service: Service, fake_x: FakeXApi, handed_back: bool
) -> None:
    adapter = _x(x_service)
    alice = fake_x.add_user("Alice Martin", username="alice", followers=12_000)
    complaint = fake_x.post_tweet(alice, "@kestrel my order never arrived and nobody answers, really angry")
    await adapter.poll_once(x_service)

    (reply,) = fake_x.replies_to(complaint["id"])
    assert reply["author_id"] == BRAND_ID
    assert reply["conversation_id"] == complaint["conversation_id"]
    assert reply["text"].startswith("@alice ")
    assert measure(reply["text"], "x") <= 280
    link = next(word for word in reply["text"].split() if word.startswith("https://twitter.com/messages/"))
    query = parse_qs(urlsplit(link).query)
    assert query["recipient_id"] == [BRAND_ID]

    (handoff,) = x_service.casework.handoffs("open")
    if handed_back:
        # Without an open handoff only the token in the prefilled DM text can join the case.
        x_service.casework.close(handoff.id, "handed_back", None, override=True)
    fake_x.send_dm(alice, query["text"][0] + "my order number is 55123")
    await adapter.poll_once(x_service)

    packet = x_service.casework.packet(handoff.id)
    assert {(c["key"], c["public"]) for c in packet["conversations"]} == {
        (f"thread:{complaint['conversation_id']}", True),
        (f"dm:{alice['id']}", False),
    }
    inbound = [m["text"] for m in packet["messages"] if m["direction"] == "in"]
    assert inbound[0] == complaint["text"] and inbound[-1].endswith("my order number is 55123")
    assert packet["customer"]["audience"] == 12_000


@pytest.mark.model
async def test_brand_tweets_and_retweets_get_no_reply(x_service: Service, fake_x: FakeXApi) -> None:
    adapter = _x(x_service)
    bob = fake_x.add_user("Bob")
    own = fake_x.post_tweet(fake_x.brand, "@kestrel news: our spring sale starts today!")
    original = fake_x.post_tweet(bob, "@kestrel your support is great, thank you")
    retweet = fake_x.post_tweet(bob, f"RT @bob: {original['text']}", retweet_of=original["id"])
    await adapter.poll_once(x_service)
    assert _inbound_ids(x_service) == {original["id"]}
    assert fake_x.replies_to(own["id"]) == [] and fake_x.replies_to(retweet["id"]) == []
    assert len(fake_x.replies_to(original["id"])) == 1
    assert x_service.cursor(MENTIONS_CURSOR) == retweet["id"]


@pytest.mark.model
async def test_since_id_survives_a_restart_without_repeats_or_gaps(
    x_settings: Settings, rasa_runtime: RasaRuntime, model_path: Path, fake_x: FakeXApi, clock: FakeClock
) -> None:
    first = fake_x.post_tweet(fake_x.add_user("Alice"), "@kestrel what are your opening hours?")
    service = _service(x_settings, rasa_runtime, model_path, clock)
    await _x(service).poll_once(service)
    await service.stop()

    # Three customers: X refuses the same text twice from one account, as a bot answering one
    # customer's three identical questions would find out.
    later = [
        fake_x.post_tweet(fake_x.add_user(name), "@kestrel do you ship to Norway?")
        for name in ("Bo", "Cy", "Di")
    ]
    restarted = _service(x_settings, rasa_runtime, model_path, clock)
    await _x(restarted).poll_once(restarted)
    await _x(restarted).poll_once(restarted)
    await restarted.stop()

    since_ids = [seen.query.get("since_id") for seen in fake_x.requests_to("mentions")]
    assert since_ids == [None, first["id"], later[-1]["id"]]
    assert _inbound_ids(restarted) == {first["id"], *(t["id"] for t in later)}
    for tweet in [first, *later]:
        assert len(fake_x.replies_to(tweet["id"])) == 1


@pytest.fixture
async def webhook(x_service: Service, fake_x: FakeXApi) -> AsyncIterator[AccountActivitySender]:
    transport = httpx.ASGITransport(app=create_app(x_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://firstline.test") as http:
        yield AccountActivitySender(http, fake_x.consumer_secret)


@pytest.mark.model
async def test_webhook_answers_the_crc_challenge(webhook: AccountActivitySender) -> None:
    assert await webhook.crc_check("a-token-from-x")
    missing = await webhook.http.get("/webhooks/x")
    assert missing.status_code == 400


@pytest.mark.model
async def test_the_crc_challenge_cannot_be_used_to_sign_a_forged_event(
    webhook: AccountActivitySender, x_service: Service, fake_x: FakeXApi
) -> None:
    """The probe of issue 12: ask the CRC endpoint to sign a made-up event, then post it."""
    victim = fake_x.add_user("Famous", followers=6_000_000)
    forged = {
        "for_user_id": fake_x.brand["id"],
        "direct_message_events": [
            {
                "type": "message_create",
                "id": "1790000000000099999",
                "created_timestamp": "1700000000000",
                "message_create": {
                    "target": {"recipient_id": fake_x.brand["id"]},
                    "sender_id": victim["id"],
                    "message_data": {"text": "this is a scam, I want a refund now", "entities": {}},
                },
            }
        ],
        "users": {victim["id"]: {"id": victim["id"], "screen_name": "famous", "followers_count": 6_000_000}},
    }
    body = json.dumps(forged, separators=(",", ":"))
    crc = await webhook.http.get("/webhooks/x", params={"crc_token": body})
    assert crc.status_code == 400
    assert "response_token" not in crc.json()

    # Even with whatever the endpoint answered as the signature, the event is refused.
    signature = crc.json().get("response_token", "")
    answer = await webhook.http.post(
        "/webhooks/x",
        content=body.encode(),
        headers={"content-type": "application/json", "x-twitter-webhooks-signature": signature},
    )
    assert answer.status_code == 403
    assert _inbound_ids(x_service) == set()
    assert fake_x.dms_to(victim["id"]) == []


@pytest.mark.model
@pytest.mark.parametrize("signature", ["sha256=Zm9yZ2VkIHNpZ25hdHVyZQ==", ""], ids=["forged", "missing"])
async def test_webhook_refuses_unsigned_events(
    webhook: AccountActivitySender, x_service: Service, fake_x: FakeXApi, signature: str
) -> None:
    alice = fake_x.add_user("Alice")
    event = fake_x.send_dm(alice, "my order never arrived")
    answer = await webhook.deliver(fake_x.activity_for_dm(event["id"]), signature=signature)
    assert answer.status_code == 403
    assert _inbound_ids(x_service) == set()
    assert fake_x.dms_to(alice["id"]) == []


@pytest.mark.model
async def test_webhook_delivers_dms_and_mentions(
    webhook: AccountActivitySender, x_service: Service, fake_x: FakeXApi
) -> None:
    alice = fake_x.add_user("Alice", followers=300)
    event = fake_x.send_dm(alice, "hello, what are your opening hours?")
    assert (await webhook.deliver(fake_x.activity_for_dm(event["id"]))).status_code == 200
    assert len(fake_x.dms_to(alice["id"])) >= 1

    reply_to_us = fake_x.post_tweet(alice, "@kestrel my parcel arrived broken")
    answer = await webhook.deliver(fake_x.activity_for_tweet(reply_to_us["id"]))
    assert answer.status_code == 200
    assert len(fake_x.replies_to(reply_to_us["id"])) == 1
    assert _inbound_ids(x_service) == {event["id"], reply_to_us["id"]}

    # The same tweet found again by polling is a repeat: no second reply.
    await _x(x_service).poll_once(x_service)
    assert len(fake_x.replies_to(reply_to_us["id"])) == 1


@pytest.mark.model
async def test_webhook_events_with_wrong_types_are_skipped_not_a_server_error(
    webhook: AccountActivitySender, x_service: Service, fake_x: FakeXApi
) -> None:
    """The typed probes of issue 12 (finding 11), correctly signed: a logged skip, never a 5xx."""
    brand, alice = fake_x.brand["id"], fake_x.add_user("Alice")
    dm = {
        "type": "message_create",
        "id": "1790000000000000777",
        "message_create": {"sender_id": alice["id"], "message_data": {"text": "hello"}},
    }
    payloads = [
        {"for_user_id": brand, "direct_message_events": 5},
        {"for_user_id": brand, "tweet_create_events": [{"id_str": "7", "entities": "x"}]},
        {"for_user_id": brand, "users": [], "direct_message_events": [{**dm, "created_timestamp": "9" * 30}]},
        {
            "for_user_id": brand,
            "direct_message_events": [{**dm, "id": "1790000000000000778", "created_timestamp": "²"}],
        },
    ]
    for payload in payloads:
        answer = await webhook.deliver(payload)
        assert answer.status_code < 500, payload
    # The DMs themselves were fine: only their timestamp was not, and it is not needed.
    assert _inbound_ids(x_service) == {"1790000000000000777", "1790000000000000778"}


@pytest.mark.model
async def test_webhook_refuses_bad_json_after_checking_the_signature(
    webhook: AccountActivitySender, fake_x: FakeXApi
) -> None:
    from tests.fakes.x_api import x_signature

    body = b"{not json"
    answer = await webhook.http.post(
        "/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": x_signature("cs", body)}
    )
    assert answer.status_code == 403
    signed = x_signature(fake_x.consumer_secret, body)
    answer = await webhook.http.post(
        "/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": signed}
    )
    assert answer.status_code == 400


async def test_the_poll_loop_connects_polls_and_sleeps_until_stopped(
    adapter: XAdapter, fake_x: FakeXApi, caplog: pytest.LogCaptureFixture
) -> None:
    slept: list[float] = []
    twice = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            twice.set()
            await asyncio.Event().wait()  # hold the loop here until stop() cancels it

    adapter.sleep = sleep
    fake_x.post_tweet(fake_x.add_user("Alice"), "@kestrel hello")
    inbox = MemoryInbox()
    with caplog.at_level(logging.INFO, logger="bot.adapters.x_adapter"):
        await adapter.start(inbox)
        await asyncio.wait_for(twice.wait(), timeout=30)
        await adapter.stop()
    assert "connected as @kestrel" in caplog.text
    assert slept == [15.0, 15.0]
    assert [m.text for m in inbox.received] == ["@kestrel hello"]


async def test_a_failure_while_receiving_leaves_the_cursor_for_the_next_poll(
    adapter: XAdapter, fake_x: FakeXApi
) -> None:
    class BrokenStore(MemoryInbox):
        async def receive(self, message: InboundMessage) -> None:
            raise RuntimeError("the store is down")

    broken = BrokenStore()
    fake_x.post_tweet(fake_x.add_user("Alice"), "@kestrel hello")
    with pytest.raises(RuntimeError):
        await adapter.poll_once(broken)
    assert MENTIONS_CURSOR not in broken.cursors
    inbox = MemoryInbox()
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["@kestrel hello"]


def _dm_activity(**event: Any) -> dict[str, Any]:
    create = {"sender_id": "2244994945", "message_data": {"text": "my order never arrived"}}
    found = {"type": "message_create", "id": "1790000000000000300", "message_create": create, **event}
    return {"for_user_id": BRAND_ID, "direct_message_events": [found]}


def _mention_activity(**tweet: Any) -> dict[str, Any]:
    found = {
        "id_str": "1790000000000000400",
        "user": {"id_str": "2244994945"},
        "in_reply_to_user_id_str": BRAND_ID,
        **tweet,
    }
    return {"for_user_id": BRAND_ID, "tweet_create_events": [found]}


WRONG_TYPES: list[Any] = [
    {"for_user_id": BRAND_ID, "direct_message_events": 5},
    {"for_user_id": BRAND_ID, "direct_message_events": "abc"},
    {"for_user_id": BRAND_ID, "tweet_create_events": 5},
    {"for_user_id": BRAND_ID, "tweet_create_events": {"id_str": "1"}},
    {"for_user_id": 5, "users": 5, "direct_message_events": [5, None, []]},
    _mention_activity(entities="x"),
    _mention_activity(entities={"user_mentions": "x"}),
    _mention_activity(entities={"user_mentions": 5}),
    _mention_activity(id_str="²"),
    _mention_activity(id_str="1" * 400),
    _mention_activity(user="alice"),
    _dm_activity(created_timestamp="9" * 30),
    _dm_activity(created_timestamp="9" * 19),
    _dm_activity(created_timestamp="²"),
    _dm_activity(created_timestamp=-5),
    _dm_activity(id="²"),
    _dm_activity(id="9" * 400),
    _dm_activity(message_create={"sender_id": "2244994945", "message_data": {"text": 5}}),
    _dm_activity(message_create={"sender_id": ["x"], "message_data": "hi"}),
    _dm_activity(message_create={"sender_id": "x" * 1000, "message_data": {"text": "my order"}}),
    {**_dm_activity(), "users": {"2244994945": {"id_str": "2244994945", "followers_count": 2**64}}},
    {**_dm_activity(), "users": {"2244994945": {"id_str": "2244994945", "followers_count": -3}}},
    {**_dm_activity(), "users": {"2244994945": {"screen_name": ["a"], "name": {"b": 1}}}},
    {**_dm_activity(), "users": {"2244994945": 5}},
]


@pytest.mark.model
async def test_webhook_events_of_the_wrong_shape_get_no_5xx_and_store_nothing(
    webhook: AccountActivitySender, x_service: Service, fake_x: FakeXApi
) -> None:
    for payload in WRONG_TYPES:
        answer = await webhook.deliver(payload)
        assert answer.status_code < 500, (payload, answer.text)
    stored = _inbound_ids(x_service)
    # Only events whose shape was right apart from what could be ignored may be read.
    assert stored <= {"1790000000000000300"}, stored
    from tests.fakes.x_api import x_signature

    for body in (b"[" * 100_000, b'{"for_user_id": ' + b"[" * 1000 + b"]" * 1000 + b"}", b'{"a": "\\ud800"}'):
        signed = x_signature(fake_x.consumer_secret, body)
        answer = await webhook.http.post(
            "/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": signed}
        )
        assert answer.status_code == 400, answer.text


# --- what X costs ----------------------------------------------------------------------------------


def _spent(service: Service) -> float:
    return sum(service.reporting.spend.totals("x").values())


async def test_a_quiet_dm_inbox_costs_one_event_a_day_not_a_page_a_poll(
    adapter: XAdapter, fake_x: FakeXApi
) -> None:
    inbox = MemoryInbox()
    alice = fake_x.add_user("Alice")
    for text in ("one", "two", "three"):
        fake_x.send_dm(alice, text)
    await adapter.poll_once(inbox)
    before = len(fake_x.requests_to("dm_events"))
    for _ in range(5):
        await adapter.poll_once(inbox)
    quiet = fake_x.requests_to("dm_events")[before:]
    assert [seen.query.get("max_results") for seen in quiet] == ["1"] * 5
    fake_x.send_dm(alice, "four")
    await adapter.poll_once(inbox)
    assert [m.text for m in inbox.received] == ["one", "two", "three", "four"]
    # Three events on the first read, then the newest one again and again, then "four":
    # X bills each event once a day.
    events = [key for key in fake_x.bill if key[1] == "dm_event_read"]
    assert len(events) == 4


@pytest.mark.model
async def test_what_x_charges_is_counted_as_x_bills_it(x_service: Service, fake_x: FakeXApi) -> None:
    adapter = _x(x_service)
    alice = fake_x.add_user("Alice Martin", username="alice")
    fake_x.post_tweet(alice, "@kestrel my order never arrived and nobody answers, really angry")
    fake_x.send_dm(alice, "hello, where is my parcel?")
    for _ in range(3):
        await adapter.poll_once(x_service)
    assert {operation for _, operation, _ in fake_x.bill} >= {
        "post_read",
        "post_create_with_url",
        "dm_event_read",
    }
    assert _spent(x_service) == pytest.approx(fake_x.billed())

    transport = httpx.ASGITransport(app=create_app(x_service))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://firstline") as client:
        metrics = (await client.get("/metrics")).text
    assert 'firstline_x_api_cost_usd_total{operation="post_create_with_url"} 0.2' in metrics


@pytest.mark.model
async def test_the_text_invitation_carries_no_url_and_still_joins_the_case(
    settings: Settings, fake_x: FakeXApi, rasa_runtime: RasaRuntime, model_path: Path, clock: FakeClock
) -> None:
    service = _service(_x_settings(settings, fake_x, x_dm_invite="text"), rasa_runtime, model_path, clock)
    try:
        adapter = _x(service)
        await adapter.connect()
        alice = fake_x.add_user("Alice Martin", username="alice")
        complaint = fake_x.post_tweet(
            alice, "@kestrel my order never arrived and nobody answers, really angry"
        )
        await adapter.poll_once(service)
        (reply,) = fake_x.replies_to(complaint["id"])
        assert "https://" not in reply["text"] and "(ref " in reply["text"]
        assert [op for _, op, _ in fake_x.bill if op.startswith("post_create")] == ["post_create"]

        reference = reply["text"][
            reply["text"].index("(ref ") + 1 : reply["text"].index(")", reply["text"].index("(ref "))
        ]
        (handoff,) = service.casework.handoffs("open")
        service.casework.close(handoff.id, "handed_back", None, override=True)
        fake_x.send_dm(alice, f"Hi, {reference} - my order number is 55123")
        await adapter.poll_once(service)
        keys = {c["key"] for c in service.casework.packet(handoff.id)["conversations"]}
        assert keys == {f"thread:{complaint['conversation_id']}", f"dm:{alice['id']}"}
    finally:
        await service.stop()


@pytest.mark.model
async def test_past_the_daily_budget_public_posts_go_to_a_person_and_dms_are_still_answered(
    settings: Settings, fake_x: FakeXApi, rasa_runtime: RasaRuntime, model_path: Path, clock: FakeClock
) -> None:
    service = _service(_x_settings(settings, fake_x, x_daily_budget_usd=0.2), rasa_runtime, model_path, clock)
    try:
        adapter = _x(service)
        await adapter.connect()
        alice, bob = fake_x.add_user("Alice", username="alice"), fake_x.add_user("Bob", username="bob")
        first = fake_x.post_tweet(alice, "@kestrel my order never arrived and nobody answers, really angry")
        await adapter.poll_once(service)
        assert (
            len(fake_x.replies_to(first["id"])) == 1
        )  # with the DM link: $0.20, and $0.215 in all is past the $0.20 budget
        assert adapter._budget_spent() is not None

        second = fake_x.post_tweet(bob, "@kestrel my refund still has not arrived, this is ridiculous")
        carol = fake_x.add_user("Carol", username="carol")
        fake_x.send_dm(carol, "hello, can you check my booking please?")
        await adapter.poll_once(service)
        assert fake_x.replies_to(second["id"]) == []
        held = [h for h in service.casework.handoffs("open") if h.reason == "budget"]
        assert len(held) == 1
        packet = service.casework.packet(held[0].id)
        assert packet["flags"] == ["budget"] and "budget" in packet["summary"]
        assert [m["text"] for m in packet["messages"]] == [second["text"]]
        assert fake_x.dms_to(carol["id"])  # a private chat is still answered

        # A public reply queued before the budget ran out is refused at sending, not posted.
        with pytest.raises(DeliveryFailed, match="budget"):
            await adapter.send(dataclasses.replace(_reply(second, "Sorry about that!", bob), author="bot"))
    finally:
        await service.stop()


# --- the X Activity API ---------------------------------------------------------------------------

PAYLOADS = Path(__file__).resolve().parents[2] / "data" / "payloads" / "x"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "docs_xaa_post_mention_create.json",
            [("2080765813578191303", "thread:2080765813578191303", "hey @ExampleUser")],
        ),
        ("docs_xaa_dm_received.json", [("2080765901528535096", "dm:2222222222222222222", "hello!")]),
        ("docs_xaa_post_create.json", []),  # the brand's own post
        ("docs_xaa_like_create.json", []),
    ],
)
async def test_activity_api_events_arrive_through_the_signed_webhook(
    adapter: XAdapter, fixture: str, expected: list[tuple[str, str, str]]
) -> None:
    """X's own sample deliveries of the X Activity API, posted to the webhook as X signs them."""
    from starlette.applications import Starlette

    from tests.fakes.x_api import x_signature

    inbox = MemoryInbox()
    body = (PAYLOADS / fixture).read_bytes()
    app = Starlette(routes=list(adapter.webhook_routes(inbox)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://bot.test") as http:
        forged = await http.post(
            "/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": "sha256=AAAA"}
        )
        assert forged.status_code == 403 and inbox.received == []
        signed = x_signature(adapter.consumer_secret, body)
        answer = await http.post(
            "/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": signed}
        )
    assert answer.status_code == 200
    assert [(m.platform_message_id, m.conversation_key, m.text) for m in inbox.received] == expected
    assert adapter.brand_id == "1111111111111111111"  # learnt from the subscription's filter


async def test_each_activity_api_event_delivered_is_counted_as_a_read(adapter: XAdapter) -> None:
    charged: list[Charge] = []
    adapter.api.meter = charged.extend
    for fixture in ("docs_xaa_post_mention_create.json", "docs_xaa_dm_received.json"):
        await adapter.handle_activity(MemoryInbox(), json.loads((PAYLOADS / fixture).read_text()))
    assert charged == [
        Charge("post_read", "2080765813578191303"),
        Charge("dm_event_read", "2080765901528535096"),
    ]
