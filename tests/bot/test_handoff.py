from __future__ import annotations

from datetime import timedelta

import pytest

from bot.handoff import (
    HANDOFF_PAYLOAD,
    HandoffRequest,
    InvalidHandoffRequest,
    priority,
    reason_for,
    summarise,
    urgency,
)
from bot.triage import Triage


def _triage(intent: str, topic: str | None = None) -> Triage:
    return Triage(intent=intent, confidence=0.9, guess=intent, guess_confidence=0.9, topic=topic)


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        ("complaint", "complaint"),
        ("request_human", "asked_for_human"),
        ("question", "unanswered_question"),
        ("abuse", "abuse"),
        ("nlu_fallback", "unsure"),
    ],
)
def test_reason_for(intent: str, reason: str) -> None:
    assert reason_for(_triage(intent)) == reason


def test_public_complaint_from_large_audience_goes_first() -> None:
    viral = priority("complaint", public=True, audience=250_000)
    public = priority("complaint", public=True, audience=40)
    private = priority("complaint", public=False, audience=250_000)
    question = priority("unanswered_question", public=True, audience=250_000)
    assert viral > public > private
    assert private > priority("unanswered_question", public=False, audience=None)
    assert viral > question
    assert viral <= 100


@pytest.mark.parametrize(
    ("engagement", "bonus"),
    [(None, 0), (0, 0), (9, 8), (99, 15), (50_000, 15)],
)
def test_a_post_being_shared_goes_up_the_queue(engagement: int | None, bonus: int) -> None:
    quiet = priority("complaint", public=True, audience=40)
    assert priority("complaint", public=True, audience=40, engagement=engagement) == quiet + bonus
    # Engagement says how visible a *public* post is; it means nothing in a private chat.
    assert priority("complaint", public=False, audience=40, engagement=engagement) == priority(
        "complaint", public=False, audience=40
    )


def test_abuse_stays_at_the_bottom_whatever_the_audience() -> None:
    assert priority("abuse", public=True, audience=10_000_000) < priority(
        "unanswered_question", public=False, audience=None
    )


def test_waiting_raises_urgency() -> None:
    assert urgency(40, timedelta(minutes=60)) > urgency(60, timedelta(0))


def test_summary_is_one_short_line() -> None:
    text = "my   order\nnever arrived " + "and more " * 40
    line = summarise(_triage("complaint", "delivery"), text)
    assert line.startswith("complaint (delivery): my order never arrived")
    assert "\n" not in line and len(line) < 160


REQUEST = HandoffRequest(
    reason="complaint",
    intent="complaint",
    topic="delivery",
    priority=74,
    summary="parcel late",
    flags=("abuse",),
)


def test_a_hand_off_request_survives_the_trip_through_rasa() -> None:
    # Rasa hands a custom bot message back as {"recipient_id": ..., "custom": {...}}.
    messages = [
        {"recipient_id": "c1", "text": "Sorry!"},
        {"recipient_id": "c1", "custom": REQUEST.to_payload()},
    ]
    assert HandoffRequest.from_bot_messages(messages) == REQUEST
    assert HandoffRequest.from_bot_messages([{"text": "hi"}, {"custom": {"other": 1}}]) is None


@pytest.mark.parametrize(
    "payload",
    [
        "complaint",
        {},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "reason": ""},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "reason": 3},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "priority": "74"},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "priority": True},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "priority": 101},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "topic": ["delivery"]},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "flags": "abuse"},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "flags": [""]},
        {**REQUEST.to_payload()[HANDOFF_PAYLOAD], "summary": None},
    ],
)
def test_a_malformed_hand_off_request_is_refused(payload: object) -> None:
    with pytest.raises(InvalidHandoffRequest):
        HandoffRequest.from_bot_messages([{"custom": {HANDOFF_PAYLOAD: payload}}])
