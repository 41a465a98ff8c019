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
        # X's weights (twitter-text v3): Thai, Devanagari and Arabic letters weigh 1, and so do
        # their combining marks (vowel signs, harakat), which an approximation once weighed 0.
        ("สวัสดีครับ", "x", 10),
        ("नमस्ते", "x", 6),
        ("مَرْحَبًا", "x", 9),
        # X counts after NFC normalisation: e and a combining acute are one é.
        ("e\u0301", "x", 1),
        # What X does not recognise as a URL (no real top-level domain) counts letter by letter.
        ("https://firstline.example/x", "x", 27),
        # A bare domain is a URL, and a URL ends where CJK text or closing punctuation starts.
        ("see example.com/x ok", "x", 4 + 23 + 3),
        ("https://example.com/a日本語", "x", 23 + 6),
        ("https://example.com/a, ok", "x", 23 + 4),
        # An emoji sequence weighs 2 however many code points it has.
        ("👨\u200d👩\u200d👧\u200d👦", "x", 2),
        ("🇯🇵", "x", 2),
        ("👍🏽", "x", 2),
        ("1\ufe0f\u20e3", "x", 2),
        ("ok 😀", "x", 5),
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
