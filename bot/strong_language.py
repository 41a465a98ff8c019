"""Does a message swear? A flag for the agent, never a reason to treat a customer differently.

Customers swear when something has gone badly wrong. The model reads "your app is sh*t, wtf" as
the complaint it is (it gets the apology and the invitation like any other); the agent who takes
the case should still know what tone to expect before opening it, so the hand-off carries a
`language` flag.

A profanity library was measured first: better-profanity (0.7.0) took about 80 ms a message
(it compares every token with each of its ~900 patterns in turn), a third of the whole parse, and
missed masked spellings such as "f***ing" and "FFS". One compiled pattern over the common English
swear words, their masked spellings and their social-media abbreviations costs microseconds.
It is English only, as the intent model is; words that are also innocent ("hell", "ass" inside
"assistance", "Scunthorpe") are matched only as whole words or left out.
"""

from __future__ import annotations

import re

__all__ = ["STRONG_LANGUAGE_FLAG", "has_strong_language"]

STRONG_LANGUAGE_FLAG = "language"

# Stems match at a word start and take the usual endings ("fucking", "shitty", "pissed"), not any
# run-on: "shitake" is not swearing.
_STEMS = (
    "fuck",
    "fck",
    "fuk",
    "shit",
    "sh1t",
    "bullshit",
    "crap",
    "piss",
    "bastard",
    "bitch",
    "bollock",
    "wank",
    "twat",
    "cunt",
    "arsehole",
    "asshole",
    "dickhead",
    "motherfuck",
    "goddamn",
    "damn",
    "bloody hell",
)
# Abbreviations and short words match only as whole words.
_WORDS = ("wtf", "ffs", "stfu", "omfg", "fml", "af", "fkn", "fkin", "effing", "arse", "ass", "sod off", "jfc")
# Masked spellings: a first letter, then symbols standing in for the rest ("f***", "sh*t", "s**t").
_MASKED = (r"f[\*#@!\$%]+(?:c?k|ck)?\w*", r"f[\*#@!\$%]{2,}", r"sh?[\*#@!\$%]+t\w*", r"b[\*#@!\$%]+ch\w*")

_ENDINGS = r"(?:s|es|ed|er|ers|ing|in|y|ty|py|ter|tiest|head|heads|hole|holes|show|ery|ish|off)?(?![\w])"
_PATTERN = re.compile(
    r"(?<![\w])(?:"
    + "|".join(
        [re.escape(stem) + _ENDINGS for stem in _STEMS]
        + [re.escape(word) + r"(?![\w])" for word in _WORDS]
        + list(_MASKED)
    )
    + r")",
    re.IGNORECASE,
)


def has_strong_language(text: str) -> bool:
    """True when the text swears, in full, masked ("sh*t") or abbreviated ("wtf", "ffs")."""
    return _PATTERN.search(text) is not None
