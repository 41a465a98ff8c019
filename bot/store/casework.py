"""The handoff store: a handoff's whole life, and what agents do with it.

The bot opens a handoff (`open`); agents claim, assign, close and reopen it, and add notes, tags
and canned replies; the console, the JSON API and the command line read it whole (`packet`).
One owner for all of it, so every path checks the same things and records the same events.

Every change of ownership or state is one conditional UPDATE whose row count says whether it
happened, so two agents on two instances can never both own a handoff, and a handoff closed by
one agent is not closed again by another. Each change leaves a `HandoffEvent` behind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.errors import BotError, NotFound
from bot.handoff import HandoffRequest, build_packet
from bot.messages import utcnow
from bot.store.models import (
    CannedReply,
    Case,
    CaseNote,
    CaseTag,
    Conversation,
    CustomerRow,
    Handoff,
    HandoffEvent,
    MessageRow,
    User,
)

__all__ = [
    "OPEN_HANDOFF_OF_CASE",
    "CaseView",
    "CaseworkRepository",
    "Conflict",
    "InvalidInput",
    "LinkedChat",
    "NewHandoff",
    "NoteView",
    "QueueItem",
    "normalise_tag",
]

logger = logging.getLogger(__name__)

CLOSED_STATUSES = ("resolved", "handed_back")
MAX_NOTE_CHARS = 5000
MAX_CANNED_CHARS = 4000
_TAG = re.compile(r"^[\w][\w .&/-]{0,63}$")


OPEN_HANDOFF_OF_CASE = select(Handoff.id).where(
    Handoff.case_id == bindparam("case_id"), Handoff.status == "open"
)
"""The case's open handoff, if any: while there is one, a person owns the case and the bot is silent."""
_MESSAGE_CREATED_AT = select(MessageRow.created_at).where(MessageRow.id == bindparam("message_id"))
_INSERT_HANDOFF = insert(Handoff)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewHandoff(HandoffRequest):
    """A handoff the bot opens: what the action asked for, for which case and triggering message."""

    case_id: int
    trigger_message_id: int


class Conflict(BotError):
    """The handoff is not in a state that allows this (owned by someone else, already closed)."""

    status = 409


class InvalidInput(BotError):
    """A note, tag or canned reply that cannot be stored as given."""

    status = 422


def normalise_tag(tag: str) -> str:
    value = " ".join(tag.split()).lower()
    if not _TAG.match(value):
        raise InvalidInput("a tag is 1 to 64 characters: letters, digits, spaces and . & / - _")
    return value


@dataclass(frozen=True, slots=True)
class QueueItem:
    handoff_id: int
    case_id: int
    status: str
    reason: str
    intent: str | None
    topic: str | None
    priority: int
    summary: str
    flags: tuple[str, ...]
    received_at: datetime
    handed_off_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None
    platform: str
    public: bool
    """Whether the message that caused the handoff was public."""
    places: tuple[str, ...]
    """Where the customer wrote in this case: "public", "private" or both."""
    customer_name: str
    customer_handle: str | None
    audience: int | None
    assignee_id: int | None
    assignee_name: str | None
    last_customer_at: datetime
    customer_messages: int


@dataclass(frozen=True, slots=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventView:
    action: str
    actor: str | None
    detail: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LinkedChat:
    """A case joined to another only by an *unverified link* (see `Case.linked_case_id`)."""

    case_id: int
    customer: CustomerRow
    conversations: list[Conversation]
    handoff_id: int | None
    """Its latest handoff, if it has one, so the agent can open it."""

    def owns(self, conversation_id: int) -> bool:
        return any(c.id == conversation_id for c in self.conversations)


@dataclass
class CaseView:
    """Everything the case screen shows, loaded in one read (rows are detached and complete)."""

    handoff: Handoff
    customer: CustomerRow
    conversations: list[Conversation]
    messages: list[MessageRow]
    assignee: str | None
    notes: list[NoteView] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    history: list[Handoff] = field(default_factory=list)
    """The case's other handoffs, oldest first."""
    unverified: list[LinkedChat] = field(default_factory=list)
    """Chats that presented this case's join token without being known as its customer. Their
    messages are in `messages` too; they are never where a reply goes by default."""
    linked_to: LinkedChat | None = None
    """The case whose token this case's customer presented, unverified, if any."""

    def unverified_chat(self, conversation_id: int) -> LinkedChat | None:
        """The unverified linked chat that owns `conversation_id`, if one does."""
        return next((chat for chat in self.unverified if chat.owns(conversation_id)), None)


class CaseworkRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    # --- the handoff's life: opened by the bot, read whole -------------------------------------

    def open(self, new: NewHandoff) -> int:
        """Opens a handoff for the case, or returns the one already open (there is at most one)."""
        with self.engine.begin() as conn:
            existing = conn.execute(OPEN_HANDOFF_OF_CASE, {"case_id": new.case_id}).scalar_one_or_none()
            if existing is not None:
                return existing
            received_at = conn.execute(
                _MESSAGE_CREATED_AT, {"message_id": new.trigger_message_id}
            ).scalar_one_or_none()
            if received_at is None:
                raise NotFound(f"message {new.trigger_message_id}")
            handoff_id = conn.execute(
                _INSERT_HANDOFF,
                {
                    "case_id": new.case_id,
                    "trigger_message_id": new.trigger_message_id,
                    "status": "open",
                    "reason": new.reason,
                    "intent": new.intent,
                    "topic": new.topic,
                    "priority": new.priority,
                    "summary": new.summary,
                    "flags": list(new.flags),
                    "received_at": received_at,
                    "created_at": utcnow(),
                },
            ).inserted_primary_key[0]
            logger.info("handoff %s opened for case %s (%s)", handoff_id, new.case_id, new.reason)
            return handoff_id

    def handoffs(self, status: str | None = "open") -> list[Handoff]:
        """Handoffs by priority, then by who has waited longest (None: every status)."""
        with self._sessions() as session:
            query = select(Handoff).order_by(Handoff.priority.desc(), Handoff.received_at)
            if status:
                query = query.where(Handoff.status == status)
            return list(session.execute(query).scalars())

    def packet(self, handoff_id: int) -> dict[str, Any]:
        """The handoff with its full context, as an agent (or `firstline handoffs`) reads it."""
        with self._sessions() as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                raise NotFound(f"handoff {handoff_id}")
            case = handoff.case
            messages = session.execute(
                select(MessageRow)
                .where(MessageRow.case_id == case.id)
                # Store order, not timestamps: platforms stamp whole seconds (Telegram), and a
                # reply is always stored after the message it answers.
                .order_by(MessageRow.id)
            ).scalars()
            return build_packet(
                handoff=handoff,
                customer=case.customer,
                conversations=case.conversations,
                messages=messages,
                join_token=case.join_token,
            )

    # --- the queue -----------------------------------------------------------------------------

    def queue(self, status: str | None = "open", assignee_id: int | None = None) -> list[QueueItem]:
        """Handoffs in queue order: priority (complaints, public posts and large audiences score
        higher; see `bot.handoff.priority`), then who has waited longest."""
        assignee = aliased(User)
        trigger = aliased(MessageRow)
        query = (
            select(Handoff, CustomerRow, assignee.display_name, Conversation.platform, Conversation.public)
            .join(Case, Case.id == Handoff.case_id)
            .join(CustomerRow, CustomerRow.id == Case.customer_id)
            .join(trigger, trigger.id == Handoff.trigger_message_id)
            .join(Conversation, Conversation.id == trigger.conversation_id)
            .outerjoin(assignee, assignee.id == Handoff.assignee_id)
            .order_by(Handoff.priority.desc(), Handoff.received_at, Handoff.id)
        )
        if status:
            query = query.where(Handoff.status == status)
        if assignee_id is not None:
            query = query.where(Handoff.assignee_id == assignee_id)
        with self._sessions() as session:
            rows = session.execute(query).all()
            case_ids = {row[0].case_id for row in rows}
            places = self._places(session, case_ids)
            activity = self._customer_activity(session, case_ids)
        items = []
        for handoff, customer, assignee_name, platform, public in rows:
            last_at, count = activity.get(handoff.case_id, (handoff.received_at, 0))
            items.append(
                QueueItem(
                    handoff_id=handoff.id,
                    case_id=handoff.case_id,
                    status=handoff.status,
                    reason=handoff.reason,
                    intent=handoff.intent,
                    topic=handoff.topic,
                    priority=handoff.priority,
                    summary=handoff.summary,
                    flags=tuple(handoff.flags or ()),
                    received_at=handoff.received_at,
                    handed_off_at=handoff.created_at,
                    claimed_at=handoff.claimed_at,
                    closed_at=handoff.closed_at,
                    platform=platform,
                    public=bool(public),
                    places=places.get(handoff.case_id, ()),
                    customer_name=customer.display_name or customer.handle or customer.platform_user_id,
                    customer_handle=customer.handle,
                    audience=customer.audience,
                    assignee_id=handoff.assignee_id,
                    assignee_name=assignee_name,
                    last_customer_at=last_at,
                    customer_messages=count,
                )
            )
        return items

    @staticmethod
    def _places(session: Session, case_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        found: dict[int, set[str]] = {}
        ids = list(case_ids)
        if ids:
            for case_id, public in session.execute(
                select(Conversation.case_id, Conversation.public).where(Conversation.case_id.in_(ids))
            ):
                found.setdefault(case_id, set()).add("public" if public else "private")
        return {k: tuple(sorted(v, reverse=True)) for k, v in found.items()}

    @staticmethod
    def _customer_activity(session: Session, case_ids: Iterable[int]) -> dict[int, tuple[datetime, int]]:
        ids = list(case_ids)
        if not ids:
            return {}
        rows = session.execute(
            select(MessageRow.case_id, func.max(MessageRow.created_at), func.count())
            .where(MessageRow.case_id.in_(ids), MessageRow.direction == "in")
            .group_by(MessageRow.case_id)
        ).all()
        return {case_id: (last, int(count)) for case_id, last, count in rows}

    # --- one case ------------------------------------------------------------------------------

    def handoff(self, handoff_id: int) -> Handoff:
        with self._sessions() as session:
            row = session.get(Handoff, handoff_id)
            if row is None:
                raise NotFound(f"handoff {handoff_id}")
            return row

    def case_view(self, handoff_id: int) -> CaseView:
        with self._sessions() as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                raise NotFound(f"handoff {handoff_id}")
            case = session.get(Case, handoff.case_id)
            assert case is not None  # the foreign key guarantees it
            customer = session.get(CustomerRow, case.customer_id)
            conversations = list(
                session.execute(
                    select(Conversation).where(Conversation.case_id == case.id).order_by(Conversation.id)
                ).scalars()
            )
            unverified = [
                self._linked_chat(session, linked)
                for linked in session.execute(
                    select(Case).where(Case.linked_case_id == case.id).order_by(Case.id)
                ).scalars()
            ]
            linked_to = session.get(Case, case.linked_case_id) if case.linked_case_id else None
            shown = [case.id, *(chat.case_id for chat in unverified)]
            messages = list(
                session.execute(
                    select(MessageRow)
                    .where(MessageRow.case_id.in_(shown))
                    # Store order, not timestamps: platforms stamp whole seconds (Telegram), and
                    # a reply is always stored after the message it answers.
                    .order_by(MessageRow.id)
                ).scalars()
            )
            assignee = session.get(User, handoff.assignee_id) if handoff.assignee_id else None
            history = list(
                session.execute(
                    select(Handoff)
                    .where(Handoff.case_id == case.id, Handoff.id != handoff.id)
                    .order_by(Handoff.id)
                ).scalars()
            )
            view = CaseView(
                handoff=handoff,
                customer=customer,  # type: ignore[arg-type]
                conversations=conversations,
                messages=messages,
                assignee=assignee.display_name if assignee else None,
                history=history,
                unverified=unverified,
                linked_to=self._linked_chat(session, linked_to) if linked_to is not None else None,
            )
            view.notes = self._notes(session, case.id)
            view.tags = self._tags(session, case.id)
            view.events = self._events(session, handoff.id)
            return view

    @staticmethod
    def _linked_chat(session: Session, case: Case) -> LinkedChat:
        customer = session.get(CustomerRow, case.customer_id)
        assert customer is not None  # the foreign key guarantees it
        conversations = list(
            session.execute(
                select(Conversation).where(Conversation.case_id == case.id).order_by(Conversation.id)
            ).scalars()
        )
        handoff_id = session.execute(
            select(Handoff.id).where(Handoff.case_id == case.id).order_by(Handoff.id.desc()).limit(1)
        ).scalar_one_or_none()
        return LinkedChat(case.id, customer, conversations, handoff_id)

    def latest_inbound(self, conversation_id: int) -> MessageRow | None:
        with self._sessions() as session:
            return (
                session.execute(
                    select(MessageRow)
                    .where(MessageRow.conversation_id == conversation_id, MessageRow.direction == "in")
                    .order_by(MessageRow.created_at.desc(), MessageRow.id.desc())
                )
                .scalars()
                .first()
            )

    def message(self, message_id: int) -> MessageRow:
        with self._sessions() as session:
            row = session.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"message {message_id}")
            return row

    # --- ownership and state -------------------------------------------------------------------

    def claim(self, handoff_id: int, user_id: int) -> None:
        """Makes `user_id` the owner of an open, unowned handoff; `Conflict` if anyone else got
        there first (on any instance: the WHERE clause is the lock)."""
        with self._sessions() as session, session.begin():
            now = utcnow()
            result = session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == "open", Handoff.assignee_id.is_(None))
                .values(assignee_id=user_id, claimed_at=now)
            )
            if result.rowcount != 1:
                raise self._conflict(session, handoff_id, user_id)
            self._event(session, handoff_id, user_id, "claimed", None, now)

    def assign(self, handoff_id: int, assignee_id: int, actor_id: int, *, override: bool = False) -> None:
        """Gives an open handoff to `assignee_id`. Without `override` (an admin's power) only an
        unowned handoff or one the actor owns can be given away."""
        with self._sessions() as session, session.begin():
            assignee = session.get(User, assignee_id)
            if assignee is None or not assignee.active or assignee.role not in ("agent", "admin"):
                raise InvalidInput("handoffs can be assigned to active agents and admins only")
            now = utcnow()
            query = update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "open")
            if not override:
                query = query.where((Handoff.assignee_id.is_(None)) | (Handoff.assignee_id == actor_id))
            # The first pickup stays the SLA's "picked up" time; later reassignments keep it.
            claimed_at = func.coalesce(Handoff.claimed_at, now)
            result = session.execute(query.values(assignee_id=assignee_id, claimed_at=claimed_at))
            if result.rowcount != 1:
                raise self._conflict(session, handoff_id, actor_id)
            self._event(session, handoff_id, actor_id, "assigned", {"to": assignee.display_name}, now)

    def close(
        self,
        handoff_id: int,
        status: str,
        actor_id: int | None,
        outcome: str | None = None,
        *,
        override: bool = False,
    ) -> None:
        """Resolves or hands back an open handoff; either way the bot answers the case again.

        This is the one way a handoff closes, whoever asks (the console, the JSON API, the
        command line), so ownership is checked and an event recorded every time. Without
        `override` (an admin's power, or the operator's on the command line, who has no account:
        `actor_id` None) only an unowned handoff or the actor's own can be closed; the check is
        in the WHERE clause, so a claim on another instance in between cannot slip past it."""
        if status not in CLOSED_STATUSES:
            raise ValueError(f"a handoff closes as resolved or handed_back, not {status!r}")
        with self._sessions() as session, session.begin():
            now = utcnow()
            query = update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "open")
            if not override:
                query = query.where((Handoff.assignee_id.is_(None)) | (Handoff.assignee_id == actor_id))
            result = session.execute(query.values(status=status, outcome=outcome, closed_at=now))
            if result.rowcount != 1:
                raise self._conflict(session, handoff_id, actor_id)
            detail = {"outcome": outcome} if outcome else None
            self._event(session, handoff_id, actor_id, status, detail, now)

    def reopen(self, handoff_id: int, actor_id: int) -> None:
        """Opens a closed handoff again, owned by the agent who reopened it, unless the case has
        another open handoff by now (the database allows only one)."""
        try:
            with self._sessions() as session, session.begin():
                now = utcnow()
                result = session.execute(
                    update(Handoff)
                    .where(Handoff.id == handoff_id, Handoff.status.in_(CLOSED_STATUSES))
                    .values(
                        status="open",
                        closed_at=None,
                        outcome=None,
                        assignee_id=actor_id,
                        claimed_at=func.coalesce(Handoff.claimed_at, now),
                    )
                )
                if result.rowcount != 1:
                    raise self._conflict(session, handoff_id, actor_id)
                self._event(session, handoff_id, actor_id, "reopened", None, now)
        except IntegrityError as exc:
            raise Conflict("the case has another open handoff; work on that one instead") from exc

    def _conflict(self, session: Session, handoff_id: int, actor_id: int | None) -> BotError:
        row = session.get(Handoff, handoff_id)
        if row is None:
            return NotFound(f"handoff {handoff_id}")
        if row.status != "open":
            return Conflict(f"handoff {handoff_id} is {row.status.replace('_', ' ')}")
        if row.assignee_id == actor_id:
            return Conflict(f"you already own handoff {handoff_id}")
        owner = session.get(User, row.assignee_id) if row.assignee_id else None
        return Conflict(f"handoff {handoff_id} is owned by {owner.display_name if owner else 'someone else'}")

    def record_event(
        self, handoff_id: int, actor_id: int | None, action: str, detail: dict[str, Any] | None = None
    ) -> None:
        with self._sessions() as session, session.begin():
            self._event(session, handoff_id, actor_id, action, detail, utcnow())

    @staticmethod
    def _event(
        session: Session,
        handoff_id: int,
        actor_id: int | None,
        action: str,
        detail: dict[str, Any] | None,
        at: datetime,
    ) -> None:
        session.add(
            HandoffEvent(
                handoff_id=handoff_id, actor_id=actor_id, action=action, detail=detail, created_at=at
            )
        )
        logger.info("handoff %s %s by user %s", handoff_id, action, actor_id)

    @staticmethod
    def _events(session: Session, handoff_id: int) -> list[EventView]:
        rows = session.execute(
            select(HandoffEvent, User.display_name)
            .outerjoin(User, User.id == HandoffEvent.actor_id)
            .where(HandoffEvent.handoff_id == handoff_id)
            .order_by(HandoffEvent.id)
        ).all()
        return [EventView(e.action, name, e.detail, e.created_at) for e, name in rows]

    # --- notes and tags ------------------------------------------------------------------------

    def add_note(self, case_id: int, author_id: int, text: str) -> NoteView:
        body = text.strip()
        if not body or len(body) > MAX_NOTE_CHARS:
            raise InvalidInput(f"a note is 1 to {MAX_NOTE_CHARS} characters")
        with self._sessions() as session, session.begin():
            if session.get(Case, case_id) is None:
                raise NotFound(f"case {case_id}")
            row = CaseNote(case_id=case_id, author_id=author_id, text=body, created_at=utcnow())
            session.add(row)
            session.flush()
            author = session.get(User, author_id)
            return NoteView(row.id, author.display_name if author else "?", row.text, row.created_at)

    def notes(self, case_id: int) -> list[NoteView]:
        with self._sessions() as session:
            return self._notes(session, case_id)

    @staticmethod
    def _notes(session: Session, case_id: int) -> list[NoteView]:
        rows = session.execute(
            select(CaseNote, User.display_name)
            .join(User, User.id == CaseNote.author_id)
            .where(CaseNote.case_id == case_id)
            .order_by(CaseNote.created_at, CaseNote.id)
        ).all()
        return [NoteView(n.id, name, n.text, n.created_at) for n, name in rows]

    def add_tag(self, case_id: int, tag: str) -> list[str]:
        value = normalise_tag(tag)
        try:
            with self._sessions() as session, session.begin():
                if session.get(Case, case_id) is None:
                    raise NotFound(f"case {case_id}")
                if session.get(CaseTag, (case_id, value)) is None:
                    session.add(CaseTag(case_id=case_id, tag=value, created_at=utcnow()))
        except IntegrityError:
            logger.info("tag %r was added to case %s concurrently", value, case_id)
        return self.tags(case_id)

    def remove_tag(self, case_id: int, tag: str) -> list[str]:
        with self._sessions() as session, session.begin():
            session.execute(delete(CaseTag).where(CaseTag.case_id == case_id, CaseTag.tag == tag))
        return self.tags(case_id)

    def tags(self, case_id: int) -> list[str]:
        with self._sessions() as session:
            return self._tags(session, case_id)

    @staticmethod
    def _tags(session: Session, case_id: int) -> list[str]:
        return list(
            session.execute(
                select(CaseTag.tag).where(CaseTag.case_id == case_id).order_by(CaseTag.tag)
            ).scalars()
        )

    # --- canned replies ------------------------------------------------------------------------

    def canned_replies(self) -> list[CannedReply]:
        with self._sessions() as session:
            return list(session.execute(select(CannedReply).order_by(CannedReply.title)).scalars())

    def save_canned_reply(self, title: str, text: str, reply_id: int | None = None) -> CannedReply:
        title, text = " ".join(title.split()), text.strip()
        if not title or len(title) > 128:
            raise InvalidInput("a title is 1 to 128 characters")
        if not text or len(text) > MAX_CANNED_CHARS:
            raise InvalidInput(f"a canned reply is 1 to {MAX_CANNED_CHARS} characters")
        try:
            with self._sessions() as session, session.begin():
                if reply_id is None:
                    row = CannedReply(title=title, text=text, updated_at=utcnow())
                    session.add(row)
                else:
                    found = session.get(CannedReply, reply_id)
                    if found is None:
                        raise NotFound(f"canned reply {reply_id}")
                    row = found
                    row.title, row.text, row.updated_at = title, text, utcnow()
                session.flush()
                return row
        except IntegrityError as exc:
            raise InvalidInput(f"a canned reply titled {title!r} exists already") from exc

    def delete_canned_reply(self, reply_id: int) -> None:
        with self._sessions() as session, session.begin():
            result = session.execute(delete(CannedReply).where(CannedReply.id == reply_id))
            if result.rowcount != 1:
                raise NotFound(f"canned reply {reply_id}")
