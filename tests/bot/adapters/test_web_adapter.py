from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.web_adapter import WebAdapter
from bot.errors import InvalidMessage

ADAPTER = WebAdapter("http://firstline.test", max_chars=10_000)


def test_parses_a_public_post() -> None:
    message = ADAPTER.parse(
        {
            "user": "alice",
            "text": "hello",
            "public": True,
            "message_id": "m1",
            "display_name": "Alice",
            "audience": 9,
        }
    )
    assert (message.platform, message.conversation_key, message.public) == ("web", "public:alice", True)
    assert message.customer.audience == 9
    assert message.platform_message_id == "m1"


def test_private_chat_can_carry_the_join_token() -> None:
    message = ADAPTER.parse({"user": "alice", "text": "hi", "join": "tok"})
    assert (message.conversation_key, message.public, message.join_token) == ("private:alice", False, "tok")


def test_missing_message_id_gets_a_unique_one() -> None:
    first = ADAPTER.parse({"user": "a", "text": "x"})
    second = ADAPTER.parse({"user": "a", "text": "x"})
    assert first.platform_message_id != second.platform_message_id


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ([], "JSON object"),
        ({"user": "alice"}, "'text'"),
        ({"user": "alice", "text": "   "}, "'text'"),
        ({"user": "alice", "text": 5}, "'text'"),
        ({"text": "hi"}, "'user'"),
        ({"user": "no spaces please", "text": "hi"}, "'user'"),
        ({"user": "alice", "text": "hi", "public": "yes"}, "'public'"),
        ({"user": "alice", "text": "hi", "audience": -1}, "'audience'"),
        ({"user": "alice", "text": "hi", "audience": True}, "'audience'"),
        ({"user": "alice", "text": "hi", "audience": 2**31}, "'audience'"),
        ({"user": "alice", "text": "hi", "audience": 2**64}, "'audience'"),
        ({"user": "alice", "text": "hi", "audience": 1.5}, "'audience'"),
        ({"user": "alice", "text": "hi", "colour": "red"}, "unknown field"),
        ({"user": "alice", "text": "x" * 10_001}, "longer than"),
    ],
)
def test_refuses_bad_payloads(payload: Any, error: str) -> None:
    with pytest.raises(InvalidMessage, match=error):
        ADAPTER.parse(payload)


def test_dm_link_opens_the_private_chat_with_the_case_token() -> None:
    from bot.messages import Customer

    link = ADAPTER.dm_link(Customer("alice"), "tok123")
    assert link == "http://firstline.test/?user=alice&join=tok123#private"
