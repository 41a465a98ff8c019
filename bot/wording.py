"""The brand's wording: reading it from the domain and filling its placeholders.

Every reply the bot or a follow-up sends, and every canned reply an agent picks, is a template
from `domain.yml` or the console with `{name}`-style placeholders. Before this module there were
four fillers and three readers of the domain's responses, each with its own idea of what a missing
name does to "Thanks, {name}."; here there is one of each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.language import LANGUAGE_ENTITY

__all__ = ["Phrasebook", "fill", "phrasebook"]

Phrasebook = Mapping[str, Sequence[str]]
"""A domain's responses as plain text variants, by response name."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def phrasebook(responses: Mapping[str, Any], language: str | None = None) -> Phrasebook:
    """The text variants of a domain's `responses`, in `language` (None: the default, English).

    A variation may carry a `condition` on the `language` slot, as Rasa's conditional response
    variations do; as in Rasa's own NLG, the variations whose condition holds win, and the
    unconditioned ones are used when none does. Variants without text (buttons, images) are skipped.
    """
    book: dict[str, list[str]] = {}
    for name, variants in responses.items():
        if not isinstance(variants, list):
            continue
        usable = [v for v in variants if isinstance(v, dict) and v.get("text")]
        matching = [str(v["text"]) for v in usable if v.get("condition") and _holds(v["condition"], language)]
        book[str(name)] = matching or [str(v["text"]) for v in usable if not v.get("condition")]
    return book


def _holds(condition: Any, language: str | None) -> bool:
    """Whether a response condition (a list of slot tests) holds for a message's language."""
    if not isinstance(condition, list) or language is None:
        return False
    return all(
        isinstance(test, dict)
        and test.get("type") == "slot"
        and test.get("name") == LANGUAGE_ENTITY
        and test.get("value") == language
        for test in condition
    )


def fill(template: str, values: Mapping[str, str | None], *, keep_unknown: bool = False) -> str:
    """The template with its placeholders filled.

    A placeholder whose value is empty or missing leaves no trace: it goes with the comma that
    attached it ("Thanks, {name}." -> "Thanks."; "{name}, thank you" -> "Thank you"), so a customer
    without a known name never reads a stray comma or brace. With `keep_unknown`, a placeholder
    not in `values` at all stays visible instead: an agent editing a canned reply sees and fixes it.
    """
    text = template
    removed_at_start = False
    for key in dict.fromkeys(_PLACEHOLDER.findall(template)):
        if key not in values and keep_unknown:
            continue
        value = values.get(key)
        if value:
            text = text.replace(f"{{{key}}}", value)
            continue
        slot = re.escape(f"{{{key}}}")
        text, at_start = re.subn(rf"^\s*{slot}\s*,?\s*", "", text)
        removed_at_start = removed_at_start or bool(at_start)
        text = re.sub(rf",\s*{slot}(?=\s*(?:[.!?]|$))", "", text)
        text = re.sub(rf"[ \t]*{slot}", "", text)
    text = text.strip()
    if removed_at_start:
        text = text[:1].upper() + text[1:]
    return text
