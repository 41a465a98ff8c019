from __future__ import annotations

import pytest

from bot.wording import fill, phrasebook


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("Thanks for telling us, {name}.", {"name": "Ana"}, "Thanks for telling us, Ana."),
        ("Thanks for telling us, {name}.", {"name": None}, "Thanks for telling us."),
        ("Thanks for telling us, {name}.", {}, "Thanks for telling us."),
        ("{name}, thank you for flagging this.", {"name": ""}, "Thank you for flagging this."),
        ("{name} thank you", {}, "Thank you"),
        ("Hi {name}, we're on it.", {}, "Hi, we're on it."),
        ("Hello {name}!", {}, "Hello!"),
        ("Sorry about this, {name}", {}, "Sorry about this"),
        (
            "Write to us here: {dm_link}",
            {"dm_link": "https://t.me/b?start=x"},
            "Write to us here: https://t.me/b?start=x",
        ),
        ("Write to us here: {dm_link}", {}, "Write to us here:"),
        ("{dm_link} is where we talk", {"dm_link": "https://x.com/b"}, "https://x.com/b is where we talk"),
        ("Back {back_at}, {name}.", {"back_at": "at 9:00", "name": "Bo"}, "Back at 9:00, Bo."),
        ("{name}, {name}!", {}, "!"),
        ("No placeholders :) here.", {"name": "Ana"}, "No placeholders :) here."),
        ("Braces {} and {0} stay.", {}, "Braces {} and {0} stay."),
        ("Hi {name},\nline two", {}, "Hi,\nline two"),
    ],
)
def test_fill(template: str, values: dict[str, str | None], expected: str) -> None:
    assert fill(template, values) == expected


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        (
            "Hi {name}, this is {agent} from {brand}.",
            {"name": "Ana", "agent": "Li"},
            "Hi Ana, this is Li from {brand}.",
        ),
        ("Hi {name}, this is {agent}.", {"name": "", "agent": "Li"}, "Hi, this is Li."),
    ],
)
def test_fill_keeping_unknown_placeholders(
    template: str, values: dict[str, str | None], expected: str
) -> None:
    assert fill(template, values, keep_unknown=True) == expected


RESPONSES = {
    "utter_greet": [
        {"text": "Hi!"},
        {"text": "¡Hola!", "condition": [{"type": "slot", "name": "language", "value": "es"}]},
        {"image": "https://example.com/wave.png"},
    ],
    "utter_only_spanish": [
        {"text": "Gracias", "condition": [{"type": "slot", "name": "language", "value": "es"}]},
    ],
    "not_a_list": "ignored",
}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (None, {"utter_greet": ["Hi!"], "utter_only_spanish": []}),
        ("es", {"utter_greet": ["¡Hola!"], "utter_only_spanish": ["Gracias"]}),
        # A language with no variations of its own gets the default wording.
        ("ja", {"utter_greet": ["Hi!"], "utter_only_spanish": []}),
    ],
)
def test_phrasebook(language: str | None, expected: dict[str, list[str]]) -> None:
    assert phrasebook(RESPONSES, language) == expected
