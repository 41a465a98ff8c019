"""Personal data that customers post in public, which the brand must never repeat in public.

Detection is deliberately generous: a false alarm only means asking the customer to move to a
private chat, while a miss means echoing someone's e-mail or order number to the world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PersonalData", "find_personal_data", "mentions_any"]

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("card", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    ("phone", re.compile(r"(?<![\w#])\+?\d[\d ()./-]{7,}\d\b")),
    ("order_number", re.compile(r"(?:#|\b(?:order|ord|ks)[\s#:.-]*)(\d{5,12})\b", re.IGNORECASE)),
    ("order_number", re.compile(r"\b\d{6,12}\b")),
)


@dataclass(frozen=True, slots=True)
class PersonalData:
    kind: str
    value: str


def find_personal_data(text: str) -> list[PersonalData]:
    """Every e-mail address, card-like or phone-like number and order number in `text`."""
    found: list[PersonalData] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = 1 if match.re.groups else 0
            start, end = match.span(group)
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append(PersonalData(kind, match.group(group).strip()))
    return found


def mentions_any(reply: str, data: list[PersonalData]) -> bool:
    """Whether `reply` repeats any of `data` (digits compared without spaces or dashes)."""
    squashed = re.sub(r"[\s()./-]", "", reply).lower()
    for item in data:
        needle = re.sub(r"[\s()./-]", "", item.value).lower()
        if needle and needle in squashed:
            return True
    return False
