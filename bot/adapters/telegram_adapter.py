"""Telegram: private chats with the brand's bot, and the groups the bot is a member of.

In a group the bot answers only a message that @mentions it or replies to one of its messages, so
it never talks over people who are talking to each other; its public answer is short and carries
a deep link (`https://t.me/<bot>?start=<token>`) that opens a private chat joined to the same case.

Updates arrive by long polling (the default) or, when the service has a public URL, by webhook with
Telegram's `secret_token` checked on every request. Either way one update is handed to the inbox at
a time and acknowledged to Telegram (offset cursor saved, or 200 answered) only after the inbox
returned, so a crash or a store outage loses nothing and a restart repeats nothing.

Messages are sent as plain text (no `parse_mode`): replies quote customers' own words and carry
links with `_` in them, and plain text is the one format where no character needs escaping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import re
import time
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Bot, LinkPreviewOptions, Message, MessageEntity, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.base import BaseAdapter, Inbox
from bot.errors import DeliveryFailed, InvalidMessage, PlatformUnavailable, SettingsError
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.text_limits import LIMITS, measure

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.settings import Settings

__all__ = ["WEBHOOK_PATH", "TelegramAdapter", "split_text"]

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

_POLL_TIMEOUT = 30
"""Seconds one getUpdates call waits for news: long polling, so the bot hears a message at once."""
_MAX_BACKOFF = 60.0
_MAX_WEBHOOK_BODY = 1 << 20
_ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
"""What the bot asks Telegram for; anything else that still arrives is skipped with a log."""
_EDIT_WINDOW = timedelta(days=1)
"""An edit of a message older than this is not news for the case, so it is not read again."""
_AUDIENCE_TTL = 3600.0
_START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_KEY = re.compile(r"^chat:(?P<chat>-?\d+)(?::topic:(?P<topic>\d+))?(?::user:(?P<user>\d+))?$")
_SENTENCE_END = re.compile(r"[.!?…](?=\s)")
_OPENED_CHAT = "hi"


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _break_point(window: str) -> int:
    """Where to end a part within `window`: a paragraph, a line, a sentence, a word, or a hard cut.

    Paragraph, line and sentence breaks count only in the second half of the window, so no part
    ends up a few words long just because the text started with a short paragraph.
    """
    half = len(window) // 2
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at >= half:
            return at + len(separator)
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() >= half]
    if ends:
        return ends[-1]
    at = max(window.rfind(" "), window.rfind("\t"))
    return at + 1 if at > 0 else len(window)


def split_text(text: str, limit: int = LIMITS["telegram"]) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 units (Telegram's counting), cut cleanly."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest, "telegram") <= limit:
            parts.append(rest)
            break
        units, end = 0, 0
        while end < len(rest) and units + _utf16_units(rest[end]) <= limit:
            units += _utf16_units(rest[end])
            end += 1
        cut = _break_point(rest[:end])
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _retry_after(exc: RetryAfter) -> float:
    # PTB 22 warns on this attribute unless PTB_TIMEDELTA is set; either type is handled here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return _seconds(exc.retry_after)


def _classify(exc: TelegramError, context: str) -> PlatformUnavailable | DeliveryFailed:
    """A PTB error as the retryable or permanent failure the outbox understands."""
    # BadRequest is a NetworkError in PTB, so the permanent refusals are checked first.
    if isinstance(exc, RetryAfter):
        seconds = _retry_after(exc)
        return PlatformUnavailable(f"Telegram asks to wait {seconds:g} s{context}", retry_after=seconds)
    if isinstance(exc, ChatMigrated):
        return DeliveryFailed(f"the group became a supergroup (new chat id {exc.new_chat_id}){context}")
    if isinstance(exc, InvalidToken):
        return DeliveryFailed(f"Telegram refused the bot token{context}")
    if isinstance(exc, (BadRequest, Forbidden)):
        return DeliveryFailed(f"Telegram refused the message{context}: {exc.message}")
    if isinstance(exc, TimedOut):
        return PlatformUnavailable(f"Telegram did not answer in time{context}")
    return PlatformUnavailable(f"Telegram could not be reached{context}: {exc.message}")


def _update_kind(update: Update) -> str:
    """The name of the field an update carries ("channel_post", "my_chat_member", ...)."""
    fields = update.to_dict()
    return next((name for name in fields if name != "update_id"), "empty update")


class TelegramAdapter(BaseAdapter):
    """The brand's Telegram bot, through PTB's `Bot` (we own the event loop, so no `Application`)."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        *,
        api_url: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        poll_timeout: int = _POLL_TIMEOUT,
    ) -> None:
        self.bot = Bot(token, base_url=api_url)
        self.webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self.poll_timeout = poll_timeout
        self.bot_id: int | None = None
        self.username: str | None = None
        self._poller: asyncio.Task[None] | None = None
        self._audiences: dict[int, tuple[float, int | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramAdapter | None:
        """The adapter when FIRSTLINE_TELEGRAM_TOKEN is set; webhook mode when there is a public URL.

        Raises:
            SettingsError: webhook mode without a usable FIRSTLINE_TELEGRAM_WEBHOOK_SECRET.
        """
        token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
        if not token:
            logger.info("telegram: FIRSTLINE_TELEGRAM_TOKEN is not set; Telegram is off")
            return None
        if not settings.public_url:
            return cls(token, api_url=settings.telegram_api_url)
        secret = (
            settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        )
        if not secret:
            raise SettingsError(
                "FIRSTLINE_PUBLIC_URL is set, so Telegram delivers updates by webhook, which needs "
                "FIRSTLINE_TELEGRAM_WEBHOOK_SECRET; set it, or unset FIRSTLINE_PUBLIC_URL to use long polling"
            )
        if not _WEBHOOK_SECRET.match(secret):
            raise SettingsError(
                "FIRSTLINE_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return cls(
            token,
            api_url=settings.telegram_api_url,
            webhook_url=settings.base_url + WEBHOOK_PATH,
            webhook_secret=secret,
        )

    # --- lifecycle -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Asks Telegram who the bot is (getMe): groups are read by its username and id.

        Raises:
            SettingsError: Telegram refused the token.
            PlatformUnavailable: Telegram could not be reached.
        """
        try:
            await self.bot.initialize()
        except InvalidToken:
            # PTB's own message quotes the token, which must not reach a log.
            raise SettingsError(
                "telegram: the bot token was refused by Telegram; "
                "check FIRSTLINE_TELEGRAM_TOKEN against @BotFather's /token"
            ) from None
        except TelegramError as exc:
            raise PlatformUnavailable(f"telegram: cannot reach the Bot API: {exc.message}") from None
        self.bot_id, self.username = self.bot.id, self.bot.username

    async def start(self, inbox: Inbox) -> None:
        await self.connect()
        try:
            if self.webhook_url:
                await self.bot.set_webhook(
                    self.webhook_url,
                    secret_token=self._webhook_secret,
                    allowed_updates=list(_ALLOWED_UPDATES),
                )
                logger.info(
                    "telegram: connected as @%s (id %s); updates by webhook at %s",
                    self.username,
                    self.bot_id,
                    self.webhook_url,
                )
                return
            # getUpdates is refused while a webhook is set (say, by an earlier webhook deployment).
            await self.bot.delete_webhook(drop_pending_updates=False)
        except (BadRequest, Forbidden, InvalidToken) as exc:
            raise SettingsError(f"telegram: the Bot API refused the setup: {exc.message}") from None
        except TelegramError as exc:
            raise PlatformUnavailable(f"telegram: cannot reach the Bot API: {exc.message}") from None
        logger.info("telegram: connected as @%s (id %s); updates by long polling", self.username, self.bot_id)
        self._poller = asyncio.create_task(self._poll(inbox), name="telegram-polling")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
            self._poller = None
        await self.bot.shutdown()

    def cursor_name(self) -> str:
        """The store's name for the update offset, per bot: two bots sharing a store keep theirs."""
        return f"telegram:update_offset:{self.bot_id}"

    async def _poll(self, inbox: Inbox) -> None:
        name = self.cursor_name()
        stored = inbox.cursor(name)
        offset = int(stored) if stored and stored.lstrip("-").isdigit() else None
        failures = 0
        while True:
            delay = 0.0
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=list(_ALLOWED_UPDATES)
                )
            except RetryAfter as exc:
                delay = _retry_after(exc)
                logger.warning("telegram: flood control on getUpdates; waiting %g s", delay)
                updates = ()
            except InvalidToken:
                logger.error("telegram: the bot token was refused by Telegram; polling stopped")
                return
            except Conflict as exc:
                failures += 1
                delay = min(_MAX_BACKOFF, 2.0**failures)
                logger.error(
                    "telegram: getUpdates conflicts with another poller or a webhook (%s); "
                    "run one polling instance, or use a webhook (FIRSTLINE_PUBLIC_URL)",
                    exc.message,
                )
                updates = ()
            except TelegramError as exc:
                failures += 1
                delay = min(_MAX_BACKOFF, 2.0**failures)
                logger.warning("telegram: getUpdates failed (%s); retrying in %g s", exc.message, delay)
                updates = ()
            for update in updates:
                try:
                    await self.dispatch(update, inbox)
                    offset = update.update_id + 1
                    inbox.save_cursor(name, str(offset))
                except Exception:
                    # The offset stays put, so the next call fetches this update again.
                    failures += 1
                    delay = min(_MAX_BACKOFF, 2.0**failures)
                    logger.exception(
                        "telegram: update %s was not stored; fetching it again in %g s",
                        update.update_id,
                        delay,
                    )
                    break
            else:
                if updates:
                    failures = 0
            if delay:
                await asyncio.sleep(delay)

    # --- receiving -----------------------------------------------------------------------------

    async def dispatch(self, raw: Any, inbox: Inbox) -> None:
        """Handles one update end to end: answers a button press, or gives the message to the inbox.

        Updates that carry no customer message, and messages the inbox refuses, are skipped with
        a log line.

        Raises:
            Exception: whatever the inbox raised other than `InvalidMessage`; the update was not
                stored and must not be acknowledged to Telegram.
        """
        try:
            update = self._update(raw)
            if update.callback_query is not None:
                await self._answer_callback(update)
            message = self.parse(update)
        except InvalidMessage as exc:
            logger.warning("telegram: update skipped: %s", exc)
            return
        if message is None:
            return
        if message.public:
            audience = await self._audience(int(message.conversation_key.split(":")[1]))
            message = dataclasses.replace(
                message, customer=dataclasses.replace(message.customer, audience=audience)
            )
        try:
            await inbox.receive(message)
        except InvalidMessage as exc:
            logger.warning("telegram: message %s refused: %s", message.platform_message_id, exc)

    async def _answer_callback(self, update: Update) -> None:
        """Stops the button's spinner; the bot sends no buttons, so the press carries nothing to read.

        A press can only come from a keyboard an agent or an older bot sent; it is answered and
        otherwise skipped (logged), never mistaken for a customer message.
        """
        query = update.callback_query
        assert query is not None
        try:
            await self.bot.answer_callback_query(query.id)
        except TelegramError as exc:
            logger.warning("telegram: answering button press %s failed: %s", query.id, exc.message)
        logger.info("telegram: button press %s from user %s skipped", query.id, query.from_user.id)

    async def _audience(self, chat_id: int) -> int | None:
        """How many members see a group message, from a cache refreshed hourly; None if unknown."""
        now = time.monotonic()
        cached = self._audiences.get(chat_id)
        if cached is not None and now - cached[0] < _AUDIENCE_TTL:
            return cached[1]
        try:
            count: int | None = await self.bot.get_chat_member_count(chat_id)
        except TelegramError as exc:
            logger.info("telegram: member count of chat %s unknown: %s", chat_id, exc.message)
            count = None
        self._audiences[chat_id] = (now, count)
        return count

    def _update(self, raw: Any) -> Update:
        if isinstance(raw, Update):
            return raw
        if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
            raise InvalidMessage("a Telegram update is a JSON object with an integer 'update_id'")
        try:
            update = Update.de_json(raw, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidMessage(f"malformed Telegram update {raw.get('update_id')}: {exc!r}") from exc
        assert update is not None
        return update

    def parse(self, raw: Any) -> InboundMessage | None:
        """One update (its JSON or a PTB `Update`) as a customer message, or None to skip it.

        Edited messages are read as new messages (id `<chat>:<message>:edit:<time>`), so the agent
        sees what the customer changed and the bot answers the new words; an edit of a message
        older than a day is skipped. Channel posts, membership changes and button presses are not
        customer messages and are skipped with a log line.

        Raises:
            InvalidMessage: the JSON is not a Telegram update.
        """
        update = self._update(raw)
        if update.message is not None:
            return self._from_message(update.message, edited=False)
        if update.edited_message is not None:
            return self._from_message(update.edited_message, edited=True)
        logger.info("telegram: update %s (%s) skipped", update.update_id, _update_kind(update))
        return None

    def _from_message(self, message: Message, *, edited: bool) -> InboundMessage | None:
        chat, user = message.chat, message.from_user
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
        if edited and message.edit_date and message.edit_date - message.date > _EDIT_WINDOW:
            logger.info("telegram: edit of old message %s skipped", where)
            return None
        content = self._content(message)
        if content is None:
            logger.info("telegram: service message %s skipped", where)
            return None
        kind, text = content
        public = chat.type != ChatType.PRIVATE
        if public and not self._addressed(message):
            logger.debug("telegram: group message %s not addressed to the bot", where)
            return None
        join_token = None
        if not public and kind == "text":
            text, join_token = self._read_start(text)
        message_id = where
        received_at = message.date
        if edited and message.edit_date:
            message_id = f"{where}:edit:{int(message.edit_date.timestamp())}"
            received_at = message.edit_date
        return InboundMessage(
            platform=self.name,
            platform_message_id=message_id,
            conversation_key=self.conversation_key(message),
            public=public,
            customer=Customer(
                str(user.id), handle=user.username, display_name=user.full_name or None, audience=None
            ),
            text=text,
            received_at=received_at,
            url=message.link if public else None,
            join_token=join_token,
            kind=kind,
        )

    @staticmethod
    def conversation_key(message: Message) -> str:
        """`chat:<id>` for a private chat; in a group, one conversation per customer (and topic).

        A group holds many customers; each one's messages there form their own public thread of
        their own case, or one customer's complaint would swallow everyone else's.
        """
        if message.chat.type == ChatType.PRIVATE:
            return f"chat:{message.chat.id}"
        topic = f":topic:{message.message_thread_id}" if message.is_topic_message else ""
        user = message.from_user.id if message.from_user else 0
        return f"chat:{message.chat.id}{topic}:user:{user}"

    @staticmethod
    def _content(message: Message) -> tuple[str, str] | None:
        """What the customer sent as (kind, text): the text or caption, or a short description.

        Stickers, voice notes and attachments without a caption cannot be read by the model; they
        get a description and a kind that sends the case to a person. Service messages (members
        joining or leaving, a new title, a pinned message) are None.
        """
        if message.text:
            return "text", message.text
        if message.sticker:
            emoji = message.sticker.emoji
            return "sticker", f"[sticker {emoji}]" if emoji else "[sticker]"
        if message.voice:
            return "voice", "[voice message]"
        if message.caption:
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

    def _addressed(self, message: Message) -> bool:
        """Whether a group message is meant for the bot: it @mentions the bot or replies to it."""
        if self.bot_id is None or self.username is None:
            logger.warning("telegram: group message before the bot knows its name (start() not run)")
            return False
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == self.bot_id:
            return True
        kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
        entities = message.parse_entities(kinds) if message.text else message.parse_caption_entities(kinds)
        mention = f"@{self.username}".lower()
        for entity, text in entities.items():
            if entity.type == MessageEntity.MENTION and text.lower() == mention:
                return True
            if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == self.bot_id:
                return True
        return False

    @staticmethod
    def _read_start(text: str) -> tuple[str, str | None]:
        """`/start <token>` as a greeting that carries the case's join token.

        Telegram sends `/start <token>` when a customer taps the invitation link and then Start;
        the customer typed nothing. Opening the chat is a hello, so the model reads it as the
        greeting it is ("hi"), and the token joins this private chat to the public case. A plain
        `/start` (the customer found the bot by themselves) is a hello without a case to join.
        """
        command, _, argument = text.strip().partition(" ")
        if command != "/start" and not command.startswith("/start@"):
            return text, None
        token = argument.strip()
        return _OPENED_CHAT, token if _START_PARAM.match(token) else None

    # --- sending -------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> str:
        """Sends plain text, split at 4,096 UTF-16 units; a public answer quotes the customer.

        Returns `<chat>:<message id>` of the first part. A failure after some parts went out is
        raised like any other; a retry then sends the whole text again, since losing the end of
        an answer is worse than repeating its start.

        Raises:
            PlatformUnavailable: flood control (with `retry_after`), 5xx, timeouts, no connection.
            DeliveryFailed: Telegram refused the message (400, 403: blocked, not a member).
        """
        match = _KEY.match(message.conversation_key)
        if match is None:
            raise DeliveryFailed(f"{message.conversation_key!r} is not a Telegram conversation")
        chat_id = int(match["chat"])
        topic = int(match["topic"]) if match["topic"] else None
        parts = split_text(message.text, self.char_limit)
        if not parts:
            raise DeliveryFailed("the message has no text")
        reply_to = self._reply_target(message.in_reply_to, chat_id) if message.public else None
        first_id: str | None = None
        for index, part in enumerate(parts):
            try:
                sent = await self.bot.send_message(
                    chat_id,
                    part,
                    message_thread_id=topic,
                    reply_parameters=(
                        ReplyParameters(reply_to, allow_sending_without_reply=True)
                        if reply_to is not None and index == 0
                        else None
                    ),
                    # A link preview of the bot's own page would make a public answer long.
                    link_preview_options=LinkPreviewOptions(is_disabled=True) if message.public else None,
                )
            except TelegramError as exc:
                context = f" (part {index + 1} of {len(parts)})" if len(parts) > 1 else ""
                raise _classify(exc, context) from exc
            first_id = first_id or f"{chat_id}:{sent.message_id}"
        assert first_id is not None
        return first_id

    @staticmethod
    def _reply_target(in_reply_to: str | None, chat_id: int) -> int | None:
        """The Telegram message id inside `<chat>:<message>[:edit:<time>]`, if it is in this chat."""
        if not in_reply_to:
            return None
        chat, _, rest = in_reply_to.partition(":")
        message_id = rest.partition(":")[0]
        if chat != str(chat_id) or not message_id.isdigit():
            return None
        return int(message_id)

    def dm_link(self, customer: Customer, join_token: str) -> str | None:
        if self.username is None or not _START_PARAM.match(join_token):
            return None
        return f"https://t.me/{self.username}?start={join_token}"

    # --- webhook -------------------------------------------------------------------------------

    def webhook_routes(self, inbox: Inbox) -> Sequence[BaseRoute]:
        """POST /webhooks/telegram, only in webhook mode.

        The update is handled before the answer, so Telegram delivers it again when it could not
        be stored (5xx); repeats are recognised by their message id. A wrong or missing secret is
        a 401 and nothing is read.
        """
        secret = self._webhook_secret
        if not self.webhook_url or not secret:
            return ()

        async def receive_update(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return JSONResponse({"error": "wrong or missing secret token"}, status_code=401)
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > _MAX_WEBHOOK_BODY:
                    return JSONResponse({"error": "the update is too large"}, status_code=413)
            try:
                raw = json.loads(body)
                update = self._update(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                return JSONResponse({"error": f"the body is not valid JSON: {exc}"}, status_code=400)
            except InvalidMessage as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            try:
                await self.dispatch(update, inbox)
            except Exception:
                logger.exception("telegram: webhook update %s was not stored", update.update_id)
                return JSONResponse({"error": "not stored; Telegram will send it again"}, status_code=503)
            # Never echo a "method" here: Telegram would run it as a Bot API call.
            return JSONResponse({"ok": True})

        return (Route(WEBHOOK_PATH, receive_update, methods=["POST"]),)
