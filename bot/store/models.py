"""The tables behind Firstline's store.

A *case* is one customer's matter; it gathers the places they wrote about it (a public thread and
the private chat they were invited to) so that an agent sees one story. A *handoff* is the case
waiting for, or owned by, a person; while one is open the bot stays silent in the case.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "CannedReply",
    "Case",
    "CaseNote",
    "CaseTag",
    "ConsoleSession",
    "Conversation",
    "Cursor",
    "CustomerRow",
    "Handoff",
    "HandoffEvent",
    "Lease",
    "LoginFailure",
    "MessageRow",
    "RateLimitCounter",
    "SpendCharge",
    "UTCDateTime",
    "UnreadableUpdate",
    "User",
    "tracker_id",
]

Base = declarative_base()


class UTCDateTime(TypeDecorator):
    """Stores UTC and always gives back aware datetimes, on SQLite (which keeps no zone) too."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class CustomerRow(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id = Column(Integer, primary_key=True)
    platform = Column(String(32), nullable=False)
    platform_user_id = Column(String(128), nullable=False)
    handle = Column(String(128))
    display_name = Column(String(256))
    audience = Column(Integer)
    created_at = Column(UTCDateTime(), nullable=False)


class Case(Base):
    __tablename__ = "cases"

    id = Column(Integer, primary_key=True)
    customer_id = Column(ForeignKey("customers.id"), nullable=False, index=True)
    join_token = Column(String(32), nullable=False, unique=True)
    created_at = Column(UTCDateTime(), nullable=False)
    linked_case_id = Column(
        ForeignKey("cases.id", name="fk_cases_linked_case_id_cases"), nullable=True, index=True
    )
    """Set on an *unverified link*: this case's customer presented the join token of the linked
    case, but is not known to be that case's customer (another account, or a channel that cannot
    tell). The chat stays out of the linked case, so nothing of it reaches them by default."""

    customer = relationship(CustomerRow)
    conversations = relationship("Conversation", back_populates="case", order_by="Conversation.id")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "conversation_key"),)

    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("cases.id"), nullable=False, index=True)
    platform = Column(String(32), nullable=False)
    conversation_key = Column(String(256), nullable=False)
    public = Column(Boolean, nullable=False)
    url = Column(Text)
    created_at = Column(UTCDateTime(), nullable=False)

    case = relationship(Case, back_populates="conversations")


def tracker_id(conversation_id: int) -> str:
    """A conversation's sender id in Rasa's tracker store (`events.sender_id`): one tracker per
    conversation."""
    return f"conversation-{conversation_id}"


class MessageRow(Base):
    """Every message both ways. Inbound ones carry what the model understood of them.

    Outbound rows are also the outbox: written `pending` before the platform is called, then
    `sending` while one instance holds them, `sent`, or `dead` with the reason once the platform
    has refused them for good or too often. Inbound rows stay `received` until their turn is
    finished, which is how a restarted instance finds the messages it still owes an answer.
    """

    __tablename__ = "messages"
    __table_args__ = (
        # The same platform delivery twice is one message: this is what drops duplicates.
        UniqueConstraint("platform", "external_id", name="uq_messages_platform_external_id"),
        Index("ix_messages_case_created", "case_id", "created_at"),
        Index("ix_messages_status_next_attempt", "status", "next_attempt_at"),
    )

    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("cases.id"), nullable=False)
    conversation_id = Column(ForeignKey("conversations.id"), nullable=False, index=True)
    platform = Column(String(32), nullable=False)
    direction = Column(String(3), nullable=False)  # "in" or "out"
    author = Column(String(16), nullable=False)  # "customer", "bot" or "agent"
    external_id = Column(String(128))  # the platform's id of an inbound message
    sent_id = Column(String(128))  # the platform's id of an outbound message once delivered
    in_reply_to_id = Column(ForeignKey("messages.id"))
    text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False)
    status = Column(String(16), nullable=False, default="received")
    error = Column(Text)
    kind = Column(String(16), nullable=False, default="text", server_default="text")
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at = Column(UTCDateTime())
    """When a pending outbound message may next be tried, or a `sending` one's lease runs out."""
    intent = Column(String(64))
    confidence = Column(Float)
    understanding = Column(JSON)

    conversation = relationship(Conversation)


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (
        # At most one open handoff per case, enforced by the database for every instance.
        Index(
            "uq_handoffs_open_case",
            "case_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("cases.id"), nullable=False, index=True)
    trigger_message_id = Column(ForeignKey("messages.id"), nullable=False, index=True)
    status = Column(String(16), nullable=False)  # "open", "resolved" or "handed_back"
    reason = Column(String(32), nullable=False)
    intent = Column(String(64))
    topic = Column(String(64))
    priority = Column(Integer, nullable=False)
    summary = Column(Text, nullable=False)
    flags = Column(JSON, nullable=False)
    received_at = Column(UTCDateTime(), nullable=False)
    acknowledged_at = Column(UTCDateTime())
    created_at = Column(UTCDateTime(), nullable=False)
    closed_at = Column(UTCDateTime())
    outcome = Column(Text)
    assignee_id = Column(ForeignKey("users.id", name="fk_handoffs_assignee_id_users"))
    """The agent who owns the handoff; set once, atomically, by a claim or an assignment."""
    claimed_at = Column(UTCDateTime())

    case = relationship(Case)


class Cursor(Base):
    """Where a polling adapter got to (Telegram's update offset, X's `since_id`), kept in the
    store so a restart neither skips nor repeats, and several instances agree."""

    __tablename__ = "cursors"

    name = Column(String(128), primary_key=True)
    value = Column(String(256), nullable=False)
    updated_at = Column(UTCDateTime(), nullable=False)


class RateLimitCounter(Base):
    """Hits counted in one rate-limit window (see `bot.rate_limits`): kept in the store so that
    every instance counts against the same limit when there is no Redis. `expires_at` is in
    seconds since the epoch; a row whose window has ended is reset by the next hit or pruned."""

    __tablename__ = "rate_limits"
    __table_args__ = (Index("ix_rate_limits_expires_at", "expires_at"),)

    key = Column(String(255), primary_key=True)
    count = Column(Integer, nullable=False)
    expires_at = Column(Float, nullable=False)


class SpendCharge(Base):
    """One billable use of a paid platform API (see `bot.adapters.x_costs`), at most once per
    resource per UTC day, as X bills it: the daily spend and the budget are sums of these rows."""

    __tablename__ = "api_spend"

    day = Column(String(10), primary_key=True)
    """The UTC day, YYYY-MM-DD: the unit of X's deduplication and of the budget."""
    platform = Column(String(16), primary_key=True)
    operation = Column(String(32), primary_key=True)
    resource_id = Column(String(64), primary_key=True)
    usd = Column(Float, nullable=False)
    charged_at = Column(UTCDateTime(), nullable=False)


class UnreadableUpdate(Base):
    """A platform update that could not be read as a message (malformed, or a shape the parser
    does not know), kept raw for people to see: skipping it keeps the updates after it moving,
    and keeping it means nothing a customer sent vanishes without a trace."""

    __tablename__ = "unreadable_updates"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_unreadable_updates_external"),)

    id = Column(Integer, primary_key=True)
    platform = Column(String(16), nullable=False)
    external_id = Column(String(128), nullable=False)
    """The platform's id for the update (Telegram's update_id, X's event id), or a digest of the body."""
    raw = Column(Text, nullable=False)
    """The update as received, JSON, cut at `bot.store.unreadable.MAX_RAW_CHARS`."""
    error = Column(Text, nullable=False)
    received_at = Column(UTCDateTime(), nullable=False)


class Lease(Base):
    """Which instance holds a job only one may do at a time (see `bot.store.leases`): polling a
    platform account. `expires_at` is in seconds since the epoch."""

    __tablename__ = "leases"

    role = Column(String(128), primary_key=True)
    holder = Column(String(128), nullable=False)
    expires_at = Column(Float, nullable=False)


class User(Base):
    """A person who signs in to the agent console: an agent, a trainer or an admin."""

    __tablename__ = "users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(256), nullable=False)
    role = Column(String(16), nullable=False)  # "agent", "trainer" or "admin"
    display_name = Column(String(128), nullable=False)
    active = Column(Boolean, nullable=False, default=True, server_default=text("true"))
    created_at = Column(UTCDateTime(), nullable=False)
    last_login_at = Column(UTCDateTime())
    session_version = Column(Integer, nullable=False, default=0, server_default=text("0"))
    """Retired: sessions are `ConsoleSession` rows since 0009, and ending them deletes the rows.
    Nothing reads or writes it now; kept so that instances of the previous release keep working
    during a rolling upgrade, for a later migration to drop."""


class ConsoleSession(Base):
    """A signed-in console session. The cookie carries a random 256-bit token; only its SHA-256
    is stored (`id`), so a copy of the table signs nobody in. Signing out, a new password or a
    disabled account deletes rows; `bot.console.sessions` refuses rows past their lifetime."""

    __tablename__ = "console_sessions"

    id = Column(String(64), primary_key=True)
    user_id = Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False)
    last_seen_at = Column(UTCDateTime(), nullable=False)


class LoginFailure(Base):
    """Failed sign-ins per username, for the login throttle on every instance. `key` is the
    SHA-256 of the lowercased name as typed (people type passwords into the username field; we
    keep no such text). Rows go once their last failure is older than the throttle's memory."""

    __tablename__ = "login_failures"

    key = Column(String(64), primary_key=True)
    failures = Column(Integer, nullable=False)
    last_failed_at = Column(UTCDateTime(), nullable=False, index=True)


class CaseNote(Base):
    """An agent's internal note on a case; customers never see it."""

    __tablename__ = "case_notes"

    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("cases.id"), nullable=False, index=True)
    author_id = Column(ForeignKey("users.id"), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False)


class CaseTag(Base):
    __tablename__ = "case_tags"

    case_id = Column(ForeignKey("cases.id"), primary_key=True)
    tag = Column(String(64), primary_key=True)
    created_at = Column(UTCDateTime(), nullable=False)


class CannedReply(Base):
    """A reply agents insert and edit before sending; `{name}`-style placeholders are filled in."""

    __tablename__ = "canned_replies"

    id = Column(Integer, primary_key=True)
    title = Column(String(128), nullable=False, unique=True)
    text = Column(Text, nullable=False)
    updated_at = Column(UTCDateTime(), nullable=False)


class HandoffEvent(Base):
    """Who did what to a handoff and when (claimed, assigned, replied, resolved, reopened...)."""

    __tablename__ = "handoff_events"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(ForeignKey("handoffs.id"), nullable=False, index=True)
    actor_id = Column(ForeignKey("users.id"))
    action = Column(String(32), nullable=False)
    detail = Column(JSON)
    created_at = Column(UTCDateTime(), nullable=False)


class Followup(Base):
    """A message Firstline will send on its own later (see `bot.followups`): planned as a row so
    agents see it in the case and can cancel it until it goes out.

    `status` is `scheduled`, `sending` (one instance holds it), `sent` (`message_id` is the
    outgoing message), `cancelled` (by `cancelled_by`: an agent's name or `system`, with the
    reason in `detail`) or `failed`. `dedupe_key` makes planning idempotent across instances.
    """

    __tablename__ = "followups"
    __table_args__ = (Index("ix_followups_status_due_at", "status", "due_at"),)

    id = Column(Integer, primary_key=True)
    dedupe_key = Column(String(64), nullable=False, unique=True)
    case_id = Column(ForeignKey("cases.id"), nullable=False, index=True)
    handoff_id = Column(ForeignKey("handoffs.id"))
    kind = Column(String(16), nullable=False)  # "still_here" or "checkback"
    conversation_id = Column(ForeignKey("conversations.id"), nullable=False)
    due_at = Column(UTCDateTime(), nullable=False)
    status = Column(String(16), nullable=False)
    message_id = Column(ForeignKey("messages.id"))
    created_at = Column(UTCDateTime(), nullable=False)
    finished_at = Column(UTCDateTime())
    cancelled_by = Column(String(64))
    detail = Column(Text)


class ReviewItem(Base):
    """A live customer message a trainer should look at: the model was unsure of it (`source`
    "unsure"), or an agent relabelled it in the console ("relabelled", with the agent's
    `suggested_intent`).

    `status` is `open`, `confirmed`, `corrected` or `discarded`. Once reviewed, `corrected_intent`
    (a full intent such as "complaint/delivery") and `corrected_entities` hold the label the
    trainer settled on, whether they confirmed the model's guess or changed it; `exported_at` is
    set when `firstline nlu export` has written it into the training data. One item per message.
    """

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_status_created_at", "status", "created_at"),)

    id = Column(Integer, primary_key=True)
    message_id = Column(ForeignKey("messages.id"), nullable=False, unique=True)
    case_id = Column(ForeignKey("cases.id"), nullable=False, index=True)
    text = Column(Text, nullable=False)
    source = Column(String(16), nullable=False)
    guessed_intent = Column(String(64))
    guessed_topic = Column(String(64))
    confidence = Column(Float)
    second_intent = Column(String(64))
    second_confidence = Column(Float)
    entities = Column(JSON)
    suggested_intent = Column(String(128))
    suggested_by_id = Column(ForeignKey("users.id"))
    status = Column(String(16), nullable=False)
    corrected_intent = Column(String(128))
    corrected_entities = Column(JSON)
    reviewer_id = Column(ForeignKey("users.id"))
    reviewed_at = Column(UTCDateTime())
    exported_at = Column(UTCDateTime())
    created_at = Column(UTCDateTime(), nullable=False)
