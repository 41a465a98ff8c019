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
from bot.messages import Customer, InboundMessage
from bot.routing import AskRasa, HumanOwnsCase, Routed, action_metadata
from bot.store.repository import Recorded
from bot.triage import triage

WEB = "https://help.kestrel.com"
PARSE = {"text": "my parcel is late", "intent": {"name": "complaint", "confidence": 0.9}, "entities": []}


def _routed(*, public: bool, open_handoff_id: int | None = None, **customer: Any) -> Routed:
    message = InboundMessage(
        platform="fake",
        platform_message_id="m1",
        conversation_key="public:ana" if public else "private:ana",
        public=public,
        customer=Customer("ana-id", **customer),
        text=PARSE["text"],
        received_at=datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc),
        engagement=12 if public else None,
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
    rules = [HumanOwnsCase(None, None), AskRasa(None, None, None, None, {})]  # type: ignore[arg-type]
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
