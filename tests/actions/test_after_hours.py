"""Outside business hours the actions say when the team is back, within the platform's limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import after_hours, context
from actions.acknowledge import ActionAcknowledgeComplaint, ActionAcknowledgeUnsure
from actions.answer import ActionAnswerQuestion
from bot.settings import PROJECT_ROOT
from bot.text_limits import measure

DOMAIN: dict[str, Any] = yaml.safe_load(Path(PROJECT_ROOT / "domain.yml").read_text())
DM_LINK = "https://twitter.com/messages/compose?recipient_id=1234567890"
AMS = ZoneInfo("Europe/Amsterdam")
SATURDAY_NIGHT = datetime(2024, 3, 9, 23, 0, tzinfo=AMS)
TUESDAY_MORNING = datetime(2024, 3, 5, 10, 0, tzinfo=AMS)
NEXT_STEPS = [v["text"] for v in DOMAIN["responses"]["utter_ack_next_step"]]


def _clear_caches() -> None:
    context.settings.cache_clear()
    after_hours.business_hours.cache_clear()


@pytest.fixture
def office_hours(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The brand works weekdays 09-18 in Amsterdam (set as an operator would: the environment)."""
    monkeypatch.setenv("FIRSTLINE_BUSINESS_HOURS", "Mon-Fri 09:00-18:00")
    monkeypatch.setenv("FIRSTLINE_TIMEZONE", "Europe/Amsterdam")
    _clear_caches()
    yield
    monkeypatch.undo()
    _clear_caches()


def _tracker(
    text: str,
    intent: str,
    written: datetime,
    *,
    platform: str = "x",
    public: bool = True,
    message_id: int = 7,
    topic: str | None = None,
    topic_confidence: float = 0.9,
) -> Tracker:
    latest: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.95},
        "intent_ranking": [{"name": intent, "confidence": 0.95}],
        "entities": [],
        "metadata": {
            "firstline": {
                "message_id": message_id,
                "case_id": None,
                "platform": platform,
                "public": public,
                "char_limit": {"x": 280, "telegram": 4096}.get(platform, 2000),
                "dm_link": DM_LINK if public else None,
                "customer": {"id": "u1", "handle": "alice", "display_name": "Alice", "audience": 300},
            }
        },
    }
    if topic:
        latest["response_selector"] = {
            intent: {"response": {"intent_response_key": f"{intent}/{topic}", "confidence": topic_confidence}}
        }
    events = [{"event": "user", "timestamp": written.timestamp(), "text": text}]
    return Tracker("conversation-1", {}, latest, events, False, None, {}, "action_listen")


async def _say(action: Any, tracker: Tracker) -> str:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker, DOMAIN)
    [text] = [m["text"] for m in dispatcher.messages if m.get("text")]
    return text


@pytest.mark.usefixtures("office_hours")
@pytest.mark.parametrize("message_id", range(12))
async def test_complaint_on_saturday_night_says_monday_and_still_fits_x(message_id: int) -> None:
    tracker = _tracker(
        "@brand my parcel is 'delivered' to the wrong house AGAIN 🙃 third time!!",
        "complaint",
        SATURDAY_NIGHT,
        message_id=message_id,
        topic="delivery",
    )
    text = await _say(ActionAcknowledgeComplaint(), tracker)
    assert "Monday at 09:00 CET" in text
    assert DM_LINK in text
    assert measure(text, "x") <= 280
    # No promise that someone is on it right now.
    assert not any(step in text for step in NEXT_STEPS)


@pytest.mark.usefixtures("office_hours")
async def test_private_complaint_at_night_says_when_the_team_is_back() -> None:
    evening = datetime(2024, 3, 5, 21, 0, tzinfo=AMS)
    text = await _say(
        ActionAcknowledgeComplaint(),
        _tracker("my refund is missing", "complaint", evening, platform="telegram", public=False),
    )
    assert "tomorrow at 09:00 CET" in text
    assert not any(step in text for step in NEXT_STEPS)


@pytest.mark.usefixtures("office_hours")
async def test_complaint_during_office_hours_promises_a_person_now() -> None:
    text = await _say(
        ActionAcknowledgeComplaint(),
        _tracker("my refund is missing", "complaint", TUESDAY_MORNING, platform="telegram", public=False),
    )
    assert " at 09:00" not in text
    assert any(step in text for step in NEXT_STEPS)


@pytest.mark.usefixtures("office_hours")
@pytest.mark.parametrize("action", [ActionAcknowledgeUnsure(), ActionAnswerQuestion()])
async def test_honest_unsure_answers_at_night_say_when_the_team_is_back(action: Any) -> None:
    tracker = _tracker(
        "do you ship to the moon", "question", SATURDAY_NIGHT, topic="shipping", topic_confidence=0.2
    )
    text = await _say(action, tracker)
    assert "Monday at 09:00 CET" in text
    assert DM_LINK in text
    assert measure(text, "x") <= 280


async def test_without_business_hours_nothing_changes() -> None:
    _clear_caches()
    text = await _say(
        ActionAcknowledgeComplaint(),
        _tracker("my refund is missing", "complaint", SATURDAY_NIGHT, platform="telegram", public=False),
    )
    assert "09:00" not in text
    assert any(step in text for step in NEXT_STEPS)


def test_the_time_the_customer_wrote_wins_over_when_rasa_saw_it() -> None:
    """A turn run again after a restart reaches Rasa later; the customer still wrote at night."""
    amsterdam = ZoneInfo("Europe/Amsterdam")
    wrote = datetime(2026, 11, 20, 23, 30, tzinfo=amsterdam)
    tracker = _tracker("where is my parcel", "complaint", datetime(2026, 11, 23, 10, 0, tzinfo=amsterdam))
    tracker.latest_message["metadata"]["firstline"]["received_at"] = wrote.isoformat()
    assert after_hours.written_at(tracker) == wrote
    tracker.latest_message["metadata"]["firstline"]["received_at"] = "not a time"
    assert after_hours.written_at(tracker) == datetime(2026, 11, 23, 10, 0, tzinfo=amsterdam)
