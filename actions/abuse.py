"""Abuse and spam: no argument, no engagement, a flag for the agents."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import message_context, phrasebook
from bot.acknowledgement import pick
from bot.wording import fill

__all__ = ["ActionHandleAbuse"]


class ActionHandleAbuse(Action):
    """Silent on a public post (replying feeds an audience); one neutral line in private."""

    def name(self) -> str:
        return "action_handle_abuse"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        context = message_context(tracker)
        if not context.public:
            variants = pick(
                phrasebook(domain, context.triage.language).get("utter_abuse_neutral", ()),
                context.seed,
                "abuse",
            )
            if variants:
                dispatcher.utter_message(text=fill(variants[0], context.placeholders))
        return []
