from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.metrics import (
    AckSample,
    HandoffCounts,
    Understood,
    bucket_starts,
    by_platform,
    distribution,
    percentile,
    snapshot,
    volume,
)

NOW = datetime(2024, 3, 4, 12, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.5, None),
        ([3.0], 0.9, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.5),  # order does not matter
        ([float(n) for n in range(1, 11)], 0.9, 9.1),
        ([1.0, 2.0], 0.0, 1.0),
        ([1.0, 2.0], 1.0, 2.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == (pytest.approx(expected) if expected is not None else None)


def test_percentile_refuses_a_quantile_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile([1.0], 90)


def test_negative_and_impossible_durations_are_left_out() -> None:
    dist = distribution([1.0, -5.0, float("nan"), 3.0])
    assert (dist.count, dist.total, dist.quantiles[0.5]) == (2, 4.0, 2.0)
    assert dist.to_dict() == {"count": 2, "sum": 4.0, "p50": 2.0, "p90": 2.8}


def test_first_acknowledgement_per_platform() -> None:
    samples = [AckSample("x", s) for s in (1, 2, 3, 4, 100)] + [AckSample("telegram", 0.5)]
    dists = by_platform(samples)
    assert list(dists) == ["telegram", "x"]
    assert dists["x"].quantiles[0.5] == 3 and dists["x"].quantiles[0.9] == pytest.approx(61.6)
    assert dists["telegram"].count == 1


def test_hour_and_day_buckets() -> None:
    assert bucket_starts(NOW - timedelta(hours=3), NOW, "hour") == [
        datetime(2024, 3, 4, h, tzinfo=timezone.utc) for h in (9, 10, 11, 12)
    ]
    assert bucket_starts(NOW - timedelta(days=2), NOW, "day") == [
        datetime(2024, 3, d, tzinfo=timezone.utc) for d in (2, 3, 4)
    ]


def test_volume_by_intent_and_topic_per_bucket() -> None:
    messages = [
        Understood(datetime(2024, 3, 4, 10, 5, tzinfo=timezone.utc), "complaint", "delivery"),
        Understood(datetime(2024, 3, 4, 10, 55, tzinfo=timezone.utc), "complaint", "billing"),
        Understood(datetime(2024, 3, 4, 12, 1, tzinfo=timezone.utc), "question", "delivery"),
        Understood(datetime(2024, 3, 4, 12, 2, tzinfo=timezone.utc), None, None),
        Understood(datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc), "praise", None),  # before the window
    ]
    chart = volume(messages, NOW - timedelta(hours=3), NOW, "hour")
    assert chart["starts"][0] == "2024-03-04T09:00:00+00:00" and len(chart["starts"]) == 4
    assert chart["by_intent"] == {
        "complaint": [0, 2, 0, 0],
        "question": [0, 0, 0, 1],
        "unknown": [0, 0, 0, 1],
    }
    assert chart["by_topic"] == {"billing": [0, 1, 0, 0], "delivery": [0, 1, 0, 1]}
    with pytest.raises(ValueError, match="bucket"):
        volume(messages, NOW - timedelta(hours=3), NOW, "week")


def test_snapshot_has_every_figure_of_the_page() -> None:
    data = snapshot(
        now=NOW,
        window=timedelta(days=1),
        bucket="day",
        acks=[AckSample("web", 0.2), AckSample("web", 0.4)],
        pickups=[600.0, 1800.0, 3600.0],
        handoffs=HandoffCounts(open=2, opened=5, resolved=3, handed_back=1),
        messages=[Understood(NOW - timedelta(hours=1), "complaint", "delivery")],
        chatter_unanswered=4,
    )
    assert data["chatter_unanswered"] == 4
    assert data["first_ack_seconds"] == {"web": {"count": 2, "sum": 0.6, "p50": 0.3, "p90": 0.38}}
    assert data["pickup_seconds"] == {"count": 3, "sum": 6000.0, "p50": 1800.0, "p90": 3240.0}
    assert data["handoffs"] == {"open": 2, "opened": 5, "resolved": 3, "handed_back": 1}
    assert data["volume"]["by_intent"] == {"complaint": [0, 1]}
    assert data["window"]["seconds"] == 86400
