from __future__ import annotations

import pytest

from bot.privacy import PersonalData, find_personal_data, mentions_any


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my email is jane.doe+shop@example.co.uk pls help", [("email", "jane.doe+shop@example.co.uk")]),
        ("order #4839201 never came", [("order_number", "4839201")]),
        ("order KS-4839201 never came", [("order_number", "4839201")]),
        ("call me on +44 7700 900123", [("phone", "+44 7700 900123")]),
        ("ref 48392011 is wrong", [("order_number", "48392011")]),
        ("my parcel is late again", []),
        ("3rd time this week!!! 2 weeks waiting", []),
    ],
)
def test_find_personal_data(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(p.kind, p.value) for p in find_personal_data(text)] == expected


def test_mentions_any_ignores_spacing() -> None:
    found = [PersonalData("phone", "+44 7700 900123")]
    assert mentions_any("we will call +447700900123", found)
    assert not mentions_any("please DM us", found)
