from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.messages import older_than

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("written_at", "limit", "expected"),
    [
        (NOW - timedelta(days=21), DAY, True),
        (NOW - DAY - timedelta(seconds=1), DAY, True),
        (NOW - DAY, DAY, False),  # exactly at the limit is still answered
        (NOW - timedelta(minutes=5), DAY, False),
        (NOW + timedelta(minutes=5), DAY, False),  # a skewed clock is not age
        (NOW - timedelta(days=365), timedelta(0), False),  # 0: no limit
        (datetime(2026, 11, 1, 12, 0), DAY, True),  # no zone: UTC
        (datetime(2026, 12, 7, 13, 0, tzinfo=timezone(timedelta(hours=2))), DAY, False),
    ],
)
def test_older_than(written_at: datetime, limit: timedelta, expected: bool) -> None:
    assert older_than(written_at, limit, NOW) is expected
