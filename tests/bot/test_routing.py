"""Routing: which rule takes a message, and what the actions are told about it.

The metadata is written here by `action_metadata` and read on the other side by
`actions.context.message_context`; the round-trip table below is the contract between the two.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from rasa_sdk import Tracker

from actions.context import message_context
from bot.adapters.fake_adapter import FakeAdapter
from bot.adapters.web_adapter import WebAdapter
from bot.handoff import HandoffRequest
from bot.messages import Customer, InboundMessage
from bot.routing import AskRasa, HumanOwnsCase, Routed, TurnResult, action_metadata
from bot.store.repository import Recorded
from bot.triage import triage

WEB = "https://help.kestrel.com"
PARSE = {"text": "my parcel is late", "intent": {"name": "complaint", "confidence": 0.9}, "entities": []}


def _routed(
    *, public: bool, open_handoff_id: int | None = None, join_token: str | None = None, **customer: Any
) -> Routed:
    message = InboundMessage(
        platform="fake",
        platform_message_id="m1",
        conversation_key="public:ana" if public else "private:ana",
        public=public,
        customer=Customer("ana-id", **customer),
        text=PARSE["text"],
        received_at=datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc),
        engagement=12 if public else None,
        join_token=join_token,
    )
    recorded = Recorded(
        message_id=7, conversation_id=3, case_id=2, join_token="tok123456789", open_handoff_id=open_handoff_id
    )
    return Routed(message, recorded, triage(PARSE), PARSE, open_handoff_id)


@pytest.mark.parametrize(
    ("open_handoff_id", "expected"),
    [(None, AskRasa), (5, HumanOwnsCase)],
)
def test_the_first_matching_rule_takes_the_message(open_handoff_id: int | None, expected: type) -> None:
    # The gateway's order: a person who owns the case comes before the bot.
    rules = [HumanOwnsCase(), AskRasa(None, {})]  # type: ignore[arg-type]
    routed = _routed(public=True, open_handoff_id=open_handoff_id)
    assert type(next(rule for rule in rules if rule.matches(routed))) is expected


@pytest.mark.parametrize(
    ("adapter", "public", "dm_link", "display_name"),
    [
        # A platform's own profile name may be used in public; the invitation is public-only.
        (FakeAdapter(), True, "https://fake.example/dm?join=tok123456789", "Ana Lima"),
        (FakeAdapter(), False, None, "Ana Lima"),
        # A name the web visitor merely declared is never repeated in public.
        (
            WebAdapter("https://help.kestrel.com", 2000),
            True,
            "https://help.kestrel.com/?join=tok123456789#private",
            None,
        ),
        (WebAdapter("https://help.kestrel.com", 2000), False, None, "Ana Lima"),
    ],
)
def test_action_metadata_round_trips_into_the_actions_context(
    adapter: Any, public: bool, dm_link: str | None, display_name: str | None
) -> None:
    routed = _routed(public=public, handle="ana", display_name="Ana Lima", audience=1500)
    metadata = action_metadata(routed, adapter)
    latest = {**PARSE, "metadata": metadata}
    context = message_context(Tracker("conversation-3", {}, latest, [], False, None, {}, "action_listen"))

    assert (context.message_id, context.case_id) == (7, 2)
    assert (context.platform, context.public) == ("fake", public)  # the message's platform
    assert context.dm_link == dm_link
    assert context.char_limit == adapter.reply_budget(routed.message)
    assert context.audience == 1500
    assert context.engagement == (12 if public else None)
    assert context.triage.intent == "complaint"
    assert metadata["firstline"]["customer"]["display_name"] == display_name
    assert context.name == ("Ana" if display_name else None)


JOINED = "A person from our team has your case and will answer here."


@pytest.mark.parametrize(
    ("public", "join_token", "note", "replies"),
    [
        # Arriving in private through the invitation: told once that a person has the case.
        (False, "tok123456789", JOINED, (JOINED,)),
        # Anything else while a person owns the case: the bot stays silent.
        (False, None, JOINED, ()),
        (True, "tok123456789", JOINED, ()),
        (False, "tok123456789", None, ()),
    ],
)
async def test_a_case_a_person_owns_gets_silence_or_the_joined_note(
    public: bool, join_token: str | None, note: str | None, replies: tuple[str, ...]
) -> None:
    result = await HumanOwnsCase(note).handle(
        _routed(public=public, open_handoff_id=5, join_token=join_token)
    )
    assert result == TurnResult("attached", replies)
    assert result.stored_status == "attached"


class _Rasa:
    """Rasa's dialogue as the rule sees it: the bot's messages for one turn."""

    def __init__(self, bot_messages: list[dict[str, Any]]) -> None:
        self.bot_messages = bot_messages
        self.asked: dict[str, Any] = {}

    async def respond(self, **asked: Any) -> list[dict[str, Any]]:
        self.asked = asked
        return self.bot_messages


HANDOFF = HandoffRequest(
    reason="complaint", intent="complaint", topic=None, priority=2, summary="parcel late", flags=("public",)
)


@pytest.mark.parametrize(
    ("bot_messages", "replies", "handoff"),
    [
        ([{"text": "We can help with that."}], ("We can help with that.",), None),
        # The hand-off comes back as data among the bot's messages, not through a store.
        (
            [{"text": " Sorry about that. "}, {"custom": HANDOFF.to_payload()}, {"text": ""}],
            ("Sorry about that.", "", ""),
            HANDOFF,
        ),
        ([], (), None),
    ],
)
async def test_the_bot_s_turn_is_what_rasa_said_and_the_hand_off_it_asked_for(
    bot_messages: list[dict[str, Any]], replies: tuple[str, ...], handoff: HandoffRequest | None
) -> None:
    rasa = _Rasa(bot_messages)
    result = await AskRasa(rasa, {"fake": FakeAdapter()}).handle(_routed(public=True))  # type: ignore[arg-type]
    assert result == TurnResult("answered", replies, handoff)
    assert result.stored_status == "handled"
    assert rasa.asked["sender_id"] == "conversation-3" and rasa.asked["message_id"] == "7"
