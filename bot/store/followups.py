"""Reads and writes of planned follow-ups (see `bot.followups` for what they are and when).

Planning is a sweep rather than a hook: each tick looks at the handoffs opened or resolved lately
and writes the follow-ups they call for, under a unique key, so it does not matter which instance,
or which path (API, console, CLI), opened or resolved them. Sending claims a due row with one
conditional UPDATE, so of several instances exactly one sends it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.errors import NotFound
from bot.followups import (
    CHECKBACK,
    STILL_HERE,
    SYSTEM,
    FollowupFacts,
    FollowupPolicy,
    PlaceRef,
    dedupe_key,
)
from bot.messages import utcnow
from bot.store.models import Case, Conversation, CustomerRow, Followup, Handoff, MessageRow

__all__ = ["DueFollowup", "FollowupStore", "FollowupView"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FollowupView:
    """One follow-up as the case view shows it."""

    id: int
    case_id: int
    handoff_id: int | None
    kind: str
    conversation_id: int
    due_at: datetime
    status: str
    message_id: int | None
    created_at: datetime
    finished_at: datetime | None
    cancelled_by: str | None
    detail: str | None

    @property
    def cancellable(self) -> bool:
        return self.status == "scheduled"

    @classmethod
    def of(cls, row: Followup) -> FollowupView:
        return cls(
            id=row.id,
            case_id=row.case_id,
            handoff_id=row.handoff_id,
            kind=row.kind,
            conversation_id=row.conversation_id,
            due_at=row.due_at,
            status=row.status,
            message_id=row.message_id,
            created_at=row.created_at,
            finished_at=row.finished_at,
            cancelled_by=row.cancelled_by,
            detail=row.detail,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "handoff_id": self.handoff_id,
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "due_at": self.due_at.isoformat(),
            "status": self.status,
            "message_id": self.message_id,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "cancelled_by": self.cancelled_by,
            "detail": self.detail,
            "cancellable": self.cancellable,
        }


@dataclass(frozen=True, slots=True)
class DueFollowup:
    """A claimed follow-up with what sending it needs."""

    followup: FollowupView
    facts: FollowupFacts
    join_token: str
    customer_id: str
    customer_handle: str | None
    customer_name: str | None


class FollowupStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    # --- planning ------------------------------------------------------------------------------

    def plan(self, policy: FollowupPolicy, now: datetime) -> list[int]:
        """Writes the follow-ups that lately opened or resolved handoffs call for; returns new ids."""
        planned: list[int] = []
        for kind, candidates in ((STILL_HERE, self._still_here_candidates), (CHECKBACK, self._checkbacks)):
            since = policy.planning_window(kind, now)
            if since is None:
                continue
            for case_id, handoff_id, conversation_id, event_at in candidates(since):
                due_at = policy.due_at(kind, event_at)
                assert due_at is not None  # the kind is on, or there would be no window
                new_id = self._insert(kind, case_id, handoff_id, conversation_id, due_at, now)
                if new_id is not None:
                    planned.append(new_id)
        return planned

    def _still_here_candidates(self, since: datetime) -> list[tuple[int, int, int, datetime]]:
        """Open handoffs started from a public post, in cases with no private chat yet."""
        other = aliased(Conversation)
        private_chat = (
            select(other.id).where(other.case_id == Handoff.case_id, other.public.is_(False)).exists()
        )
        planned = select(Followup.id).where(Followup.case_id == Handoff.case_id, Followup.kind == STILL_HERE)
        with self._session() as session:
            rows = session.execute(
                select(Handoff.case_id, Handoff.id, MessageRow.conversation_id, Handoff.created_at)
                .join(MessageRow, MessageRow.id == Handoff.trigger_message_id)
                .join(Conversation, Conversation.id == MessageRow.conversation_id)
                .where(
                    Handoff.status == "open",
                    Handoff.created_at >= since,
                    Conversation.public.is_(True),
                    ~private_chat,
                    ~planned.exists(),
                )
            ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def _checkbacks(self, since: datetime) -> list[tuple[int, int, int, datetime]]:
        planned = select(Followup.id).where(Followup.handoff_id == Handoff.id, Followup.kind == CHECKBACK)
        with self._session() as session:
            rows = session.execute(
                select(Handoff.case_id, Handoff.id, MessageRow.conversation_id, Handoff.closed_at)
                .join(MessageRow, MessageRow.id == Handoff.trigger_message_id)
                .where(
                    Handoff.status == "resolved",
                    Handoff.closed_at >= since,
                    ~planned.exists(),
                )
            ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def _insert(
        self, kind: str, case_id: int, handoff_id: int, conversation_id: int, due_at: datetime, now: datetime
    ) -> int | None:
        try:
            with self._session() as session, session.begin():
                row = Followup(
                    dedupe_key=dedupe_key(kind, case_id, handoff_id),
                    case_id=case_id,
                    handoff_id=handoff_id,
                    kind=kind,
                    conversation_id=conversation_id,
                    due_at=due_at,
                    status="scheduled",
                    created_at=now,
                )
                session.add(row)
                session.flush()
                logger.info("follow-up %s (%s) planned for case %s at %s", row.id, kind, case_id, due_at)
                return int(row.id)
        except IntegrityError:
            # Another instance planned it a moment earlier: that is the one.
            return None

    def cancel_obsolete(self, now: datetime) -> int:
        """Calls off `still_here` follow-ups whose customer has come to the private chat."""
        private_chat = (
            select(Conversation.id)
            .where(Conversation.case_id == Followup.case_id, Conversation.public.is_(False))
            .exists()
        )
        with self._session() as session, session.begin():
            result = session.execute(
                update(Followup)
                .where(Followup.kind == STILL_HERE, Followup.status == "scheduled", private_chat)
                .values(
                    status="cancelled",
                    cancelled_by=SYSTEM,
                    finished_at=now,
                    detail="the customer came to the private chat",
                )
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)

    # --- sending -------------------------------------------------------------------------------

    def claim_due(self, now: datetime, limit: int = 20) -> list[DueFollowup]:
        """Takes due follow-ups for this instance; a row another instance took first is skipped."""
        with self._session() as session:
            candidates = list(
                session.execute(
                    select(Followup.id)
                    .where(Followup.status == "scheduled", Followup.due_at <= now)
                    .order_by(Followup.due_at, Followup.id)
                    .limit(limit)
                ).scalars()
            )
        claimed = []
        for followup_id in candidates:
            with self._session() as session, session.begin():
                result = session.execute(
                    update(Followup)
                    .where(Followup.id == followup_id, Followup.status == "scheduled", Followup.due_at <= now)
                    .values(status="sending")
                    .execution_options(synchronize_session=False)
                )
            if result.rowcount == 1:
                claimed.append(self._due(followup_id))
        return claimed

    def _due(self, followup_id: int) -> DueFollowup:
        with self._session() as session:
            row = session.get(Followup, followup_id)
            if row is None:
                raise NotFound(f"follow-up {followup_id}")
            case = session.get(Case, row.case_id)
            customer = session.get(CustomerRow, case.customer_id)
            handoff_status = session.get(Handoff, row.handoff_id).status if row.handoff_id else None
            return DueFollowup(
                followup=FollowupView.of(row),
                facts=FollowupFacts(
                    kind=row.kind,
                    planned_conversation_id=row.conversation_id,
                    places=self._places(session, row.case_id),
                    open_handoff=session.execute(
                        select(exists().where(Handoff.case_id == row.case_id, Handoff.status == "open"))
                    ).scalar_one(),
                    handoff_status=handoff_status,
                    invitation_sent=self._invitation_sent(session, row.case_id, case.join_token),
                    agent_wrote_since_planned=session.execute(
                        select(
                            exists().where(
                                MessageRow.case_id == row.case_id,
                                MessageRow.author == "agent",
                                MessageRow.created_at >= row.created_at,
                            )
                        )
                    ).scalar_one(),
                ),
                join_token=case.join_token,
                customer_id=customer.platform_user_id,
                customer_handle=customer.handle,
                customer_name=customer.display_name,
            )

    @staticmethod
    def _places(session: Session, case_id: int) -> tuple[PlaceRef, ...]:
        latest = (
            select(MessageRow.conversation_id, func.max(MessageRow.id).label("message_id"))
            .where(MessageRow.case_id == case_id, MessageRow.direction == "in")
            .group_by(MessageRow.conversation_id)
            .subquery()
        )
        last_in = aliased(MessageRow)
        rows = session.execute(
            select(Conversation, last_in.external_id)
            .outerjoin(latest, latest.c.conversation_id == Conversation.id)
            .outerjoin(last_in, last_in.id == latest.c.message_id)
            .where(Conversation.case_id == case_id)
            .order_by(Conversation.id)
        ).all()
        return tuple(
            PlaceRef(c.id, c.platform, c.conversation_key, bool(c.public), external_id)
            for c, external_id in rows
        )

    @staticmethod
    def _invitation_sent(session: Session, case_id: int, join_token: str) -> bool:
        # Every private-chat link carries the case's join token, whatever the platform.
        return bool(
            session.execute(
                select(
                    exists().where(
                        and_(
                            MessageRow.case_id == case_id,
                            MessageRow.direction == "out",
                            MessageRow.author == "bot",
                            MessageRow.status == "sent",
                            MessageRow.conversation_id.in_(
                                select(Conversation.id).where(
                                    Conversation.case_id == case_id, Conversation.public.is_(True)
                                )
                            ),
                            MessageRow.text.contains(join_token, autoescape=True),
                        )
                    )
                )
            ).scalar_one()
        )

    def finish(
        self,
        followup_id: int,
        status: str,
        now: datetime,
        *,
        message_id: int | None = None,
        detail: str | None = None,
        cancelled_by: str | None = None,
    ) -> None:
        """Records what became of a claimed follow-up: sent, cancelled or failed."""
        if status not in {"sent", "cancelled", "failed"}:
            raise ValueError(f"a claimed follow-up ends sent, cancelled or failed, not {status!r}")
        with self._session() as session, session.begin():
            session.execute(
                update(Followup)
                .where(Followup.id == followup_id, Followup.status == "sending")
                .values(
                    status=status,
                    message_id=message_id,
                    detail=detail,
                    cancelled_by=cancelled_by,
                    finished_at=now,
                )
                .execution_options(synchronize_session=False)
            )

    # --- agents --------------------------------------------------------------------------------

    def cancel_followup(self, followup_id: int, by: str, now: datetime | None = None) -> bool:
        """An agent calls a follow-up off; False when it had already gone out or been cancelled.

        Raises:
            NotFound: there is no such follow-up.
        """
        with self._session() as session, session.begin():
            if session.get(Followup, followup_id) is None:
                raise NotFound(f"follow-up {followup_id}")
            result = session.execute(
                update(Followup)
                .where(Followup.id == followup_id, Followup.status == "scheduled")
                .values(
                    status="cancelled",
                    cancelled_by=by[:64],
                    finished_at=now or utcnow(),
                    detail="cancelled by an agent",
                )
                .execution_options(synchronize_session=False)
            )
        if result.rowcount == 1:
            logger.info("follow-up %s cancelled by %s", followup_id, by)
        return result.rowcount == 1

    def get(self, followup_id: int) -> FollowupView:
        with self._session() as session:
            row = session.get(Followup, followup_id)
            if row is None:
                raise NotFound(f"follow-up {followup_id}")
            return FollowupView.of(row)

    def for_case(self, case_id: int) -> list[FollowupView]:
        with self._session() as session:
            rows = session.execute(
                select(Followup).where(Followup.case_id == case_id).order_by(Followup.due_at, Followup.id)
            ).scalars()
            return [FollowupView.of(row) for row in rows]
