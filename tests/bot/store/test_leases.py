"""Leader leases (`bot.store.leases`) on SQLite and PostgreSQL: one holder at a time, renewed by
the holder, taken over once they run out, and given up at once on a clean stop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bot.store import Repository
from bot.store.leases import Leases

ROLE = "telegram:poll:7000001"


def test_one_holder_at_a_time_and_a_takeover_once_it_runs_out(repository: Repository) -> None:
    leases = Leases(repository.engine)
    assert leases.hold(ROLE, "a", 10, now=100.0)
    assert not leases.hold(ROLE, "b", 10, now=105.0)
    assert leases.hold(ROLE, "a", 10, now=108.0)  # renewed: until 118
    assert not leases.hold(ROLE, "b", 10, now=115.0)
    assert leases.hold(ROLE, "b", 10, now=118.5)  # a stopped renewing
    assert not leases.hold(ROLE, "a", 10, now=119.0)
    assert [(h.role, h.holder) for h in leases.holders(now=119.0)] == [(ROLE, "b")]
    assert leases.hold("x:poll:1000", "a", 10, now=119.0)  # another account, another role


def test_a_clean_stop_hands_over_at_once(repository: Repository) -> None:
    leases = Leases(repository.engine)
    assert leases.hold(ROLE, "a", 10, now=100.0)
    leases.release(ROLE, "b")  # only the holder can give it up
    assert not leases.hold(ROLE, "b", 10, now=101.0)
    leases.release(ROLE, "a")
    assert leases.holders(now=101.0) == []
    assert leases.hold(ROLE, "b", 10, now=101.0)


def test_instances_asking_at_once_get_one_holder(repository: Repository) -> None:
    leases = [Leases(repository.engine) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: leases[i].hold(ROLE, f"i{i}", 10, now=100.0), range(8)))
    assert won.count(True) == 1
    (holder,) = leases[0].holders(now=100.0)
    assert holder.holder == f"i{won.index(True)}"
