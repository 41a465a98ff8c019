"""X (Twitter): public mentions of the brand and direct messages, in and out.

Mentions and DMs are polled (the cursors live in Firstline's store, so a restart neither repeats
nor skips anything); when the Account Activity webhook is registered it delivers the same events
sooner, and the store drops whichever copy arrives second. Public replies stay in the customer's
thread and start with their @handle; the one-tap DM link carries the case's join token in the
prefilled DM text, so the private chat joins the public case.

Credentials: the app's bearer token (reads mentions on the app's own rate-limit window) and the
brand account's OAuth 1.0a user-context keys (identity, DMs, posting). All five must be set;
with fewer the adapter does not start, and says which are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.adapters.base import BaseAdapter, Inbox
from bot.adapters.x_client import XApi, XRefused
from bot.adapters.x_events import is_x_id, parse_event
from bot.adapters.x_webhook import (
    activity_events,
    crc_response,
    dm_events_v2,
    is_activity_envelope,
    mentioned_tweet_ids,
    signature_valid,
)
from bot.backoff import backoff
from bot.errors import BotError, DeliveryFailed, InvalidMessage, PlatformUnavailable, SettingsError
from bot.input_limits import InputError, parse_json, read_body
from bot.messages import Customer, InboundMessage, OutboundMessage, utcnow
from bot.text_limits import measure
from bot.x_costs import DEFAULT_PRICES_USD, Charge, read_charges

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.spend import SpendLedger

__all__ = ["XAdapter"]

logger = logging.getLogger(__name__)

MENTIONS_CURSOR = "x:mentions:since_id"
DM_CURSOR = "x:dm_events:newest_id"
DM_CHAR_LIMIT = 10_000
"""X accepts DMs of up to 10,000 characters; only tweets are held to 280."""
PAGE_SIZE = 100
MAX_PAGES = 8
"""X serves at most the 800 most recent mentions; 8 pages of 100 reach all of them."""
REPLY_LOOP_LIMIT = 3
REPLY_LOOP_WINDOW = 600.0
"""At most 3 public replies to one author in one thread within 10 minutes: beyond that two bots
are most likely answering each other, and the reply is refused (it reaches the dead letters,
where a person sees it)."""
MAX_WEBHOOK_BYTES = 1024 * 1024
_ENDPOINTS = ("mentions", "dm_events")
_X_KEYS = ("bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret")


class XAdapter(BaseAdapter):
    name = "x"

    def __init__(
        self,
        api: XApi,
        consumer_secret: str,
        poll_seconds: float,
        *,
        spend: SpendLedger | None = None,
        prices: dict[str, float] | None = None,
        daily_budget: float | None = None,
        dm_invite: str = "link",
    ) -> None:
        self.api = api
        self.consumer_secret = consumer_secret
        self.poll_seconds = poll_seconds
        self.spend = spend
        """Where what X charges is counted; without it nothing is counted and no budget holds."""
        self.prices = dict(prices or DEFAULT_PRICES_USD)
        self.daily_budget = daily_budget
        self.dm_invite = dm_invite
        if spend is not None:
            api.meter = self._record_spend
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """Tests replace it (with `api.clock`) to step through rate-limit pauses without waiting."""
        self.brand_id: str | None = None
        self.brand_handle: str | None = None
        self._handles: dict[str, str] = {}
        self._replies: dict[tuple[str, str], deque[float]] = {}
        self._failures: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, spend: SpendLedger | None = None) -> XAdapter | None:
        values = {key: getattr(settings, f"x_{key}") for key in _X_KEYS}
        missing = [f"FIRSTLINE_X_{key.upper()}" for key, value in values.items() if value is None]
        if len(missing) == len(_X_KEYS):
            return None
        if missing:
            logger.warning(
                "x adapter: not started, %s not set (all five X keys are needed)", ", ".join(missing)
            )
            return None
        secrets = {key: value.get_secret_value() for key, value in values.items() if value is not None}
        api = XApi(**secrets, api_url=settings.x_api_url)
        return cls(
            api,
            secrets["consumer_secret"],
            settings.x_poll_seconds,
            spend=spend,
            prices=settings.x_prices,
            daily_budget=settings.x_daily_budget_usd,
            dm_invite=settings.x_dm_invite,
        )

    # --- what X costs --------------------------------------------------------------------------

    def _record_spend(self, charges: list[Charge]) -> None:
        assert self.spend is not None
        self.spend.charge(self.name, charges, self.prices, utcnow())

    def replies_held(self, to: InboundMessage) -> tuple[str, str] | None:
        """A public message while X's daily budget is spent goes to a person ("budget")."""
        spent = self._budget_spent() if to.public else None
        return ("budget", spent) if spent else None

    def _budget_spent(self) -> str | None:
        """Why the bot may not post in public on X now: today's spend has reached the budget."""
        if self.spend is None or self.daily_budget is None:
            return None
        spent = self.spend.spent_on(self.name, utcnow().date())
        if spent < self.daily_budget:
            return None
        return (
            f"X's daily budget is spent (${spent:.2f} of ${self.daily_budget:.2f} today, "
            "FIRSTLINE_X_DAILY_BUDGET_USD): no public replies until midnight UTC"
        )

    # --- identity ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Learns the brand account's id and handle (`GET /2/users/me`).

        Raises:
            SettingsError: X refused the credentials; the message says what to check.
            PlatformUnavailable: X could not be reached; try again later.
        """
        try:
            me = await self.api.me()
        except XRefused as exc:
            raise SettingsError(
                f"X refused the credentials ({exc}): check FIRSTLINE_X_CONSUMER_KEY, "
                "FIRSTLINE_X_CONSUMER_SECRET, FIRSTLINE_X_ACCESS_TOKEN and FIRSTLINE_X_ACCESS_TOKEN_SECRET, "
                "and that the app has Read and write and Direct message permission"
            ) from exc
        if not isinstance(me.get("id"), str):
            raise PlatformUnavailable("X answered GET /2/users/me without a user id")
        self.brand_id, self.brand_handle = me["id"], me.get("username")

    # --- inbound -------------------------------------------------------------------------------

    def parse(self, raw: Any) -> InboundMessage | None:
        """One v2 tweet or DM event with its `includes` (see `bot.adapters.x_events.parse_event`)."""
        return parse_event(raw, self.brand_id)

    async def _deliver(self, inbox: Inbox, raw: dict[str, Any]) -> None:
        """Parses and hands one event to the inbox; an event no parser can read is kept raw for
        people to see, and one the inbox refuses is logged; both are passed over.

        Anything else that goes wrong propagates, so the caller does not advance its cursor.
        """
        try:
            message = self.parse(raw)
        except InvalidMessage as exc:
            data = raw.get("data") if isinstance(raw, dict) else None
            event_id = data.get("id") if isinstance(data, dict) and is_x_id(data.get("id")) else None
            inbox.keep_unreadable(self.name, event_id, raw, str(exc))
            return
        if message is None:
            return
        if message.customer.handle:
            self._handles[message.customer.platform_user_id] = message.customer.handle
        try:
            await inbox.receive(message)
        except InvalidMessage as exc:
            logger.warning("x adapter: %s %s refused: %s", message.kind, message.platform_message_id, exc)
            inbox.keep_unreadable(self.name, message.platform_message_id, raw, f"refused: {exc}")

    # --- polling -------------------------------------------------------------------------------

    async def start(self, inbox: Inbox) -> None:
        self._task = asyncio.create_task(self._run(inbox), name="x-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.api.close()

    async def _run(self, inbox: Inbox) -> None:
        while self.brand_id is None:
            try:
                await self.connect()
            except SettingsError as exc:
                logger.error("x adapter: not started: %s", exc)
                return
            except PlatformUnavailable as exc:
                delay = max(self.poll_seconds, exc.retry_after or 0.0)
                logger.warning("x adapter: %s; trying again in %.0f s", exc, delay)
                await self.sleep(delay)
        logger.info("x adapter: connected as @%s, polling every %.0f s", self.brand_handle, self.poll_seconds)
        role, leading = f"x:poll:{self.brand_id}", False
        while True:
            # One instance polls the account: X bills every read, and all share its rate limit.
            if not inbox.lead(role, 2 * self.poll_seconds + 10):
                if leading:
                    logger.info("x adapter: another instance polls @%s now", self.brand_handle)
                leading = False
                await self.sleep(self.poll_seconds)
                continue
            leading = True
            try:
                await self.poll_once(inbox)
            except Exception:
                # A bug or a store outage must not end polling for good; the cursors were not
                # advanced past the failed message, so it is read again next time.
                logger.exception("x adapter: polling failed")
            await self.sleep(self.next_poll_delay())

    async def poll_once(self, inbox: Inbox) -> None:
        """Reads new mentions and DMs once, skipping endpoints whose rate-limit window is spent."""
        if self.brand_id is None:
            await self.connect()
        for endpoint, poll in (("mentions", self._poll_mentions), ("dm_events", self._poll_dms)):
            wait = self.api.limits.wait(endpoint, self.api.clock())
            if wait > 0:
                logger.debug("x adapter: %s rests %.0f s more for its rate limit", endpoint, wait)
                continue
            try:
                await poll(inbox)
            except PlatformUnavailable as exc:
                failures = self._failures[endpoint] = self._failures.get(endpoint, 0) + 1
                pause = backoff(failures, self.poll_seconds, exc.retry_after, cap=900.0)
                self.api.limits.pause(endpoint, self.api.clock() + pause)
                logger.warning("x adapter: %s; polling %s again in %.0f s", exc, endpoint, pause)
            except DeliveryFailed as exc:
                # A refused read (say, no DM permission) will not fix itself quickly.
                self.api.limits.pause(endpoint, self.api.clock() + 900.0)
                logger.error("x adapter: %s; polling %s again in 15 minutes", exc, endpoint)
            else:
                self._failures.pop(endpoint, None)

    def next_poll_delay(self) -> float:
        """The pause before the next poll: the poll interval, or longer while every endpoint rests."""
        now = self.api.clock()
        waits = [self.api.limits.wait(endpoint, now) for endpoint in _ENDPOINTS]
        if all(wait > 0 for wait in waits):
            return max(self.poll_seconds, min(waits))
        return self.poll_seconds

    async def _poll_mentions(self, inbox: Inbox) -> None:
        """New mentions, oldest first; `since_id` is saved after each, so none is lost or repeated.

        All pages are read before any is handled: a rate limit halfway would otherwise move
        `since_id` past mentions on pages not yet read. With no cursor yet (the first start), only
        the latest page is read: a first-line bot should not answer weeks-old posts.
        """
        assert self.brand_id is not None
        since = inbox.cursor(MENTIONS_CURSOR)
        tweets, includes = await self._pages(
            lambda token: self.api.mentions(
                self.brand_id or "", since_id=since, pagination_token=token, max_results=PAGE_SIZE
            ),
            more=lambda batch: since is not None,
        )
        for tweet in sorted(tweets, key=_id_order):
            await self._deliver(inbox, {"data": tweet, "includes": includes})
            inbox.save_cursor(MENTIONS_CURSOR, tweet["id"])

    async def _poll_dms(self, inbox: Inbox) -> None:
        """New DM events, oldest first, after the newest one handled (X has no `since_id` here).

        X bills every DM event a page returns, so once there is a cursor the newest event is
        looked at alone first: a quiet inbox costs one read of one event (X and the ledger count
        it once a day), not a page of a hundred on every poll.
        """
        newest = inbox.cursor(DM_CURSOR)
        after = int(newest) if newest and newest.isdigit() else None
        if after is not None:
            probe = await self.api.dm_events(pagination_token=None, max_results=1)
            latest = [e for e in probe.get("data") or [] if isinstance(e, dict) and is_x_id(e.get("id"))]
            if not latest or _id_order(latest[0]) <= after:
                return
        events, includes = await self._pages(
            lambda token: self.api.dm_events(pagination_token=token, max_results=PAGE_SIZE),
            more=lambda batch: after is not None and all(_id_order(e) > after for e in batch),
        )
        fresh = [e for e in events if after is None or _id_order(e) > after]
        for event in sorted(fresh, key=_id_order):
            await self._deliver(inbox, {"data": event, "includes": includes})
            inbox.save_cursor(DM_CURSOR, event["id"])

    @staticmethod
    async def _pages(
        fetch: Callable[[str | None], Awaitable[dict[str, Any]]],
        more: Callable[[list[dict[str, Any]]], bool],
    ) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        """Items and merged `includes` of consecutive pages while `more(page)` and X has more."""
        items: list[dict[str, Any]] = []
        includes: dict[str, list[Any]] = {}
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = await fetch(token)
            batch = [
                i for i in page.get("data") or [] if isinstance(i, dict) and isinstance(i.get("id"), str)
            ]
            items.extend(i for i in batch if is_x_id(i["id"]))
            for key, values in (page.get("includes") or {}).items():
                if isinstance(values, list):
                    includes.setdefault(key, []).extend(values)
            token = (page.get("meta") or {}).get("next_token")
            if not token or not batch or not more(batch):
                break
        return items, includes

    # --- outbound ------------------------------------------------------------------------------

    def reply_budget(self, to: InboundMessage) -> int:
        if not to.public:
            return DM_CHAR_LIMIT
        prefix = f"@{to.customer.handle} " if to.customer.handle else ""
        return self.char_limit - measure(prefix, self.name)

    def dm_link(self, customer: Customer, join_token: str) -> str | None:
        """The one-tap DM link or, with `FIRSTLINE_X_DM_INVITE=text`, the reference to quote in a
        DM: a post without a URL costs X's plain price, and the quoted `ref` still joins the case."""
        if self.dm_invite == "text":
            return f"(ref {join_token})"
        if self.brand_id is None:
            return None
        query = urlencode({"recipient_id": self.brand_id, "text": f"ref {join_token} "})
        return f"https://twitter.com/messages/compose?{query}"

    async def send(self, message: OutboundMessage) -> str:
        if not message.public:
            return await self.api.send_dm(
                message.recipient_id, _shorten(message.text, DM_CHAR_LIMIT, self.name)
            )
        key = (message.conversation_key, message.recipient_id)
        now = self.api.clock()
        recent = self._replies.setdefault(key, deque())
        while recent and recent[0] <= now - REPLY_LOOP_WINDOW:
            recent.popleft()
        # Only the bot can get into a loop with another bot; a person answering is never held back.
        if message.author == "bot" and len(recent) >= REPLY_LOOP_LIMIT:
            raise DeliveryFailed(
                f"not sent: {REPLY_LOOP_LIMIT} public replies to this author in this thread within "
                f"{REPLY_LOOP_WINDOW / 60:.0f} minutes already (reply-loop guard)"
            )
        held = self._budget_spent() if message.author == "bot" else None
        if held:
            # A reply queued before the budget ran out, or a follow-up: a person decides instead.
            raise DeliveryFailed(f"not sent: {held}")
        handle = await self._handle(message.recipient_id)
        text = message.text
        if handle and not text.lower().startswith(f"@{handle.lower()}"):
            text = f"@{handle} {text}"
        in_reply_to = message.in_reply_to or message.conversation_key.removeprefix("thread:")
        sent = await self.api.create_tweet(_shorten(text, self.char_limit, self.name), in_reply_to)
        if message.author == "bot":
            recent.append(now)
        return sent

    async def _handle(self, user_id: str) -> str | None:
        """The customer's @handle, from the messages read so far or else from X."""
        if user_id not in self._handles:
            try:
                user = await self.api.user(user_id)
            except BotError as exc:
                logger.warning("x adapter: no handle for user %s (%s); replying without it", user_id, exc)
                return None
            if isinstance(user.get("username"), str):
                self._handles[user_id] = user["username"]
        return self._handles.get(user_id)

    # --- Account Activity webhook --------------------------------------------------------------

    def webhook_routes(self, inbox: Inbox) -> Sequence[BaseRoute]:
        async def challenge(request: Request) -> Response:
            token = request.query_params.get("crc_token")
            if not token:
                return JSONResponse({"error": "crc_token is missing"}, status_code=400)
            try:
                return JSONResponse(crc_response(self.consumer_secret, token))
            except ValueError as exc:
                logger.warning("x webhook: refused to sign a malformed crc_token (%d characters)", len(token))
                return JSONResponse({"error": str(exc)}, status_code=400)

        async def event(request: Request) -> Response:
            try:
                body = await read_body(request, MAX_WEBHOOK_BYTES)
            except InputError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            # 403, not 401: there is nothing to authenticate with, the sender is simply not X.
            if not signature_valid(
                self.consumer_secret, body, request.headers.get("x-twitter-webhooks-signature")
            ):
                logger.warning("x webhook: refused an event with a missing or wrong signature")
                return JSONResponse({"error": "the signature does not match"}, status_code=403)
            try:
                payload = parse_json(body)
            except InputError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            if not isinstance(payload, dict):
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            await self.handle_activity(inbox, payload)
            return JSONResponse({"status": "ok"})

        return (
            Route("/webhooks/x", challenge, methods=["GET"]),
            Route("/webhooks/x", event, methods=["POST"]),
        )

    async def handle_activity(self, inbox: Inbox, payload: dict[str, Any]) -> None:
        """One webhook delivery: an X Activity API event, or an Account Activity event with its
        DMs and its new tweets that mention the brand.

        Account Activity tweets are read again through the v2 API for their conversation id; if
        that fails, polling finds them later through `since_id`, so a webhook failure loses nothing.
        Activity API events are v2 already and need no second read (X bills each one delivered).
        """
        if is_activity_envelope(payload):
            brand, events = activity_events(payload)
            if self.brand_id is None and brand is not None:
                self.brand_id = brand
            for event in events:
                operation = "dm_event_read" if "event_type" in event["data"] else "post_read"
                self.api.charge(read_charges(operation, event))
                await self._deliver(inbox, event)
            return
        if self.brand_id is None and isinstance(payload.get("for_user_id"), str):
            self.brand_id = payload["for_user_id"]
        for raw in dm_events_v2(payload):
            await self._deliver(inbox, raw)
        for tweet_id in mentioned_tweet_ids(payload):
            try:
                found = await self.api.tweet(tweet_id)
            except BotError as exc:
                logger.warning("x webhook: tweet %s left for polling: %s", tweet_id, exc)
                continue
            if isinstance(found.get("data"), dict):
                await self._deliver(inbox, found)


def _id_order(item: dict[str, Any]) -> int:
    return int(item["id"])


def _shorten(text: str, limit: int, platform: str) -> str:
    """`text` within `limit`, cut at a word boundary with "…" (a safety net: replies are composed
    to fit, but a long @handle prefix or an agent's reply may not)."""
    if measure(text, platform) <= limit:
        return text
    words = text.split(" ")
    kept: list[str] = []
    for word in words:
        if measure(" ".join([*kept, word]) + "…", platform) > limit:
            break
        kept.append(word)
    if kept:
        return " ".join(kept).rstrip(" ,;:-") + "…"
    cut = text[:limit]
    while cut and measure(cut + "…", platform) > limit:
        cut = cut[:-1]
    return cut + "…"
