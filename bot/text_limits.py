"""How long a message is in each platform's own counting, and how much a platform accepts.

X counts a post by its weighted length (twitter-text, configuration v3): every URL, bare domains
included, as 23; Latin, Cyrillic, Thai, Devanagari and Arabic letters and their combining marks
as one each; CJK and most other scripts as two; an emoji as two however many code points its
sequence has (families, flags, skin tones, keycaps). Those rules are X's own, so they come from a
port of X's library that passes its conformance tests, not from an approximation of ours.
Telegram counts UTF-16 code units. Fitting a reply means measuring it the platform's way.
"""

from __future__ import annotations

from twitter_text import parse_tweet

__all__ = ["LIMITS", "fits", "measure"]

LIMITS: dict[str, int] = {
    # platform: characters in one message, in that platform's counting
    "x": 280,
    "telegram": 4096,
    "web": 2000,
}


def measure(text: str, platform: str) -> int:
    """Length of `text` as `platform` counts it."""
    if platform == "x":
        return parse_tweet(text).weightedLength
    if platform == "telegram":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def fits(text: str, platform: str, limit: int | None = None) -> bool:
    return measure(text, platform) <= (limit if limit is not None else LIMITS.get(platform, 2000))
