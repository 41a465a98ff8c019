"""Rate limits that hold across instances: per client address, per customer, per platform account.

The `limits` library cannot be used (each of its versions since 3.x needs packaging>=21, which
Rasa 3.6 forbids), so this is a small fixed-window limiter of its own. A key's window opens at
its first hit and lasts `period` seconds; the hits counted in it are compared with the limit.
A fixed window lets a client send up to twice the limit around a window's end; that is accepted
for its simplicity: one atomic increment a hit, one row or key per active client.

Counters live where every instance sees them: in Redis when `redis_url` is set (a Lua script
makes increment-and-expire one atomic step), otherwise in the store's `rate_limits` table (an
upsert does the same on SQLite and PostgreSQL). A counter backend that cannot be reached lets
requests through, with a warning: limits protect the service, they must not take it down.

A client address is the TCP peer's, unless that peer is one of `trusted_proxies`: then it is the
last address in `X-Forwarded-For` that is not itself a trusted proxy (earlier entries can be
written by the client, so they are never believed).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.settings import Settings
from bot.store.models import RateLimitCounter

__all__ = [
    "Decision",
    "Limit",
    "Limits",
    "RateLimiter",
    "RedisCounter",
    "StoreCounter",
    "client_address",
    "decide",
    "parse_proxies",
    "too_many",
]

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_KEY = 200
"""Longer keys are hashed: the table's key column and Redis memory stay bounded."""
_PRUNE_EVERY = 60.0


@dataclass(frozen=True)
class Limit:
    """`count` hits per `period` seconds for each subject of one `scope`; 0 turns it off."""

    scope: str
    count: int
    period: float = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    retry_after: int
    """Whole seconds until the window ends (at least 1) when refused; 0 when allowed."""


ALLOWED = Decision(True, 0, 0)


def decide(limit: Limit, count: int, seconds_left: float) -> Decision:
    """Whether the `count`-th hit in a window with `seconds_left` to run is within `limit`."""
    if limit.count <= 0 or count <= limit.count:
        return Decision(True, count, 0)
    return Decision(False, count, max(1, math.ceil(seconds_left)))


class Counter(Protocol):
    """A shared counter of hits per key in windows that open at the key's first hit."""

    async def increment(self, key: str, period: float) -> tuple[int, float]:
        """Counts one hit; returns the hits in the key's current window and its seconds left."""
        ...

    async def close(self) -> None: ...


class StoreCounter:
    """Counters in the store's `rate_limits` table: one row per active key.

    The upsert either opens a new window (no row, or the row's window has ended) or adds one to
    the running one; the read that follows is in the same transaction, after the row is written,
    so no other instance can count in between (SQLite's write lock, PostgreSQL's row lock).
    Ended windows are deleted about once a minute by whichever instance passes by.
    """

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._next_prune = 0.0
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"rate limits in the store need SQLite or PostgreSQL, not {dialect}")
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def increment(self, key: str, period: float) -> tuple[int, float]:
        now = self.clock()
        table = RateLimitCounter.__table__
        ended = table.c.expires_at <= now
        upsert = self._insert(table).values(key=key, count=1, expires_at=now + period)
        upsert = upsert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((ended, 1), else_=table.c.count + 1),
                "expires_at": case((ended, upsert.excluded.expires_at), else_=table.c.expires_at),
            },
        )
        with self.engine.begin() as connection:
            connection.execute(upsert)
            count, expires_at = connection.execute(
                select(table.c.count, table.c.expires_at).where(table.c.key == key)
            ).one()
            if now >= self._next_prune:
                self._next_prune = now + _PRUNE_EVERY
                connection.execute(delete(table).where(table.c.expires_at <= now))
        return int(count), float(expires_at) - now

    async def close(self) -> None:
        """The engine belongs to the store; nothing to release here."""


_REDIS_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
"""


class RedisCounter:
    """Counters in Redis: INCR, and the key's expiry set at its first hit, in one Lua script (a
    key left without an expiry would block its subject for good, so the script repairs one)."""

    def __init__(self, client: Any, prefix: str = "firstline:rate:") -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_REDIS_HIT)

    @classmethod
    def from_url(cls, url: str, prefix: str = "firstline:rate:") -> RedisCounter:
        from redis import asyncio as redis_asyncio

        return cls(redis_asyncio.Redis.from_url(url, socket_timeout=2.0), prefix)

    async def increment(self, key: str, period: float) -> tuple[int, float]:
        milliseconds = max(1, int(period * 1000))
        count, left = await self._script(keys=[self.prefix + key], args=[milliseconds])
        return int(count), int(left) / 1000.0

    async def close(self) -> None:
        await self.client.close()


class RateLimiter:
    """Counts hits against limits in a shared `Counter`."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> RateLimiter:
        if settings.redis_url:
            return cls(RedisCounter.from_url(settings.redis_url))
        return cls(StoreCounter(engine))

    async def hit(self, limit: Limit, subject: str) -> Decision:
        if limit.count <= 0:
            return ALLOWED
        key = f"{limit.scope}:{subject}"
        if len(key) > _MAX_KEY:
            key = f"{limit.scope}:sha256:{hashlib.sha256(subject.encode('utf-8', 'replace')).hexdigest()}"
        try:
            count, seconds_left = await self.counter.increment(key, limit.period)
        except Exception:
            logger.warning("rate limit %s not checked: its counter failed", limit.scope, exc_info=True)
            return ALLOWED
        decision = decide(limit, count, seconds_left)
        if not decision.allowed and count == limit.count + 1:
            logger.warning("rate limit %s reached by %s", limit.scope, subject[:80])
        return decision

    async def first_refusal(self, hits: Iterable[tuple[Limit, str]]) -> Decision | None:
        """Counts every hit (each limit sees every attempt) and returns the longest refusal."""
        refusals = [d for d in [await self.hit(limit, subject) for limit, subject in hits] if not d.allowed]
        return max(refusals, key=lambda d: d.retry_after) if refusals else None

    async def close(self) -> None:
        await self.counter.close()


def too_many(decision: Decision, message: str = "too many requests") -> Response:
    """429 with `Retry-After`, as JSON like every other error of the HTTP API."""
    return JSONResponse(
        {"error": f"{message}; try again in {decision.retry_after} seconds"},
        status_code=429,
        headers={"Retry-After": str(decision.retry_after)},
    )


def parse_proxies(value: str) -> tuple[Network, ...]:
    """`trusted_proxies`: comma-separated addresses or networks ("10.0.0.0/8, 127.0.0.1").

    Raises:
        ValueError: an entry is not an address or network.
    """
    parts = [part.strip() for part in value.split(",")]
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The address to count a request against: the peer's, or behind trusted proxies the last
    `X-Forwarded-For` entry that is not a trusted proxy."""
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, proxies):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not hop:
            continue
        address = hop[:64]
        if not _trusted(hop, proxies):
            break
    return address


class Limits:
    """The configured limits, and the limiter that counts them."""

    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.proxies = parse_proxies(settings.trusted_proxies)
        self.web_address = Limit("web-address", settings.rate_limit_web_per_address)
        self.web_visitor = Limit("web-visitor", settings.rate_limit_web_per_visitor)
        self.login_address = Limit("login-address", settings.rate_limit_login_per_address)
        self.replies_account = Limit("replies-account", settings.rate_limit_replies_per_account)

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> Limits:
        return cls(settings, RateLimiter.from_settings(settings, engine))

    def address(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.get("x-forwarded-for"), self.proxies)

    async def refuse(self, *hits: tuple[Limit, str]) -> Response | None:
        """A 429 when any of the hits is over its limit, else None."""
        refusal = await self.limiter.first_refusal(hits)
        return None if refusal is None else too_many(refusal)

    async def login(self, request: Request) -> Response | None:
        """The console's sign-in, per client address: guessing across many usernames is slow."""
        refusal = await self.limiter.first_refusal([(self.login_address, self.address(request))])
        return None if refusal is None else too_many(refusal, "too many sign-in attempts")

    async def close(self) -> None:
        await self.limiter.close()
