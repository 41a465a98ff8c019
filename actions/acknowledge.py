"""The first reply to a complaint, and the honest reply when the bot did not understand."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.after_hours import back_at, with_back_at
from actions.context import fit, message_context, phrasebook
from bot.acknowledgement import AckRequest, compose_acknowledgement, pick
from bot.wording import fill

__all__ = ["ActionAcknowledgeComplaint", "ActionAcknowledgeUnsure"]


class ActionAcknowledgeComplaint(Action):
    """Thanks, apologises, shows understanding of the topic, and invites to a private chat."""

    def name(self) -> str:
        return "action_acknowledge_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        context = message_context(tracker)
        text = compose_acknowledgement(
            phrasebook(domain, context.triage.language),
            AckRequest(
                platform=context.platform,
                public=context.public,
                limit=context.char_limit,
                seed=context.seed,
                name=context.name,
                topic=context.topic,
                dm_link=context.dm_link,
                personal_data_posted=bool(context.personal_data),
                back_at=back_at(tracker),
            ),
        )
        dispatcher.utter_message(text=text)
        return []


class ActionAcknowledgeUnsure(Action):
    """Says plainly that a person will answer, instead of guessing what the customer meant; or,
    for a short reply right after the bot spoke, that a person takes it from here."""

    def name(self) -> str:
        return "action_acknowledge_unsure"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        context = message_context(tracker)
        phrases = phrasebook(domain, context.triage.language)
        # A short reply to what the bot just said is the next step, not a message it missed.
        key = "utter_continue_case" if context.continues else "utter_unsure"
        variants = pick(phrases.get(key, ()), context.seed, key)
        text = (
            fill(variants[0], context.placeholders)
            if variants
            else "A person from our team will answer you here."
        )
        text = with_back_at(context, phrases, text, back_at(tracker))
        dispatcher.utter_message(text=fit(context, phrases, text))
        return []
