"""The login throttle's counts in the store, on SQLite and PostgreSQL: a lockout holds however many
other names fail, holds across instances, and is forgotten only a day after the last failure."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from bot.console.auth import LoginThrottle, throttle_delay
from bot.messages import utcnow
from bot.store import Repository
from bot.store.login_failures import FORGET_AFTER, LoginFailureStore, failure_key
from bot.store.models import LoginFailure


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _throttle(repository: Repository, clock: Clock) -> LoginThrottle:
    """A throttle on the store, as each instance's console has one."""
    return LoginThrottle(LoginFailureStore(repository.engine, FORGET_AFTER), clock)


@pytest.fixture
def throttle(repository: Repository, clock: Clock) -> LoginThrottle:
    return _throttle(repository, clock)


def _rows(repository: Repository) -> int:
    with repository.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LoginFailure)).scalar_one())


@pytest.mark.parametrize(
    ("failures", "seconds"), [(0, 0.0), (4, 0.0), (5, 2.0), (6, 4.0), (9, 32.0), (14, 900.0), (100, 900.0)]
)
def test_the_wait_doubles_after_five_failures_up_to_fifteen_minutes(failures: int, seconds: float) -> None:
    assert throttle_delay(failures) == seconds


def test_failing_on_ten_thousand_made_up_names_does_not_lift_a_lockout(
    repository: Repository, throttle: LoginThrottle, clock: Clock
) -> None:
    """The probe's attack: the per-instance dictionary was cleared once it held 10,000 names."""
    for _ in range(8):
        throttle.failed("Ana")
    locked = throttle.wait("ana")
    assert locked > 0
    # 12,000 made-up names failed just now (inserted in bulk: the attack, minus the waiting)...
    with repository.engine.begin() as conn:
        conn.execute(
            insert(LoginFailure),
            [
                {"key": failure_key(f"made-up-{n}"), "failures": 1, "last_failed_at": clock.now}
                for n in range(12_000)
            ],
        )
    # ... and a few hundred more through the throttle itself, each of which prunes.
    for n in range(300):
        throttle.failed(f"another-made-up-{n}")
    assert throttle.wait("ana") == locked
    assert _rows(repository) == 1 + 12_000 + 300


def test_a_lockout_holds_on_another_instance(repository: Repository, clock: Clock) -> None:
    first, second = _throttle(repository, clock), _throttle(repository, clock)
    for _ in range(6):
        first.failed("ana")
    assert second.wait("ana") == throttle_delay(6) > 0
    second.succeeded("ana")
    assert first.wait("ana") == 0.0


def test_counts_are_forgotten_a_day_after_the_last_failure_and_only_then(
    repository: Repository, throttle: LoginThrottle, clock: Clock
) -> None:
    for _ in range(20):
        throttle.failed("ana")
    clock.now += timedelta(minutes=15)
    assert throttle.wait("ana") == 0.0  # the longest wait is over...
    throttle.failed("ana")
    assert throttle.wait("ana") == throttle_delay(21)  # ...but the count is not: 15 minutes again
    throttle.failed("old-name")
    clock.now += timedelta(hours=24)
    assert throttle.wait("ana") == 0.0
    throttle.failed("ben")  # prunes the names whose last failure is a day old
    assert _rows(repository) == 1
    throttle.failed("ana")
    assert throttle.wait("ana") == 0.0  # a fresh count


def test_the_store_keeps_no_typed_name(repository: Repository, throttle: LoginThrottle) -> None:
    throttle.failed("my secret password typed in the wrong box")
    with repository.engine.connect() as conn:
        [key] = conn.execute(select(LoginFailure.key)).scalars().all()
    assert key == failure_key("My Secret Password typed in the wrong box ") and "secret" not in key
