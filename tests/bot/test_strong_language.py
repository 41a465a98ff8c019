"""The strong-language flag: swearing in full, masked and abbreviated; innocent look-alikes not."""

from __future__ import annotations

import pytest

from bot.strong_language import has_strong_language


@pytest.mark.parametrize(
    ("text", "swears"),
    [
        ("@KestrelHelp your app is sh*t, it logs me out every 5 min wtf", True),
        ("f***ing useless, third time this week", True),
        ("fckin late AGAIN", True),
        ("FFS another outage", True),
        ("this is absolute bullshit", True),
        ("shitty service tbh", True),
        ("slow af, cancelling", True),
        ("what a load of crap", True),
        ("crappy app, crashes on open", True),
        ("pissed off with this", True),
        ("s**t customer service", True),
        ("damn it, charged twice", True),
        ("thanks a lot, sorted!", False),
        ("I need assistance with my bill", False),
        ("the train to Scunthorpe is late", False),
        ("what the hell happened to my order", False),
        ("classic passive aggressive reply", False),
        ("cocktails at the Shitake bar? no, shiitake mushrooms", False),
        ("", False),
    ],
)
def test_strong_language(text: str, swears: bool) -> None:
    assert has_strong_language(text) is swears
