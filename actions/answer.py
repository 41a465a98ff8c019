"""Curated answers to common questions, given only when the match is confident."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.after_hours import back_at, with_back_at
from actions.context import fit, message_context, phrasebook, settings
from bot.acknowledgement import pick
from bot.text_limits import measure
from bot.triage import NO_ANSWER_TOPIC
from bot.wording import fill

__all__ = ["NO_CURATED_ANSWER", "ActionAnswerQuestion"]

NO_CURATED_ANSWER = f"utter_{NO_ANSWER_TOPIC}"
"""Says a person will answer: for questions no curated answer serves, and unsure ones."""


class ActionAnswerQuestion(Action):
    """Answers from `utter_question/<topic>`, or says a person will answer and hands off.

    Every question to the brand is in scope. A right answer later beats a wrong one now: for a
    question no curated answer serves (`question/other`), below the configured confidence, or
    when the answer would not fit the platform's limit, the question goes to a person.
    """

    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        context = message_context(tracker)
        phrases = phrasebook(domain, context.triage.language)
        topic, confidence = context.triage.topic, context.triage.topic_confidence or 0.0
        key = f"utter_question/{topic}"
        curated = topic is not None and key != NO_CURATED_ANSWER
        answers = pick(phrases.get(key, ()), context.seed, key) if curated else []
        if answers and confidence >= settings().question_confidence:
            answer = fill(answers[0], context.placeholders)
            if measure(answer, context.platform) <= context.char_limit:
                # On a public post with personal data in it, the privacy nudge comes along.
                if context.personal_data:
                    answer = fit(context, phrases, answer)
                dispatcher.utter_message(text=answer)
                return []
        variants = pick(phrases.get(NO_CURATED_ANSWER, ()), context.seed, NO_CURATED_ANSWER)
        text = (
            fill(variants[0], context.placeholders)
            if variants
            else "A person from our team will answer you here."
        )
        text = with_back_at(context, phrases, text, back_at(tracker))
        dispatcher.utter_message(text=fit(context, phrases, text))
        return [FollowupAction("action_hand_off")]
