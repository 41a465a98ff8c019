"""Hands the case to a person: decides the handoff's reason, priority and flags, and sends them
back as data (`bot.handoff.HandoffRequest`); the gateway opens it in the store."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import message_context
from bot.handoff import HandoffRequest, priority, reason_for, summarise
from bot.strong_language import STRONG_LANGUAGE_FLAG, has_strong_language

__all__ = ["ActionHandOff"]

logger = logging.getLogger(__name__)


class ActionHandOff(Action):
    def name(self) -> str:
        return "action_hand_off"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        context = message_context(tracker)
        if context.case_id is None or context.message_id is None:
            # Outside Firstline (rasa shell, rasa interactive) there is no case to hand over.
            logger.warning(
                "hand-off for %s without a Firstline case: nothing to hand over", tracker.sender_id
            )
            return []
        understood = context.triage
        reason = "media" if context.kind != "text" else reason_for(understood)
        if reason == "unsure" and context.continues:
            reason = "follow_up"
        flags = []
        if context.personal_data:
            flags.append("personal_data_public")
        if understood.intent == "abuse":
            flags.append("abuse")
        elif has_strong_language(context.text):
            flags.append(STRONG_LANGUAGE_FLAG)  # a complaint that swears is still a complaint
        if understood.language is not None:
            flags.append(f"lang_{understood.language}")
        elif understood.unsure:
            flags.append("low_confidence")
        request = HandoffRequest(
            reason=reason,
            intent=understood.guess,
            topic=understood.topic,
            priority=priority(
                reason, public=context.public, audience=context.audience, engagement=context.engagement
            ),
            summary=summarise(understood, context.text),
            flags=tuple(flags),
        )
        dispatcher.utter_message(json_message=request.to_payload())
        return []
