"""The actions on hand-made trackers: what they say and write for each kind of message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.abuse import ActionHandleAbuse
from actions.acknowledge import ActionAcknowledgeComplaint, ActionAcknowledgeUnsure
from actions.answer import ActionAnswerQuestion
from actions.handoff import ActionHandOff
from bot.handoff import HandoffRequest
from bot.settings import PROJECT_ROOT
from bot.text_limits import measure

DOMAIN: dict[str, Any] = yaml.safe_load(Path(PROJECT_ROOT / "domain.yml").read_text())
DM_LINK = "https://twitter.com/messages/compose?recipient_id=1234567890"


def _tracker(
    text: str,
    intent: str,
    *,
    confidence: float = 0.95,
    topic: str | None = None,
    topic_confidence: float = 0.9,
    platform: str = "x",
    public: bool = True,
    case_id: int | None = None,
    message_id: int | None = 7,
    audience: int | None = 300,
) -> Tracker:
    base = intent.split("/")[0]
    latest: dict[str, Any] = {
        "text": text,
        "intent": {"name": base, "confidence": confidence},
        "intent_ranking": [{"name": base, "confidence": confidence}],
        "entities": [],
        "metadata": {
            "firstline": {
                "message_id": message_id,
                "case_id": case_id,
                "platform": platform,
                "public": public,
                "char_limit": {"x": 280, "telegram": 4096}.get(platform, 2000),
                "dm_link": DM_LINK if public else None,
                "customer": {"id": "u1", "handle": "alice", "display_name": "Alice", "audience": audience},
            }
        },
    }
    if topic:
        latest["response_selector"] = {
            base: {"response": {"intent_response_key": f"{base}/{topic}", "confidence": topic_confidence}}
        }
    return Tracker("conversation-1", {}, latest, [], False, None, {}, "action_listen")


async def _run(action: Any, tracker: Tracker) -> tuple[list[str], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return [m["text"] for m in dispatcher.messages if m.get("text")], events


@pytest.mark.parametrize("message_id", range(12))
async def test_complaint_on_x_fits_and_invites_to_dm(message_id: int) -> None:
    tracker = _tracker(
        "@brand 3rd time my parcel is 'delivered' to the wrong house 🙃", "complaint", topic="delivery"
    )
    tracker.latest_message["metadata"]["firstline"]["message_id"] = message_id
    [text], events = await _run(ActionAcknowledgeComplaint(), tracker)
    assert measure(text, "x") <= 280
    assert DM_LINK in text
    assert events == []


async def test_complaint_topic_line_only_when_confident() -> None:
    confident, _ = await _run(
        ActionAcknowledgeComplaint(), _tracker("x", "complaint", topic="billing", platform="web")
    )
    unsure, _ = await _run(
        ActionAcknowledgeComplaint(),
        _tracker("x", "complaint", topic="billing", topic_confidence=0.2, platform="web"),
    )
    billing = [v["text"] for v in DOMAIN["responses"]["utter_complaint/billing"]]
    assert any(line in confident[0] for line in billing)
    assert not any(line in unsure[0] for line in billing)


async def test_public_complaint_with_an_email_never_echoes_it() -> None:
    tracker = _tracker("refund STILL missing!! reach me at jane@example.com", "complaint", topic="billing")
    [text], _ = await _run(ActionAcknowledgeComplaint(), tracker)
    assert "jane@example.com" not in text
    privacy = [v["text"].replace("{dm_link}", DM_LINK) for v in DOMAIN["responses"]["utter_dm_privacy"]]
    assert any(p in text for p in privacy)


async def test_confident_question_gets_the_answer() -> None:
    texts, events = await _run(
        ActionAnswerQuestion(), _tracker("how long does shipping take?", "question", topic="shipping")
    )
    assert texts == [DOMAIN["responses"]["utter_question/shipping"][0]["text"]]
    assert events == []


async def test_unsure_question_is_honest_and_hands_off() -> None:
    tracker = _tracker("do you ship to mars", "question", topic="shipping", topic_confidence=0.3)
    [text], events = await _run(ActionAnswerQuestion(), tracker)
    honest = [v["text"] for v in DOMAIN["responses"]["utter_question/other"]]
    assert any(text.startswith(h) for h in honest)
    assert DM_LINK in text
    assert events == [FollowupAction("action_hand_off")]


async def test_unsure_message_says_a_person_will_answer() -> None:
    [text], _ = await _run(ActionAcknowledgeUnsure(), _tracker("hmm the thing", "nlu_fallback", public=False))
    assert "person" in text


@pytest.mark.parametrize(("public", "replies"), [(True, 0), (False, 1)])
async def test_abuse_is_silent_in_public_and_neutral_in_private(public: bool, replies: int) -> None:
    texts, _ = await _run(ActionHandleAbuse(), _tracker("you are all idiots", "abuse", public=public))
    assert len(texts) == replies


async def _hand_off(tracker: Tracker) -> tuple[HandoffRequest | None, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionHandOff().run(dispatcher, tracker, DOMAIN)
    assert [m for m in dispatcher.messages if m.get("text")] == []  # it says nothing itself
    return HandoffRequest.from_bot_messages(dispatcher.messages), events


@pytest.mark.parametrize(
    ("intent", "reason", "flag"),
    [
        ("complaint", "complaint", None),
        ("abuse", "abuse", "abuse"),
        ("nlu_fallback", "unsure", "low_confidence"),
        ("request_human", "asked_for_human", None),
    ],
)
async def test_hand_off_asks_for_reason_priority_and_flags(
    intent: str, reason: str, flag: str | None
) -> None:
    tracker = _tracker("order #4839201 broken", intent, case_id=4, message_id=9)
    request, events = await _hand_off(tracker)
    assert events == [] and request is not None
    assert request.reason == reason
    assert "personal_data_public" in request.flags
    assert flag is None or flag in request.flags
    assert request.priority > 0


async def test_hand_off_outside_firstline_asks_for_nothing() -> None:
    request, events = await _hand_off(_tracker("help", "complaint", case_id=None, message_id=None))
    assert (request, events) == (None, [])
