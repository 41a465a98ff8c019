"""X's Account Activity helpers as pure functions: the CRC guard and strict reading of event types."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.adapters.x_events import parse_event
from bot.adapters.x_webhook import (
    crc_response,
    crc_token_valid,
    dm_events_v2,
    mentioned_tweet_ids,
    signature_valid,
)
from bot.errors import InvalidMessage

BRAND = "1000"


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        ("a-token-from-x", True),
        ("crc-challenge-token", True),
        ("Zm9vYmFy+/==", True),
        ("x" * 255, True),
        ("", False),
        ("x" * 256, False),
        ('{"for_user_id":"1000","direct_message_events":[]}', False),
        ("a token", False),
        ("token\n", False),
        ("tøken", False),
        ("\ud800", False),
    ],
)
def test_only_tokens_shaped_like_xs_are_signed(token: str, valid: bool) -> None:
    assert crc_token_valid(token) is valid
    if valid:
        assert crc_response("secret", token)["response_token"].startswith("sha256=")
    else:
        with pytest.raises(ValueError):
            crc_response("secret", token)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"for_user_id": BRAND, "direct_message_events": []},
        {"for_user_id": BRAND, "tweet_create_events": [{"id_str": "1", "text": "hi"}]},
    ],
)
def test_no_crc_answer_is_the_signature_of_an_event_body(event: dict[str, Any]) -> None:
    """Every body we accept is a JSON object, and `{` is never in a token we sign."""
    body = json.dumps(event).encode()
    assert not crc_token_valid(body.decode())
    with pytest.raises(ValueError):
        crc_response("secret", body.decode())
    assert not signature_valid("secret", body, None)


WRONG_TYPES: list[tuple[str, dict[str, Any]]] = [
    ("dm events a number", {"direct_message_events": 5}),
    ("dm events a string", {"direct_message_events": "x"}),
    ("dm event a number", {"direct_message_events": [5]}),
    ("message_create a list", {"direct_message_events": [{"type": "message_create", "message_create": []}]}),
    ("users a list", {"users": [1, 2], "direct_message_events": []}),
    ("tweet events a number", {"tweet_create_events": 5}),
    ("entities a string", {"tweet_create_events": [{"id_str": "7", "entities": "x"}]}),
    ("user_mentions a number", {"tweet_create_events": [{"id_str": "7", "entities": {"user_mentions": 5}}]}),
    ("user a string", {"tweet_create_events": [{"id_str": "7", "user": "x"}]}),
]


@pytest.mark.parametrize(("case", "payload"), WRONG_TYPES, ids=[c for c, _ in WRONG_TYPES])
def test_wrong_types_are_skipped_not_raised(case: str, payload: dict[str, Any]) -> None:
    """Skipped here, or refused by the parser (which the adapter logs); never an exception."""
    for converted in dm_events_v2({"for_user_id": BRAND, **payload}):
        with pytest.raises(InvalidMessage):
            parse_event(converted, BRAND)
    assert mentioned_tweet_ids({"for_user_id": BRAND, **payload}) == []


def _dm(created_timestamp: Any) -> dict[str, Any]:
    return {
        "for_user_id": BRAND,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": "1790000000000000001",
                "created_timestamp": created_timestamp,
                "message_create": {"sender_id": "42", "message_data": {"text": "hello"}},
            }
        ],
    }


@pytest.mark.parametrize(
    ("stamp", "created_at"),
    [
        ("1700000000000", "2023-11-14T22:13:20Z"),
        ("9" * 30, None),
        ("9" * 5000, None),
        ("²", None),
        ("-1", None),
        (1700000000000, None),
        (None, None),
    ],
    ids=["ok", "30 digits", "5000 digits", "superscript", "negative", "number", "missing"],
)
def test_created_timestamp_is_read_only_when_it_is_a_time(
    stamp: Any, created_at: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.adapters.x_webhook"):
        [converted] = dm_events_v2(_dm(stamp))
    assert converted["data"].get("created_at") == created_at
    assert converted["data"]["text"] == "hello"
    if stamp is not None and created_at is None:
        assert "created_timestamp" in caplog.text


def test_a_mention_is_still_found() -> None:
    tweet = {
        "id_str": "7",
        "user": {"id_str": "42"},
        "entities": {"user_mentions": [{"id_str": BRAND}]},
    }
    assert mentioned_tweet_ids({"for_user_id": BRAND, "tweet_create_events": [tweet]}) == ["7"]
