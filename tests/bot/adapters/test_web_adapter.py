from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.web_adapter import WebAdapter
from bot.errors import Forbidden, InvalidMessage

ADAPTER = WebAdapter("http://firstline.test", max_chars=10_000, audience_cap=1000)


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
    assert link == "http://firstline.test/?join=tok123#private"


@pytest.mark.parametrize(
    ("cap", "declared", "believed"),
    [
        (0, None, None),
        (0, 10_000_000, None),
        (0, 2**31 - 1, None),
        (1000, 9, 9),
        (1000, 10_000_000, 1000),
        (1000, 0, 0),
    ],
)
def test_a_declared_audience_is_capped(cap: int, declared: int | None, believed: int | None) -> None:
    adapter = WebAdapter("http://firstline.test", max_chars=100, audience_cap=cap)
    body = {"user": "alice", "text": "hi", **({} if declared is None else {"audience": declared})}
    assert adapter.parse(body).customer.audience == believed


@pytest.mark.parametrize(
    ("body", "visitor", "user"),
    [
        ({"text": "hi"}, "v-abc", "v-abc"),
        ({"user": "v-abc", "text": "hi"}, "v-abc", "v-abc"),
        ({"user": "alice@example.com", "text": "hi"}, "alice@example.com", "alice@example.com"),
    ],
)
def test_the_visitor_is_the_customer(body: dict[str, Any], visitor: str, user: str) -> None:
    message = ADAPTER.parse(body, visitor=visitor)
    assert (message.customer.platform_user_id, message.conversation_key) == (user, f"private:{user}")


def test_a_body_naming_another_visitor_is_refused() -> None:
    with pytest.raises(Forbidden, match="not you"):
        ADAPTER.parse({"user": "alice", "text": "hi"}, visitor="v-mallory")
