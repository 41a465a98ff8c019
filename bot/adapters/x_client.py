"""The X API v2 as Firstline uses it: tweepy's client on a configurable host, off the event loop,
with every response's rate-limit headers remembered and every failure classified.

Why the synchronous `tweepy.Client` in a worker thread rather than `tweepy.asynchronous`: the
asynchronous client needs `async_lru`, which is not among the locked dependencies, and the calls
are few (a poll every few seconds, a reply now and then), so a thread per call costs nothing that
matters. The client returns the raw `requests.Response` (`return_type`), because the rate-limit
headers of successful responses are only there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import tweepy

from bot.errors import DeliveryFailed, PlatformUnavailable
from bot.x_costs import Charge, read_charges, write_charge

__all__ = [
    "DM_EVENT_FIELDS",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "RateLimits",
    "XApi",
    "XRefused",
]

logger = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"
"""The host tweepy writes into every request URL; `XApi` swaps it for the configured one."""

TWEET_FIELDS = ["public_metrics", "conversation_id", "referenced_tweets", "created_at", "author_id"]
USER_FIELDS = ["public_metrics", "username", "name"]
DM_EVENT_FIELDS = ["id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id", "attachments"]

DEFAULT_PAUSE = 60.0
"""How long an endpoint rests after a 429 that did not say when its window resets."""


class XRefused(DeliveryFailed):
    """X answered a request with a 4xx other than 429: the request will not work if repeated.

    A `DeliveryFailed`, so the outbox dead-letters a refused send; `status` lets the adapter tell
    refused credentials (401) from a refused message.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _HostSession(requests.Session):
    """A session that sends tweepy's requests to `host` instead of api.twitter.com.

    tweepy writes its host as a local string inside `BaseClient.request`, but sends every request
    through the client's public `session` attribute. Rewriting the URL prefix here is the smallest
    seam: tweepy's authentication (OAuth 1.0a signs the rewritten URL), parameters and error
    classes all stay tweepy's own. The session also sets a timeout, which tweepy leaves unset.
    """

    def __init__(self, host: str, timeout: float) -> None:
        super().__init__()
        self.host = host.rstrip("/")
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if isinstance(url, str) and url.startswith(TWEEPY_HOST):
            url = self.host + url[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass
class _Window:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    """Epoch seconds when `remaining` is refilled."""
    paused_until: float | None = None
    """Set after failures (a 429, a 5xx): no request to this endpoint before then."""


class RateLimits:
    """What X said about each endpoint's rate-limit window, so nobody calls a spent endpoint.

    Endpoints are named by the caller ("mentions", "dm_events", "create_tweet", ...): X counts
    each route separately, per app (bearer token) or per user (user context).
    """

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def record(self, endpoint: str, headers: Any) -> None:
        """Remembers the `x-rate-limit-*` headers of a response (success or failure)."""
        window = self._windows.setdefault(endpoint, _Window())
        for attribute, header in (("limit", "limit"), ("remaining", "remaining"), ("reset", "reset")):
            value = headers.get(f"x-rate-limit-{header}") if headers is not None else None
            if value is None:
                continue
            try:
                setattr(window, attribute, int(value))
            except ValueError:
                logger.warning("X sent a malformed x-rate-limit-%s header: %r", header, value)

    def pause(self, endpoint: str, until: float) -> None:
        window = self._windows.setdefault(endpoint, _Window())
        window.paused_until = max(until, window.paused_until or 0.0)

    def wait(self, endpoint: str, now: float) -> float:
        """Seconds before `endpoint` may be called again; 0 when it may be called now."""
        window = self._windows.get(endpoint)
        if window is None:
            return 0.0
        waits = [0.0]
        if window.remaining == 0 and window.reset is not None:
            waits.append(window.reset - now)
        if window.paused_until is not None:
            waits.append(window.paused_until - now)
        return max(waits)

    def window(self, endpoint: str) -> tuple[int | None, int | None, float | None]:
        """(limit, remaining, reset) as X last reported them."""
        window = self._windows.get(endpoint, _Window())
        return window.limit, window.remaining, window.reset


class XApi:
    """The X API calls Firstline makes, returning X's JSON and raising only Firstline's errors.

    Raises (every call):
        PlatformUnavailable: a 429 (with `retry_after` from `x-rate-limit-reset`), a 5xx, a
            timeout or a refused connection, or the endpoint's window is known to be spent.
        XRefused: any other 4xx.
    """

    def __init__(
        self,
        *,
        bearer_token: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        api_url: str,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
        meter: Callable[[list[Charge]], None] | None = None,
    ) -> None:
        self._client = tweepy.Client(
            bearer_token=bearer_token,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            return_type=requests.Response,
        )
        self._client.session = _HostSession(api_url, timeout)
        self.api_url = api_url
        self.clock = clock
        """Epoch seconds; tests replace it to move through rate-limit windows without waiting."""
        self.limits = RateLimits()
        self.meter = meter
        """Told what each successful call cost (X bills per use); failed calls are not billed."""

    def charge(self, charges: list[Charge]) -> None:
        """Tells the meter what was used: X bills webhook deliveries too, which come by no call here."""
        if self.meter is None or not charges:
            return
        try:
            self.meter(charges)
        except Exception:
            # What was read or sent stays read or sent; a spend the ledger missed is logged.
            logger.exception("could not record the cost of %d X API uses", len(charges))

    def close(self) -> None:
        self._client.session.close()

    async def _call(self, endpoint: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        wait = self.limits.wait(endpoint, self.clock())
        if wait > 0:
            raise PlatformUnavailable(
                f"X rate limit: {endpoint} is resting for {wait:.0f} s more", retry_after=wait
            )
        try:
            response = await asyncio.to_thread(functools.partial(function, *args, **kwargs))
        except tweepy.TooManyRequests as exc:
            self.limits.record(endpoint, exc.response.headers)
            now = self.clock()
            reset = float(exc.reset_time) if exc.reset_time is not None else now + DEFAULT_PAUSE
            self.limits.pause(endpoint, reset)
            raise PlatformUnavailable(
                f"X rate limit reached for {endpoint} (429); it resets in {max(0.0, reset - now):.0f} s",
                retry_after=max(0.0, reset - now),
            ) from exc
        except tweepy.TwitterServerError as exc:
            self.limits.record(endpoint, exc.response.headers)
            raise PlatformUnavailable(f"X failed on {endpoint}: {_first_line(exc)}") from exc
        except tweepy.HTTPException as exc:
            self.limits.record(endpoint, exc.response.headers)
            raise XRefused(f"X refused {endpoint}: {_first_line(exc)}", exc.response.status_code) from exc
        except requests.RequestException as exc:
            raise PlatformUnavailable(f"X could not be reached for {endpoint}: {exc}") from exc
        self.limits.record(endpoint, response.headers)
        try:
            body = response.json() if response.content else {}
        except ValueError as exc:
            raise PlatformUnavailable(f"X answered {endpoint} with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise PlatformUnavailable(f"X answered {endpoint} with JSON that is not an object")
        return body

    async def me(self) -> dict[str, Any]:
        body = await self._call("me", self._client.get_me, user_fields=USER_FIELDS)
        self.charge(read_charges("user_read", body))
        return _data_object(body, "me")

    async def user(self, user_id: str) -> dict[str, Any]:
        body = await self._call(
            "user", self._client.get_user, id=user_id, user_fields=USER_FIELDS, user_auth=True
        )
        self.charge(read_charges("user_read", body))
        return _data_object(body, "user")

    async def mentions(
        self, user_id: str, *, since_id: str | None, pagination_token: str | None, max_results: int
    ) -> dict[str, Any]:
        """One page of mentions, newest first, as X sends it (`data`, `includes`, `meta`).

        Read with the app's bearer token: its window is separate from the brand account's.
        """
        body = await self._call(
            "mentions",
            self._client.get_users_mentions,
            user_id,
            since_id=since_id,
            pagination_token=pagination_token,
            max_results=max_results,
            expansions=["author_id", "referenced_tweets.id"],
            tweet_fields=TWEET_FIELDS,
            user_fields=USER_FIELDS,
        )
        self.charge(read_charges("post_read", body))
        return body

    async def tweet(self, tweet_id: str) -> dict[str, Any]:
        body = await self._call(
            "tweet",
            self._client.get_tweet,
            tweet_id,
            expansions=["author_id", "referenced_tweets.id"],
            tweet_fields=TWEET_FIELDS,
            user_fields=USER_FIELDS,
        )
        self.charge(read_charges("post_read", body))
        return body

    async def dm_events(self, *, pagination_token: str | None, max_results: int) -> dict[str, Any]:
        """One page of the brand account's DM events, newest first."""
        body = await self._call(
            "dm_events",
            self._client.get_direct_message_events,
            pagination_token=pagination_token,
            max_results=max_results,
            event_types="MessageCreate",
            dm_event_fields=DM_EVENT_FIELDS,
            expansions=["sender_id"],
            user_fields=USER_FIELDS,
        )
        self.charge(read_charges("dm_event_read", body))
        return body

    async def create_tweet(self, text: str, in_reply_to: str | None) -> str:
        body = await self._call(
            "create_tweet", self._client.create_tweet, text=text, in_reply_to_tweet_id=in_reply_to
        )
        created = str(_data_object(body, "create_tweet").get("id", ""))
        self.charge([write_charge("post", text, created)])
        return created

    async def send_dm(self, participant_id: str, text: str) -> str:
        body = await self._call(
            "send_dm", self._client.create_direct_message, participant_id=participant_id, text=text
        )
        created = str(_data_object(body, "send_dm").get("dm_event_id", ""))
        self.charge([write_charge("dm", text, created)])
        return created


def _data_object(body: dict[str, Any], endpoint: str) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise PlatformUnavailable(f"X answered {endpoint} without a data object")
    return data


def _first_line(exc: Exception) -> str:
    """tweepy's "401 Unauthorized\nUnauthorized" as one line, without saying things twice."""
    head, *details = str(exc).split("\n")
    details = [d for d in details if d and d not in head]
    return f"{head}: {'; '.join(details)}" if details else head
