"""The trainers' review inbox: reads and writes of `review_items`, one short transaction each.

Items arrive two ways: the gateway adds a message the model was unsure about, and an agent
relabels a message in the console. A trainer confirms, corrects or discards each; confirmed and
corrected items are what `firstline nlu export` turns into training examples.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import BotError, NotFound
from bot.messages import utcnow
from bot.store.models import MessageRow, ReviewItem
from bot.uncertainty import Uncertainty

__all__ = ["DECISIONS", "STATUSES", "ContextMessage", "ReviewEntry", "ReviewError", "ReviewInbox"]

logger = logging.getLogger(__name__)

STATUSES = ("open", "confirmed", "corrected", "discarded")
DECISIONS = ("confirm", "correct", "discard")
_INTENT = re.compile(r"^[a-z][a-z0-9_]*(?:/[a-z0-9_]+)?$")


class ReviewError(BotError):
    """A review that cannot be recorded as asked; the text is safe to show to the trainer."""


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """One review item as the console and the export see it."""

    id: int
    message_id: int
    case_id: int
    text: str
    source: str
    status: str
    guessed_intent: str | None
    guessed_topic: str | None
    confidence: float | None
    second_intent: str | None
    second_confidence: float | None
    suggested_intent: str | None
    corrected_intent: str | None
    created_at: datetime
    reviewed_at: datetime | None
    exported_at: datetime | None
    reviewer_id: int | None = None
    entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    corrected_entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def guess(self) -> str | None:
        """The model's guess as a full intent ("complaint/delivery") when it named a topic."""
        if self.guessed_intent and self.guessed_topic:
            return f"{self.guessed_intent}/{self.guessed_topic}"
        return self.guessed_intent

    @property
    def proposed_intent(self) -> str | None:
        """What confirming would record: the agent's label if there is one, else the guess."""
        return self.suggested_intent or self.guess


@dataclass(frozen=True, slots=True)
class ContextMessage:
    """A message of the conversation around a review item."""

    id: int
    author: str
    text: str
    created_at: datetime
    intent: str | None
    is_item: bool


class ReviewInbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def add_review_item(
        self,
        message_id: int,
        case_id: int,
        text: str,
        doubt: Uncertainty,
        *,
        topic: str | None = None,
        entities: Sequence[Mapping[str, Any]] = (),
    ) -> int | None:
        """Puts a message the model was unsure about into the inbox.

        Returns:
            The item's id, or None when the message is already in the inbox (a redelivery, or
            an agent relabelled it first).
        """
        row = ReviewItem(
            message_id=message_id,
            case_id=case_id,
            text=text,
            source="unsure",
            guessed_intent=doubt.guess,
            guessed_topic=topic,
            confidence=doubt.confidence,
            second_intent=doubt.second,
            second_confidence=doubt.second_confidence,
            entities=[_entity(e) for e in entities],
            status="open",
            created_at=utcnow(),
        )
        try:
            with self._session() as session, session.begin():
                session.add(row)
            return int(row.id)
        except IntegrityError:
            logger.info("message %s is already in the review inbox", message_id)
            return None

    def relabel(self, message_id: int, intent: str, agent_id: int | None) -> int:
        """An agent says a customer message meant `intent`: it goes (back) to the inbox, open,
        with the agent's label proposed.

        Raises:
            NotFound: No such message.
            ReviewError: Not a customer message, or not an intent name.
        """
        _check_intent(intent)
        for attempt in range(2):
            try:
                return self._relabel(message_id, intent, agent_id)
            except IntegrityError:
                # The gateway added the same message a moment ago; the second try updates it.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _relabel(self, message_id: int, intent: str, agent_id: int | None) -> int:
        with self._session() as session, session.begin():
            message = session.get(MessageRow, message_id)
            if message is None:
                raise NotFound(f"message {message_id}")
            if message.direction != "in":
                raise ReviewError("only customer messages can be relabelled")
            item = session.execute(
                select(ReviewItem).where(ReviewItem.message_id == message_id)
            ).scalar_one_or_none()
            if item is None:
                understood = message.understanding or {}
                item = ReviewItem(
                    message_id=message_id,
                    case_id=message.case_id,
                    text=message.text,
                    guessed_intent=understood.get("guess") or message.intent,
                    guessed_topic=understood.get("topic"),
                    confidence=understood.get("guess_confidence", message.confidence),
                    entities=[_entity(e) for e in understood.get("entities") or []],
                    created_at=utcnow(),
                )
                session.add(item)
            item.source = "relabelled"
            item.suggested_intent = intent
            item.suggested_by_id = agent_id
            item.status = "open"
            item.corrected_intent = item.corrected_entities = item.reviewer_id = item.reviewed_at = None
            item.exported_at = None
            session.flush()
            return int(item.id)

    def items(self, status: str | None = "open", limit: int = 50, offset: int = 0) -> list[ReviewEntry]:
        """Items with `status` (None: all), oldest first, so the inbox is worked in order."""
        query = select(ReviewItem).order_by(ReviewItem.created_at, ReviewItem.id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(ReviewItem.status == status)
        with self._session() as session:
            return [_entry(row) for row in session.execute(query).scalars()]

    def counts(self) -> dict[str, int]:
        """How many items have each status (every status present, zero included)."""
        with self._session() as session:
            found = dict(
                session.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all()
            )
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def item(self, item_id: int) -> ReviewEntry:
        with self._session() as session:
            row = session.get(ReviewItem, item_id)
            if row is None:
                raise NotFound(f"review item {item_id}")
            return _entry(row)

    def context(self, item_id: int, around: int = 3) -> list[ContextMessage]:
        """The item's message with up to `around` messages before and after it, both ways, from
        the same conversation: what the customer and the bot said around it."""
        with self._session() as session:
            row = session.get(ReviewItem, item_id)
            if row is None:
                raise NotFound(f"review item {item_id}")
            message = session.get(MessageRow, row.message_id)
            same = MessageRow.conversation_id == message.conversation_id
            before = session.execute(
                select(MessageRow)
                .where(same, MessageRow.id < message.id)
                .order_by(MessageRow.id.desc())
                .limit(around)
            ).scalars()
            after = session.execute(
                select(MessageRow)
                .where(same, MessageRow.id > message.id)
                .order_by(MessageRow.id)
                .limit(around)
            ).scalars()
            rows = [*reversed(list(before)), message, *after]
            return [
                ContextMessage(m.id, m.author, m.text, m.created_at, m.intent, m.id == message.id)
                for m in rows
            ]

    def review(
        self,
        item_id: int,
        decision: str,
        reviewer_id: int | None,
        *,
        intent: str | None = None,
        entities: Sequence[Mapping[str, Any]] | None = None,
    ) -> ReviewEntry:
        """Records a trainer's decision on an item.

        Args:
            item_id: The item.
            decision: "confirm" (the proposed intent is right), "correct" (it is `intent`) or
                "discard" (not a useful example: spam, half a message, ...).
            reviewer_id: The trainer.
            intent: For "correct": the full intent ("complaint/delivery").
            entities: The entities over the item's text; by default the model's.

        Raises:
            NotFound: No such item.
            ReviewError: An unknown decision, a missing or malformed intent, entities that do not
                fit the text, or an item already exported into the training data.
        """
        if decision not in DECISIONS:
            raise ReviewError(f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}")
        with self._session() as session, session.begin():
            row = session.get(ReviewItem, item_id, with_for_update=True)
            if row is None:
                raise NotFound(f"review item {item_id}")
            if row.exported_at is not None:
                raise ReviewError("this example is already in the training data; edit it there")
            entry = _entry(row)
            if decision == "discard":
                row.status, row.corrected_intent, row.corrected_entities = "discarded", None, None
            else:
                label = entry.proposed_intent if decision == "confirm" else intent
                if not label:
                    raise ReviewError("say which intent the message has")
                _check_intent(label)
                chosen = entry.entities if entities is None else tuple(entities)
                row.corrected_entities = [_checked_entity(e, row.text) for e in chosen]
                row.corrected_intent = label
                row.status = "confirmed" if label == entry.proposed_intent else "corrected"
            row.reviewer_id, row.reviewed_at = reviewer_id, utcnow()
            session.flush()
            return _entry(row)

    def exportable(self) -> list[ReviewEntry]:
        """Confirmed and corrected items not yet written into the training data."""
        with self._session() as session:
            rows = session.execute(
                select(ReviewItem)
                .where(ReviewItem.status.in_(("confirmed", "corrected")), ReviewItem.exported_at.is_(None))
                .order_by(ReviewItem.id)
            ).scalars()
            return [_entry(row) for row in rows]

    def mark_exported(self, item_ids: Iterable[int]) -> None:
        ids = list(item_ids)
        if not ids:
            return
        with self._session() as session, session.begin():
            session.execute(update(ReviewItem).where(ReviewItem.id.in_(ids)).values(exported_at=utcnow()))


def _check_intent(intent: str) -> None:
    if not _INTENT.match(intent):
        raise ReviewError(f"{intent!r} is not an intent name (e.g. praise, complaint/delivery)")


def _entity(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: raw.get(key) for key in ("entity", "value", "start", "end")}


def _checked_entity(raw: Mapping[str, Any], text: str) -> dict[str, Any]:
    try:
        start, end, name = int(raw["start"]), int(raw["end"]), str(raw["entity"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReviewError(f"an entity needs entity, start and end: {dict(raw)!r}") from exc
    if not (0 <= start < end <= len(text)) or not name:
        raise ReviewError(f"entity {name!r} at {start}-{end} is outside the message")
    value = raw.get("value")
    return {"entity": name, "value": str(value) if value else text[start:end], "start": start, "end": end}


def _entry(row: ReviewItem) -> ReviewEntry:
    return ReviewEntry(
        id=row.id,
        message_id=row.message_id,
        case_id=row.case_id,
        text=row.text,
        source=row.source,
        status=row.status,
        guessed_intent=row.guessed_intent,
        guessed_topic=row.guessed_topic,
        confidence=row.confidence,
        second_intent=row.second_intent,
        second_confidence=row.second_confidence,
        suggested_intent=row.suggested_intent,
        corrected_intent=row.corrected_intent,
        created_at=row.created_at,
        reviewed_at=row.reviewed_at,
        exported_at=row.exported_at,
        reviewer_id=row.reviewer_id,
        entities=tuple(row.entities or ()),
        corrected_entities=tuple(row.corrected_entities or ()),
    )
