"""The store's read-only queries about what customers wrote and how the first line answered:
behind the metrics page and `/metrics` (the figures are in `bot.metrics`), and the console's list
of chatter (posts that need no answer, on which the bot stays silent in public)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.metrics import AckSample, HandoffCounts, Understood, snapshot
from bot.store.leases import Leases
from bot.store.models import Case, Conversation, CustomerRow, Followup, Handoff, MessageRow, ReviewItem
from bot.store.spend import SpendLedger
from bot.triage import CHATTER_INTENT

__all__ = ["ChatterMessage", "Reporting", "metrics_snapshot"]


@dataclass(frozen=True, slots=True)
class ChatterMessage:
    """A customer message the model read as chatter, as the console's chatter list shows it."""

    message_id: int
    at: datetime
    platform: str
    public: bool
    customer_handle: str | None
    customer_name: str | None
    text: str
    confidence: float | None
    case_id: int
    handoff_id: int | None
    """The case's latest handoff, if it ever had one: the case view is reached through it."""
    answered: bool
    """Whether anything was sent in reply (the bot's short line in private, or a person's)."""
    relabelled_as: str | None
    """The intent an agent said it really was, once it went to the trainers' review inbox."""


def _replied_to(message: type[MessageRow]) -> Any:
    """True where something outbound answers `message` (sent or not: the bot did not stay
    silent). An alias, so it can be correlated with the outer query's `MessageRow`."""
    reply = aliased(MessageRow)
    return exists().where(reply.in_reply_to_id == message.id, reply.direction == "out")


SPEND_DAYS = 14
"""How many UTC days of X spend the metrics page charts, whatever its window."""


class Reporting:
    def __init__(
        self, engine: Engine, spend: SpendLedger | None = None, leases: Leases | None = None
    ) -> None:
        self.engine = engine
        self.spend = spend or SpendLedger(engine)
        """What X has cost (written by the X adapter, read here for the page and `/metrics`)."""
        self.leases = leases or Leases(engine)
        """Which instance polls each platform account (for `/metrics`)."""
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def ack_samples(self, since: datetime, until: datetime) -> list[AckSample]:
        """Time to the bot's first word for customer messages received in `[since, until)`.

        A message that opened a handoff counts from the handoff's received and acknowledged
        times; any other answered message from its arrival to the first reply sent to it.
        """
        with self._session() as session:
            handoffs = session.execute(
                select(MessageRow.platform, Handoff.received_at, Handoff.acknowledged_at)
                .join(MessageRow, MessageRow.id == Handoff.trigger_message_id)
                .where(
                    Handoff.received_at >= since,
                    Handoff.received_at < until,
                    Handoff.acknowledged_at.is_not(None),
                )
            ).all()
            reply = aliased(MessageRow)
            first_reply = (
                select(reply.in_reply_to_id.label("message_id"), func.min(reply.created_at).label("at"))
                .where(
                    reply.direction == "out",
                    reply.author == "bot",
                    reply.status == "sent",
                    reply.in_reply_to_id.is_not(None),
                    reply.created_at >= since,
                )
                .group_by(reply.in_reply_to_id)
                .subquery()
            )
            turns = session.execute(
                select(MessageRow.platform, MessageRow.created_at, first_reply.c.at)
                .join(first_reply, first_reply.c.message_id == MessageRow.id)
                .where(
                    MessageRow.direction == "in",
                    MessageRow.created_at >= since,
                    MessageRow.created_at < until,
                    ~exists().where(Handoff.trigger_message_id == MessageRow.id),
                )
            ).all()
        samples = [AckSample(p, (acked - received).total_seconds()) for p, received, acked in handoffs]
        for platform, received, answered in turns:
            if isinstance(answered, str):  # SQLite hands an aggregate back as text
                answered = datetime.fromisoformat(answered).replace(tzinfo=received.tzinfo)
            samples.append(AckSample(platform, (answered - received).total_seconds()))
        return samples

    def pickup_seconds(self, since: datetime, until: datetime) -> list[float]:
        """From handoff to a person claiming it, for handoffs claimed in `[since, until)`."""
        with self._session() as session:
            rows = session.execute(
                select(Handoff.created_at, Handoff.claimed_at).where(
                    Handoff.claimed_at >= since, Handoff.claimed_at < until
                )
            ).all()
        return [(claimed - created).total_seconds() for created, claimed in rows]

    def handoff_counts(self, since: datetime, until: datetime) -> HandoffCounts:
        with self._session() as session:

            def count(*conditions: Any) -> int:
                return int(session.execute(select(func.count(Handoff.id)).where(*conditions)).scalar_one())

            closed_in_window = and_(Handoff.closed_at >= since, Handoff.closed_at < until)
            return HandoffCounts(
                open=count(Handoff.status == "open"),
                opened=count(Handoff.created_at >= since, Handoff.created_at < until),
                resolved=count(Handoff.status == "resolved", closed_in_window),
                handed_back=count(Handoff.status == "handed_back", closed_in_window),
            )

    def understood(self, since: datetime, until: datetime) -> list[Understood]:
        """Customer messages received in `[since, until)` with their intent and topic."""
        topic = MessageRow.understanding["topic"].as_string()
        with self._session() as session:
            rows = session.execute(
                select(MessageRow.created_at, MessageRow.intent, topic).where(
                    MessageRow.direction == "in",
                    MessageRow.created_at >= since,
                    MessageRow.created_at < until,
                )
            ).all()
        return [Understood(at, intent, topic) for at, intent, topic in rows]

    # --- chatter ---------------------------------------------------------------------------------

    def chatter(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        platform: str | None = None,
        limit: int = 100,
    ) -> list[ChatterMessage]:
        """The latest customer messages understood as chatter, newest first, in `[since, until)`
        when given and on one platform when given: what an agent skims to catch a mis-read
        complaint among the posts the bot let pass."""
        latest_handoff = (
            select(func.max(Handoff.id)).where(Handoff.case_id == MessageRow.case_id).scalar_subquery()
        )
        query = (
            select(
                MessageRow.id,
                MessageRow.created_at,
                MessageRow.platform,
                Conversation.public,
                CustomerRow.handle,
                CustomerRow.display_name,
                MessageRow.text,
                MessageRow.confidence,
                MessageRow.case_id,
                latest_handoff.label("handoff_id"),
                _replied_to(MessageRow).label("answered"),
                ReviewItem.suggested_intent,
            )
            .join(Conversation, Conversation.id == MessageRow.conversation_id)
            .join(Case, Case.id == MessageRow.case_id)
            .join(CustomerRow, CustomerRow.id == Case.customer_id)
            .outerjoin(ReviewItem, ReviewItem.message_id == MessageRow.id)
            .where(MessageRow.direction == "in", MessageRow.intent == CHATTER_INTENT)
            .order_by(MessageRow.created_at.desc(), MessageRow.id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(MessageRow.created_at >= since)
        if until is not None:
            query = query.where(MessageRow.created_at < until)
        if platform is not None:
            query = query.where(MessageRow.platform == platform)
        with self._session() as session:
            rows = session.execute(query).all()
        return [
            ChatterMessage(
                message_id=row.id,
                at=row.created_at,
                platform=row.platform,
                public=bool(row.public),
                customer_handle=row.handle,
                customer_name=row.display_name,
                text=row.text,
                confidence=row.confidence,
                case_id=row.case_id,
                handoff_id=row.handoff_id,
                answered=bool(row.answered),  # SQLite gives 0 or 1
                relabelled_as=row.suggested_intent,
            )
            for row in rows
        ]

    def chatter_unanswered(self, since: datetime, until: datetime) -> int:
        """Public posts received in `[since, until)` that the model read as chatter and that got
        no reply: how much the bot deliberately let pass in public."""
        with self._session() as session:
            return int(
                session.execute(
                    select(func.count(MessageRow.id))
                    .join(Conversation, Conversation.id == MessageRow.conversation_id)
                    .where(
                        MessageRow.direction == "in",
                        MessageRow.intent == CHATTER_INTENT,
                        MessageRow.created_at >= since,
                        MessageRow.created_at < until,
                        Conversation.public.is_(True),
                        ~_replied_to(MessageRow),
                    )
                ).scalar_one()
            )

    # --- running totals, for Prometheus counters ------------------------------------------------

    def messages_by_intent(self) -> dict[str, int]:
        """Every customer message so far, by what the model understood (`unknown`: not read yet)."""
        with self._session() as session:
            rows = session.execute(
                select(MessageRow.intent, func.count(MessageRow.id))
                .where(MessageRow.direction == "in")
                .group_by(MessageRow.intent)
            ).all()
        return {intent or "unknown": int(n) for intent, n in rows}

    def messages_by_topic(self) -> dict[str, int]:
        topic = MessageRow.understanding["topic"].as_string()
        with self._session() as session:
            rows = session.execute(
                select(topic, func.count(MessageRow.id))
                .where(MessageRow.direction == "in", topic.is_not(None))
                .group_by(topic)
            ).all()
        return {str(name): int(n) for name, n in rows if name}

    def handoffs_by_status(self) -> dict[str, int]:
        with self._session() as session:
            rows = session.execute(
                select(Handoff.status, func.count(Handoff.id)).group_by(Handoff.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def followups_by_status(self) -> dict[tuple[str, str], int]:
        with self._session() as session:
            rows = session.execute(
                select(Followup.kind, Followup.status, func.count(Followup.id)).group_by(
                    Followup.kind, Followup.status
                )
            ).all()
        return {(kind, status): int(n) for kind, status, n in rows}

    def snapshot(self, now: datetime, window: timedelta, bucket: str = "day") -> dict[str, Any]:
        since = now - window
        return snapshot(
            now=now,
            window=window,
            bucket=bucket,
            acks=self.ack_samples(since, now),
            pickups=self.pickup_seconds(since, now),
            handoffs=self.handoff_counts(since, now),
            messages=self.understood(since, now),
            chatter_unanswered=self.chatter_unanswered(since, now),
            x_spend=self.spend.daily("x", now.date(), max(SPEND_DAYS, window.days)),
        )


def metrics_snapshot(engine: Engine, now: datetime, window: timedelta, bucket: str = "day") -> dict[str, Any]:
    """The metrics page's figures for the window ending `now` (see `bot.metrics.snapshot`)."""
    return Reporting(engine).snapshot(now, window, bucket)
