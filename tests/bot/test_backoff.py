from __future__ import annotations

import pytest

from bot.backoff import MAX_BACKOFF, backoff


@pytest.mark.parametrize(
    ("attempts", "first", "retry_after", "cap", "expected"),
    [
        (1, 2.0, None, MAX_BACKOFF, 2.0),
        (2, 2.0, None, MAX_BACKOFF, 4.0),
        (4, 2.0, None, MAX_BACKOFF, 16.0),
        (30, 2.0, None, MAX_BACKOFF, MAX_BACKOFF),
        (0, 2.0, None, MAX_BACKOFF, 2.0),  # no failure yet still waits the first pause
        (1, 2.0, 30.0, MAX_BACKOFF, 30.0),  # the platform's own wait wins when it is longer
        (3, 2.0, 1.0, MAX_BACKOFF, 8.0),
        (7, 1.0, None, 60.0, 60.0),  # Telegram's polling cap
        (3, 30.0, None, 900.0, 120.0),  # X polling: the poll interval, doubled
        (9, 30.0, 1000.0, 900.0, 1000.0),  # a rate-limit reset beyond the cap is still honoured
    ],
)
def test_backoff_doubles_is_capped_and_honours_the_platform(
    attempts: int, first: float, retry_after: float | None, cap: float, expected: float
) -> None:
    assert backoff(attempts, first, retry_after, cap) == expected
