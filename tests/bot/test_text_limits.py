from __future__ import annotations

import pytest

from bot.text_limits import fits, measure


@pytest.mark.parametrize(
    ("text", "platform", "expected"),
    [
        ("hello", "x", 5),
        ("see https://example.com/a/very/long/path/that/goes/on/and/on", "x", 4 + 23),
        ("two links http://a.io and https://b.io/x", "x", 10 + 23 + 5 + 23),
        ("日本", "x", 4),
        ("café", "x", 4),
        ("hi 😀", "telegram", 5),
        ("hi 😀", "web", 4),
    ],
)
def test_measure(text: str, platform: str, expected: int) -> None:
    assert measure(text, platform) == expected


def test_fits_uses_platform_limit() -> None:
    assert fits("a" * 280, "x")
    assert not fits("a" * 281, "x")
    assert fits("a" * 281, "telegram")
