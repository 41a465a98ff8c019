"""All reads and writes of Firstline's store, as plain methods over short transactions.

The gateway, the actions and the CLI share this class; each method is one transaction, so a
message is either stored whole (customer, conversation, case and text) or not at all.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import LeaseLost, NotFound
from bot.messages import Customer, InboundMessage, OutboundMessage, utcnow
from bot.store.casework import OPEN_HANDOFF_OF_CASE
from bot.store.models import Case, Conversation, Cursor, CustomerRow, Handoff, MessageRow

__all__ = ["PendingTurn", "Queued", "Recorded", "Repository"]

logger = logging.getLogger(__name__)

# Statements on the acknowledgement's path, built once. SQLAlchemy then skips building the
# expression and computing its cache key on every call, which on SQLite cost more than the
# statement itself. Parameter names differ from column names where SQLAlchemy reserves those.
_CUSTOMER = select(CustomerRow.id, CustomerRow.handle, CustomerRow.display_name, CustomerRow.audience).where(
    CustomerRow.platform == bindparam("platform"),
    CustomerRow.platform_user_id == bindparam("platform_user_id"),
)
_CONVERSATION = (
    select(Conversation.id, Conversation.case_id, Case.join_token)
    .join(Case, Case.id == Conversation.case_id)
    .where(
        Conversation.platform == bindparam("platform"),
        Conversation.conversation_key == bindparam("conversation_key"),
    )
)
_CASE_BY_TOKEN = select(Case.id, Case.join_token, Case.customer_id, Case.created_at).where(
    Case.join_token == bindparam("join_token")
)
_CASE_WITH_OPEN_HANDOFF = (
    select(Case.id, Case.join_token)
    .join(Handoff, Handoff.case_id == Case.id)
    .where(Case.customer_id == bindparam("customer_id"), Handoff.status == "open")
    .order_by(Case.id.desc())
    .limit(1)
)
_TURN_STILL_HELD = (
    MessageRow.id == bindparam("message_id"),
    # The fence: only the claim that is still current may renew or end the turn. Each claim
    # counts one more attempt, so an instance whose lease was taken over holds an older count.
    MessageRow.status == "received",
    MessageRow.attempts == bindparam("attempt"),
)
_END_TURN = (
    update(MessageRow).where(*_TURN_STILL_HELD).values(status=bindparam("new_status"), next_attempt_at=None)
)
_RENEW_TURN = update(MessageRow).where(*_TURN_STILL_HELD).values(next_attempt_at=bindparam("new_lease_end"))
_END_TURN_UNDERSTOOD = _END_TURN.values(
    intent=bindparam("new_intent"),
    confidence=bindparam("new_confidence"),
    understanding=bindparam("new_understanding"),
)
_MARK_SENT = (
    update(MessageRow)
    .where(
        MessageRow.id == bindparam("message_id"),
        # The fence: still in this instance's claim (see `Queued.lease_end`).
        MessageRow.status == "sending",
        MessageRow.next_attempt_at == bindparam("lease_end"),
    )
    .values(
        status="sent",
        sent_id=bindparam("new_sent_id"),
        error=None,
        next_attempt_at=None,
        attempts=MessageRow.attempts + 1,
    )
)
_STAMP_ACKNOWLEDGED = (
    update(Handoff)
    .where(
        Handoff.trigger_message_id
        == select(MessageRow.in_reply_to_id)
        .where(MessageRow.id == bindparam("message_id"))
        .scalar_subquery(),
        Handoff.acknowledged_at.is_(None),
    )
    .values(acknowledged_at=bindparam("new_acknowledged_at"))
)
_INSERT_CUSTOMER = insert(CustomerRow)
_INSERT_CASE = insert(Case)
_INSERT_CONVERSATION = insert(Conversation)
_INSERT_MESSAGE = insert(MessageRow)


@dataclass(frozen=True, slots=True)
class Recorded:
    """Where an accepted inbound message was stored."""

    message_id: int
    conversation_id: int
    case_id: int
    join_token: str
    open_handoff_id: int | None
    """The handoff that owns the case right now: while set, the bot must stay silent."""
    attempt: int = 1
    """Which claim of the message's turn this instance holds (its fencing token): 1 when it was
    received, one more each time a running instance takes over an unfinished turn."""


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbound message held by this instance for one delivery attempt."""

    id: int
    message: OutboundMessage
    attempts: int
    """Attempts made before this one."""
    in_reply_to_id: int | None
    lease_end: datetime | None = None
    """Until when this instance holds the message (its fencing token): the `next_attempt_at` its
    claim wrote. Another instance that takes the message over writes a later one, and this
    instance's marks then match nothing."""


@dataclass(frozen=True, slots=True)
class PendingTurn:
    """An accepted customer message whose turn was never finished (its instance stopped)."""

    message: InboundMessage
    recorded: Recorded
    attempts: int


class Repository:
    def __init__(
        self,
        engine: Engine,
        lease: timedelta = timedelta(seconds=30),
        join_token_ttl: timedelta = timedelta(days=7),
    ) -> None:
        self.engine = engine
        self.lease = lease
        """How long a claimed turn or send belongs to the instance that claimed it."""
        self.join_token_ttl = join_token_ttl
        """How long after a case opened its join token still joins a chat to it."""
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    # --- inbound -------------------------------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> Recorded | None:
        """Stores a customer message, or returns None when it is a repeated delivery.

        A new conversation joins an existing case when the customer came through that case's DM
        invitation (`join_token`), or when the customer already has a case with an open handoff
        on the same platform; otherwise it starts a case of its own. See `_conversation_for` for
        why a join token alone is not enough.

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
        # Core statements rather than the ORM's unit of work: this runs before every
        # acknowledgement, and on SQLite the ORM's bookkeeping costs more than the writes.
        now = utcnow()
        with self.engine.begin() as conn:
            customer_id = self._upsert_customer(conn, message.platform, message.customer, now)
            conversation_id, case_id, join_token, new_case = self._conversation_for(
                conn, message, customer_id, now, self.join_token_ttl
            )
            message_id = conn.execute(
                _INSERT_MESSAGE,
                {
                    "case_id": case_id,
                    "conversation_id": conversation_id,
                    "platform": message.platform,
                    "direction": "in",
                    "author": "customer",
                    "external_id": message.platform_message_id,
                    "text": message.text,
                    "created_at": message.received_at,
                    "status": "received",
                    "kind": message.kind,
                    "attempts": 1,
                    "next_attempt_at": now + self.lease,
                },
            ).inserted_primary_key[0]
            return Recorded(
                message_id=message_id,
                conversation_id=conversation_id,
                case_id=case_id,
                join_token=join_token,
                # A case created in this transaction cannot have a handoff yet.
                open_handoff_id=None if new_case else self._open_handoff_id(conn, case_id),
            )

    @staticmethod
    def _upsert_customer(conn: Connection, platform: str, customer: Customer, now: datetime) -> int:
        row = conn.execute(
            _CUSTOMER, {"platform": platform, "platform_user_id": customer.platform_user_id}
        ).first()
        # Profiles change (new display name, more followers): keep the latest the platform gave.
        profile = {
            name: value
            for name in ("handle", "display_name", "audience")
            if (value := getattr(customer, name)) is not None
        }
        if row is None:
            return conn.execute(
                _INSERT_CUSTOMER,
                {
                    "platform": platform,
                    "platform_user_id": customer.platform_user_id,
                    "created_at": now,
                    **profile,
                },
            ).inserted_primary_key[0]
        if any(getattr(row, name) != value for name, value in profile.items()):
            conn.execute(update(CustomerRow).where(CustomerRow.id == row.id).values(**profile))
        return row.id

    @staticmethod
    def _conversation_for(
        conn: Connection, message: InboundMessage, customer_id: int, now: datetime, token_ttl: timedelta
    ) -> tuple[int, int, str, bool]:
        """The message's conversation id, its case id and join token, and whether the case was
        created just now.

        The join token is printed in the bot's public reply (it must be: it is what the one-tap
        link carries), so anyone can read it. Presenting it therefore proves nothing on its own
        (issue 12, finding 2): a chat joins the token's case only when it is the same customer,
        as the platform vouches (the DM sender on X is the author of the public post; the
        Telegram `/start` comes from the same user id). Anyone else, or anyone on a channel
        whose identities are self-declared (the web), gets a case of their own that records an
        *unverified link* to the token's case: agents see it marked, and nothing of the case
        reaches that chat unless an agent chooses to write there. A token older than the
        store's `join_token_ttl` joins nothing.
        """
        found = conn.execute(
            _CONVERSATION, {"platform": message.platform, "conversation_key": message.conversation_key}
        ).first()
        if found is not None:
            return found.id, found.case_id, found.join_token, False
        case, linked_case_id = None, None
        if message.join_token:
            invited = conn.execute(_CASE_BY_TOKEN, {"join_token": message.join_token}).first()
            if invited is None:
                pass
            elif invited.created_at < now - token_ttl:
                logger.info("join token of case %s presented after it expired; not joined", invited.id)
            elif message.identity_verified and invited.customer_id == customer_id:
                case = invited
            else:
                linked_case_id = invited.id
                logger.warning(
                    "join token of case %s presented by another or an unverified identity (%s); "
                    "a new case records the unverified link",
                    invited.id,
                    message.platform,
                )
        if case is None and linked_case_id is None and not message.public:
            # A private chat from someone whose public post is still being handled belongs to it.
            case = conn.execute(_CASE_WITH_OPEN_HANDOFF, {"customer_id": customer_id}).first()
        new_case = case is None
        if case is None:
            join_token = secrets.token_urlsafe(9)
            case_id = conn.execute(
                _INSERT_CASE,
                {
                    "customer_id": customer_id,
                    "join_token": join_token,
                    "created_at": now,
                    "linked_case_id": linked_case_id,
                },
            ).inserted_primary_key[0]
        else:
            case_id, join_token = case.id, case.join_token
        conversation_id = conn.execute(
            _INSERT_CONVERSATION,
            {
                "case_id": case_id,
                "platform": message.platform,
                "conversation_key": message.conversation_key,
                "public": message.public,
                "url": message.url,
                "created_at": message.received_at,
            },
        ).inserted_primary_key[0]
        return conversation_id, case_id, join_token, new_case

    def open_handoff_id(self, case_id: int) -> int | None:
        with self.engine.connect() as conn:
            return self._open_handoff_id(conn, case_id)

    @staticmethod
    def _open_handoff_id(session: Session | Connection, case_id: int) -> int | None:
        return session.execute(OPEN_HANDOFF_OF_CASE, {"case_id": case_id}).scalar_one_or_none()

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
        recorded: Recorded,
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
        params: dict[str, Any] = {"message_id": recorded.message_id, "new_status": status}
        if understanding is not None:
            params.update(
                new_intent=understanding.get("intent"),
                new_confidence=understanding.get("confidence"),
                new_understanding=understanding,
            )
        params["attempt"] = recorded.attempt
        with self.engine.begin() as conn:
            ended = conn.execute(_END_TURN if understanding is None else _END_TURN_UNDERSTOOD, params)
            if not ended.rowcount:
                self._lost(conn, recorded)
            queued = [
                self._add_outbound(
                    conn,
                    recorded.case_id,
                    recorded.conversation_id,
                    reply.platform,
                    reply,
                    author,
                    recorded.message_id,
                    now,
                )
                for reply in replies
            ]
            return self._open_handoff_id(conn, recorded.case_id), queued

    def _lost(self, conn: Connection, recorded: Recorded) -> NoReturn:
        """Why a fenced write to a turn matched nothing: the message is gone, or it is no longer
        this instance's turn (another took it over after the lease ran out, or ended it)."""
        row = conn.execute(
            select(MessageRow.status, MessageRow.attempts).where(MessageRow.id == recorded.message_id)
        ).first()
        if row is None:
            raise NotFound(f"message {recorded.message_id}")
        raise LeaseLost(
            f"message {recorded.message_id}: this instance held claim {recorded.attempt}, the store "
            f"has claim {row.attempts} ({row.status}); the turn is no longer this instance's"
        )

    def renew_turn(self, recorded: Recorded) -> None:
        """Extends the lease on a turn still in progress (the gateway's heartbeat).

        Raises:
            LeaseLost: the turn is no longer this instance's.
        """
        with self.engine.begin() as conn:
            renewed = conn.execute(
                _RENEW_TURN,
                {
                    "message_id": recorded.message_id,
                    "attempt": recorded.attempt,
                    "new_lease_end": utcnow() + self.lease,
                },
            )
            if not renewed.rowcount:
                self._lost(conn, recorded)

    def unfinished_turns(self, limit: int = 20) -> list[PendingTurn]:
        """Claims accepted messages whose lease ran out before their turn finished.

        Each is claimed with a conditional update, so when several instances look at once, one
        of them takes it. The caller runs the turn again; Rasa and the actions are safe to repeat
        for a message whose replies were never queued.
        """
        return self._claim_turns(self._unfinished(MessageRow.next_attempt_at <= utcnow(), limit=limit))

    def unfinished_in_case(
        self, case_id: int, up_to: int, *, leased_too: bool, skip: Collection[int] = ()
    ) -> list[PendingTurn]:
        """Claims the case's unfinished messages up to message `up_to`, oldest first, so that the
        turn about to run does not overtake an earlier message of the same customer.

        `leased_too` claims them even while their lease runs: the caller holds the case lock that
        every instance takes for a turn, so no live instance can be in the middle of them (the
        one that held them died, and the database let its lock go). `skip` are messages this
        process is handling itself.
        """
        conditions = [MessageRow.case_id == case_id, MessageRow.id <= up_to]
        if skip:
            conditions.append(MessageRow.id.not_in(list(skip)))
        if not leased_too:
            conditions.append(MessageRow.next_attempt_at <= utcnow())
        return self._claim_turns(self._unfinished(*conditions, limit=50))

    def stored_id(self, message: InboundMessage) -> tuple[int, int] | None:
        """(message id, case id) of a message already stored (a repeated delivery of it)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(MessageRow.id, MessageRow.case_id).where(
                    MessageRow.direction == "in",
                    MessageRow.platform == message.platform,
                    MessageRow.external_id == message.platform_message_id,
                )
            ).first()
        return (row.id, row.case_id) if row is not None else None

    def _unfinished(self, *conditions: Any, limit: int) -> list[tuple[int, datetime | None]]:
        with self._session() as session:
            return [
                (row_id, lease_end)
                for row_id, lease_end in session.execute(
                    select(MessageRow.id, MessageRow.next_attempt_at)
                    .where(MessageRow.direction == "in", MessageRow.status == "received", *conditions)
                    .order_by(MessageRow.id)
                    .limit(limit)
                )
            ]

    def _claim_turns(self, rows: list[tuple[int, datetime | None]]) -> list[PendingTurn]:
        now = utcnow()
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
                    attempt=row.attempts,
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
        with self.engine.begin() as conn:
            conversation = conn.execute(
                select(Conversation.id, Conversation.case_id, Conversation.platform).where(
                    Conversation.id == conversation_id
                )
            ).first()
            if conversation is None:
                raise NotFound(f"conversation {conversation_id}")
            return self._add_outbound(
                conn,
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
        conn: Connection,
        case_id: int,
        conversation_id: int,
        platform: str,
        message: OutboundMessage,
        author: str,
        in_reply_to_id: int | None,
        now: datetime,
    ) -> Queued:
        """An outbox row held by this instance for its first attempt (until the lease runs out)."""
        row_id = conn.execute(
            _INSERT_MESSAGE,
            {
                "case_id": case_id,
                "conversation_id": conversation_id,
                "platform": platform,
                "direction": "out",
                "author": author,
                "in_reply_to_id": in_reply_to_id,
                "text": message.text,
                "created_at": now,
                "status": "sending",
                "attempts": 0,
                "next_attempt_at": now + self.lease,
            },
        ).inserted_primary_key[0]
        return Queued(row_id, message, 0, in_reply_to_id, now + self.lease)

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
            lease_end = now + self.lease
            values: dict[str, Any] = {"status": "sending", "next_attempt_at": lease_end}
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
            return Queued(row.id, message, row.attempts, row.in_reply_to_id, lease_end)

    def holds(self, queued: Queued) -> bool:
        """Whether this instance still holds `queued` (checked just before it is sent): false
        once another instance took it over after the lease ran out, or it was sent meanwhile."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(MessageRow.status, MessageRow.next_attempt_at).where(MessageRow.id == queued.id)
            ).first()
        return row is not None and row.status == "sending" and row.next_attempt_at == queued.lease_end

    @staticmethod
    def _held(queued: Queued) -> Any:
        """The fence of every mark: the row is still in this instance's claim."""
        return (
            MessageRow.id == queued.id,
            MessageRow.status == "sending",
            MessageRow.next_attempt_at == queued.lease_end,
        )

    def mark_delivered(self, queued: Queued, sent_id: str | None, at: datetime) -> bool:
        """Marks a message sent and stamps the acknowledgement time on the handoff its customer
        message triggered, if this is the first reply to reach the customer. False when the
        message was no longer this instance's (the mark is then not made)."""
        with self.engine.begin() as conn:
            sent = conn.execute(
                _MARK_SENT, {"message_id": queued.id, "new_sent_id": sent_id, "lease_end": queued.lease_end}
            ).rowcount
            if not sent:
                return False
            conn.execute(_STAMP_ACKNOWLEDGED, {"message_id": queued.id, "new_acknowledged_at": at})
        return True

    def mark_retry(self, queued: Queued, error: str, at: datetime) -> bool:
        """The attempt failed in a way that may pass: try again at `at`."""
        return self._mark_failed(queued, status="pending", error=error, next_attempt_at=at)

    def mark_dead(self, queued: Queued, error: str) -> bool:
        """The platform refused the message for good, or too often: a person must look at it."""
        return self._mark_failed(queued, status="dead", error=error, next_attempt_at=None)

    def _mark_failed(self, queued: Queued, **values: Any) -> bool:
        """Records a failed attempt, if the message is still this instance's (see `_held`)."""
        with self.engine.begin() as conn:
            marked = conn.execute(
                update(MessageRow)
                .where(*self._held(queued))
                .values(**values, attempts=MessageRow.attempts + 1)
            )
            return bool(marked.rowcount)

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
