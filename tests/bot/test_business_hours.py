from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.business_hours import BusinessHours, describe_opening
from bot.errors import SettingsError
from bot.settings import Settings

AMS = ZoneInfo("Europe/Amsterdam")
SPEC = "Mon-Fri 09:00-18:00; Sat 10:00-14:00"
HOURS = BusinessHours.parse(SPEC, "Europe/Amsterdam")


def ams(day: str, clock: str) -> datetime:
    """A moment in Amsterdam, written as people read it: ams('2024-03-04', '09:00')."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=AMS)


# 2024-03-04 is a Monday; 2024-03-31 is the spring DST change, 2024-10-27 the autumn one.
@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ams("2024-03-04", "08:59"), False),
        (ams("2024-03-04", "09:00"), True),
        (ams("2024-03-04", "17:59"), True),
        (ams("2024-03-04", "18:00"), False),
        (ams("2024-03-08", "12:00"), True),  # Friday
        (ams("2024-03-09", "09:59"), False),  # Saturday before opening
        (ams("2024-03-09", "13:00"), True),
        (ams("2024-03-10", "12:00"), False),  # Sunday
        (datetime(2024, 3, 4, 8, 30, tzinfo=timezone.utc), True),  # 09:30 in Amsterdam
        (datetime(2024, 7, 1, 7, 30, tzinfo=timezone.utc), True),  # 09:30 summer time
        (datetime(2024, 7, 1, 6, 30, tzinfo=timezone.utc), False),  # 08:30 summer time
    ],
)
def test_is_open(at: datetime, expected: bool) -> None:
    assert HOURS.is_open(at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ams("2024-03-04", "10:00"), ams("2024-03-04", "10:00")),  # open now
        (ams("2024-03-04", "07:00"), ams("2024-03-04", "09:00")),
        (ams("2024-03-04", "19:00"), ams("2024-03-05", "09:00")),
        (ams("2024-03-08", "18:30"), ams("2024-03-09", "10:00")),  # Friday evening -> Saturday
        (ams("2024-03-09", "15:00"), ams("2024-03-11", "09:00")),  # Saturday afternoon -> Monday
        (ams("2024-03-30", "15:00"), ams("2024-04-01", "09:00")),  # across the spring change
    ],
)
def test_next_opening(at: datetime, expected: datetime) -> None:
    opening = HOURS.next_opening(at)
    assert opening == expected
    assert opening.tzinfo == AMS


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (ams("2024-03-04", "10:00"), ams("2024-03-04", "11:30"), 1.5),
        (ams("2024-03-04", "17:00"), ams("2024-03-05", "10:00"), 2),  # overnight pause
        (ams("2024-03-08", "17:00"), ams("2024-03-11", "10:00"), 1 + 4 + 1),  # weekend
        (ams("2024-03-04", "07:00"), ams("2024-03-04", "08:00"), 0),  # all before opening
        (ams("2024-03-04", "00:00"), ams("2024-03-11", "00:00"), 5 * 9 + 4),  # a whole week
        (ams("2024-03-29", "17:00"), ams("2024-04-01", "10:00"), 1 + 4 + 1),  # spring DST weekend
        (ams("2024-10-25", "17:00"), ams("2024-10-28", "10:00"), 1 + 4 + 1),  # autumn DST weekend
        (ams("2024-03-04", "11:00"), ams("2024-03-04", "10:00"), 0),  # end before start
    ],
)
def test_open_seconds_between(start: datetime, end: datetime, hours: float) -> None:
    assert HOURS.open_seconds_between(start, end) == pytest.approx(hours * 3600)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (ams("2024-03-04", "10:00"), 1, ams("2024-03-04", "11:00")),
        (ams("2024-03-04", "17:30"), 1, ams("2024-03-05", "09:30")),
        (ams("2024-03-09", "13:30"), 1, ams("2024-03-11", "09:30")),
        (ams("2024-03-10", "12:00"), 0, ams("2024-03-11", "09:00")),
    ],
)
def test_add_open_seconds(start: datetime, hours: float, expected: datetime) -> None:
    assert HOURS.add_open_seconds(start, hours * 3600) == expected


def test_empty_schedule_is_always_open() -> None:
    always = BusinessHours.parse("", "UTC")
    sunday_night = datetime(2024, 3, 10, 3, 0, tzinfo=timezone.utc)
    assert always.always_open and always.is_open(sunday_night)
    assert always.next_opening(sunday_night) == sunday_night
    assert always.open_seconds_between(sunday_night, sunday_night + timedelta(hours=5)) == 5 * 3600


def test_default_settings_mean_always_open() -> None:
    assert BusinessHours.from_settings(Settings(_env_file=None)).always_open


def test_windows_of_a_day_merge_and_ranges_wrap_around_the_weekend() -> None:
    hours = BusinessHours.parse("Fri-Mon 09:00-12:00, 11:00-13:00; Wed 10:00-11:00", "UTC")
    assert hours.weekly[0] == ((540, 780),)  # Monday
    assert hours.weekly[6] == ((540, 780),)  # Sunday
    assert hours.weekly[1] == ()
    assert hours.weekly[2] == ((600, 660),)


def test_a_night_shift_as_two_entries_is_one_stretch() -> None:
    hours = BusinessHours.parse("Fri 22:00-24:00; Sat 00:00-06:00", "UTC")
    start = datetime(2024, 3, 8, 23, 0, tzinfo=timezone.utc)
    assert hours.open_seconds_between(start, start + timedelta(hours=3)) == 3 * 3600
    assert hours.is_open(datetime(2024, 3, 9, 0, 0, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    ("spec", "zone", "complaint"),
    [
        ("Mon-Fri 9-18", "UTC", "should read like '09:00-18:00'"),
        ("Mo-Fr 09:00-18:00", "UTC", "unknown day 'Mo-Fr'"),
        ("Mon-Fri 18:00-09:00", "UTC", "ends before it starts"),
        ("Mon 09:00-25:00", "UTC", "not a time of day"),
        ("Mon 09:75-10:00", "UTC", "not a time of day"),
        ("09:00-18:00", "UTC", "should read like 'Mon-Fri 09:00-18:00'"),
        ("Mon-Fri 09:00-18:00", "Europe/Atlantis", "unknown time zone"),
    ],
)
def test_unreadable_schedules_are_clear_settings_errors(spec: str, zone: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(complaint)):
        BusinessHours.parse(spec, zone)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        HOURS.is_open(datetime(2024, 3, 4, 10, 0))


@pytest.mark.parametrize(
    ("opening", "now", "expected"),
    [
        (ams("2024-03-04", "09:00"), ams("2024-03-04", "07:00"), "today at 09:00 CET"),
        (ams("2024-03-05", "09:00"), ams("2024-03-04", "19:00"), "tomorrow at 09:00 CET"),
        (ams("2024-03-11", "09:00"), ams("2024-03-09", "15:00"), "Monday at 09:00 CET"),
        (ams("2024-04-01", "09:00"), ams("2024-03-30", "15:00"), "Monday at 09:00 CEST"),
        (ams("2024-03-25", "09:00"), ams("2024-03-09", "15:00"), "Monday 25 March at 09:00 CET"),
        # "Now" is read in the brand's zone: 23:30 UTC on Sunday is already Monday in Amsterdam.
        (
            ams("2024-03-11", "09:00"),
            datetime(2024, 3, 10, 23, 30, tzinfo=timezone.utc),
            "today at 09:00 CET",
        ),
    ],
)
def test_describe_opening(opening: datetime, now: datetime, expected: str) -> None:
    assert describe_opening(opening, now) == expected
