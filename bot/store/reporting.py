"""The store queries behind the metrics page and `/metrics` (the figures are in `bot.metrics`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.metrics import AckSample, HandoffCounts, Understood, snapshot
from bot.store.models import Followup, Handoff, MessageRow

__all__ = ["Reporting", "metrics_snapshot"]


class Reporting:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
        )


def metrics_snapshot(engine: Engine, now: datetime, window: timedelta, bucket: str = "day") -> dict[str, Any]:
    """The metrics page's figures for the window ending `now` (see `bot.metrics.snapshot`)."""
    return Reporting(engine).snapshot(now, window, bucket)
