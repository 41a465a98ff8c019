"""Reading Telegram updates: which ones are customer messages, and what they say.

Pure functions over PTB's `Update` objects (no network), so every update kind can be tested from
recorded JSON. The rules: a private chat is always for the bot; in a group only a message that
@mentions the bot or replies to one of its messages is, so the bot never talks over people who are
talking to each other. Everything else (channel posts, membership changes, button presses, other
bots) is skipped on purpose, with a log line.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType

from bot.errors import InvalidMessage
from bot.messages import Customer, InboundMessage

__all__ = [
    "ALLOWED_UPDATES",
    "EDIT_WINDOW",
    "START_PARAM",
    "BotIdentity",
    "addressed_to",
    "conversation_key",
    "describe",
    "read_start",
    "read_update",
    "to_update",
]

logger = logging.getLogger(__name__)

PLATFORM = "telegram"
ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
)
"""What the bot asks Telegram for; anything else that still arrives is skipped with a log."""
EDIT_WINDOW = timedelta(days=1)
"""An edit of a message older than this is not news for the case, so it is not read again."""
START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What Telegram allows after `?start=` in a deep link."""
OPENED_CHAT = "hi"


_SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError, OSError)
"""What PTB and our reading raise on JSON of the wrong shape: PTB builds objects without checking
types, so `"date": 1e30` fails as an OverflowError and `"text": 5` only when the text is read."""


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe): group messages are for it when they name or answer it."""

    id: int
    username: str


def to_update(raw: Any, bot: Bot | None = None) -> Update:
    """An update's JSON (webhook) or a PTB `Update` (polling) as an `Update`.

    Raises:
        InvalidMessage: the JSON is not a Telegram update.
    """
    if isinstance(raw, Update):
        return raw
    if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
        raise InvalidMessage("a Telegram update is a JSON object with an integer 'update_id'")
    try:
        update = Update.de_json(raw, bot)
    except _SHAPE_ERRORS as exc:
        raise InvalidMessage(f"malformed Telegram update {raw['update_id']}: {exc!r}") from exc
    assert update is not None
    return update


def _update_kind(update: Update) -> str:
    """The name of the field an update carries ("channel_post", "my_chat_member", ...)."""
    return next((name for name in update.to_dict() if name != "update_id"), "empty update")


def read_update(update: Update, me: BotIdentity | None) -> InboundMessage | None:
    """The customer message an update carries, or None when it carries none for the bot.

    Edited messages are read as new messages (id `<chat>:<message>:edit:<time>`), so the agent
    sees what the customer changed and the bot answers the new words; an edit of a message older
    than `EDIT_WINDOW` is skipped. `me` is None before getMe answered: group messages are then
    skipped, since nobody can tell whether they are for the bot.
    """
    found = (
        (update.message, False),
        (update.edited_message, True),
        (update.business_message, False),
        (update.edited_business_message, True),
    )
    message, edited = next(((m, e) for m, e in found if m is not None), (None, False))
    if message is not None:
        try:
            return _read_message(message, me, edited=edited)
        except _SHAPE_ERRORS as exc:
            raise InvalidMessage(f"malformed Telegram update {update.update_id}: {exc!r}") from exc
    logger.info("telegram: update %s (%s) skipped", update.update_id, _update_kind(update))
    return None


def _read_message(message: Message, me: BotIdentity | None, *, edited: bool) -> InboundMessage | None:
    chat, user = message.chat, message.from_user
    ids = (chat.id, message.message_id, user.id if user is not None else 0)
    if any(type(i) is not int for i in ids) or not isinstance(message.date, datetime):
        raise InvalidMessage(f"Telegram message {message.message_id!r}: its ids or its date are missing")
    where = f"{chat.id}:{message.message_id}"
    if chat.type == ChatType.CHANNEL:
        logger.info("telegram: message %s in a channel skipped", where)
        return None
    if user is None or message.sender_chat is not None:
        logger.info("telegram: message %s sent on behalf of a chat skipped", where)
        return None
    if user.is_bot:
        logger.info("telegram: message %s from bot %s skipped", where, user.id)
        return None
    connection = message.business_connection_id
    if connection is not None and not (chat.type == ChatType.PRIVATE and chat.id == user.id):
        # In a business account's private chat with a customer, the chat's id is the customer's;
        # anything else was written by the account's owner (a person from the brand) or for them.
        logger.info("telegram: business message %s written by the account itself skipped", where)
        return None
    if edited and message.edit_date and message.edit_date - message.date > EDIT_WINDOW:
        logger.info("telegram: edit of old message %s skipped", where)
        return None
    if any(value is not None and not isinstance(value, str) for value in (message.text, message.caption)):
        # Not a service message: a customer's words arrived in a shape nobody can read.
        raise InvalidMessage(f"Telegram message {where}: its text or caption is not a string")
    content = describe(message)
    if content is None:
        logger.info("telegram: service message %s skipped", where)
        return None
    kind, text = content
    public = chat.type != ChatType.PRIVATE
    if public and not addressed_to(message, me):
        logger.debug("telegram: group message %s is not for the bot", where)
        return None
    join_token = None
    if not public and kind == "text":
        text, join_token = read_start(text)
    message_id, received_at = where, message.date
    if edited and message.edit_date:
        message_id = f"{where}:edit:{int(message.edit_date.timestamp())}"
        received_at = message.edit_date
    if connection is not None:
        # The business account's chat with a customer numbers its messages apart from the bot's
        # own chat with the same person: the same `<chat>:<message>` may name both.
        message_id = f"{message_id}:business:{connection}"
    return InboundMessage(
        platform=PLATFORM,
        platform_message_id=message_id,
        conversation_key=conversation_key(message),
        public=public,
        customer=Customer(str(user.id), handle=user.username, display_name=user.full_name or None),
        text=text,
        received_at=received_at,
        url=message.link if public else None,
        join_token=join_token,
        kind=kind,
    )


def conversation_key(message: Message) -> str:
    """`chat:<id>` for a private chat; in a group, one conversation per customer (and topic); in a
    Telegram Business chat, `business:<connection>:chat:<id>`.

    A group holds many customers; each one's messages there form the public thread of their own
    case, or one customer's complaint would swallow everyone else's. The key carries what sending
    needs: the chat, and the forum topic the answer belongs in.
    """
    if message.business_connection_id is not None:
        # Telegram Business: the customer wrote to the brand's own account, and the answer goes
        # back through the same connection, as the brand.
        return f"business:{message.business_connection_id}:chat:{message.chat.id}"
    if message.chat.type == ChatType.PRIVATE:
        return f"chat:{message.chat.id}"
    topic = f":topic:{message.message_thread_id}" if message.is_topic_message else ""
    user = message.from_user.id if message.from_user else 0
    return f"chat:{message.chat.id}{topic}:user:{user}"


def describe(message: Message) -> tuple[str, str] | None:
    """What the customer sent as (kind, text): the text or caption, or a short description.

    Stickers, voice notes and attachments without a caption cannot be read by the model; they get
    a description and a kind that sends the case to a person. Service messages (members joining
    or leaving, a new title, a pinned message) are None.
    """
    if isinstance(message.text, str) and message.text:
        return "text", message.text
    if message.sticker:
        emoji = message.sticker.emoji
        return "sticker", f"[sticker {emoji}]" if emoji else "[sticker]"
    if message.voice:
        return "voice", "[voice message]"
    if isinstance(message.caption, str) and message.caption:
        return "text", message.caption
    if message.document:
        name = message.document.file_name
        return "media", f"[document {name}]" if name else "[document]"
    described = (
        (message.photo, "[photo]"),
        (message.video, "[video]"),
        (message.video_note, "[video message]"),
        (message.animation, "[GIF]"),
        (message.audio, "[audio]"),
        (message.location, "[location]"),
        (message.contact, "[contact card]"),
        (message.poll, "[poll]"),
        (message.dice, "[dice]"),
    )
    return next((("media", text) for present, text in described if present), None)


def addressed_to(message: Message, me: BotIdentity | None) -> bool:
    """Whether a group message is meant for the bot: it @mentions the bot or replies to it."""
    if me is None:
        logger.warning("telegram: a group message arrived before the bot knew its name")
        return False
    replied = message.reply_to_message
    # Every message in a forum topic replies to the topic's opening service message; in a topic
    # the bot opened, that would make every message there look addressed to the bot.
    opens_topic = replied is not None and replied.forum_topic_created is not None
    if (
        replied is not None
        and not opens_topic
        and replied.from_user is not None
        and replied.from_user.id == me.id
    ):
        return True
    kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    entities = message.parse_entities(kinds) if message.text else message.parse_caption_entities(kinds)
    mention = f"@{me.username}".lower()
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == mention:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == me.id:
            return True
    return False


def read_start(text: str) -> tuple[str, str | None]:
    """`/start <token>` as a greeting that carries the case's join token.

    Telegram sends `/start <token>` when a customer taps the invitation link and then Start; the
    customer typed nothing. Opening the chat is a hello, so the model reads it as the greeting it
    is ("hi"), and the token joins this private chat to the public case. A plain `/start` (the
    customer found the bot by themselves) is a hello without a case to join; a token Telegram
    would not have sent is ignored.
    """
    command, _, argument = text.strip().partition(" ")
    if command != "/start" and not command.startswith("/start@"):
        return text, None
    token = argument.strip()
    return OPENED_CHAT, token if START_PARAM.match(token) else None
