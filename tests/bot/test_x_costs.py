"""What each X call costs (`bot.x_costs`): the charges read off responses and writes, in tables."""

from __future__ import annotations

from typing import Any

import pytest

from bot.x_costs import DEFAULT_PRICES_USD, OPERATIONS, Charge, read_charges, write_charge


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"data": [{"id": "1"}, {"id": "2"}], "includes": {"users": [{"id": "9"}]}}, ["1", "2"]),
        ({"data": {"id": "7", "username": "kestrel"}}, ["7"]),
        ({"meta": {"result_count": 0}}, []),  # an empty page costs nothing
        ({"data": [{"id": 3}, "junk", {"text": "no id"}]}, []),
        ("not an object", []),
    ],
    ids=["page", "object", "empty page", "malformed items", "not an object"],
)
def test_a_read_costs_one_charge_per_resource_it_returns(body: Any, expected: list[str]) -> None:
    assert read_charges("post_read", body) == [Charge("post_read", i) for i in expected]


@pytest.mark.parametrize(
    ("text", "operation"),
    [
        (
            "@alice Sorry about that. Please DM us: https://twitter.com/messages/compose?recipient_id=1",
            "post_create_with_url",
        ),
        (
            "@alice Sorry about that. Details at example.com/help",
            "post_create_with_url",
        ),  # a bare domain is a URL to X
        ("@alice Sorry about that. Please DM us (ref Ab12Cd34Ef56)", "post_create"),
        ("@alice thanks! #kestrel", "post_create"),
        ("@alice version 2.5 is out", "post_create"),
    ],
    ids=["dm link", "bare domain", "text invitation", "hashtag", "a number with a dot"],
)
def test_a_post_with_a_url_is_the_dearer_operation(text: str, operation: str) -> None:
    assert write_charge("post", text, "55") == Charge(operation, "55")


def test_a_dm_costs_one_request_whatever_it_holds() -> None:
    assert write_charge("dm", "see https://example.com", "77") == Charge("dm_create", "77")


def test_the_default_prices_are_x_s_published_ones() -> None:
    assert dict(DEFAULT_PRICES_USD) == {
        "post_read": 0.005,
        "user_read": 0.010,
        "dm_event_read": 0.010,
        "post_create": 0.015,
        "post_create_with_url": 0.200,
        "dm_create": 0.015,
    }
    assert OPERATIONS == tuple(DEFAULT_PRICES_USD)
