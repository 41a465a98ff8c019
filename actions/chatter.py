"""Chatter: posts that need no customer-service answer (passing mentions, jokes, shared photos)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import NO_CURATED_ANSWER
from actions.context import fit, message_context, phrasebook
from bot.acknowledgement import pick
from bot.question_shape import asks_something
from bot.wording import fill

__all__ = ["ActionRespondChatter"]


class ActionRespondChatter(Action):
    """Silence in public, a short friendly line in private; a person for anything question-shaped.

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
        phrases = phrasebook(domain, context.triage.language)
        if asks_something(context.text):
            # Filed as chatter but shaped like a question: a person answers, never silence.
            variants = pick(phrases.get(NO_CURATED_ANSWER, ()), context.seed, NO_CURATED_ANSWER)
            if variants:
                dispatcher.utter_message(text=fit(context, phrases, fill(variants[0], context.placeholders)))
            return [FollowupAction("action_hand_off")]
        if context.public:
            return []
        variants = pick(phrases.get("utter_chatter", ()), context.seed, "utter_chatter")
        if variants:
            dispatcher.utter_message(text=fill(variants[0], context.placeholders))
        return []
