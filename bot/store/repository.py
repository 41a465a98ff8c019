"""All reads and writes of Firstline's store, as plain methods over short transactions.

The gateway, the actions and the CLI share this class; each method is one transaction, so a
message is either stored whole (customer, conversation, case and text) or not at all.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import NotFound
from bot.handoff import build_packet
from bot.messages import Customer, InboundMessage, utcnow
from bot.store.models import Case, Conversation, Cursor, CustomerRow, Handoff, MessageRow

__all__ = ["NewHandoff", "Recorded", "Repository"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    """Where an accepted inbound message was stored."""

    message_id: int
    conversation_id: int
    case_id: int
    join_token: str
    open_handoff_id: int | None
    """The handoff that owns the case right now: while set, the bot must stay silent."""


@dataclass(frozen=True, slots=True)
class NewHandoff:
    case_id: int
    trigger_message_id: int
    reason: str
    intent: str | None
    topic: str | None
    priority: int
    summary: str
    flags: tuple[str, ...] = ()


class Repository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    # --- inbound -------------------------------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> Recorded | None:
        """Stores a customer message, or returns None when it is a repeated delivery.

        A new conversation joins an existing case when the customer came through that case's DM
        invitation (`join_token`), or when the customer already has a case with an open handoff
        on the same platform; otherwise it starts a case of its own.

        Repeats are caught by the unique constraint on the platform's message id rather than a
        look-up first: one query less for every message, and correct across instances. Any other
        constraint failure means a concurrent writer created the same customer or conversation a
        moment earlier; trying again finds it, so the message is never dropped for that.
        """
        for attempt in range(3):
            try:
                return self._record_inbound(message)
            except IntegrityError:
                if self._is_stored(message):
                    logger.info("duplicate delivery %s/%s", message.platform, message.platform_message_id)
                    return None
                if attempt == 2:
                    raise
                logger.info("concurrent insert while storing %s; retrying", message.platform_message_id)
        raise AssertionError("unreachable")

    def _is_stored(self, message: InboundMessage) -> bool:
        with self._session() as session:
            return (
                session.execute(
                    select(MessageRow.id).where(
                        MessageRow.platform == message.platform,
                        MessageRow.external_id == message.platform_message_id,
                    )
                ).first()
                is not None
            )

    def _record_inbound(self, message: InboundMessage) -> Recorded:
        with self._session() as session, session.begin():
            customer = self._upsert_customer(session, message.platform, message.customer)
            conversation, new_case = self._conversation_for(session, message, customer)
            row = MessageRow(
                case_id=conversation.case_id,
                conversation_id=conversation.id,
                platform=message.platform,
                direction="in",
                author="customer",
                external_id=message.platform_message_id,
                text=message.text,
                created_at=message.received_at,
                status="received",
            )
            session.add(row)
            session.flush()
            return Recorded(
                message_id=row.id,
                conversation_id=conversation.id,
                case_id=conversation.case_id,
                join_token=conversation.case.join_token,
                # A case created in this transaction cannot have a handoff yet.
                open_handoff_id=None if new_case else self._open_handoff_id(session, conversation.case_id),
            )

    def _upsert_customer(self, session: Session, platform: str, customer: Customer) -> CustomerRow:
        row = session.execute(
            select(CustomerRow).where(
                CustomerRow.platform == platform,
                CustomerRow.platform_user_id == customer.platform_user_id,
            )
        ).scalar_one_or_none()
        if row is None:
            row = CustomerRow(
                platform=platform, platform_user_id=customer.platform_user_id, created_at=utcnow()
            )
            session.add(row)
        # Profiles change (new display name, more followers): keep the latest the platform gave.
        for field in ("handle", "display_name", "audience"):
            value = getattr(customer, field)
            if value is not None:
                setattr(row, field, value)
        session.flush()
        return row

    def _conversation_for(
        self, session: Session, message: InboundMessage, customer: CustomerRow
    ) -> tuple[Conversation, bool]:
        """The message's conversation, and whether its case was created just now."""
        conversation = session.execute(
            select(Conversation).where(
                Conversation.platform == message.platform,
                Conversation.conversation_key == message.conversation_key,
            )
        ).scalar_one_or_none()
        if conversation is not None:
            return conversation, False
        case = None
        if message.join_token:
            case = session.execute(
                select(Case).where(Case.join_token == message.join_token)
            ).scalar_one_or_none()
        if case is None and not message.public:
            # A private chat from someone whose public post is still being handled belongs to it.
            case = (
                session.execute(
                    select(Case)
                    .join(Handoff, Handoff.case_id == Case.id)
                    .where(Case.customer_id == customer.id, Handoff.status == "open")
                    .order_by(Case.id.desc())
                )
                .scalars()
                .first()
            )
        new_case = case is None
        if case is None:
            case = Case(customer_id=customer.id, join_token=secrets.token_urlsafe(9), created_at=utcnow())
            session.add(case)
            session.flush()
        conversation = Conversation(
            case_id=case.id,
            platform=message.platform,
            conversation_key=message.conversation_key,
            public=message.public,
            url=message.url,
            created_at=message.received_at,
        )
        session.add(conversation)
        session.flush()
        return conversation, new_case

    def open_handoff_id(self, case_id: int) -> int | None:
        with self._session() as session:
            return self._open_handoff_id(session, case_id)

    @staticmethod
    def _open_handoff_id(session: Session, case_id: int) -> int | None:
        return session.execute(
            select(Handoff.id).where(Handoff.case_id == case_id, Handoff.status == "open")
        ).scalar_one_or_none()

    def record_understanding(
        self, message_id: int, case_id: int, understanding: dict[str, Any]
    ) -> int | None:
        """Stores what the model understood; returns the case's open handoff, read in the same
        transaction, since that decides who answers (one round trip on the hot path, not two).
        """
        with self._session() as session, session.begin():
            session.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(
                    intent=understanding.get("intent"),
                    confidence=understanding.get("confidence"),
                    understanding=understanding,
                )
            )
            return self._open_handoff_id(session, case_id)

    def finish_turn(
        self, message_id: int, case_id: int, status: str, acknowledged_at: datetime | None = None
    ) -> int | None:
        """Closes the handling of an inbound message in one transaction.

        Marks it `handled` (the bot answered), `attached` (a person owns the case) or `failed`;
        stamps the acknowledgement time on a handoff this message triggered; and returns the
        case's open handoff, if any.
        """
        with self._session() as session, session.begin():
            session.execute(update(MessageRow).where(MessageRow.id == message_id).values(status=status))
            if acknowledged_at is not None:
                session.execute(
                    update(Handoff)
                    .where(Handoff.trigger_message_id == message_id, Handoff.acknowledged_at.is_(None))
                    .values(acknowledged_at=acknowledged_at)
                )
            return self._open_handoff_id(session, case_id)

    # --- outbound ------------------------------------------------------------------------------

    def record_outbound(
        self,
        *,
        conversation_id: int,
        text: str,
        author: str,
        in_reply_to_id: int | None,
        status: str = "pending",
    ) -> int:
        with self._session() as session, session.begin():
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id}")
            row = MessageRow(
                case_id=conversation.case_id,
                conversation_id=conversation_id,
                platform=conversation.platform,
                direction="out",
                author=author,
                in_reply_to_id=in_reply_to_id,
                text=text,
                created_at=utcnow(),
                status=status,
            )
            session.add(row)
            session.flush()
            return row.id

    def mark_delivered(self, message_id: int, sent_id: str | None, at: datetime) -> None:
        with self._session() as session, session.begin():
            session.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(status="sent", sent_id=sent_id, created_at=at)
            )

    def mark_failed(self, message_id: int, error: str) -> None:
        with self._session() as session, session.begin():
            session.execute(
                update(MessageRow).where(MessageRow.id == message_id).values(status="failed", error=error)
            )

    def messages_after(self, conversation_id: int, after_id: int = 0) -> list[MessageRow]:
        with self._session() as session:
            return list(
                session.execute(
                    select(MessageRow)
                    .where(MessageRow.conversation_id == conversation_id, MessageRow.id > after_id)
                    .order_by(MessageRow.id)
                ).scalars()
            )

    def conversation_id(self, platform: str, conversation_key: str) -> int | None:
        with self._session() as session:
            return session.execute(
                select(Conversation.id).where(
                    Conversation.platform == platform, Conversation.conversation_key == conversation_key
                )
            ).scalar_one_or_none()

    def conversation(self, conversation_id: int) -> Conversation:
        with self._session() as session:
            row = session.get(Conversation, conversation_id)
            if row is None:
                raise NotFound(f"conversation {conversation_id}")
            return row

    # --- adapter cursors -----------------------------------------------------------------------

    def cursor(self, name: str) -> str | None:
        with self._session() as session:
            row = session.get(Cursor, name)
            return row.value if row is not None else None

    def save_cursor(self, name: str, value: str) -> None:
        with self._session() as session, session.begin():
            row = session.get(Cursor, name)
            if row is None:
                session.add(Cursor(name=name, value=value, updated_at=utcnow()))
            else:
                row.value, row.updated_at = value, utcnow()

    # --- handoffs ------------------------------------------------------------------------------

    def open_handoff(self, new: NewHandoff) -> int:
        """Opens a handoff for the case, or returns the one already open (there is at most one)."""
        with self._session() as session, session.begin():
            existing = self._open_handoff_id(session, new.case_id)
            if existing is not None:
                return existing
            trigger = session.get(MessageRow, new.trigger_message_id)
            if trigger is None:
                raise NotFound(f"message {new.trigger_message_id}")
            row = Handoff(
                case_id=new.case_id,
                trigger_message_id=new.trigger_message_id,
                status="open",
                reason=new.reason,
                intent=new.intent,
                topic=new.topic,
                priority=new.priority,
                summary=new.summary,
                flags=list(new.flags),
                received_at=trigger.created_at,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            logger.info("handoff %s opened for case %s (%s)", row.id, new.case_id, new.reason)
            return row.id

    def close_handoff(self, handoff_id: int, status: str, outcome: str | None = None) -> None:
        """`resolved` or `handed_back`: either way the bot answers the case again."""
        if status not in {"resolved", "handed_back"}:
            raise ValueError(f"a handoff closes as resolved or handed_back, not {status!r}")
        with self._session() as session, session.begin():
            row = session.get(Handoff, handoff_id)
            if row is None:
                raise NotFound(f"handoff {handoff_id}")
            if row.status != "open":
                return
            row.status, row.outcome, row.closed_at = status, outcome, utcnow()

    def handoffs(self, status: str | None = "open") -> list[Handoff]:
        with self._session() as session:
            query = select(Handoff).order_by(Handoff.priority.desc(), Handoff.received_at)
            if status:
                query = query.where(Handoff.status == status)
            return list(session.execute(query).scalars())

    def packet(self, handoff_id: int) -> dict[str, Any]:
        """The handoff with its full context, as an agent (or `firstline handoffs`) reads it."""
        with self._session() as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                raise NotFound(f"handoff {handoff_id}")
            case = handoff.case
            messages = session.execute(
                select(MessageRow)
                .where(MessageRow.case_id == case.id)
                .order_by(MessageRow.created_at, MessageRow.id)
            ).scalars()
            return build_packet(
                handoff=handoff,
                customer=case.customer,
                conversations=case.conversations,
                messages=messages,
                join_token=case.join_token,
            )
