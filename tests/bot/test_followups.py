from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.business_hours import BusinessHours
from bot.followups import (
    CHECKBACK,
    STILL_HERE,
    FollowupFacts,
    FollowupPolicy,
    PlaceRef,
    compose,
    decide,
    dedupe_key,
)
from bot.settings import PROJECT_ROOT, Settings
from bot.text_limits import measure

AMS = ZoneInfo("Europe/Amsterdam")
PHRASES = {
    name: [v["text"] for v in variants]
    for name, variants in yaml.safe_load(Path(PROJECT_ROOT / "domain.yml").read_text())["responses"].items()
}
LINK = "https://x.com/messages/compose?recipient_id=42&text=case%20AbCdEfGhIjKl"
PUBLIC = PlaceRef(1, "x", "thread-1", True, "tweet-9")
PRIVATE = PlaceRef(2, "x", "dm-42", False, "dm-3")


def test_policy_from_default_settings_follows_up_after_two_hours_and_does_not_check_back() -> None:
    policy = FollowupPolicy.from_settings(Settings(_env_file=None))
    assert policy.still_here_after == timedelta(hours=2)
    assert policy.checkback_after is None
    assert policy.hours.always_open


def test_zero_turns_a_follow_up_off() -> None:
    policy = FollowupPolicy.from_settings(
        Settings(_env_file=None, followup_after_minutes=0, checkback_after_hours=24)
    )
    now = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)
    assert policy.due_at(STILL_HERE, now) is None and policy.planning_window(STILL_HERE, now) is None
    assert policy.due_at(CHECKBACK, now) == now + timedelta(hours=24)


@pytest.mark.parametrize(
    ("since", "kind", "due"),
    [
        (datetime(2024, 3, 4, 10, 0, tzinfo=AMS), STILL_HERE, datetime(2024, 3, 4, 12, 0, tzinfo=AMS)),
        # due at 19:00, when nobody is in: waits for the morning
        (datetime(2024, 3, 4, 17, 0, tzinfo=AMS), STILL_HERE, datetime(2024, 3, 5, 9, 0, tzinfo=AMS)),
        # resolved on Friday afternoon, a day later is Saturday: waits for Monday
        (datetime(2024, 3, 8, 15, 0, tzinfo=AMS), CHECKBACK, datetime(2024, 3, 11, 9, 0, tzinfo=AMS)),
    ],
)
def test_due_times_wait_for_business_hours(since: datetime, kind: str, due: datetime) -> None:
    policy = FollowupPolicy(
        timedelta(hours=2), timedelta(days=1), BusinessHours.parse("Mon-Fri 09:00-18:00", "Europe/Amsterdam")
    )
    assert policy.due_at(kind, since) == due


def test_one_still_here_per_case_and_one_checkback_per_handoff() -> None:
    assert dedupe_key(STILL_HERE, 3, 10) == dedupe_key(STILL_HERE, 3, 11)
    assert dedupe_key(CHECKBACK, 3, 10) != dedupe_key(CHECKBACK, 3, 11)


def _facts(kind: str = STILL_HERE, **changes: object) -> FollowupFacts:
    values: dict[str, object] = {
        "kind": kind,
        "planned_conversation_id": 1,
        "places": (PUBLIC,),
        "open_handoff": kind == STILL_HERE,
        "handoff_status": "open" if kind == STILL_HERE else "resolved",
        "invitation_sent": True,
        "agent_wrote_since_planned": False,
    }
    values.update(changes)
    return FollowupFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "send", "place", "reason"),
    [
        (_facts(), True, PUBLIC, None),
        (_facts(places=(PUBLIC, PRIVATE)), False, None, "the customer came to the private chat"),
        (_facts(invitation_sent=False), False, None, "no invitation to a private chat was sent"),
        (_facts(handoff_status="resolved", open_handoff=False), False, None, "the handoff was closed"),
        (_facts(agent_wrote_since_planned=True), False, None, "a person has answered the customer"),
        (_facts(planned_conversation_id=99), False, None, "the public conversation is gone"),
        (_facts(CHECKBACK), True, PUBLIC, None),
        (_facts(CHECKBACK, places=(PUBLIC, PRIVATE)), True, PRIVATE, None),
        (_facts(CHECKBACK, open_handoff=True), False, None, "the case is open again"),
        (_facts(CHECKBACK, handoff_status="open"), False, None, "the handoff was reopened"),
        (_facts(CHECKBACK, places=()), False, None, "the case has no conversation to write to"),
    ],
)
def test_decide(facts: FollowupFacts, send: bool, place: PlaceRef | None, reason: str | None) -> None:
    decision = decide(facts)
    assert (decision.send, decision.place, decision.reason) == (send, place, reason)


@pytest.mark.parametrize("seed", [str(n) for n in range(10)])
def test_still_here_is_short_and_carries_the_private_chat_link(seed: str) -> None:
    text = compose(
        STILL_HERE, PHRASES, seed=seed, platform="x", limit=280, display_name="Alice", dm_link=LINK
    )
    assert LINK in text and measure(text, "x") <= 140
    assert any(text.startswith(v.split("{")[0]) for v in PHRASES["utter_followup_still_here"])


@pytest.mark.parametrize(("name", "greeting"), [("Alice Smith", "Alice"), ("@@@", None), (None, None)])
def test_checkback_uses_a_first_name_or_none(name: str | None, greeting: str | None) -> None:
    texts = {
        compose(CHECKBACK, PHRASES, seed=str(n), platform="telegram", limit=4096, display_name=name)
        for n in range(10)
    }
    assert len(texts) == len(PHRASES["utter_checkback"])
    for text in texts:
        assert "{" not in text and "  " not in text and " ," not in text and " ." not in text
        assert (greeting in text) if greeting else ("Alice" not in text)


def test_wording_falls_back_when_the_domain_has_none() -> None:
    text = compose(STILL_HERE, {}, seed="1", platform="x", limit=280, dm_link=LINK)
    assert text == f"We're still here to help whenever you're ready. {LINK}"


def test_the_shortest_wording_when_nothing_fits() -> None:
    text = compose(CHECKBACK, PHRASES, seed="1", platform="x", limit=10)
    assert text == min(
        (compose(CHECKBACK, PHRASES, seed=str(n), platform="x", limit=4096) for n in range(10)), key=len
    )
