"""Chatter: posts that need no customer-service answer (passing mentions, jokes, shared photos)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import fill, message_context, phrasebook
from bot.acknowledgement import pick

__all__ = ["ActionRespondChatter"]


class ActionRespondChatter(Action):
    """Silence in public, a short friendly line in private.

    A brand that answers every passing mention in public looks like a bot, and one that
    apologises to a joke does harm; the message is still recorded with what the bot understood,
    so agents can see it. In a private chat the customer is talking to us, so silence would be rude.
    """

    def name(self) -> str:
        return "action_respond_chatter"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        context = message_context(tracker)
        if context.public:
            return []
        variants = pick(
            phrasebook(domain, context.triage.language).get("utter_chatter", ()),
            context.seed,
            "utter_chatter",
        )
        if variants:
            dispatcher.utter_message(text=fill(variants[0], context))
        return []
