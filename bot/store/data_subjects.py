"""Everything Firstline holds about one customer, found, exported and erased: the answer to a
data subject's request under the GDPR and laws like it (access, article 15; erasure, article 17).

A customer is a platform account (`platform`, its user id). What is theirs: their customer record,
their cases, the conversations and messages of those cases in both directions (the bot's and
agents' replies quote them and call them by name), the handoffs with their summaries, events,
notes and tags, the follow-ups, the review items the trainers were sent, and the platform updates
kept raw because no parser could read them, where they name the account.

Erasure anonymises rather than deletes where the row is a count the metrics need (a message, a
handoff): its text becomes "[erased]" and the customer record loses its id, handle and name. What
exists only for the content (review items, notes, tags, follow-ups, unreadable updates) is deleted.
Rasa's tracker keeps the same conversations under `conversation-<id>`; its rows are deleted when it
is an SQL store. Examples already exported to `data/nlu/` live in git: they are found and reported,
for a trainer to remove in a commit. Erasing twice finds nothing the second time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import column, create_engine, delete, inspect, select, table, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.store.models import (
    Case,
    CaseNote,
    CaseTag,
    Conversation,
    CustomerRow,
    Followup,
    Handoff,
    HandoffEvent,
    MessageRow,
    ReviewItem,
    UnreadableUpdate,
    tracker_id,
)
from bot.store.unreadable import names_account

__all__ = ["ERASED", "Erasure", "SubjectNotFound", "erase", "find_in_training_data", "records_of"]

ERASED = "[erased]"


class SubjectNotFound(LookupError):
    """No customer with that platform and user id is held (or it was erased already)."""


@dataclass
class Erasure:
    """What one erasure did, without the erased content: counts, and where people must act."""

    platform: str
    customers: int = 0
    cases: int = 0
    messages: int = 0
    handoffs: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    tracker: str = "not held"
    training_data: list[str] = field(default_factory=list)
    """`file:line` of exported training examples that repeat the customer's words."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "customers": self.customers,
            "cases": self.cases,
            "messages_anonymised": self.messages,
            "handoffs_anonymised": self.handoffs,
            "deleted": self.deleted,
            "rasa_tracker": self.tracker,
            "training_data_to_remove": self.training_data,
        }


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _rows(engine: Engine, statement: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [{key: _iso(value) for key, value in row._mapping.items()} for row in conn.execute(statement)]


def _customer_ids(engine: Engine, platform: str, user_id: str) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(CustomerRow.id).where(
                    CustomerRow.platform == platform, CustomerRow.platform_user_id == user_id
                )
            ).scalars()
        )


def records_of(engine: Engine, platform: str, user_id: str) -> dict[str, Any]:
    """Everything held about the customer, as JSON-ready data (the export).

    Raises:
        SubjectNotFound: nobody with that platform and user id is held.
    """
    customers = _customer_ids(engine, platform, user_id)
    unreadable = _unreadable_naming(engine, platform, user_id)
    if not customers and not unreadable:
        raise SubjectNotFound(f"no {platform} customer {user_id!r} is held")
    cases = select(Case.id).where(Case.customer_id.in_(customers))
    handoffs = select(Handoff.id).where(Handoff.case_id.in_(cases))
    return {
        "customer": _rows(
            engine,
            select(
                CustomerRow.platform,
                CustomerRow.platform_user_id,
                CustomerRow.handle,
                CustomerRow.display_name,
                CustomerRow.audience,
                CustomerRow.created_at,
            ).where(CustomerRow.id.in_(customers)),
        ),
        "cases": _rows(engine, select(Case.id, Case.created_at).where(Case.id.in_(cases))),
        "conversations": _rows(
            engine,
            select(
                Conversation.id,
                Conversation.case_id,
                Conversation.platform,
                Conversation.conversation_key,
                Conversation.public,
                Conversation.url,
            ).where(Conversation.case_id.in_(cases)),
        ),
        "messages": _rows(
            engine,
            select(
                MessageRow.id,
                MessageRow.case_id,
                MessageRow.conversation_id,
                MessageRow.direction,
                MessageRow.author,
                MessageRow.text,
                MessageRow.kind,
                MessageRow.created_at,
                MessageRow.status,
                MessageRow.intent,
            )
            .where(MessageRow.case_id.in_(cases))
            .order_by(MessageRow.id),
        ),
        "handoffs": _rows(
            engine,
            select(
                Handoff.id,
                Handoff.case_id,
                Handoff.status,
                Handoff.reason,
                Handoff.summary,
                Handoff.created_at,
                Handoff.closed_at,
                Handoff.outcome,
            ).where(Handoff.id.in_(handoffs)),
        ),
        "handoff_events": _rows(
            engine,
            select(HandoffEvent.handoff_id, HandoffEvent.action, HandoffEvent.created_at).where(
                HandoffEvent.handoff_id.in_(handoffs)
            ),
        ),
        "notes": _rows(
            engine,
            select(CaseNote.case_id, CaseNote.text, CaseNote.created_at).where(CaseNote.case_id.in_(cases)),
        ),
        "tags": _rows(engine, select(CaseTag.case_id, CaseTag.tag).where(CaseTag.case_id.in_(cases))),
        "followups": _rows(
            engine,
            select(Followup.case_id, Followup.kind, Followup.status, Followup.due_at).where(
                Followup.case_id.in_(cases)
            ),
        ),
        "review_items": _rows(
            engine,
            select(ReviewItem.case_id, ReviewItem.text, ReviewItem.guessed_intent, ReviewItem.status).where(
                ReviewItem.case_id.in_(cases)
            ),
        ),
        "unreadable_updates": unreadable,
    }


def _unreadable_naming(engine: Engine, platform: str, user_id: str) -> list[dict[str, Any]]:
    """The platform's kept unreadable updates that name the account (`names_account`)."""
    candidates = _rows(
        engine,
        select(
            UnreadableUpdate.id,
            UnreadableUpdate.external_id,
            UnreadableUpdate.error,
            UnreadableUpdate.received_at,
            UnreadableUpdate.raw,
        ).where(
            UnreadableUpdate.platform == platform,
            UnreadableUpdate.raw.contains(user_id, autoescape=True),
        ),
    )
    return [row for row in candidates if names_account(row["raw"], user_id)]


def find_in_training_data(texts: list[str], nlu_dir: Path) -> list[str]:
    """`file:line` of lines in the training data that hold one of `texts` (exported examples)."""
    wanted = [" ".join(t.split()) for t in texts if len(t.strip()) >= 12]
    found = []
    for path in sorted(nlu_dir.rglob("*.yml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            flat = " ".join(line.split())
            if any(text in flat for text in wanted):
                found.append(f"{path}:{number}")
    return found


def _erase_tracker(tracker_url: str, conversations: list[int]) -> str:
    """Deletes Rasa's events of these conversations when its tracker is an SQL store."""
    if not conversations:
        return "nothing held"
    if tracker_url in ("", "memory"):
        return "kept in memory only: gone at the next restart"
    try:
        make_url(tracker_url)
    except SQLAlchemyError:
        return f"not erased: {tracker_url.split(':', 1)[0]} tracker stores are not supported; erase by hand"
    engine = create_engine(tracker_url, future=True)
    try:
        if not inspect(engine).has_table("events"):
            return "nothing held"
        events = table("events", column("sender_id"))
        with engine.begin() as conn:
            gone = conn.execute(
                delete(events).where(events.c.sender_id.in_([tracker_id(c) for c in conversations]))
            ).rowcount
        return f"{gone} events deleted"
    finally:
        engine.dispose()


def erase(
    engine: Engine, platform: str, user_id: str, *, tracker_url: str = "memory", nlu_dir: Path | None = None
) -> Erasure:
    """Erases the customer everywhere Firstline can (see the module's docstring).

    Raises:
        SubjectNotFound: nobody with that platform and user id is held (erased already, say).
    """
    records = records_of(engine, platform, user_id)
    customers = _customer_ids(engine, platform, user_id)
    cases = [c["id"] for c in records["cases"]]
    conversations = [c["id"] for c in records["conversations"]]
    report = Erasure(platform=platform, customers=len(customers), cases=len(cases))
    inbound = [m["text"] for m in records["messages"] if m["direction"] == "in"]
    if nlu_dir is not None and nlu_dir.is_dir():
        report.training_data = find_in_training_data(inbound, nlu_dir)
    # An irreversible stand-in for the id: the same customer erased on two platforms differs.
    pseudonym = "erased:" + hashlib.sha256(f"{platform}:{user_id}".encode()).hexdigest()[:16]
    with engine.begin() as conn:
        report.deleted["unreadable_updates"] = conn.execute(
            delete(UnreadableUpdate).where(
                UnreadableUpdate.id.in_([u["id"] for u in records["unreadable_updates"]])
            )
        ).rowcount
        for table, model in (
            ("review_items", ReviewItem),
            ("case_notes", CaseNote),
            ("case_tags", CaseTag),
            ("followups", Followup),
        ):
            report.deleted[table] = conn.execute(delete(model).where(model.case_id.in_(cases))).rowcount
        report.messages = conn.execute(
            update(MessageRow).where(MessageRow.case_id.in_(cases)).values(text=ERASED, understanding=None)
        ).rowcount
        report.handoffs = conn.execute(
            update(Handoff).where(Handoff.case_id.in_(cases)).values(summary=ERASED, outcome=None)
        ).rowcount
        conn.execute(
            update(HandoffEvent)
            .where(HandoffEvent.handoff_id.in_(select(Handoff.id).where(Handoff.case_id.in_(cases))))
            .values(detail=None)
        )
        for conversation in conversations:
            # The key names the customer's account ("dm:<user id>", "chat:<user id>").
            conn.execute(
                update(Conversation)
                .where(Conversation.id == conversation)
                .values(conversation_key=f"erased:{conversation}", url=None)
            )
        # A platform's message id can hold the user's id too (Telegram's "<chat>:<message>").
        conn.execute(
            update(MessageRow).where(MessageRow.case_id.in_(cases)).values(external_id=None, sent_id=None)
        )
        conn.execute(
            update(CustomerRow)
            .where(CustomerRow.id.in_(customers))
            .values(platform_user_id=pseudonym, handle=None, display_name=None, audience=None)
        )
    report.tracker = _erase_tracker(tracker_url, conversations)
    return report
