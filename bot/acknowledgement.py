"""Composes the first reply to a complaint from the brand's phrasebook.

The wording lives in `domain.yml` (responses `utter_ack_*`, `utter_dm_*` and the topic lines
`utter_complaint/<topic>`), several variants each, so that two customers rarely read the same
sentence. This module decides which parts to use and fits them into the platform's limit: the
apology and, on a public post, the private-message invitation are never dropped; the thanks, the
topic line and the next step are, in that order, when space runs out.

Outside business hours the next step says when the team is back (`utter_back_at`) instead of
promising that someone is picking it up now; being honest about the wait, that line stays.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.text_limits import measure
from bot.wording import Phrasebook, fill

__all__ = [
    "BACK_AT_FALLBACK",
    "MAX_NAME_CHARS",
    "AckRequest",
    "compose_acknowledgement",
    "first_name",
    "pick",
]

BACK_AT_FALLBACK = "Our team is back {back_at} and will pick this up then."
"""Used when the domain has no `utter_back_at` (a model trained before it was added)."""


@dataclass(frozen=True, slots=True)
class AckRequest:
    platform: str
    public: bool
    limit: int
    seed: str
    """Anything stable per message (its id): the same message always gets the same wording."""
    name: str | None = None
    topic: str | None = None
    dm_link: str | None = None
    personal_data_posted: bool = False
    back_at: str | None = None
    """When the team is back (`Monday at 09:00 CET`), if it is away now."""


MAX_NAME_CHARS = 30
MAX_NAME_WORDS = 3


def first_name(display_name: str | None) -> str | None:
    """The first word of a display name that looks like a person's name, or None.

    A display name is whatever its owner typed, and the brand repeats it in public ("Thanks for
    telling us, Scammers!" was issue 12, finding 12). So a name is used only when the whole
    display name is shaped like a name: one to three words of letters (any script), each maybe
    joined by a hyphen or an apostrophe (Jean-Luc, O'Brien), each starting with a capital where
    the script has capitals, none written all in capitals, at most 30 characters. Anything else
    (punctuation, digits, emoji, shouting, a sentence) gets no name: a reply without one reads
    fine, a reply with the wrong one does not. No list of bad words: it could never be complete,
    and the shape rule already refuses what such lists are for.
    """
    if not display_name:
        return None
    words = display_name.split()
    if not words or len(words) > MAX_NAME_WORDS or len(" ".join(words)) > MAX_NAME_CHARS:
        return None
    if not all(_name_shaped(word) for word in words):
        return None
    return words[0]


def _name_shaped(word: str) -> bool:
    parts = re.split(r"[-'’]", word)
    if not all(part and part.isalpha() for part in parts):
        return False
    if word[0].islower():
        return False
    cased = [c for c in word if c.isupper() or c.islower()]
    # "AL" or "SCAMMERS" is shouting, not a name; one capital letter alone ("J") is an initial.
    return len(cased) < 2 or not all(c.isupper() for c in cased)


def pick(variants: Sequence[str], seed: str, part: str) -> list[str]:
    """All variants, starting from a seeded choice, so callers can fall back to the next one."""
    if not variants:
        return []
    digest = hashlib.sha256(f"{seed}:{part}".encode()).digest()
    start = int.from_bytes(digest[:4], "big") % len(variants)
    return list(variants[start:]) + list(variants[:start])


def compose_acknowledgement(phrases: Phrasebook, request: AckRequest) -> str:
    """The acknowledgement text for one complaint, within `request.limit` when at all possible."""

    def options(key: str) -> list[str]:
        variants = pick(phrases.get(key, ()), request.seed, key)
        if not variants and key == "utter_back_at":
            variants = [BACK_AT_FALLBACK]
        values = {"name": request.name, "dm_link": request.dm_link, "back_at": request.back_at}
        return [fill(t, values) for t in variants]

    topic_key = f"utter_complaint/{request.topic}" if request.topic else ""
    understanding = options(topic_key) if topic_key in phrases else options("utter_ack_understanding")
    if request.public and request.dm_link:
        closing_key = "utter_dm_privacy" if request.personal_data_posted else "utter_dm_invite"
    elif request.public:
        closing_key = "utter_ack_next_step"
    else:
        closing_key = "utter_ack_private_details"

    next_step_key = "utter_back_at" if request.back_at else "utter_ack_next_step"
    if closing_key == "utter_ack_next_step":
        closing_key = next_step_key

    # Parts in reading order; the droppable ones go first, then the kept ones get shorter.
    parts: dict[str, list[str]] = {
        "opening": options("utter_ack_opening"),
        "apology": options("utter_ack_apology"),
        "understanding": understanding,
        "next_step": options(next_step_key) if closing_key != next_step_key else [],
        "closing": options(closing_key),
    }
    droppable = ("opening", "understanding") if request.back_at else ("opening", "understanding", "next_step")
    kept = ("apology", "next_step", "closing") if request.back_at else ("apology", "closing")
    chosen = {key: variants[0] for key, variants in parts.items() if variants}

    def render() -> str:
        return " ".join(chosen[key] for key in parts if key in chosen)

    def too_long() -> bool:
        return measure(render(), request.platform) > request.limit

    for key in droppable:
        if not too_long():
            break
        chosen.pop(key, None)
    for key in kept:
        # Still too long: try the shortest wording of the parts that must stay.
        if too_long() and parts.get(key):
            chosen[key] = min(parts[key], key=lambda t: measure(t, request.platform))
    return render()
