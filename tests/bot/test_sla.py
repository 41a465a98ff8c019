from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.business_hours import BusinessHours
from bot.sla import clock_for, sla_clock

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = BusinessHours.parse("Mon-Fri 09:00-18:00; Sat 10:00-14:00", "Europe/Amsterdam")
ALWAYS = BusinessHours.parse("", "UTC")


def ams(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=AMS)


# 2024-03-04 is a Monday; the spring DST change is in the night to Sunday 2024-03-31, the autumn
# one in the night to Sunday 2024-10-27.
@pytest.mark.parametrize(
    ("received", "claimed", "now", "hours", "state", "elapsed_minutes", "paused"),
    [
        # always open: plain wall-clock time
        (ams("2024-03-04", "10:00"), None, ams("2024-03-04", "10:30"), ALWAYS, "ok", 30, False),
        (ams("2024-03-04", "10:00"), None, ams("2024-03-04", "10:45"), ALWAYS, "ok", 45, False),
        (ams("2024-03-04", "10:00"), None, ams("2024-03-04", "10:46"), ALWAYS, "amber", 46, False),
        (ams("2024-03-04", "10:00"), None, ams("2024-03-04", "11:00"), ALWAYS, "red", 60, False),
        (ams("2024-03-04", "10:00"), None, ams("2024-03-04", "13:00"), ALWAYS, "red", 180, False),
        (
            ams("2024-03-04", "10:00"),
            ams("2024-03-04", "10:59"),
            ams("2024-03-05", "10:00"),
            ALWAYS,
            "met",
            59,
            False,
        ),
        (
            ams("2024-03-04", "10:00"),
            ams("2024-03-04", "11:01"),
            ams("2024-03-05", "10:00"),
            ALWAYS,
            "missed",
            61,
            False,
        ),
        # the clock stands still overnight ...
        (ams("2024-03-04", "17:30"), None, ams("2024-03-05", "08:00"), OFFICE, "ok", 30, True),
        (ams("2024-03-04", "17:30"), None, ams("2024-03-05", "09:20"), OFFICE, "amber", 50, False),
        (
            ams("2024-03-04", "17:30"),
            ams("2024-03-05", "09:25"),
            ams("2024-03-05", "12:00"),
            OFFICE,
            "met",
            55,
            False,
        ),
        # ... over the weekend (Saturday 10-14 counts) ...
        (ams("2024-03-08", "17:45"), None, ams("2024-03-09", "10:31"), OFFICE, "amber", 46, False),
        (ams("2024-03-08", "17:45"), None, ams("2024-03-10", "12:00"), OFFICE, "red", 15 + 240, True),
        (ams("2024-03-09", "14:30"), None, ams("2024-03-11", "08:59"), OFFICE, "ok", 0, True),
        # ... before the team arrives ...
        (ams("2024-03-04", "06:00"), None, ams("2024-03-04", "09:10"), OFFICE, "ok", 10, False),
        # ... and across the nights the clocks change: 1 h on Friday + 4 h Saturday + 10 min.
        (ams("2024-03-29", "17:00"), None, ams("2024-04-01", "09:10"), OFFICE, "red", 60 + 240 + 10, False),
        (
            ams("2024-03-30", "13:30"),
            ams("2024-04-01", "09:20"),
            ams("2024-04-01", "12:00"),
            OFFICE,
            "met",
            50,
            False,
        ),
        (
            ams("2024-10-26", "13:30"),
            ams("2024-10-28", "09:40"),
            ams("2024-10-28", "12:00"),
            OFFICE,
            "missed",
            70,
            False,
        ),
    ],
)
def test_sla_clock(
    received: datetime,
    claimed: datetime | None,
    now: datetime,
    hours: BusinessHours,
    state: str,
    elapsed_minutes: float,
    paused: bool,
) -> None:
    clock = sla_clock(received, claimed, now, 60, hours)
    assert clock.state == state
    assert clock.elapsed_seconds == pytest.approx(elapsed_minutes * 60)
    assert clock.remaining_seconds == pytest.approx((60 - elapsed_minutes) * 60)
    assert clock.paused is paused


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (ams("2024-03-04", "10:00"), ams("2024-03-04", "11:00")),
        (ams("2024-03-04", "17:30"), ams("2024-03-05", "09:30")),
        (ams("2024-03-09", "13:30"), ams("2024-03-11", "09:30")),
        (ams("2024-03-30", "13:30"), ams("2024-04-01", "09:30")),  # after the spring change
    ],
)
def test_due_at_is_the_real_moment_the_target_runs_out(received: datetime, due: datetime) -> None:
    clock = sla_clock(received, None, received, 60, OFFICE)
    assert clock.due_at == due
    assert sla_clock(received, None, due - timedelta(seconds=1), 60, OFFICE).state == "amber"
    assert sla_clock(received, None, due, 60, OFFICE).state == "red"


def test_waited_is_wall_clock_time_and_the_fraction_is_bounded() -> None:
    received = ams("2024-03-08", "17:45")
    clock = sla_clock(received, None, ams("2024-03-11", "17:45"), 60, OFFICE)
    assert clock.waited_seconds == 72 * 3600
    assert clock.fraction_left == 0.0
    assert sla_clock(received, None, received, 60, OFFICE).fraction_left == 1.0
    as_json = clock.to_dict()
    assert as_json["state"] == "red"
    assert datetime.fromisoformat(as_json["due_at"]) == ams("2024-03-09", "10:45")


def test_configurable_target() -> None:
    received = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)
    now = received + timedelta(minutes=20)
    assert sla_clock(received, None, now, 15, ALWAYS).state == "red"
    assert sla_clock(received, None, now, 240, ALWAYS).state == "ok"
    with pytest.raises(ValueError, match="positive"):
        sla_clock(received, None, now, 0, ALWAYS)


@dataclass
class _Handoff:
    received_at: datetime
    created_at: datetime
    status: str = "open"
    closed_at: datetime | None = None
    claimed_at: datetime | None = None


@pytest.mark.parametrize(
    ("handoff", "state"),
    [
        (_Handoff(ams("2024-03-04", "10:00"), ams("2024-03-04", "10:00")), "red"),
        (
            _Handoff(
                ams("2024-03-04", "10:00"), ams("2024-03-04", "10:00"), claimed_at=ams("2024-03-04", "10:05")
            ),
            "met",
        ),
        # closed straight from the queue: the wait ended when it was closed
        (
            _Handoff(
                ams("2024-03-04", "10:00"), ams("2024-03-04", "10:00"), "resolved", ams("2024-03-04", "12:00")
            ),
            "missed",
        ),
    ],
)
def test_clock_for_a_stored_handoff(handoff: _Handoff, state: str) -> None:
    assert clock_for(handoff, ams("2024-03-04", "14:00"), 60, OFFICE).state == state
