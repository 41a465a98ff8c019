"""The channel-neutral inbound pipeline every platform feeds.

For each message: refuse what cannot be a message, store it before acting on it (so nothing
accepted is lost), drop repeated deliveries, read it with the NLU model, and let the routing
rules decide who answers. Messages of one case are handled one at a time, so a burst from one
customer cannot produce two handoffs or a bot reply after a person took over.

A turn that an instance accepted but never finished (it was killed) is claimed by the outbox
worker of a running instance and comes back through `resume`; a turn that keeps failing ends in
the one error handler, like any other failure.

A platform account that sends more than `rate_limit_replies_per_account` messages a minute gets
no more bot turns for the rest of the minute: its messages are still stored (nothing accepted is
lost, and an open handoff shows them to its agent) but marked `limited`, with no reply and no new
handoff. That keeps a flood from filling the queue or making the brand's account spam replies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from bot import log_format
from bot.adapters.base import BaseAdapter
from bot.delivery import Delivery, reply_to
from bot.errors import InvalidMessage, LeaseLost
from bot.handoff import HandoffRequest, priority
from bot.input_limits import MAX_STORED_INT, is_valid_unicode
from bot.language import LanguageDetector, foreign_parse
from bot.messages import InboundMessage, older_than, utcnow
from bot.rasa_runtime import RasaRuntime, first_text
from bot.rate_limits import Limits
from bot.routing import AskRasa, HumanOwnsCase, Outcome, Routed, RoutingRule, TurnResult
from bot.settings import Settings
from bot.store.case_locks import CaseLocks
from bot.store.casework import CaseworkRepository, NewHandoff
from bot.store.models import Conversation, CustomerRow, MessageRow
from bot.store.repository import PendingTurn, Recorded, Repository
from bot.store.review import ReviewInbox
from bot.triage import Triage, triage
from bot.uncertainty import should_review

__all__ = ["APOLOGY", "MAX_TURN_ATTEMPTS", "Gateway", "unstorable"]

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. A person from our team will look at your message."

MAX_TURN_ATTEMPTS = 3
"""A message whose turn was started this often without finishing goes to a person instead."""

HUNG_AFTER_LEASES = 4
"""A turn still running after this many leases is taken for hung (a lock nobody will release, a
call that never returns) rather than slow: its heartbeat stops, the lease runs out, and another
instance takes the message over, up to `MAX_TURN_ATTEMPTS`, after which a person gets it."""


def _handoff_for(reason: str, message: InboundMessage, summary: str) -> HandoffRequest:
    """A handoff the service opens itself, not the model (a held message, a failure): it carries
    its reason as its only flag, and no intent or topic."""
    return HandoffRequest(
        reason=reason,
        intent=None,
        topic=None,
        priority=priority(reason, public=message.public, audience=message.customer.audience),
        summary=summary[:500],
        flags=(reason,),
    )


def _length(column: Any) -> int | None:
    return getattr(column.type, "length", None)


_STORED_TEXT: tuple[tuple[str, Callable[[InboundMessage], str | None], int | None], ...] = (
    ("text", lambda m: m.text, None),
    ("message id", lambda m: m.platform_message_id, _length(MessageRow.external_id)),
    ("conversation key", lambda m: m.conversation_key, _length(Conversation.conversation_key)),
    ("user id", lambda m: m.customer.platform_user_id, _length(CustomerRow.platform_user_id)),
    ("handle", lambda m: m.customer.handle, _length(CustomerRow.handle)),
    ("display name", lambda m: m.customer.display_name, _length(CustomerRow.display_name)),
    ("url", lambda m: m.url, None),
    ("join token", lambda m: m.join_token, None),
)
"""Each text an inbound message stores, and the length of its column."""


def unstorable(message: InboundMessage) -> str | None:
    """Why the store cannot hold `message`, or None when it can.

    Each adapter checks the fields of its own platform; this is the one check they all pass
    through, so a platform that sends something odd (Telegram's strings are UTF-16 underneath
    and may carry a lone surrogate; X counts may be anything) gets its message refused before
    anything is stored, never an error from the store halfway through.
    """
    for what, read, length in _STORED_TEXT:
        value = read(message)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"the {what} is not text"
        if not is_valid_unicode(value):
            return f"the {what} holds a lone UTF-16 surrogate, which is not text"
        if length is not None and len(value) > length:
            return f"the {what} is longer than {length} characters"
    if not isinstance(message.received_at, datetime) or message.received_at.tzinfo is None:
        return "the time it was received is not a time with a time zone"
    for what, number in (("audience", message.customer.audience), ("engagement", message.engagement)):
        if number is not None and (type(number) is not int or not 0 <= number <= MAX_STORED_INT):
            return f"the {what} is not a count from 0 to {MAX_STORED_INT}"
    return None


class Gateway:
    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        casework: CaseworkRepository,
        rasa: RasaRuntime,
        adapters: Mapping[str, BaseAdapter],
        delivery: Delivery,
        review_inbox: ReviewInbox,
        case_locks: CaseLocks,
        limits: Limits | None = None,
        languages: LanguageDetector | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.casework = casework
        self.rasa = rasa
        self.adapters = dict(adapters)
        self.delivery = delivery
        self.limits = limits
        self.languages = languages or LanguageDetector()
        self.rules: list[RoutingRule] = [
            HumanOwnsCase(first_text(rasa.domain, "utter_private_chat_joined")),
            AskRasa(rasa, self.adapters),
        ]
        self.review_inbox = review_inbox
        self.heartbeat: float | None = repository.lease.total_seconds() / 3
        """Seconds between renewals of a turn's lease while it runs; None renews never (tests
        use it to stand for an instance frozen mid-turn, heartbeat and all)."""
        self.hung_after = repository.lease.total_seconds() * HUNG_AFTER_LEASES
        """Seconds after which a running turn stops renewing its lease (`HUNG_AFTER_LEASES`)."""
        self.case_locks = case_locks
        self._in_flight: set[int] = set()
        """Messages this process is handling now: never mistaken for ones a dead instance left."""

    def _check(self, message: InboundMessage) -> None:
        if message.platform not in self.adapters:
            raise InvalidMessage(f"no adapter for platform {message.platform!r}")
        problem = unstorable(message)
        if problem:
            raise InvalidMessage(problem)
        if not message.text.strip():
            raise InvalidMessage("the message has no text")
        if len(message.text) > self.settings.max_message_chars:
            raise InvalidMessage(f"the text is longer than {self.settings.max_message_chars} characters")

    async def receive(self, message: InboundMessage) -> Outcome:
        """Handles one customer message end to end.

        Raises:
            InvalidMessage: the message was refused before anything was stored.
        """
        self._check(message)
        recorded = self.repository.record_inbound(message)
        if recorded is None:
            return await self._redelivered(message)
        self._in_flight.add(recorded.message_id)
        try:
            held = self._held(message)
            if held is not None:
                reason, why = held
                with log_format.turn(recorded.case_id, recorded.message_id):
                    return await self._to_person(message, recorded, reason, why)
            if await self._over_limit(message):
                return await self._end_turn(message, recorded, TurnResult("limited"))
            return await self._turn(message, recorded)
        finally:
            self._in_flight.discard(recorded.message_id)

    async def _redelivered(self, message: InboundMessage) -> Outcome:
        """A message stored before: a repeat, or the customer's retry of a message whose instance
        died mid-turn. The retry is answered now (in order, after any earlier unfinished message
        of the case), not left for the dead instance's lease to run out."""
        stored = self.repository.stored_id(message)
        if stored is None or stored[0] in self._in_flight:
            return Outcome(status="duplicate")
        message_id, case_id = stored
        outcome = await self._turn_after_earlier(case_id, message_id, None, None)
        return outcome or Outcome(status="duplicate", message_id=message_id, case_id=case_id)

    async def _over_limit(self, message: InboundMessage) -> bool:
        if self.limits is None:
            return False
        account = f"{message.platform}:{message.customer.platform_user_id}"
        decision = await self.limits.limiter.hit(self.limits.replies_account, account)
        return not decision.allowed

    async def resume(self, turn: PendingTurn) -> Outcome:
        """Runs again the turn of a message accepted by an instance that stopped before answering."""
        self._in_flight.add(turn.recorded.message_id)
        try:
            return await self._turn(turn.message, turn.recorded, attempts=turn.attempts)
        finally:
            self._in_flight.discard(turn.recorded.message_id)

    async def _turn(self, message: InboundMessage, recorded: Recorded, attempts: int = 1) -> Outcome:
        outcome = await self._turn_after_earlier(
            recorded.case_id, recorded.message_id - 1, message, recorded, attempts
        )
        assert outcome is not None
        return outcome

    async def _turn_after_earlier(
        self,
        case_id: int,
        up_to: int,
        message: InboundMessage | None,
        recorded: Recorded | None,
        attempts: int = 1,
    ) -> Outcome | None:
        """Under the case's lock (shared by every instance on PostgreSQL): first the case's
        unfinished messages up to `up_to` that nobody is handling (their instance died), oldest
        first, then this message's turn. Returns the outcome of this message, or, with no
        message given, of message `up_to` if it was one of the unfinished ones."""
        async with self.case_locks.hold(case_id, self.repository.lease.total_seconds()) as shared:
            # On one machine's SQLite store only an expired lease marks an abandoned message, and
            # the outbox worker resumes those within a second: the query is for several instances.
            earlier = (
                self.repository.unfinished_in_case(case_id, up_to, leased_too=shared, skip=self._in_flight)
                if self.case_locks.shared or message is None
                else []
            )
            last: Outcome | None = None
            for turn in earlier:
                logger.info(
                    "message %s of case %s was left unfinished; answering it first",
                    turn.recorded.message_id,
                    case_id,
                )
                last = await self._claimed_turn(turn.message, turn.recorded, turn.attempts)
            if message is None or recorded is None:
                return last if last is not None and last.message_id == up_to else None
            return await self._claimed_turn(message, recorded, attempts)

    async def _claimed_turn(self, message: InboundMessage, recorded: Recorded, attempts: int) -> Outcome:
        """One turn, its case already locked: a message tried too often goes to a person."""
        with log_format.turn(recorded.case_id, recorded.message_id):
            if attempts > 1:
                logger.info("resuming message %s (attempt %d)", recorded.message_id, attempts)
            if attempts > MAX_TURN_ATTEMPTS:
                logger.error(
                    "message %s failed %d times; handing it to a person", recorded.message_id, attempts
                )
                return await self._on_error(message, recorded)
            return await self._locked_turn(message, recorded)

    async def _locked_turn(self, message: InboundMessage, recorded: Recorded) -> Outcome:
        heartbeat = asyncio.create_task(self._keep_lease(recorded), name="firstline-lease")
        ended = False
        try:
            parse_data = await self._understand(message)
            understood = triage(parse_data)
            routed = Routed(
                message=message,
                recorded=recorded,
                triage=understood,
                parse_data=parse_data,
                # Read again under the lock: an earlier message may just have opened one.
                open_handoff_id=self.repository.open_handoff_id(recorded.case_id),
            )
            rule = next(rule for rule in self.rules if rule.matches(routed))
            outcome = await self._end_turn(message, recorded, await rule.handle(routed), understood)
            ended = True
        except LeaseLost as exc:
            return self._taken_over(recorded, exc)
        except Exception:
            return await self._on_error(message, recorded)
        finally:
            heartbeat.cancel()
            # Rasa's tracker of the turn is written only if the turn ended here; with a shared
            # case lock, before the case is let go, as the next turn may run on another instance.
            await self.rasa.end_turn(recorded.conversation_id, ended=ended, wait=self.case_locks.shared)
        self._learn_from(routed)
        return outcome

    async def _keep_lease(self, recorded: Recorded) -> None:
        """Renews the turn's lease while the turn runs, so that a slow turn (a slow action
        server, a busy machine) is not taken over by another instance as if this one had died.
        An instance that really stops renews nothing, and its lease runs out."""
        if self.heartbeat is None:
            return
        clock = asyncio.get_running_loop()
        hung_at = clock.time() + self.hung_after
        while True:
            await asyncio.sleep(self.heartbeat)
            if clock.time() >= hung_at:
                logger.error(
                    "message %s: its turn has run for %.0f s and looks hung; its lease is left to run "
                    "out, so that another instance takes it over",
                    recorded.message_id,
                    self.hung_after,
                )
                return
            try:
                self.repository.renew_turn(recorded)
            except LeaseLost as exc:
                logger.warning("%s", exc)
                return
            except Exception:
                logger.exception("could not renew the lease of message %s", recorded.message_id)

    @staticmethod
    def _taken_over(recorded: Recorded, exc: LeaseLost) -> Outcome:
        """Another instance took this turn over while this one stalled: it answers, not us."""
        logger.warning("%s; this instance leaves the answer to it", exc)
        return Outcome(status="taken_over", message_id=recorded.message_id, case_id=recorded.case_id)

    async def _understand(self, message: InboundMessage) -> dict[str, Any]:
        """The model's reading of the message, unless the model cannot read it.

        Stickers, voice notes and files say nothing the model can read: they are treated as not
        understood, so a person gets them with an honest answer. A message in another language
        skips the English model, whose guess would be random, and carries its language instead.
        """
        if message.kind != "text":
            return await self.rasa.parse("")
        detected = self.languages.detect(message.text)
        if detected.foreign:
            return foreign_parse(message.text, detected)
        return await self.rasa.parse(message.text)

    def _learn_from(self, routed: Routed) -> None:
        """Puts a message the model was unsure about in the trainers' review inbox.

        After the turn, not before: the customer's acknowledgement never waits for it, and a
        failure here costs a training example, not an answer.
        """
        if routed.message.kind != "text" or routed.triage.language is not None:
            return  # the English model never read it: nothing to learn for it
        doubt = should_review(routed.parse_data, routed.triage, self.settings)
        if doubt is None:
            return
        try:
            self.review_inbox.add_review_item(
                routed.recorded.message_id,
                routed.recorded.case_id,
                routed.message.text,
                doubt,
                topic=routed.triage.topic,
                entities=routed.triage.entities,
            )
        except Exception:
            logger.exception("could not add message %s to the review inbox", routed.recorded.message_id)

    def _held(self, message: InboundMessage) -> tuple[str, str] | None:
        """Why the bot must not answer this message itself, as (reason, words), or None.

        `too_old`: written longer ago than `Settings.max_reply_age`, so a person decides whether a
        late reply still helps. Otherwise whatever the platform's adapter says
        (`BaseAdapter.replies_held`: a spent X budget, a Telegram Business chat it cannot answer).
        """
        if older_than(message.received_at, self.settings.max_reply_age, utcnow()):
            written = message.received_at.isoformat()
            return "too_old", f"written at {written}, too long ago for an automatic answer"
        return self.adapters[message.platform].replies_held(message)

    async def _to_person(self, message: InboundMessage, recorded: Recorded, reason: str, why: str) -> Outcome:
        """A message the bot must not answer (`_held`): stored, not answered, and given to a person
        with the reason on the handoff; the turn ends with the reason as its status."""
        logger.info("message %s handed to a person without a reply: %s", recorded.message_id, why)
        text = " ".join(message.text.split())[:100]
        summary = (
            f"written {message.received_at.isoformat(timespec='minutes')}: {text}"
            if reason == "too_old"
            else f"{why}: {text}"
        )
        handoff = _handoff_for(reason, message, summary)
        return await self._end_turn(message, recorded, TurnResult(reason, handoff=handoff))

    async def _on_error(self, message: InboundMessage, recorded: Recorded) -> Outcome:
        """The one place a failure while handling a message ends up.

        The customer gets an honest apology and the case goes to a person, so a bug costs a
        handoff rather than a silently dropped customer.
        """
        logger.exception(
            "handling message %s in conversation %s failed", recorded.message_id, recorded.conversation_id
        )
        handoff = _handoff_for(
            "error", message, f"error while handling: {' '.join(message.text.split())[:100]}"
        )
        try:
            return await self._end_turn(message, recorded, TurnResult("failed", (APOLOGY,), handoff))
        except LeaseLost as exc:
            return self._taken_over(recorded, exc)

    async def _end_turn(
        self,
        message: InboundMessage,
        recorded: Recorded,
        result: TurnResult,
        understood: Triage | None = None,
    ) -> Outcome:
        """Where every turn ends: the handoff opened, the message's status and the replies written
        in one transaction under the turn's fence, then the replies delivered.

        Raises:
            LeaseLost: another instance took the turn over; nothing was written.
        """
        if result.handoff is not None:
            # Only while the turn is still this instance's: a stalled instance must not open a
            # second handoff for a turn another one has answered.
            self.repository.renew_turn(recorded)
            self.casework.open(
                NewHandoff(
                    case_id=recorded.case_id, trigger_message_id=recorded.message_id, **asdict(result.handoff)
                )
            )
        handoff_id, queued = self.repository.finish_turn(
            recorded,
            result.stored_status,
            [reply_to(message, text) for text in result.replies if text],
            understanding=understood.to_dict() if understood is not None else None,
        )
        replies = await self.delivery.deliver(queued)
        return Outcome(
            status=result.status,
            message_id=recorded.message_id,
            case_id=recorded.case_id,
            triage=understood,
            replies=tuple(replies),
            handoff_id=handoff_id,
        )
