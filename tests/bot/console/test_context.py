"""The console's template helpers: durations for waits, UTC `<time>` elements for the browser to
localise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.console.context import human_duration, time_tag

AMSTERDAM_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        (
            datetime(2026, 11, 23, 17, 4, 51, tzinfo=timezone.utc),
            "seconds",
            '<time datetime="2026-11-23T17:04:51+00:00" data-style="seconds">2026-11-23 17:04:51 UTC</time>',
        ),
        (
            datetime(2026, 11, 23, 18, 4, tzinfo=AMSTERDAM_WINTER),
            "datetime",
            '<time datetime="2026-11-23T17:04:00+00:00" data-style="datetime">2026-11-23 17:04 UTC</time>',
        ),
        (
            datetime(2026, 11, 23, 17, 4),  # naive: the store's UTC
            "time",
            '<time datetime="2026-11-23T17:04:00+00:00" data-style="time">17:04 UTC</time>',
        ),
        (None, "datetime", ""),
    ],
)
def test_time_tags_carry_utc_for_the_browser(value: datetime | None, style: str, expected: str) -> None:
    assert str(time_tag(value, style)) == expected


def test_an_unknown_time_style_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown time style 'weekday'"):
        time_tag(datetime(2026, 11, 23, tzinfo=timezone.utc), "weekday")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (45, "45 s"),
        (12 * 60 + 5, "12 min"),
        (3 * 3600 + 5 * 60, "3 h 05 min"),
        (52 * 3600, "2 d 4 h"),
        (-90, "-1 min"),
    ],
)
def test_waits_stay_relative(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected
