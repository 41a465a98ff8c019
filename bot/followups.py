"""Messages Firstline sends later on its own, and when they are due: plain logic, no I/O.

Every complaint is followed up. Two kinds:
- `still_here`: the customer was invited from a public post to a private chat and has not come;
  once, after `followup_after_minutes`, a short public line says the brand is still there to help.
- `checkback`: `checkback_after_hours` after a person resolved the case, a message asks whether
  the fix arrived: in the private chat when there is one, else in public.

Each is planned as a row agents can see and cancel before it goes out; when it is due, the facts
of the case at that moment decide whether it still makes sense (the customer came to the private
chat, a person answered, the case was reopened...). Both wait for business hours: a "we're still
here" posted at three in the morning, when nobody is, would not be true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.acknowledgement import first_name, pick
from bot.business_hours import BusinessHours
from bot.text_limits import measure
from bot.wording import Phrasebook, fill

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "CHECKBACK",
    "FALLBACK_WORDING",
    "KINDS",
    "STATUSES",
    "STILL_HERE",
    "Decision",
    "FollowupFacts",
    "FollowupPolicy",
    "PlaceRef",
    "compose",
    "decide",
    "dedupe_key",
]

STILL_HERE = "still_here"
CHECKBACK = "checkback"
KINDS = (STILL_HERE, CHECKBACK)

STATUSES = ("scheduled", "sending", "sent", "cancelled", "failed")
"""`sending` is held by one instance between claiming a due row and recording what happened."""

RESPONSES = {STILL_HERE: "utter_followup_still_here", CHECKBACK: "utter_checkback"}
FALLBACK_WORDING = {
    STILL_HERE: "We're still here to help whenever you're ready. {dm_link}",
    CHECKBACK: "We're checking back: is everything sorted now? If not, just reply here.",
}
"""For a domain older than the follow-up wording (the trainers' words in domain.yml come first)."""

SYSTEM = "system"
"""`cancelled_by` when Firstline itself called a follow-up off; agents cancel under their name."""


@dataclass(frozen=True, slots=True)
class FollowupPolicy:
    still_here_after: timedelta | None
    """None: the public follow-up is off."""
    checkback_after: timedelta | None
    """None: no check-back after resolution."""
    hours: BusinessHours
    lookback: timedelta = timedelta(days=1)
    """How far past its due time a handoff is still worth following up (after an outage, say);
    also keeps the first start of an upgraded service from following up on old cases."""

    @classmethod
    def from_settings(cls, settings: Settings) -> FollowupPolicy:
        still_here = settings.followup_after_minutes
        checkback = settings.checkback_after_hours
        return cls(
            still_here_after=timedelta(minutes=still_here) if still_here > 0 else None,
            checkback_after=timedelta(hours=checkback) if checkback > 0 else None,
            hours=BusinessHours.from_settings(settings),
        )

    def delay(self, kind: str) -> timedelta | None:
        return self.still_here_after if kind == STILL_HERE else self.checkback_after

    def due_at(self, kind: str, since: datetime) -> datetime | None:
        """When a follow-up of `kind` counted from `since` goes out, or None when it is off."""
        delay = self.delay(kind)
        if delay is None:
            return None
        return self.hours.next_opening(since + delay)

    def planning_window(self, kind: str, now: datetime) -> datetime | None:
        """Events (handoffs opened, resolved) before this are too old to follow up now."""
        delay = self.delay(kind)
        return None if delay is None else now - delay - self.lookback


def dedupe_key(kind: str, case_id: int, handoff_id: int) -> str:
    """One `still_here` per case, ever; one `checkback` per resolved handoff.

    Stored under a unique constraint, so instances that plan the same follow-up at once write it
    once.
    """
    return f"{kind}:case:{case_id}" if kind == STILL_HERE else f"{kind}:handoff:{handoff_id}"


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """A conversation of the case, as far as sending into it needs."""

    conversation_id: int
    platform: str
    conversation_key: str
    public: bool
    last_customer_message: str | None = None
    """Platform id of the customer's latest message there, so a public reply stays in the thread."""


@dataclass(frozen=True, slots=True)
class FollowupFacts:
    """The case as it is when a follow-up falls due."""

    kind: str
    planned_conversation_id: int
    places: Sequence[PlaceRef]
    open_handoff: bool
    """A person owns the case now."""
    handoff_status: str | None
    """Status of the handoff the follow-up was planned for."""
    invitation_sent: bool
    """A bot message carrying the case's private-chat link went out in public."""
    agent_wrote_since_planned: bool


@dataclass(frozen=True, slots=True)
class Decision:
    send: bool
    place: PlaceRef | None = None
    reason: str | None = None
    """Why it was called off, for the agent reading the case."""


def decide(facts: FollowupFacts) -> Decision:
    """Whether a due follow-up still makes sense, and where it goes."""
    private = [p for p in facts.places if not p.public]
    if facts.kind == STILL_HERE:
        if private:
            return Decision(False, reason="the customer came to the private chat")
        if not facts.invitation_sent:
            return Decision(False, reason="no invitation to a private chat was sent")
        if facts.handoff_status != "open":
            return Decision(False, reason="the handoff was closed")
        if facts.agent_wrote_since_planned:
            return Decision(False, reason="a person has answered the customer")
        place = next((p for p in facts.places if p.conversation_id == facts.planned_conversation_id), None)
        if place is None:
            return Decision(False, reason="the public conversation is gone")
        return Decision(True, place)
    if facts.open_handoff:
        return Decision(False, reason="the case is open again")
    if facts.handoff_status != "resolved":
        return Decision(False, reason="the handoff was reopened")
    planned = [p for p in facts.places if p.conversation_id == facts.planned_conversation_id]
    place = (private or planned or list(facts.places) or [None])[-1]
    if place is None:
        return Decision(False, reason="the case has no conversation to write to")
    return Decision(True, place)


def compose(
    kind: str,
    phrases: Phrasebook,
    *,
    seed: str,
    platform: str,
    limit: int,
    display_name: str | None = None,
    dm_link: str | None = None,
) -> str:
    """The follow-up's text in the trainers' wording, the first variant that fits the limit."""
    key = RESPONSES[kind]
    name = first_name(display_name)
    variants = pick(phrases.get(key, ()), seed, key) or [FALLBACK_WORDING[kind]]
    texts = [fill(variant, {"name": name, "dm_link": dm_link}) for variant in variants]
    fitting = [text for text in texts if measure(text, platform) <= limit]
    return fitting[0] if fitting else min(texts, key=lambda text: measure(text, platform))
