"""When a short reply continues the conversation the bot just had."""

from __future__ import annotations

import pytest

from bot.continuation import WINDOW_SECONDS, continues, seconds_since_bot_spoke


@pytest.mark.parametrize(
    ("text", "seconds", "expected"),
    [
        ("I have. Please check.", 40.0, True),
        ("@KestrelHelp yes same account", 600.0, True),
        ("I have. Please check.", None, False),  # the bot never spoke here: a new conversation
        ("I have. Please check.", WINDOW_SECONDS + 1, False),  # too long ago to answer it
        ("I have. Please check.", -5.0, False),
        ("one two three four five six seven eight nine ten eleven twelve thirteen", 30.0, False),
        ("@KestrelHelp https://t.co/x", 30.0, False),  # nothing but a handle and a link
    ],
)
def test_continues(text: str, seconds: float | None, expected: bool) -> None:
    assert continues(text, seconds) is expected


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], None),
        ([{"event": "user", "timestamp": 100.0}], None),
        ([{"event": "bot", "timestamp": 90.0}, {"event": "user", "timestamp": 100.0}], 10.0),
        # The reply to the latest message is not "before" it.
        (
            [
                {"event": "user", "timestamp": 10.0},
                {"event": "bot", "timestamp": 11.0},
                {"event": "user", "timestamp": 50.0},
                {"event": "bot", "timestamp": 51.0},
            ],
            39.0,
        ),
        ([{"event": "bot", "timestamp": "x"}, {"event": "user", "timestamp": 5.0}], None),
    ],
)
def test_seconds_since_bot_spoke(events: list[dict[str, object]], expected: float | None) -> None:
    assert seconds_since_bot_spoke(events) == expected
