"""How long a message is in each platform's own counting, and how much a platform accepts.

X counts every URL as 23 characters whatever its length, and most CJK characters and emoji as
two; Telegram counts UTF-16 code units. Fitting a reply means measuring it the platform's way.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["LIMITS", "URL_WEIGHT", "fits", "measure"]

URL_WEIGHT = 23
_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)

LIMITS: dict[str, int] = {
    # platform: characters in one message, in that platform's counting
    "x": 280,
    "telegram": 4096,
    "web": 2000,
}


def _x_weight(char: str) -> int:
    code = ord(char)
    # X's weighting: Latin and common punctuation ranges weigh 1, everything else 2.
    light = code <= 0x10FF or 0x2000 <= code <= 0x200D or 0x2010 <= code <= 0x201F or 0x2032 <= code <= 0x2037
    if unicodedata.category(char) in {"Mn", "Me"}:
        return 0
    return 1 if light else 2


def measure(text: str, platform: str) -> int:
    """Length of `text` as `platform` counts it."""
    if platform == "x":
        total, last = 0, 0
        for match in _URL.finditer(text):
            total += sum(_x_weight(c) for c in text[last : match.start()]) + URL_WEIGHT
            last = match.end()
        return total + sum(_x_weight(c) for c in text[last:])
    if platform == "telegram":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def fits(text: str, platform: str, limit: int | None = None) -> bool:
    return measure(text, platform) <= (limit if limit is not None else LIMITS.get(platform, 2000))
