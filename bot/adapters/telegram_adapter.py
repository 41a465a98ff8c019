"""Telegram: private chats with the brand's bot, and the groups the bot is a member of.

In a group the bot answers only a message that @mentions it or replies to one of its messages
(`bot.adapters.telegram_updates`); its public answer carries a deep link
(`https://t.me/<bot>?start=<token>`) that opens a private chat joined to the same case.

Updates arrive by long polling (the default) or, when the service has a public URL, by webhook
(`bot.adapters.telegram_webhook`). Either way an update is acknowledged to Telegram (offset saved,
or 200 answered) only after the inbox returned, so a crash or a store outage loses nothing and a
restart repeats nothing.

Messages are sent as plain text (no `parse_mode`): replies quote customers' own words and carry
links with `_` in them, and plain text is the one format where no character needs escaping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import Bot, BusinessConnection, LinkPreviewOptions, ReplyParameters, Update
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
from bot.adapters.telegram_updates import ALLOWED_UPDATES, START_PARAM, BotIdentity, read_update, to_update
from bot.adapters.telegram_webhook import WEBHOOK_PATH, webhook_route
from bot.backoff import backoff
from bot.errors import DeliveryFailed, InvalidMessage, PlatformUnavailable, SettingsError
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.text_limits import LIMITS, measure

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.settings import Settings
    from bot.store.spend import SpendLedger

__all__ = ["TelegramAdapter", "split_text"]

logger = logging.getLogger(__name__)

_POLL_TIMEOUT = 30
LEADER_SECONDS = 10.0
"""How long an instance's claim to poll this bot lasts without renewal: when several instances
share a store, one polls (Telegram ends a second getUpdates with 409 Conflict) and another takes
over within this long of its death."""
"""Seconds one getUpdates call waits for news: long polling, so the bot hears a message at once."""
_MAX_BACKOFF = 60.0
_AUDIENCE_TTL = 3600.0
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_KEY = re.compile(
    r"^(?:business:(?P<connection>[A-Za-z0-9_-]{1,128}):)?"
    r"chat:(?P<chat>-?\d+)(?::topic:(?P<topic>\d+))?(?::user:(?P<user>\d+))?$"
)
_CONNECTION_TTL = 60.0
"""How long what Telegram said about a business connection is trusted before asking again."""
_SENTENCE_END = re.compile(r"[.!?…](?=\s)")


def _update_id(raw: Any) -> str | None:
    """The update's `update_id` as text, from an `Update` or its JSON, if it has one."""
    if isinstance(raw, Update):
        return str(raw.update_id)
    value = raw.get("update_id") if isinstance(raw, dict) else None
    return str(value) if type(value) is int else None


def _raw_json(raw: Any) -> Any:
    """What Telegram sent: the JSON of a webhook, or a polled `Update` back as its JSON."""
    if isinstance(raw, Update):
        try:
            return raw.to_dict()
        except Exception:  # a malformed update may not even serialise; keep what can be said
            return {"update_id": raw.update_id, "unserialisable": repr(raw)}
    return raw


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
        self.me: BotIdentity | None = None
        self._task: asyncio.Task[None] | None = None
        self._audiences: dict[int, tuple[float, int | None]] = {}
        self._connections: dict[str, tuple[float, BusinessConnection | None]] = {}
        """Telegram Business connections as Telegram last described them (a cache of its state,
        refreshed by `business_connection` updates and at most every minute)."""

    @classmethod
    def from_settings(cls, settings: Settings, spend: SpendLedger | None = None) -> TelegramAdapter | None:
        """The adapter when FIRSTLINE_TELEGRAM_TOKEN is set; webhook mode when there is a public URL.

        Webhook mode without a usable FIRSTLINE_TELEGRAM_WEBHOOK_SECRET is refused with one error
        line (None), like a refused token: Telegram stays off and the rest of Firstline runs.
        """
        token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
        if not token:
            logger.info("telegram adapter: FIRSTLINE_TELEGRAM_TOKEN is not set; Telegram is off")
            return None
        if not settings.public_url:
            return cls(token, api_url=settings.telegram_api_url)
        secret = (
            settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        )
        if not secret:
            logger.error(
                "telegram adapter: not started: FIRSTLINE_PUBLIC_URL is set, so Telegram delivers updates "
                "by webhook, which needs FIRSTLINE_TELEGRAM_WEBHOOK_SECRET; set it, or unset "
                "FIRSTLINE_PUBLIC_URL to use long polling"
            )
            return None
        if not _WEBHOOK_SECRET.match(secret):
            logger.error(
                "telegram adapter: not started: FIRSTLINE_TELEGRAM_WEBHOOK_SECRET must be 1-256 "
                "characters of A-Z, a-z, 0-9, _ and -"
            )
            return None
        return cls(
            token,
            api_url=settings.telegram_api_url,
            webhook_url=settings.base_url + WEBHOOK_PATH,
            webhook_secret=secret,
        )

    # --- lifecycle -----------------------------------------------------------------------------

    async def connect(self) -> BotIdentity:
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
                "Telegram refused the bot token; check FIRSTLINE_TELEGRAM_TOKEN against @BotFather's /token"
            ) from None
        except TelegramError as exc:
            raise PlatformUnavailable(f"cannot reach the Bot API: {exc.message}") from None
        self.me = BotIdentity(self.bot.id, self.bot.username)
        return self.me

    async def set_up(self) -> None:
        """Registers the webhook, or removes one so that getUpdates may be used.

        Raises:
            SettingsError: Telegram refused the webhook (an http:// URL, say); the text says why.
            PlatformUnavailable: Telegram could not be reached.
        """
        try:
            if self.webhook_url:
                await self.bot.set_webhook(
                    self.webhook_url, secret_token=self._webhook_secret, allowed_updates=list(ALLOWED_UPDATES)
                )
            else:
                # getUpdates is refused while a webhook is set (by an earlier deployment, say).
                await self.bot.delete_webhook(drop_pending_updates=False)
        except (BadRequest, Forbidden, InvalidToken) as exc:
            raise SettingsError(f"Telegram refused the webhook set-up: {exc.message}") from None
        except TelegramError as exc:
            raise PlatformUnavailable(f"cannot reach the Bot API: {exc.message}") from None

    async def start(self, inbox: Inbox) -> None:
        """Connects and receives in the background; the service starts without waiting for it.

        A refused token or webhook is one error line and Telegram stays off while the rest of
        Firstline runs; an unreachable API is tried again with a growing pause.
        """
        self._task = asyncio.create_task(self._run(inbox), name="telegram")

    async def _run(self, inbox: Inbox) -> None:
        failures = 0
        while True:
            try:
                me = await self.connect()
                await self.set_up()
                break
            except SettingsError as exc:
                logger.error("telegram adapter: not started: %s", exc)
                return
            except PlatformUnavailable as exc:
                failures += 1
                pause = backoff(failures, 1.0, cap=_MAX_BACKOFF)
                logger.warning("telegram adapter: %s; trying again in %g s", exc, pause)
                await asyncio.sleep(pause)
        how = f"by webhook at {self.webhook_url}" if self.webhook_url else "by long polling"
        logger.info("telegram adapter: connected as @%s (id %s); updates %s", me.username, me.id, how)
        if not self.webhook_url:
            await self._poll(inbox)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.bot.shutdown()

    def cursor_name(self) -> str:
        """The store's name for the update offset, per bot: two bots sharing a store keep theirs."""
        return f"telegram:update_offset:{self.me.id if self.me else None}"

    async def _poll(self, inbox: Inbox) -> None:
        """Fetches updates and hands them over one by one, saving the offset after each.

        An update the inbox could not take (the store is down) is not confirmed: the loop waits
        and asks for it again, with a growing pause.
        """
        name = self.cursor_name()
        role = f"telegram:poll:{self.me.id if self.me else None}"
        leading = False
        offset: int | None = None
        failures = 0
        while True:
            if not inbox.lead(role, LEADER_SECONDS):
                if leading:
                    logger.info("telegram: another instance polls this bot now")
                leading = False
                await asyncio.sleep(LEADER_SECONDS / 3)
                continue
            if not leading:
                # Taken (back) over: the instance that polled before moved the offset on.
                stored = inbox.cursor(name)
                offset = int(stored) if stored and stored.lstrip("-").isdigit() else None
                leading = True
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    # Within the lease, so the lease is renewed before it can run out.
                    timeout=min(self.poll_timeout, int(LEADER_SECONDS / 2)),
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except InvalidToken:
                logger.error("telegram: the bot token was refused by Telegram; polling stopped")
                return
            except TelegramError as exc:
                failures += 1
                await asyncio.sleep(self._polling_pause(exc, failures))
                continue
            for update in updates:
                try:
                    await self.dispatch(update, inbox)
                    inbox.save_cursor(name, str(update.update_id + 1))
                except Exception:
                    failures += 1
                    pause = backoff(failures, 2.0, cap=_MAX_BACKOFF)
                    logger.exception(
                        "telegram: update %s was not stored; asking for it again in %g s",
                        update.update_id,
                        pause,
                    )
                    await asyncio.sleep(pause)
                    break
                offset = update.update_id + 1
            else:
                failures = 0

    @staticmethod
    def _polling_pause(exc: TelegramError, failures: int) -> float:
        """How long to wait after a failed getUpdates: what Telegram asked for, or a backoff."""
        if isinstance(exc, RetryAfter):
            pause = _retry_after(exc)
            logger.warning("telegram: flood control on getUpdates; waiting %g s", pause)
            return pause
        pause = backoff(failures, 2.0, cap=_MAX_BACKOFF)
        if isinstance(exc, Conflict):
            logger.error(
                "telegram: another poller or a webhook is taking this bot's updates (%s); run one "
                "polling instance, or use a webhook (FIRSTLINE_PUBLIC_URL); retrying in %g s",
                exc.message,
                pause,
            )
        else:
            logger.warning("telegram: getUpdates failed (%s); retrying in %g s", exc.message, pause)
        return pause

    # --- receiving -----------------------------------------------------------------------------

    async def dispatch(self, raw: Any, inbox: Inbox) -> None:
        """Handles one update end to end: answers a button press, or gives the message to the inbox.

        Updates that carry no customer message are skipped with a log line; an update that cannot
        be read, or whose message the inbox refuses, is kept raw (`Inbox.keep_unreadable`).

        Raises:
            PlatformUnavailable: the bot does not know its name yet (getMe has not answered).
            Exception: whatever the inbox raised other than `InvalidMessage`; the update was not
                stored and must not be acknowledged to Telegram.
        """
        if self.me is None:
            # Whether a group message is for the bot depends on its name; Telegram sends it again.
            raise PlatformUnavailable("telegram: an update arrived before getMe answered")
        try:
            update = to_update(raw, self.bot)
            if update.callback_query is not None:
                await self._answer_callback(update)
            if update.business_connection is not None:
                self._connection_changed(update.business_connection)
            message = self.parse(update)
        except InvalidMessage as exc:
            inbox.keep_unreadable(self.name, _update_id(raw), _raw_json(raw), str(exc))
            return
        if message is None:
            return
        match = _KEY.match(message.conversation_key)
        if match is not None and match["connection"]:
            await self._connection(match["connection"])  # known before `replies_held` asks
        if message.public:
            audience = await self._audience(int(message.conversation_key.split(":")[1]))
            message = dataclasses.replace(
                message, customer=dataclasses.replace(message.customer, audience=audience)
            )
        try:
            await inbox.receive(message)
        except InvalidMessage as exc:
            # It can never be stored as a message (a lone surrogate, say): kept raw instead.
            logger.warning("telegram: message %s refused: %s", message.platform_message_id, exc)
            inbox.keep_unreadable(self.name, _update_id(raw), _raw_json(raw), f"refused: {exc}")

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

    # --- Telegram Business --------------------------------------------------------------------

    def _connection_changed(self, connection: BusinessConnection) -> None:
        """A brand connected, changed or disconnected the bot on its business account."""
        self._connections[connection.id] = (time.monotonic(), connection)
        rights = connection.rights
        logger.info(
            "telegram: business connection %s of user %s is %s%s",
            connection.id,
            connection.user.id,
            "enabled" if connection.is_enabled else "disabled",
            "" if rights is not None and rights.can_reply else ", without the right to reply",
        )

    async def _connection(self, connection_id: str) -> BusinessConnection | None:
        """The business connection as Telegram describes it now (cached); None if it is unknown."""
        now = time.monotonic()
        cached = self._connections.get(connection_id)
        if cached is not None and now - cached[0] < _CONNECTION_TTL:
            return cached[1]
        try:
            connection: BusinessConnection | None = await self.bot.get_business_connection(connection_id)
        except TelegramError as exc:
            logger.warning("telegram: business connection %s unknown: %s", connection_id, exc.message)
            connection = None
        self._connections[connection_id] = (now, connection)
        return connection

    def replies_held(self, to: InboundMessage) -> tuple[str, str] | None:
        """A Telegram Business chat whose connection is off, unknown or may not reply: the bot
        cannot answer there, so a person answers from the brand's own account."""
        match = _KEY.match(to.conversation_key)
        if match is None or not match["connection"]:
            return None
        cached = self._connections.get(match["connection"])
        connection = cached[1] if cached is not None else None
        if connection is None:
            why = "Telegram does not know this business connection any more"
        elif not connection.is_enabled:
            why = "the brand turned this business connection off"
        elif connection.rights is None or not connection.rights.can_reply:
            why = "this business connection does not give the bot the right to reply"
        else:
            return None
        logger.warning("telegram: business chat %s handed to a person: %s", to.conversation_key, why)
        return "cannot_reply", why

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

    def parse(self, raw: Any) -> InboundMessage | None:
        """One update (its JSON or a PTB `Update`) as a customer message, or None to skip it.

        See `bot.adapters.telegram_updates` for what counts as a message for the bot.

        Raises:
            InvalidMessage: the JSON is not a Telegram update.
        """
        return read_update(to_update(raw, self.bot), self.me)

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
        connection = match["connection"] or None
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
                    # Telegram Business: sent as the brand's own account, through its connection.
                    business_connection_id=connection,
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
        if self.me is None or not START_PARAM.match(join_token):
            return None
        return f"https://t.me/{self.me.username}?start={join_token}"

    # --- webhook -------------------------------------------------------------------------------

    def webhook_routes(self, inbox: Inbox) -> Sequence[BaseRoute]:
        """POST /webhooks/telegram in webhook mode; nothing when polling."""
        if not self.webhook_url or not self._webhook_secret:
            return ()

        async def handle(raw: dict[str, Any]) -> None:
            await self.dispatch(raw, inbox)

        return (webhook_route(self._webhook_secret, handle),)
