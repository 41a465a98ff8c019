"""The rate limiter: the decision, the client address, and both counter backends (the store on
SQLite and PostgreSQL, and Redis), which must agree and hold across instances."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.rate_limits import (
    Counter,
    Decision,
    Limit,
    RateLimiter,
    RedisCounter,
    StoreCounter,
    client_address,
    decide,
    parse_proxies,
)
from bot.store import create_store_engine, migrate
from bot.store.models import RateLimitCounter


@pytest.mark.parametrize(
    ("count", "limit", "seconds_left", "expected"),
    [
        (1, 3, 60.0, Decision(True, 1, 0)),
        (3, 3, 0.5, Decision(True, 3, 0)),
        (4, 3, 59.2, Decision(False, 4, 60)),
        (4, 3, 0.01, Decision(False, 4, 1)),  # never "retry after 0 seconds"
        (4, 3, 0.0, Decision(False, 4, 1)),
        (1000, 0, 60.0, Decision(True, 1000, 0)),  # 0 turns the limit off
    ],
)
def test_decide(count: int, limit: int, seconds_left: float, expected: Decision) -> None:
    assert decide(Limit("s", limit), count, seconds_left) == expected


PROXIES = parse_proxies("10.0.0.0/8, 127.0.0.1, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        # Not from a trusted proxy: the header is the client's own words and is ignored.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        # The client may prepend anything; only the hop our proxy saw counts.
        ("127.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "1.2.3.4, 198.51.100.1, 10.0.0.7", "198.51.100.1"),
        ("127.0.0.1", "10.0.0.8, 10.0.0.7", "10.0.0.8"),
        ("::1", "2001:db8::1", "2001:db8::1"),
        ("127.0.0.1", "", "127.0.0.1"),
        (None, None, "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_trusted_proxies_parse_addresses_and_networks() -> None:
    assert parse_proxies("") == ()
    assert parse_proxies(" 10.0.0.0/8 ,127.0.0.1") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
    )
    with pytest.raises(ValueError):
        parse_proxies("not-an-address")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgres"])
async def two_store_counters(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[StoreCounter, StoreCounter, Clock]]:
    """Two instances' counters (two engines) on one store, on a clock the test moves."""
    url = _store_url(request.param, request, tmp_path)
    engines = [create_store_engine(url), create_store_engine(url)]
    migrate(engines[0])
    clock = Clock()
    yield StoreCounter(engines[0], clock), StoreCounter(engines[1], clock), clock
    for engine in engines:
        engine.dispose()


async def test_store_limit_holds_across_instances_and_resets_with_the_window(
    two_store_counters: tuple[StoreCounter, StoreCounter, Clock],
) -> None:
    first, second, clock = two_store_counters
    limit = Limit("web-address", 3, period=60)
    one, two = RateLimiter(first), RateLimiter(second)
    assert [(await limiter.hit(limit, "203.0.113.9")).allowed for limiter in (one, two, one)] == [True] * 3
    clock.now += 20
    refused = await two.hit(limit, "203.0.113.9")
    assert refused == Decision(False, 4, 40)
    assert (await one.hit(limit, "198.51.100.1")).allowed  # another subject has its own count
    clock.now += 40  # the window that opened at the first hit has ended
    assert (await one.hit(limit, "203.0.113.9")) == Decision(True, 1, 0)


async def test_store_counts_concurrent_hits_exactly(
    two_store_counters: tuple[StoreCounter, StoreCounter, Clock],
) -> None:
    first, second, _ = two_store_counters

    async def hit(counter: StoreCounter) -> int:
        count, _ = await asyncio.to_thread(lambda: asyncio.run(counter.increment("k", 60)))
        return count

    counts = await asyncio.gather(*(hit(first if i % 2 else second) for i in range(20)))
    assert sorted(counts) == list(range(1, 21))


async def test_store_prunes_ended_windows(
    two_store_counters: tuple[StoreCounter, StoreCounter, Clock],
) -> None:
    counter, _, clock = two_store_counters
    for subject in ("a", "b", "c"):
        await counter.increment(subject, 60)
    clock.now += 61
    await counter.increment("d", 60)
    with counter.engine.connect() as connection:
        keys = connection.execute(select(RateLimitCounter.key)).scalars().all()
        rows = connection.execute(select(func.count()).select_from(RateLimitCounter)).scalar_one()
    assert (keys, rows) == (["d"], 1)


async def test_redis_limit_holds_across_instances_and_expires(redis_url: str, redis_prefix: str) -> None:
    one = RateLimiter(RedisCounter.from_url(redis_url, redis_prefix))
    two = RateLimiter(RedisCounter.from_url(redis_url, redis_prefix))
    try:
        limit = Limit("web-address", 3, period=1)
        decisions = [await limiter.hit(limit, "203.0.113.9") for limiter in (one, two, one, two)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[-1].retry_after == 1
        assert (await one.hit(limit, "198.51.100.1")).allowed
        await asyncio.sleep(1.1)
        assert (await two.hit(limit, "203.0.113.9")) == Decision(True, 1, 0)
    finally:
        await one.close()
        await two.close()


async def test_redis_counts_concurrent_hits_exactly(redis_url: str, redis_prefix: str) -> None:
    counter = RedisCounter.from_url(redis_url, redis_prefix)
    try:
        results = await asyncio.gather(*(counter.increment("k", 60) for _ in range(50)))
        assert sorted(count for count, _ in results) == list(range(1, 51))
        assert all(0 < left <= 60 for _, left in results)
    finally:
        await counter.close()


async def test_a_redis_key_left_without_expiry_is_repaired(redis_url: str, redis_prefix: str) -> None:
    counter = RedisCounter.from_url(redis_url, redis_prefix)
    try:
        await counter.client.set(f"{redis_prefix}stuck", 7)  # e.g. written by an older version
        count, left = await counter.increment("stuck", 30)
        assert count == 8 and 0 < left <= 30
        assert 0 < await counter.client.pttl(f"{redis_prefix}stuck") <= 30_000
    finally:
        await counter.close()


class _Broken:
    async def increment(self, key: str, period: float) -> tuple[int, float]:
        raise ConnectionError("redis is down")

    async def close(self) -> None:
        pass


async def test_a_failing_counter_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    broken: Counter = _Broken()
    decision = await RateLimiter(broken).hit(Limit("web-address", 1), "203.0.113.9")
    assert decision.allowed
    assert "not checked" in caplog.text


async def test_long_subjects_are_hashed_into_a_bounded_key() -> None:
    seen: list[str] = []

    class Recording:
        async def increment(self, key: str, period: float) -> tuple[int, float]:
            seen.append(key)
            return 1, period

        async def close(self) -> None:
            pass

    limiter = RateLimiter(Recording())
    await limiter.hit(Limit("s", 1), "x" * 1000)
    await limiter.hit(Limit("s", 1), "y" * 1000)
    assert len(set(seen)) == 2 and all(len(key) <= 255 for key in seen)
