"""When the brand's team is at work, in the brand's own time zone.

The schedule is written the way people say it, `Mon-Fri 09:00-18:00; Sat 10:00-14:00`, and read in
the configured zone, so "09:00" stays nine in the morning on both sides of a daylight-saving
change. An empty schedule means the team is always there: a newcomer changes nothing by ignoring
it. Outside the hours the acknowledgement says when people are back, and the SLA clock pauses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import SettingsError

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["DAY_NAMES", "BusinessHours", "describe_opening"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAYS = {name[:3].lower(): index for index, name in enumerate(DAY_NAMES)} | {
    name.lower(): index for index, name in enumerate(DAY_NAMES)
}
_ENTRY = re.compile(r"^(?P<days>[A-Za-z][A-Za-z,\s-]*?)\s+(?P<ranges>\d.*)$")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_MINUTES_PER_DAY = 24 * 60

Window = tuple[int, int]
"""Opening and closing time as minutes after local midnight; closing may be 24:00 (1440)."""


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    return at


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """A weekly schedule of opening windows in one time zone.

    `weekly[0]` holds Monday's windows, sorted and without overlaps; a week with no window at all
    means always open.
    """

    zone: ZoneInfo
    weekly: tuple[tuple[Window, ...], ...] = ((),) * 7

    @classmethod
    def parse(cls, spec: str, zone_name: str = "UTC") -> BusinessHours:
        """Reads a schedule such as `Mon-Fri 09:00-18:00; Sat 10:00-14:00`.

        Entries are separated by `;`. Days are names or three-letter abbreviations, lists (`Mon,Wed`)
        and ranges (`Mon-Fri`, also across the weekend: `Fri-Mon`); a day may have several windows
        (`Mon 09:00-12:00, 13:00-17:00`). A window ends after it starts, at 24:00 at the latest: a
        night shift is written as two entries, one for each day.

        Raises:
            SettingsError: the zone is unknown or the schedule cannot be read; the message says
                which part and why.
        """
        try:
            zone = ZoneInfo(zone_name.strip() or "UTC")
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"unknown time zone {zone_name!r}: use an IANA name such as 'Europe/Amsterdam'"
            ) from exc
        days: list[list[Window]] = [[] for _ in range(7)]
        for raw_entry in spec.split(";"):
            entry = raw_entry.strip()
            if not entry:
                continue
            match = _ENTRY.match(entry)
            if match is None:
                raise SettingsError(f"business hours entry {entry!r} should read like 'Mon-Fri 09:00-18:00'")
            windows = [_parse_window(part, entry) for part in match.group("ranges").split(",")]
            for day in _parse_days(match.group("days"), entry):
                days[day].extend(windows)
        return cls(zone, tuple(_merged(windows) for windows in days))

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessHours:
        return cls.parse(settings.business_hours, settings.timezone)

    @property
    def always_open(self) -> bool:
        return not any(self.weekly)

    def is_open(self, at: datetime) -> bool:
        at = _aware(at)
        if self.always_open:
            return True
        local_day = at.astimezone(self.zone).date()
        return any(start <= at < end for start, end in self._intervals(local_day - timedelta(days=1), 3))

    def next_opening(self, at: datetime) -> datetime:
        """`at` itself when open, else the start of the next window, in the brand's zone."""
        at = _aware(at)
        if self.is_open(at):
            return at.astimezone(self.zone)
        local_day = at.astimezone(self.zone).date()
        for start, _ in self._intervals(local_day, 8):
            if start > at:
                return start.astimezone(self.zone)
        raise AssertionError("a schedule with a window opens within a week")

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of opening time in `[start, end)`: real elapsed time, so DST nights count true."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        total = 0.0
        for opens, closes in self._intervals(first, (last - first).days + 1):
            overlap = (min(closes, end) - max(opens, start)).total_seconds()
            if overlap > 0:
                total += overlap
        return total

    def add_open_seconds(self, start: datetime, seconds: float) -> datetime:
        """The moment when `seconds` of opening time have passed since `start` (an SLA deadline)."""
        start = _aware(start)
        if self.always_open:
            return start + timedelta(seconds=seconds)
        remaining = max(seconds, 0.0)
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        while True:
            for opens, closes in self._intervals(day, 7):
                if closes <= start:
                    continue
                opens = max(opens, start)
                available = (closes - opens).total_seconds()
                if remaining <= available:
                    return opens + timedelta(seconds=remaining)
                remaining -= available
            day += timedelta(days=7)

    def _intervals(self, first: date, days: int) -> Iterator[tuple[datetime, datetime]]:
        """The opening windows of `days` local dates from `first`, as aware UTC intervals."""
        for offset in range(days):
            day = first + timedelta(days=offset)
            for opens, closes in self.weekly[day.weekday()]:
                yield self._moment(day, opens), self._moment(day, closes)

    def _moment(self, day: date, minutes: int) -> datetime:
        # A wall-clock time the DST change skips (02:30 in spring) is read with the old offset,
        # which lands just after the change; one that happens twice (autumn) is its first time.
        extra, minutes = divmod(minutes, _MINUTES_PER_DAY)
        local = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
        return local.replace(tzinfo=self.zone).astimezone(timezone.utc)


def _parse_days(text: str, entry: str) -> list[int]:
    days: list[int] = []
    for part in text.replace(" ", "").split(","):
        names = part.split("-")
        if len(names) > 2 or not all(name.lower() in _DAYS for name in names):
            raise SettingsError(
                f"unknown day {part!r} in business hours entry {entry!r}: use Mon, Tue, ... Sun"
            )
        first, last = (_DAYS[name.lower()] for name in (names[0], names[-1]))
        days.extend((first + step) % 7 for step in range((last - first) % 7 + 1))
    return days


def _parse_window(text: str, entry: str) -> Window:
    match = _RANGE.match(text.strip())
    if match is None:
        raise SettingsError(f"time range {text.strip()!r} in {entry!r} should read like '09:00-18:00'")
    hours_from, minutes_from, hours_to, minutes_to = (int(group) for group in match.groups())
    opens, closes = hours_from * 60 + minutes_from, hours_to * 60 + minutes_to
    if minutes_from > 59 or minutes_to > 59 or hours_from > 23 or closes > _MINUTES_PER_DAY:
        raise SettingsError(f"time range {text.strip()!r} in {entry!r} is not a time of day")
    if closes <= opens:
        raise SettingsError(
            f"time range {text.strip()!r} in {entry!r} ends before it starts; "
            "write a night shift as two entries, e.g. 'Fri 22:00-24:00; Sat 00:00-06:00'"
        )
    return opens, closes


def _merged(windows: list[Window]) -> tuple[Window, ...]:
    merged: list[Window] = []
    for opens, closes in sorted(windows):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return tuple(merged)


def describe_opening(opening: datetime, now: datetime) -> str:
    """How a customer reads the next opening: `today at 14:00`, `tomorrow at 09:00 CET`,
    `Monday at 09:00 CET`, or a date when it is more than a week off.

    The zone's abbreviation is added when it has a readable one, since the customer may live
    elsewhere; both times are read in `opening`'s zone.
    """
    zone = opening.tzinfo
    local_now = _aware(now).astimezone(zone)
    days = (opening.date() - local_now.date()).days
    if days == 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif days < 7:
        day = DAY_NAMES[opening.weekday()]
    else:
        day = f"{DAY_NAMES[opening.weekday()]} {opening.day} {opening.strftime('%B')}"
    abbreviation = opening.tzname() or ""
    suffix = f" {abbreviation}" if abbreviation.isalpha() else ""
    return f"{day} at {opening:%H:%M}{suffix}"
