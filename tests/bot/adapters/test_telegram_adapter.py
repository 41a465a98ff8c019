"""The Telegram adapter against a fake Bot API on 127.0.0.1, through the real PTB `Bot`."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.adapters import ADAPTERS, telegram_adapter
from bot.adapters.telegram_adapter import TelegramAdapter, split_text
from bot.adapters.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from bot.app import create_app
from bot.errors import DeliveryFailed, InvalidMessage, PlatformUnavailable, SettingsError
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.models import Case, MessageRow
from bot.text_limits import measure
from tests.fakes.telegram_api import (
    BOT_USER,
    TOKEN,
    FakeTelegramApi,
    business_connection,
    business_message,
    group_chat,
    private_chat,
    unused_port,
    user,
)
from tests.fakes.telegram_api import message as tg_message

ALICE = user(42, "Alice", username="alice_k", last_name="Kay")
BOB = user(43, "Bob")
GROUP = group_chat()
BOT_NAME = BOT_USER["username"]
COMPLAINT = f"@{BOT_NAME} my order never arrived, 2 weeks waiting and nobody answers 😡"
SECRET = "s3cret-webhook_token"
CURSOR = f"telegram:update_offset:{BOT_USER['id']}"


class RecordingInbox:
    """The inbox side of the contract, recording what it got and what the cursor was meanwhile."""

    def __init__(self) -> None:
        self.received: list[InboundMessage] = []
        self.cursor_when_received: list[str | None] = []
        self.cursors: dict[str, str] = {}
        self.failures = 0
        self.unreadable: list[tuple[str | None, str]] = []

    async def receive(self, message: InboundMessage) -> None:
        self.cursor_when_received.append(next(iter(self.cursors.values()), None))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the store is down")
        if message.text == "please refuse me":
            raise InvalidMessage("refused")
        self.received.append(message)

    def cursor(self, name: str) -> str | None:
        return self.cursors.get(name)

    def save_cursor(self, name: str, value: str) -> None:
        self.cursors[name] = value

    def lead(self, role: str, seconds: float) -> bool:
        return True  # one instance: it always leads

    def keep_unreadable(self, platform: str, external_id: str | None, raw: Any, error: str) -> None:
        self.unreadable.append((external_id, error))


def _adapter(api: FakeTelegramApi, **kwargs: Any) -> TelegramAdapter:
    return TelegramAdapter(TOKEN, api_url=api.base_url, **kwargs)


@pytest.fixture
async def new_adapter(telegram_api: FakeTelegramApi) -> AsyncIterator[Callable[..., TelegramAdapter]]:
    """Builds adapters on the fake API and stops them all, even when a test fails half-way."""
    made: list[TelegramAdapter] = []

    def make(token: str = TOKEN, **kwargs: Any) -> TelegramAdapter:
        made.append(TelegramAdapter(token, api_url=telegram_api.base_url, **kwargs))
        return made[-1]

    yield make
    for adapter in made:
        await adapter.stop()


@pytest.fixture
async def adapter(telegram_api: FakeTelegramApi) -> AsyncIterator[TelegramAdapter]:
    connected = _adapter(telegram_api)
    await connected.connect()
    yield connected
    await connected.stop()


def _private(text: str, sender: dict = ALICE) -> dict:
    """An update as Telegram would deliver it, without queueing it for getUpdates."""
    return {"update_id": 1, "message": tg_message(private_chat(sender), sender, text)}


def _group(text: str, sender: dict = ALICE) -> dict:
    return {"update_id": 1, "message": tg_message(GROUP, sender, text)}


# --- parse and dispatch ----------------------------------------------------------------------


async def test_parse_reads_group_messages_by_the_identity_getme_gave(telegram_api: FakeTelegramApi) -> None:
    adapter = _adapter(telegram_api)
    mention = _group(f"@{BOT_NAME} my order never arrived")
    assert adapter.parse(mention) is None  # before getMe nobody can tell whom it is for
    try:
        await adapter.connect()
        message = adapter.parse(mention)
    finally:
        await adapter.stop()
    assert message is not None and message.public
    assert adapter.parse(_private("hi")) is not None
    with pytest.raises(InvalidMessage):
        adapter.parse({"message": "no update id"})
    assert telegram_api.sent("getMe") == [{}]


# --- dispatch: button presses and audience ----------------------------------------------------


async def test_a_button_press_is_answered_and_otherwise_skipped(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    inbox = RecordingInbox()
    press = {"id": "4382", "from": ALICE, "chat_instance": "ci", "data": "refund"}

    await adapter.dispatch({"update_id": 9, "callback_query": press}, inbox)

    assert telegram_api.sent("answerCallbackQuery") == [{"callback_query_id": "4382"}]
    assert inbox.received == []


async def test_a_group_message_carries_the_member_count_as_audience(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    inbox = RecordingInbox()
    await adapter.dispatch(_group(f"@{BOT_NAME} help"), inbox)
    await adapter.dispatch(_group(f"@{BOT_NAME} still waiting"), inbox)
    await adapter.dispatch(_private("hi"), inbox)

    assert [m.customer.audience for m in inbox.received] == [250, 250, None]
    assert telegram_api.sent("getChatMemberCount") == [{"chat_id": GROUP["id"]}]


async def test_a_message_the_inbox_refuses_is_skipped(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    inbox = RecordingInbox()
    await adapter.dispatch(_private("please refuse me"), inbox)
    assert inbox.received == []


# --- sending ----------------------------------------------------------------------------------


def _out(
    text: str, key: str = "chat:42", public: bool = False, in_reply_to: str | None = None
) -> OutboundMessage:
    return OutboundMessage("telegram", key, public, text, recipient_id="42", in_reply_to=in_reply_to)


async def test_text_is_sent_as_plain_text_exactly_as_written(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    text = "Sorry <b>Alice</b> & co: *order* _1234_ [link](x) `code` https://t.me/KestrelHelpBot?start=a_b-c"

    sent_id = await adapter.send(_out(text))

    [sent] = telegram_api.sent()
    assert sent["text"] == text
    assert "parse_mode" not in sent and "reply_parameters" not in sent
    assert sent["chat_id"] == 42
    assert sent_id == "42:5001"


async def test_a_public_answer_replies_to_the_customer_message_in_its_topic(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    key = f"chat:{GROUP['id']}:topic:77:user:42"

    await adapter.send(_out("Sorry!", key=key, public=True, in_reply_to=f"{GROUP['id']}:314"))
    await adapter.send(
        _out("Edited!", key=key, public=True, in_reply_to=f"{GROUP['id']}:315:edit:1700000000")
    )

    first, second = telegram_api.sent()
    assert first["chat_id"] == GROUP["id"] and first["message_thread_id"] == 77
    assert first["reply_parameters"] == {"message_id": 314, "allow_sending_without_reply": True}
    assert first["link_preview_options"] == {"is_disabled": True}
    assert second["reply_parameters"]["message_id"] == 315


async def test_a_reply_never_quotes_a_message_from_another_chat(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    await adapter.send(_out("hi", key=f"chat:{GROUP['id']}:user:42", public=True, in_reply_to="-100999:314"))
    assert "reply_parameters" not in telegram_api.sent()[0]


async def test_long_text_is_sent_in_parts_within_the_limit(
    adapter: TelegramAdapter, telegram_api: FakeTelegramApi
) -> None:
    paragraph = "We are sorry about your order. " * 40 + "😡" * 30
    text = "\n\n".join([paragraph.strip()] * 8)

    sent_id = await adapter.send(
        _out(text, key=f"chat:{GROUP['id']}:user:42", public=True, in_reply_to="x:1")
    )

    parts = [params["text"] for params in telegram_api.sent()]
    assert len(parts) == 3
    assert all(measure(part, "telegram") <= 4096 for part in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert sent_id == f"{GROUP['id']}:5001"


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("short", 10, ["short"]),
        ("first paragraph\n\nsecond one", 20, ["first paragraph", "second one"]),
        ("One sentence here. Another one follows", 30, ["One sentence here.", "Another one follows"]),
        ("words words words words", 12, ["words words", "words words"]),
        ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
        ("😀" * 6, 5, ["😀😀", "😀😀", "😀😀"]),
        ("   \n  ", 10, []),
    ],
)
def test_split_text_cuts_at_the_cleanest_place(text: str, limit: int, parts: list[str]) -> None:
    assert split_text(text, limit) == parts


@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [
        (429, PlatformUnavailable, 3.0),
        (500, PlatformUnavailable, None),
        (502, PlatformUnavailable, None),
        (400, DeliveryFailed, None),
        (403, DeliveryFailed, None),
    ],
)
async def test_send_errors_are_classified_for_the_outbox(
    adapter: TelegramAdapter,
    telegram_api: FakeTelegramApi,
    status: int,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    telegram_api.fail("sendMessage", status, retry_after=3 if status == 429 else None)

    with pytest.raises(error) as raised:
        await adapter.send(_out("hello"))

    if isinstance(raised.value, PlatformUnavailable):
        assert raised.value.retry_after == retry_after
    await adapter.send(_out("hello again"))
    assert [params["text"] for params in telegram_api.sent()] == ["hello", "hello again"]


async def test_an_unreachable_api_is_unavailable_not_failed() -> None:
    adapter = TelegramAdapter(TOKEN, api_url=f"http://127.0.0.1:{unused_port()}/bot")
    try:
        with pytest.raises(PlatformUnavailable):
            await adapter.send(_out("hello"))
    finally:
        await adapter.stop()


async def test_a_message_for_an_unknown_conversation_fails_for_good(adapter: TelegramAdapter) -> None:
    with pytest.raises(DeliveryFailed):
        await adapter.send(_out("hello", key="public:alice"))
    with pytest.raises(DeliveryFailed):
        await adapter.send(_out("   "))


def test_the_dm_link_opens_the_private_chat_with_the_case_token(adapter: TelegramAdapter) -> None:
    assert adapter.dm_link(Customer("42"), "Ab3_x-Yz9Q0w") == f"https://t.me/{BOT_NAME}?start=Ab3_x-Yz9Q0w"
    assert adapter.dm_link(Customer("42"), "not/a token") is None


# --- settings and start-up --------------------------------------------------------------------


def _settings(tmp_path: Path, api: FakeTelegramApi, **fields: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "tracker_store_url": "memory",
        "public_url": "",
        "telegram_token": TOKEN,
        "telegram_api_url": api.base_url,
        "_env_file": None,
    }
    return Settings(**{**values, **fields})


def test_the_adapter_is_registered_and_off_without_a_token(tmp_path: Path) -> None:
    assert ADAPTERS["telegram"] is TelegramAdapter
    assert TelegramAdapter.from_settings(Settings(data_dir=tmp_path, _env_file=None)) is None


def test_polling_without_a_public_url_and_webhook_with_one(
    tmp_path: Path, telegram_api: FakeTelegramApi
) -> None:
    polling = TelegramAdapter.from_settings(_settings(tmp_path, telegram_api))
    assert polling is not None and polling.webhook_url is None
    assert polling.webhook_routes(RecordingInbox()) == ()

    webhook = TelegramAdapter.from_settings(
        _settings(
            tmp_path, telegram_api, public_url="https://firstline.example/", telegram_webhook_secret=SECRET
        )
    )
    assert webhook is not None and webhook.webhook_url == "https://firstline.example/webhooks/telegram"
    assert [route.path for route in webhook.webhook_routes(RecordingInbox())] == [WEBHOOK_PATH]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("secret", "error"), [(None, "FIRSTLINE_TELEGRAM_WEBHOOK_SECRET"), ("has space", "1-256")]
)
def test_a_webhook_needs_a_valid_secret(
    tmp_path: Path,
    telegram_api: FakeTelegramApi,
    caplog: pytest.LogCaptureFixture,
    secret: str | None,
    error: str,
) -> None:
    settings = _settings(
        tmp_path, telegram_api, public_url="https://firstline.example", telegram_webhook_secret=secret
    )
    assert TelegramAdapter.from_settings(settings) is None
    [line] = _errors(caplog)
    assert line.getMessage().startswith("telegram adapter: not started: ") and error in line.getMessage()


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("bot.adapters") and r.levelno >= logging.ERROR]


async def test_a_bad_token_is_one_clear_error_line(
    telegram_api: FakeTelegramApi,
    new_adapter: Callable[..., TelegramAdapter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = new_adapter("123456789:wrong-token")
    with pytest.raises(SettingsError) as raised:
        await adapter.connect()
    assert raised.value.__cause__ is None and raised.value.__suppress_context__

    await adapter.start(RecordingInbox())  # the service starts; Telegram stays off
    [line] = await telegram_api.wait_for(lambda: _errors(caplog), "the error line")
    await adapter.stop()

    text = line.getMessage()
    assert text.startswith("telegram adapter: not started: Telegram refused the bot token")
    assert "FIRSTLINE_TELEGRAM_TOKEN" in text and "\n" not in text and line.exc_info is None
    assert "wrong-token" not in caplog.text
    assert telegram_api.sent("getUpdates") == []


async def test_start_sets_the_webhook_with_its_secret(
    telegram_api: FakeTelegramApi, new_adapter: Callable[..., TelegramAdapter]
) -> None:
    adapter = new_adapter(webhook_url="https://firstline.example/webhooks/telegram", webhook_secret=SECRET)
    await adapter.start(RecordingInbox())
    [webhook] = await telegram_api.wait_for(lambda: telegram_api.sent("setWebhook"), "setWebhook")
    await adapter.stop()

    assert webhook["url"] == "https://firstline.example/webhooks/telegram"
    assert webhook["secret_token"] == SECRET
    assert telegram_api.sent("getUpdates") == []


async def test_a_refused_webhook_url_is_one_clear_error_line(
    telegram_api: FakeTelegramApi,
    new_adapter: Callable[..., TelegramAdapter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram_api.fail(
        "setWebhook", 400, description="Bad Request: bad webhook: An HTTPS URL must be provided"
    )
    adapter = new_adapter(webhook_url="http://firstline.example/webhooks/telegram", webhook_secret=SECRET)
    await adapter.start(RecordingInbox())
    [line] = await telegram_api.wait_for(lambda: _errors(caplog), "the error line")
    await adapter.stop()
    assert re.search(r"(?i)not started: .*https url must be provided", line.getMessage())


async def test_an_unreachable_api_at_start_is_tried_again(
    telegram_api: FakeTelegramApi, new_adapter: Callable[..., TelegramAdapter]
) -> None:
    telegram_api.fail("getMe", 502)
    adapter = new_adapter(poll_timeout=1)
    await adapter.start(RecordingInbox())
    await telegram_api.wait_for(lambda: telegram_api.sent("getUpdates"), "polling after the retry")
    await adapter.stop()
    assert len(telegram_api.sent("getMe")) == 2


async def test_updates_wait_until_the_bot_knows_its_name(
    telegram_api: FakeTelegramApi, new_adapter: Callable[..., TelegramAdapter]
) -> None:
    adapter = new_adapter()
    inbox = RecordingInbox()
    try:
        with pytest.raises(PlatformUnavailable):
            await adapter.dispatch(_group(f"@{BOT_NAME} help"), inbox)
    finally:
        await adapter.stop()
    assert inbox.received == []


# --- polling ----------------------------------------------------------------------------------


async def test_polling_saves_the_offset_after_each_update_and_resumes_after_a_restart(
    telegram_api: FakeTelegramApi, new_adapter: Callable[..., TelegramAdapter]
) -> None:
    inbox = RecordingInbox()
    first = telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, "one"))
    second = telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, "two"))

    adapter = new_adapter(poll_timeout=1)
    await adapter.start(inbox)
    await telegram_api.wait_for(
        lambda: inbox.cursors.get(CURSOR) == str(second["update_id"] + 1), "both updates"
    )
    await adapter.stop()

    assert telegram_api.sent("deleteWebhook") == [{"drop_pending_updates": False}]
    assert [m.text for m in inbox.received] == ["one", "two"]
    # Each update was handed over before the offset moved past it.
    assert inbox.cursor_when_received == [None, str(first["update_id"] + 1)]

    third = telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, "three"))
    calls_before_restart = len(telegram_api.offsets())
    restarted = new_adapter(poll_timeout=1)
    await restarted.start(inbox)
    await telegram_api.wait_for(lambda: inbox.cursors.get(CURSOR) == str(third["update_id"] + 1), "the third")
    await restarted.stop()

    assert [m.text for m in inbox.received] == ["one", "two", "three"]
    # The new poller started from the stored offset, so nothing was fetched twice.
    assert telegram_api.offsets()[calls_before_restart] == second["update_id"] + 1


async def test_an_update_the_inbox_could_not_store_is_fetched_again(
    telegram_api: FakeTelegramApi, new_adapter: Callable[..., TelegramAdapter]
) -> None:
    inbox = RecordingInbox()
    inbox.failures = 1
    refused = telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, "please refuse me"))
    update = telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, "my order is late"))

    adapter = new_adapter(poll_timeout=1)
    await adapter.start(inbox)
    await telegram_api.wait_for(
        lambda: inbox.cursors.get(CURSOR) == str(update["update_id"] + 1), "the update"
    )
    await adapter.stop()

    # The first attempt failed with the store down, so the refused update was read twice; the
    # refusal itself is final and moved the offset on.
    assert [m.text for m in inbox.received] == ["my order is late"]
    assert inbox.cursor_when_received == [None, None, str(refused["update_id"] + 1)]
    # Nothing was confirmed before the retry, so it asked from the same place again.
    assert telegram_api.offsets()[:2] == [None, None]


async def test_polling_waits_out_flood_control(
    telegram_api: FakeTelegramApi, new_adapter: Callable[..., TelegramAdapter]
) -> None:
    telegram_api.fail("getUpdates", 429, retry_after=1)
    inbox = RecordingInbox()
    telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, "hello"))

    adapter = new_adapter(poll_timeout=1)
    await adapter.start(inbox)
    await telegram_api.wait_for(lambda: inbox.received, "the message after the wait")
    await adapter.stop()

    assert len(telegram_api.sent("getUpdates")) >= 2


# --- through the service: webhook and the whole public → private journey ----------------------


@pytest.fixture
def make_service(rasa_runtime: RasaRuntime, model_path: Path) -> Iterator[Any]:
    built: list[Service] = []

    def make(settings: Settings) -> Service:
        service = Service.build(settings, model_path, rasa=rasa_runtime)
        built.append(service)
        return service

    yield make
    for service in built:
        service.repository.engine.dispose()


def _stored(service: Service) -> int:
    with service.repository.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(MessageRow)).scalar_one()


@pytest.mark.model
async def test_the_webhook_checks_the_secret_on_every_request(
    tmp_path: Path, telegram_api: FakeTelegramApi, make_service: Any
) -> None:
    settings = _settings(
        tmp_path, telegram_api, public_url="https://firstline.example", telegram_webhook_secret=SECRET
    )
    service = make_service(settings)
    await service.start()
    try:
        await telegram_api.wait_for(lambda: telegram_api.sent("setWebhook"), "the webhook set-up")
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="https://firstline.example") as http:
            update = _private("hi there")
            missing = await http.post(WEBHOOK_PATH, json=update)
            wrong = await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET + "x"})
            assert (missing.status_code, wrong.status_code) == (401, 401)
            assert _stored(service) == 0 and telegram_api.sent() == []

            malformed = await http.post(WEBHOOK_PATH, content=b"{not json", headers={SECRET_HEADER: SECRET})
            assert malformed.status_code == 400
            not_an_update = await http.post(
                WEBHOOK_PATH, json={"text": "hi"}, headers={SECRET_HEADER: SECRET}
            )
            assert not_an_update.status_code == 400

            right = await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
            assert right.status_code == 200 and "method" not in right.json()
            again = await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
            assert again.status_code == 200
    finally:
        await service.stop()

    assert _stored(service) == 2  # the customer's message once, and the bot's answer
    [answer] = telegram_api.sent()
    assert answer["chat_id"] == 42 and answer["text"]


@pytest.mark.model
async def test_a_poisoned_update_is_acknowledged_and_skipped_so_later_ones_get_through(
    tmp_path: Path, telegram_api: FakeTelegramApi, make_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate, or fields of the wrong type, can never be stored: answering 5xx would
    make Telegram send the update again and again, ahead of every later one."""
    settings = _settings(
        tmp_path, telegram_api, public_url="https://firstline.example", telegram_webhook_secret=SECRET
    )
    service = make_service(settings)
    await service.start()
    try:
        await telegram_api.wait_for(lambda: telegram_api.sent("setWebhook"), "the webhook set-up")
        transport = httpx.ASGITransport(app=create_app(service))
        headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
        async with httpx.AsyncClient(transport=transport, base_url="https://firstline.example") as http:
            poisoned = json.dumps(
                {**_private("hi \ud800 there"), "update_id": 5}
            ).encode()  # the escape `\ud800`
            assert b"\\ud800" in poisoned
            wrong_type = {**_private("hello"), "update_id": 6}
            wrong_type["message"]["text"] = 5
            for body in (poisoned, poisoned, json.dumps(wrong_type).encode()):
                answer = await http.post(WEBHOOK_PATH, content=body, headers=headers)
                assert answer.status_code == 200, answer.text
            assert _stored(service) == 0 and telegram_api.sent("sendMessage") == []
            later = await http.post(WEBHOOK_PATH, json=_private("hi there"), headers=headers)
            assert later.status_code == 200
    finally:
        await service.stop()

    assert _stored(service) == 2
    assert "refused" in caplog.text
    # Kept raw for people to see, the repeat once.
    kept = service.unreadable.recent()
    assert [(u.platform, u.external_id) for u in kept] == [("telegram", "6"), ("telegram", "5")]
    assert "\\ud800" in kept[1].raw and "refused" in kept[1].error


@pytest.mark.model
async def test_group_mention_to_private_chat_is_one_case(
    tmp_path: Path, telegram_api: FakeTelegramApi, make_service: Any
) -> None:
    service = make_service(_settings(tmp_path, telegram_api))
    adapter = service.adapters["telegram"]
    assert isinstance(adapter, TelegramAdapter)
    adapter.poll_timeout = 1
    await service.start()
    try:
        complaint = tg_message(GROUP, ALICE, COMPLAINT)
        telegram_api.queue(message=complaint)
        chatter = telegram_api.queue(message=tg_message(GROUP, BOB, "anyone watching the match?"))

        [ack] = await telegram_api.wait_for(telegram_api.sent, "the public acknowledgement")
        assert ack["chat_id"] == GROUP["id"]
        assert ack["reply_parameters"]["message_id"] == complaint["message_id"]
        assert "parse_mode" not in ack
        link = next(word for word in ack["text"].split() if word.startswith("https://t.me/"))
        assert link.startswith(f"https://t.me/{BOT_NAME}?start=")
        token = link.split("start=", 1)[1].rstrip(".,!)")

        opened = telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, f"/start {token}"))
        detail = telegram_api.queue(
            message=tg_message(private_chat(ALICE), ALICE, "it's order 4839201, ordered on the 2nd")
        )
        await telegram_api.wait_for(
            lambda: service.cursor(CURSOR) == str(detail["update_id"] + 1), "the private messages"
        )
    finally:
        await service.stop()

    assert chatter["update_id"] < opened["update_id"]
    [handoff] = service.casework.handoffs()
    packet = service.casework.packet(handoff.id)
    assert packet["join_token"] == token
    assert packet["customer"]["handle"] == "alice_k" and packet["customer"]["audience"] == 250
    assert {(c["key"], c["public"]) for c in packet["conversations"]} == {
        ("chat:42", False),
        (f"chat:{GROUP['id']}:user:42", True),
    }
    public = [(m["direction"], m["text"]) for m in packet["messages"] if m["where"] == "public"]
    assert public == [("in", COMPLAINT), ("out", ack["text"])]
    private_texts = [
        m["text"] for m in packet["messages"] if m["where"] == "private" and m["direction"] == "in"
    ]
    assert private_texts == ["hi", "it's order 4839201, ordered on the 2nd"]
    # Bob's chatter was not for the bot: nothing stored, nothing said.
    assert all(m["text"] != "anyone watching the match?" for m in packet["messages"])
    assert [params["chat_id"] for params in telegram_api.sent()].count(GROUP["id"]) == 1


@pytest.mark.model
async def test_a_stranger_with_the_start_token_does_not_join_the_case(
    tmp_path: Path, telegram_api: FakeTelegramApi, make_service: Any
) -> None:
    """Issue 12, finding 2: the token is in the public reply; Bob taps it, not Alice."""
    service = make_service(_settings(tmp_path, telegram_api))
    adapter = service.adapters["telegram"]
    assert isinstance(adapter, TelegramAdapter)
    adapter.poll_timeout = 1
    await service.start()
    try:
        telegram_api.queue(message=tg_message(GROUP, ALICE, COMPLAINT))
        [ack] = await telegram_api.wait_for(telegram_api.sent, "the public acknowledgement")
        link = next(word for word in ack["text"].split() if word.startswith("https://t.me/"))
        token = link.split("start=", 1)[1].rstrip(".,!)")

        telegram_api.queue(message=tg_message(private_chat(BOB), BOB, f"/start {token}"))
        probe = telegram_api.queue(message=tg_message(private_chat(BOB), BOB, "what's the address on it?"))
        await telegram_api.wait_for(
            lambda: service.cursor(CURSOR) == str(probe["update_id"] + 1), "Bob's messages"
        )
    finally:
        await service.stop()

    [handoff] = service.casework.handoffs()
    packet = service.casework.packet(handoff.id)
    assert {c["key"] for c in packet["conversations"]} == {f"chat:{GROUP['id']}:user:42"}
    assert all("address" not in m["text"] for m in packet["messages"])
    bob_chat = service.repository.conversation_id("telegram", f"chat:{BOB['id']}")
    assert bob_chat is not None
    bob_case = service.repository.conversation(bob_chat).case_id
    assert bob_case != handoff.case_id
    with service.repository.engine.connect() as connection:
        linked = connection.execute(select(Case.linked_case_id).where(Case.id == bob_case)).scalar_one()
    assert linked == handoff.case_id  # agents see the attempt, marked unverified
    # Bob was not told that a colleague has "his" case.
    assert all("colleague already has your case" not in m["text"] for m in telegram_api.sent())


# --- several instances: one poller -----------------------------------------------------------------


@pytest.mark.model
async def test_two_instances_poll_one_bot_through_one_leader_and_the_other_takes_over(
    tmp_path: Path, telegram_api: FakeTelegramApi, make_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances on one store: only the leader calls getUpdates (Telegram would answer the
    other with 409), each update is handled once, and when the leader dies without a word the
    other instance polls within the lease."""
    monkeypatch.setattr(telegram_adapter, "LEADER_SECONDS", 1.0)
    first, second = (make_service(_settings(tmp_path, telegram_api)) for _ in range(2))
    await first.start()
    await telegram_api.wait_for(lambda: telegram_api.sent("getUpdates"), "the first poll")
    await second.start()
    try:
        early = [
            telegram_api.queue(message=tg_message(private_chat(ALICE), ALICE, f"hi {n}")) for n in range(3)
        ]
        await telegram_api.wait_for(
            lambda: first.cursor(CURSOR) == str(early[-1]["update_id"] + 1), "the leader's messages"
        )
        assert telegram_api.conflicts == 0
        assert [h.holder for h in first.leases.holders(time.time())] == [first.instance_id]

        # The leader dies: its task ends, nobody releases its lease.
        leader = first.adapters["telegram"]
        assert isinstance(leader, TelegramAdapter) and leader._task is not None
        leader._task.cancel()
        late = telegram_api.queue(message=tg_message(private_chat(BOB), BOB, "hello after the crash"))
        await telegram_api.wait_for(
            lambda: second.cursor(CURSOR) == str(late["update_id"] + 1), "the other instance's poll"
        )
        assert [h.holder for h in second.leases.holders(time.time())] == [second.instance_id]
        transport = httpx.ASGITransport(app=create_app(first))  # any instance tells the same
        async with httpx.AsyncClient(transport=transport, base_url="http://firstline.test") as http:
            metrics = (await http.get("/metrics")).text
        assert f'firstline_poller_leader{{instance="{second.instance_id}",role="telegram:poll:' in metrics
    finally:
        await first.stop()
        await second.stop()
    assert _stored(second) == 2 * 4  # four customer messages, each stored and answered once


# --- Telegram Business ------------------------------------------------------------------------------

SHOP = user(77, "Kestrel Shop", username="kestrel_shop")
"""The brand's own Telegram account, connected to the bot through Telegram Business."""


@pytest.mark.model
async def test_a_customer_writing_to_the_brand_s_account_is_answered_as_the_brand_and_a_person_takes_over(
    tmp_path: Path, telegram_api: FakeTelegramApi, make_service: Any
) -> None:
    telegram_api.business_connections["Bconn-1"] = business_connection("Bconn-1", SHOP)
    telegram_api.business_connections["Bconn-off"] = business_connection("Bconn-off", SHOP, can_reply=False)
    service = make_service(_settings(tmp_path, telegram_api))
    adapter = service.adapters["telegram"]
    assert isinstance(adapter, TelegramAdapter)
    adapter.poll_timeout = 1
    await service.start()
    try:
        telegram_api.queue(business_connection=telegram_api.business_connections["Bconn-1"])
        telegram_api.queue(
            business_message=business_message("Bconn-1", ALICE, ALICE, "my order never arrived, 2 weeks now")
        )
        [answer] = await telegram_api.wait_for(lambda: telegram_api.business_sent, "the answer as the brand")
        assert (answer["chat_id"], answer["business_connection_id"]) == (42, "Bconn-1")
        assert telegram_api.sent("sendMessage") == [answer]  # nothing through the bot's own chat

        # The brand's person writing in the same chat by hand is not a customer message.
        telegram_api.queue(business_message=business_message("Bconn-1", ALICE, SHOP, "Hi Alice, on it"))
        # A person takes the case over: their answer goes out through the connection too.
        (handoff,) = service.casework.handoffs("open")
        conversation = service.casework.packet(handoff.id)["conversations"][0]
        assert conversation["key"] == "business:Bconn-1:chat:42"
        reply = await service.delivery.send(
            OutboundMessage("telegram", conversation["key"], False, "Found it: it ships today.", "42"),
            conversation_id=conversation["id"],
            author="agent",
            in_reply_to_id=None,
        )
        assert reply.status == "sent"
        assert [(m["chat_id"], m["text"]) for m in telegram_api.business_sent][-1] == (
            42,
            "Found it: it ships today.",
        )

        # A connection without the right to reply: stored, and straight to a person.
        telegram_api.queue(business_message=business_message("Bconn-off", BOB, BOB, "where is my refund??"))
        await telegram_api.wait_for(
            lambda: [h for h in service.casework.handoffs("open") if h.reason == "cannot_reply"],
            "the handoff",
        )
    finally:
        await service.stop()
    assert len(telegram_api.business_sent) == 2
    inbound = [m["text"] for m in service.casework.packet(handoff.id)["messages"] if m["direction"] == "in"]
    assert inbound == ["my order never arrived, 2 weeks now"]  # the brand's own message is not the customer's
