"""The spend ledger (`bot.store.spend`) on SQLite and PostgreSQL: each resource is charged once a
UTC day, as X bills, and two instances charging the same resource at once count it once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from bot.store import Repository
from bot.store.spend import SpendLedger
from bot.x_costs import DEFAULT_PRICES_USD, Charge

PRICES = dict(DEFAULT_PRICES_USD)
MORNING = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)


def test_a_resource_read_again_the_same_day_costs_nothing_more(repository: Repository) -> None:
    ledger = SpendLedger(repository.engine)
    page = [Charge("dm_event_read", str(i)) for i in range(100)]
    assert ledger.charge("x", page, PRICES, MORNING) == pytest.approx(100 * 0.010)
    assert ledger.charge("x", page, PRICES, MORNING + timedelta(hours=3)) == 0.0
    newer = [Charge("dm_event_read", "100"), *page[:5]]
    assert ledger.charge("x", newer, PRICES, MORNING + timedelta(hours=4)) == 0.010
    assert ledger.spent_on("x", MORNING.date()) == pytest.approx(101 * 0.010)
    # The next UTC day, X charges the same resources again.
    tomorrow = MORNING + timedelta(days=1)
    assert ledger.charge("x", page[:2], PRICES, tomorrow) == pytest.approx(2 * 0.010)
    assert ledger.spent_on("x", tomorrow.date()) == pytest.approx(2 * 0.010)


def test_totals_by_operation_and_days_without_spend(repository: Repository) -> None:
    ledger = SpendLedger(repository.engine)
    ledger.charge("x", [Charge("post_read", "1"), Charge("post_read", "2")], PRICES, MORNING)
    ledger.charge("x", [Charge("post_create_with_url", "9")], PRICES, MORNING)
    ledger.charge("x", [Charge("post_create", "10")], PRICES, MORNING - timedelta(days=2))
    ledger.charge("x", [Charge("unknown_operation", "11")], PRICES, MORNING)  # no price: not kept
    assert ledger.totals("x") == pytest.approx(
        {"post_read": 0.010, "post_create_with_url": 0.200, "post_create": 0.015}
    )
    assert ledger.totals("telegram") == {}
    days = ledger.daily("x", MORNING.date(), 3)
    assert list(days) == ["2026-12-05", "2026-12-06", "2026-12-07"]
    assert days["2026-12-06"] == {}
    assert days["2026-12-05"] == {"post_create": 0.015}
    assert days["2026-12-07"] == pytest.approx({"post_read": 0.010, "post_create_with_url": 0.200})


def test_two_instances_charging_one_page_at_once_count_it_once(repository: Repository) -> None:
    ledgers = [SpendLedger(repository.engine) for _ in range(4)]
    page = [Charge("post_read", str(i)) for i in range(50)]
    with ThreadPoolExecutor(4) as pool:
        added = list(pool.map(lambda ledger: ledger.charge("x", page, PRICES, MORNING), ledgers))
    assert sum(added) == pytest.approx(50 * 0.005)
    assert ledgers[0].spent_on("x", MORNING.date()) == pytest.approx(50 * 0.005)
