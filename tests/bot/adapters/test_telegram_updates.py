"""Which Telegram updates are customer messages, and what they say: recorded JSON in, messages out."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from bot.adapters.telegram_updates import BotIdentity, read_update, to_update
from bot.errors import InvalidMessage
from bot.messages import Customer, InboundMessage
from tests.fakes.telegram_api import (
    BOT_USER,
    business_connection,
    business_message,
    group_chat,
    private_chat,
    user,
)
from tests.fakes.telegram_api import message as tg_message

ALICE = user(42, "Alice", username="alice_k", last_name="Kay")
BOB = user(43, "Bob")
GROUP = group_chat()
CHANNEL = {"id": -100777, "type": "channel", "title": "Kestrel news"}
BOT_NAME = BOT_USER["username"]
ME = BotIdentity(BOT_USER["id"], BOT_NAME)


def _read(raw: Any) -> InboundMessage | None:
    return read_update(to_update(raw), ME)


def _update(**fields: Any) -> dict[str, Any]:
    return {"update_id": 1, **fields}


def _private(text: str | None = None, sender: dict = ALICE, **extra: Any) -> dict:
    return _update(message=tg_message(private_chat(sender), sender, text, **extra))


def _group(text: str | None = None, sender: dict = ALICE, **extra: Any) -> dict:
    return _update(message=tg_message(GROUP, sender, text, **extra))


def test_a_private_message_is_a_private_conversation() -> None:
    api_message = _private("where is my parcel?")
    message = _read(api_message)

    assert message is not None
    chat_message = api_message["message"]
    assert message.platform == "telegram"
    assert message.platform_message_id == f"42:{chat_message['message_id']}"
    assert (message.conversation_key, message.public, message.kind) == ("chat:42", False, "text")
    assert message.customer == Customer("42", handle="alice_k", display_name="Alice Kay", audience=None)
    assert message.text == "where is my parcel?"
    assert message.received_at.tzinfo is not None
    assert message.url is None


@pytest.mark.parametrize(
    "text",
    [f"@{BOT_NAME} my order never arrived", f"hey @{BOT_NAME.lower()} help", f"hello @{BOT_NAME} 😡😡 help"],
)
def test_a_group_message_mentioning_the_bot_is_a_public_message(text: str) -> None:
    message = _read(_group(text))

    assert message is not None
    assert message.public is True
    assert message.conversation_key == f"chat:{GROUP['id']}:user:42"
    assert message.text == text
    assert message.url is not None and message.url.startswith("https://t.me/c/1234567890/")


@pytest.mark.parametrize(
    "text", ["my order never arrived", "@SomeOtherBot my order never arrived", f"@{BOT_NAME}_fan hello"]
)
def test_the_bot_does_not_answer_group_talk_that_is_not_for_it(text: str) -> None:
    assert _read(_group(text)) is None


def test_a_reply_to_the_bot_in_a_group_is_for_the_bot() -> None:
    bots_message = tg_message(GROUP, BOT_USER, "Sorry to hear that!")
    message = _read(_group("it was order 1234", reply_to_message=bots_message))
    assert message is not None and message.text == "it was order 1234"

    someone_else = tg_message(GROUP, BOB, "me too")
    assert _read(_group("same here", reply_to_message=someone_else)) is None


def test_a_text_mention_of_the_bot_is_for_the_bot() -> None:
    entity = {"type": "text_mention", "offset": 0, "length": 7, "user": BOT_USER}
    message = _read(_group("Kestrel help please", entities=[entity]))
    assert message is not None


def test_two_customers_in_one_group_have_their_own_conversations() -> None:
    alice = _read(_group(f"@{BOT_NAME} late order", sender=ALICE))
    bob = _read(_group(f"@{BOT_NAME} great service", sender=BOB))
    assert alice is not None and bob is not None
    assert alice.conversation_key != bob.conversation_key


def test_a_forum_topic_is_part_of_the_conversation() -> None:
    update = _group(f"@{BOT_NAME} help", message_thread_id=77, is_topic_message=True)
    message = _read(update)
    assert message is not None
    assert message.conversation_key == f"chat:{GROUP['id']}:topic:77:user:42"


def _topic_created_by_the_bot() -> dict[str, Any]:
    """The service message that opens a forum topic: every message in the topic replies to it."""
    return tg_message(
        GROUP,
        BOT_USER,
        None,
        message_thread_id=77,
        forum_topic_created={"name": "Orders", "icon_color": 7322096},
    )


@pytest.mark.parametrize(
    ("text", "replies_to", "addressed"),
    [
        # In a topic the bot created, a message is not for the bot just because it sits there.
        ("does anyone know when the sale starts?", "topic", False),
        (f"@{BOT_NAME} does anyone know when the sale starts?", "topic", True),
        # A real reply to one of the bot's messages in the topic still is.
        ("thanks, that helped", "bot", True),
    ],
)
def test_in_a_forum_topic_only_a_mention_or_a_real_reply_is_for_the_bot(
    text: str, replies_to: str, addressed: bool
) -> None:
    topic = _topic_created_by_the_bot()
    replied = (
        topic
        if replies_to == "topic"
        else tg_message(GROUP, BOT_USER, "Happy to help!", message_thread_id=77)
    )
    update = _group(text, message_thread_id=77, is_topic_message=True, reply_to_message=replied)
    assert (_read(update) is not None) is addressed


@pytest.mark.parametrize("where", ["private", "group"])
def test_a_caption_is_the_text_of_a_photo_or_document(where: str) -> None:
    caption = f"@{BOT_NAME} the box arrived like this" if where == "group" else "the box arrived like this"
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    document = {"file_id": "d1", "file_unique_id": "u2", "file_name": "receipt.pdf"}
    build = _group if where == "group" else _private
    for attachment in ({"photo": photo}, {"document": document}):
        message = _read(build(caption=caption, **attachment))
        assert message is not None
        assert (message.kind, message.text) == ("text", caption)


@pytest.mark.parametrize(
    ("attachment", "kind", "text"),
    [
        (
            {"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512,
                         "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}},
            "sticker",
            "[sticker 👍]",
        ),
        (
            {"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512,
                         "height": 512, "is_animated": False, "is_video": False}},
            "sticker",
            "[sticker]",
        ),
        ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 4}}, "voice", "[voice message]"),
        ({"document": {"file_id": "d", "file_unique_id": "d", "file_name": "bill.pdf"}}, "media",
         "[document bill.pdf]"),
        ({"photo": [{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}]}, "media", "[photo]"),
        ({"location": {"latitude": 51.5, "longitude": -0.1}}, "media", "[location]"),
    ],
)  # fmt: skip
def test_what_the_model_cannot_read_is_described_for_a_person(attachment: dict, kind: str, text: str) -> None:
    message = _read(_private(**attachment))
    assert message is not None
    assert (message.kind, message.text) == (kind, text)


def test_a_sticker_in_a_group_counts_only_as_a_reply_to_the_bot() -> None:
    sticker = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 512, "height": 512,
               "is_animated": False, "is_video": False, "emoji": "😡"}  # fmt: skip
    assert _read(_group(sticker=sticker)) is None
    bots_message = tg_message(GROUP, BOT_USER, "Sorry to hear that!")
    message = _read(_group(sticker=sticker, reply_to_message=bots_message))
    assert message is not None and message.kind == "sticker"


def test_an_edit_is_read_as_a_new_message_with_its_own_id() -> None:
    original = tg_message(private_chat(ALICE), ALICE, "my order is late")
    edited = {
        **original,
        "text": "my order is late and the box was damaged",
        "edit_date": original["date"] + 60,
    }

    message = _read(_update(edited_message=edited))

    assert message is not None
    first = _read(_update(message=original))
    assert first is not None
    assert message.platform_message_id == f"{first.platform_message_id}:edit:{edited['edit_date']}"
    assert message.text == "my order is late and the box was damaged"
    assert message.received_at > first.received_at
    assert message.conversation_key == first.conversation_key


def test_an_edit_of_an_old_message_is_skipped() -> None:
    original = tg_message(private_chat(ALICE), ALICE, "thanks!")
    original["date"] -= 3 * 86400
    edited = {**original, "text": "thanks!!", "edit_date": int(time.time())}
    assert _read(_update(edited_message=edited)) is None


@pytest.mark.parametrize(
    ("text", "expected_text", "token"),
    [
        ("/start Ab3_x-Yz9Q0w", "hi", "Ab3_x-Yz9Q0w"),
        ("/start", "hi", None),
        ("/start not a token!", "hi", None),
        ("/help", "/help", None),
    ],
)
def test_opening_the_private_chat_from_the_invitation_carries_the_join_token(
    text: str, expected_text: str, token: str | None
) -> None:
    message = _read(_private(text))
    assert message is not None
    assert (message.text, message.join_token, message.public) == (expected_text, token, False)


def test_start_in_a_group_is_not_a_join() -> None:
    message = _read(_group(f"/start@{BOT_NAME} tok", reply_to_message=None))
    assert message is None


@pytest.mark.parametrize(
    "fields",
    [
        {"channel_post": {"message_id": 1, "date": 1, "chat": CHANNEL, "text": "sale!"}},
        {"my_chat_member": {"chat": GROUP, "from": ALICE, "date": 1,
                            "old_chat_member": {"status": "left", "user": BOT_USER},
                            "new_chat_member": {"status": "member", "user": BOT_USER}}},
        {"message": {"message_id": 5, "date": 1, "chat": GROUP, "from": ALICE, "new_chat_members": [BOB]}},
        {"message": {"message_id": 6, "date": 1, "chat": GROUP, "from": ALICE, "left_chat_member": BOB}},
        {"message": {"message_id": 7, "date": 1, "chat": GROUP, "from": ALICE, "new_chat_title": "x"}},
        {"callback_query": {"id": "cb1", "from": ALICE, "chat_instance": "ci", "data": "yes"}},
        {"message_reaction": {"chat": GROUP, "message_id": 3, "date": 1, "user": ALICE,
                              "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
        {"some_future_kind": {"anything": 1}},
        {"message": {"message_id": 8, "date": 1, "chat": private_chat(BOB),
                     "from": {**BOT_USER, "id": 99}, "text": "I am a bot"}},
        {"message": {"message_id": 9, "date": 1, "chat": GROUP, "from": {"id": 1087968824, "is_bot": True,
                     "first_name": "Group"}, "sender_chat": GROUP, "text": f"@{BOT_NAME} hi"}},
    ],
)  # fmt: skip
def test_updates_that_are_not_customer_messages_are_skipped(fields: dict) -> None:
    assert _read({"update_id": 1, **fields}) is None


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "hello",
        {"message": {"text": "no update id"}},
        {"update_id": "1"},
        {"update_id": 1, "message": {"message_id": 1, "text": "no chat"}},
    ],
)
def test_malformed_updates_are_refused_clearly(raw: Any) -> None:
    with pytest.raises(InvalidMessage):
        _read(raw)


def test_group_messages_are_not_read_before_the_bot_knows_its_name() -> None:
    assert read_update(to_update(_group(f"@{BOT_NAME} help")), None) is None


@pytest.mark.parametrize(
    "message",
    [
        {"text": 5},
        {"text": ["hi"]},
        {"caption": {"a": 1}},
        {"from": {"id": 42, "is_bot": False, "first_name": 7}},
        {"entities": [{"type": "mention", "offset": "x", "length": 3}], "text": "@x hi"},
        {"edit_date": "yesterday"},
        {"date": None},
        {"chat": {"id": "42", "type": "private"}},
    ],
)
@pytest.mark.parametrize("where", [_private, _group])
def test_an_update_with_fields_of_the_wrong_type_is_refused_not_a_crash(
    where: Any, message: dict[str, Any]
) -> None:
    """Whatever arrives with the webhook's secret is parsed; wrong types must not escape as a bug,
    or the update is asked for again forever and holds up the ones after it."""
    raw = where(f"@{BOT_NAME} hello")
    raw["message"].update(message)
    try:
        read = _read(raw)
    except InvalidMessage:
        return
    assert read is None or (isinstance(read.text, str) and isinstance(read.received_at, datetime))


# --- Telegram Business --------------------------------------------------------------------------

OWNER = user(77, "Kestrel Shop", username="kestrel_shop")
"""The brand's own Telegram account, connected to the bot through Telegram Business."""


def test_a_customer_writing_to_the_brand_s_account_is_a_business_conversation() -> None:
    raw = _update(business_message=business_message("Bconn-1_x", ALICE, ALICE, "my order never arrived"))
    message = _read(raw)
    assert message is not None
    assert message.conversation_key == "business:Bconn-1_x:chat:42"
    assert not message.public and message.customer == Customer(
        "42", handle="alice_k", display_name="Alice Kay"
    )
    chat_message = raw["business_message"]["message_id"]
    # Its own id space: the bot's own chat with Alice may have a message with the same number.
    assert message.platform_message_id == f"42:{chat_message}:business:Bconn-1_x"


def test_an_edited_business_message_is_read_again() -> None:
    edited = business_message("Bconn-1_x", ALICE, ALICE, "my order never arrived, order 55123")
    edited["edit_date"] = edited["date"] + 30
    message = _read(_update(edited_business_message=edited))
    assert message is not None and message.platform_message_id.endswith(":business:Bconn-1_x")
    assert ":edit:" in message.platform_message_id


@pytest.mark.parametrize(
    "raw",
    [
        # The brand's own person answering by hand in the same chat: not a customer.
        _update(business_message=business_message("Bconn-1_x", ALICE, OWNER, "Hi Alice, checking now")),
        _update(
            deleted_business_messages={
                "business_connection_id": "Bconn-1_x",
                "chat": private_chat(ALICE),
                "message_ids": [5],
            }
        ),
        _update(business_connection=business_connection("Bconn-1_x", OWNER)),
    ],
    ids=["owner's own message", "deleted messages", "connection changed"],
)
def test_what_is_not_a_customer_writing_to_the_brand_is_skipped(raw: dict) -> None:
    assert _read(raw) is None
