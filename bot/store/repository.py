"""All reads and writes of Firstline's store, as plain methods over short transactions.

The gateway, the actions and the CLI share this class; each method is one transaction, so a
message is either stored whole (customer, conversation, case and text) or not at all.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import NotFound
from bot.handoff import build_packet
from bot.messages import Customer, InboundMessage, OutboundMessage, utcnow
from bot.store.models import Case, Conversation, Cursor, CustomerRow, Handoff, MessageRow

__all__ = ["NewHandoff", "PendingTurn", "Queued", "Recorded", "Repository"]

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


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbound message held by this instance for one delivery attempt."""

    id: int
    message: OutboundMessage
    attempts: int
    """Attempts made before this one."""
    in_reply_to_id: int | None


@dataclass(frozen=True, slots=True)
class PendingTurn:
    """An accepted customer message whose turn was never finished (its instance stopped)."""

    message: InboundMessage
    recorded: Recorded
    attempts: int


class Repository:
    def __init__(self, engine: Engine, lease: timedelta = timedelta(seconds=30)) -> None:
        self.engine = engine
        self.lease = lease
        """How long a claimed turn or send belongs to the instance that claimed it."""
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
                kind=message.kind,
                attempts=1,
                next_attempt_at=utcnow() + self.lease,
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
        self,
        message_id: int,
        case_id: int,
        status: str,
        replies: Sequence[OutboundMessage] = (),
        author: str = "bot",
        understanding: dict[str, Any] | None = None,
    ) -> tuple[int | None, list[Queued]]:
        """Closes the handling of an inbound message in one transaction.

        Marks it `handled` (the bot answered), `attached` (a person owns the case) or `failed`,
        and puts the replies in the outbox, already held by this instance for their first
        attempt. Doing both at once is what makes a restart safe: a turn is either unfinished
        (and will be run again) or finished with every reply queued (and the outbox sends them),
        never half-answered. What the model understood is written here too, when given: one
        write per turn fewer on the path to the acknowledgement. Returns the case's open handoff
        and the queued replies.
        """
        now = utcnow()
        with self._session() as session, session.begin():
            inbound = session.get(MessageRow, message_id)
            if inbound is None:
                raise NotFound(f"message {message_id}")
            inbound.status, inbound.next_attempt_at = status, None
            if understanding is not None:
                inbound.intent = understanding.get("intent")
                inbound.confidence = understanding.get("confidence")
                inbound.understanding = understanding
            queued = [
                self._add_outbound(
                    session,
                    inbound.case_id,
                    inbound.conversation_id,
                    inbound.platform,
                    reply,
                    author,
                    message_id,
                    now,
                )
                for reply in replies
            ]
            return self._open_handoff_id(session, case_id), queued

    def unfinished_turns(self, limit: int = 20) -> list[PendingTurn]:
        """Claims accepted messages whose lease ran out before their turn finished.

        Each is claimed with a conditional update, so when several instances look at once, one
        of them takes it. The caller runs the turn again; Rasa and the actions are safe to repeat
        for a message whose replies were never queued.
        """
        now = utcnow()
        with self._session() as session:
            rows = list(
                session.execute(
                    select(MessageRow.id, MessageRow.next_attempt_at)
                    .where(
                        MessageRow.direction == "in",
                        MessageRow.status == "received",
                        MessageRow.next_attempt_at <= now,
                    )
                    .order_by(MessageRow.id)
                    .limit(limit)
                )
            )
        turns = []
        for row_id, lease_end in rows:
            with self._session() as session, session.begin():
                claimed = session.execute(
                    update(MessageRow)
                    .where(MessageRow.id == row_id, MessageRow.next_attempt_at == lease_end)
                    .values(next_attempt_at=now + self.lease, attempts=MessageRow.attempts + 1)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not claimed:
                    continue
                row = session.get(MessageRow, row_id)
                assert row is not None
                conversation, customer = row.conversation, row.conversation.case.customer
                message = InboundMessage(
                    platform=row.platform,
                    platform_message_id=row.external_id or str(row.id),
                    conversation_key=conversation.conversation_key,
                    public=conversation.public,
                    customer=Customer(
                        customer.platform_user_id,
                        handle=customer.handle,
                        display_name=customer.display_name,
                        audience=customer.audience,
                    ),
                    text=row.text,
                    received_at=row.created_at,
                    url=conversation.url,
                    kind=row.kind,
                )
                recorded = Recorded(
                    message_id=row.id,
                    conversation_id=conversation.id,
                    case_id=conversation.case_id,
                    join_token=conversation.case.join_token,
                    open_handoff_id=self._open_handoff_id(session, conversation.case_id),
                )
                turns.append(PendingTurn(message, recorded, row.attempts))
        return turns

    # --- outbound ------------------------------------------------------------------------------

    def queue_outbound(
        self,
        message: OutboundMessage,
        *,
        conversation_id: int,
        author: str,
        in_reply_to_id: int | None,
    ) -> Queued:
        """Puts one message in the outbox, held by this instance for its first attempt."""
        now = utcnow()
        with self._session() as session, session.begin():
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id}")
            return self._add_outbound(
                session,
                conversation.case_id,
                conversation.id,
                conversation.platform,
                message,
                author,
                in_reply_to_id,
                now,
            )

    def _add_outbound(
        self,
        session: Session,
        case_id: int,
        conversation_id: int,
        platform: str,
        message: OutboundMessage,
        author: str,
        in_reply_to_id: int | None,
        now: datetime,
    ) -> Queued:
        """An outbox row held by this instance for its first attempt (until the lease runs out)."""
        row = MessageRow(
            case_id=case_id,
            conversation_id=conversation_id,
            platform=platform,
            direction="out",
            author=author,
            in_reply_to_id=in_reply_to_id,
            text=message.text,
            created_at=now,
            status="sending",
            attempts=0,
            next_attempt_at=now + self.lease,
        )
        session.add(row)
        session.flush()
        return Queued(row.id, message, 0, in_reply_to_id)

    def due_outbound(self, limit: int = 50) -> list[Queued]:
        """Claims outbox messages that are due: waiting for a retry, or held by an instance
        whose lease ran out (it stopped mid-send)."""
        now = utcnow()
        with self._session() as session:
            rows = list(
                session.execute(
                    select(MessageRow.id, MessageRow.next_attempt_at)
                    .where(
                        MessageRow.direction == "out",
                        MessageRow.status.in_(("pending", "sending")),
                        or_(MessageRow.next_attempt_at.is_(None), MessageRow.next_attempt_at <= now),
                    )
                    .order_by(MessageRow.next_attempt_at, MessageRow.id)
                    .limit(limit)
                )
            )
        claimed = []
        for row_id, due in rows:
            queued = self._claim_outbound(row_id, due, now)
            if queued is not None:
                claimed.append(queued)
        return claimed

    def claim_outbound(self, message_id: int) -> Queued | None:
        """Claims one outbox message now, whatever its schedule (an agent pressed retry)."""
        with self._session() as session:
            row = session.get(MessageRow, message_id)
            if row is None or row.direction != "out":
                raise NotFound(f"outgoing message {message_id}")
            if row.status == "sent":
                return None
            due = row.next_attempt_at
        return self._claim_outbound(message_id, due, utcnow(), restart=True)

    def _claim_outbound(
        self, row_id: int, due: datetime | None, now: datetime, restart: bool = False
    ) -> Queued | None:
        with self._session() as session, session.begin():
            condition = (
                MessageRow.next_attempt_at.is_(None) if due is None else MessageRow.next_attempt_at == due
            )
            statuses = ("pending", "sending", "dead") if restart else ("pending", "sending")
            values: dict[str, Any] = {"status": "sending", "next_attempt_at": now + self.lease}
            if restart:
                values.update(attempts=0, error=None)
            claimed = session.execute(
                update(MessageRow)
                .where(MessageRow.id == row_id, MessageRow.status.in_(statuses), condition)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not claimed:
                return None
            row = session.get(MessageRow, row_id)
            assert row is not None
            conversation = row.conversation
            replied_to = session.get(MessageRow, row.in_reply_to_id) if row.in_reply_to_id else None
            message = OutboundMessage(
                platform=row.platform,
                conversation_key=conversation.conversation_key,
                public=conversation.public,
                text=row.text,
                recipient_id=conversation.case.customer.platform_user_id,
                in_reply_to=replied_to.external_id if replied_to is not None else None,
                author=row.author,
            )
            return Queued(row.id, message, row.attempts, row.in_reply_to_id)

    def mark_delivered(self, message_id: int, sent_id: str | None, at: datetime) -> None:
        """Marks a message sent and stamps the acknowledgement time on the handoff its customer
        message triggered, if this is the first reply to reach the customer."""
        with self._session() as session, session.begin():
            row = session.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"message {message_id}")
            row.status, row.sent_id, row.error, row.next_attempt_at = "sent", sent_id, None, None
            row.attempts = row.attempts + 1
            if row.in_reply_to_id is not None:
                session.execute(
                    update(Handoff)
                    .where(
                        Handoff.trigger_message_id == row.in_reply_to_id, Handoff.acknowledged_at.is_(None)
                    )
                    .values(acknowledged_at=at)
                )

    def mark_retry(self, message_id: int, error: str, at: datetime) -> None:
        """The attempt failed in a way that may pass: try again at `at`."""
        with self._session() as session, session.begin():
            session.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(status="pending", error=error, next_attempt_at=at, attempts=MessageRow.attempts + 1)
            )

    def mark_dead(self, message_id: int, error: str) -> None:
        """The platform refused the message for good, or too often: a person must look at it."""
        with self._session() as session, session.begin():
            session.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(status="dead", error=error, next_attempt_at=None, attempts=MessageRow.attempts + 1)
            )

    def dead_letters(self) -> list[MessageRow]:
        with self._session() as session:
            return list(
                session.execute(
                    select(MessageRow).where(MessageRow.status == "dead").order_by(MessageRow.id)
                ).scalars()
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
