"""A customer's data found, exported and erased (`bot.store.data_subjects`), on SQLite and
PostgreSQL: everything theirs goes, nobody else's does, the counts the metrics need stay, and a
second erasure finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.messages import Customer, InboundMessage, OutboundMessage, utcnow
from bot.store import Recorded, Repository
from bot.store.accounts import AccountRepository
from bot.store.casework import CaseworkRepository
from bot.store.data_subjects import ERASED, SubjectNotFound, erase, records_of
from bot.store.review import ReviewInbox
from bot.store.unreadable import UnreadableStore
from bot.uncertainty import Uncertainty
from tests.fakes.handoffs import open_complaint_handoff

ALICE_SAYS = "my parcel to 12 Rose Lane never arrived, call me on 0612345678"


def _said(repository: Repository, user: str, n: int, text: str) -> Recorded:
    recorded = repository.record_inbound(
        InboundMessage(
            platform="telegram",
            platform_message_id=f"{user}:{n}",
            conversation_key=f"chat:{user}",
            public=False,
            customer=Customer(user, handle=f"{user}_h", display_name=user.title(), audience=12),
            text=text,
        )
    )
    assert recorded is not None
    reply = OutboundMessage("telegram", f"chat:{user}", False, f"Sorry {user.title()}, we're on it", user)
    repository.finish_turn(recorded, "handled", [reply])
    return recorded


@pytest.fixture
def held(repository: Repository) -> dict[str, Recorded]:
    """Alice with a complaint, a handoff, a note and a review item; Bob with one message."""
    alice = _said(repository, "4242", 1, ALICE_SAYS)
    handoff = open_complaint_handoff(repository.engine, alice, summary=f"complaint: {ALICE_SAYS}")
    agent = AccountRepository(repository.engine).create("ana", "x" * 60, "agent")
    casework = CaseworkRepository(repository.engine)
    casework.add_note(alice.case_id, agent.id, "She sounded upset; her address is 12 Rose Lane")
    casework.add_tag(alice.case_id, "vip")
    doubt = Uncertainty("complaint", 0.41, "question", 0.39, "close_second")
    ReviewInbox(repository.engine).add_review_item(alice.message_id, alice.case_id, ALICE_SAYS, doubt)
    assert handoff
    unreadable = UnreadableStore(repository.engine)
    for update_id, sender in ((901, 4242), (902, 4343)):  # a Telegram update no parser could read
        update = {"update_id": update_id, "message": {"from": {"id": sender}, "chat": {"id": sender}}}
        unreadable.keep("telegram", str(update_id), update, "no text", utcnow())
    unreadable.keep("telegram", "903", {"update_id": 903, "note": "sent by 4242"}, "unknown kind", utcnow())
    return {"alice": alice, "bob": _said(repository, "4343", 1, "what are your opening hours?")}


def test_the_export_holds_everything_about_the_customer_and_nothing_else(
    repository: Repository, held: dict[str, Recorded]
) -> None:
    records = records_of(repository.engine, "telegram", "4242")
    assert records["customer"][0]["handle"] == "4242_h"
    assert [m["text"] for m in records["messages"]] == [ALICE_SAYS, "Sorry 4242, we're on it"]
    assert records["handoffs"][0]["summary"].endswith(ALICE_SAYS)
    assert [n["text"] for n in records["notes"]] == ["She sounded upset; her address is 12 Rose Lane"]
    assert [t["tag"] for t in records["tags"]] == ["vip"]
    assert [r["text"] for r in records["review_items"]] == [ALICE_SAYS]
    # An update nobody could read is hers when it names her account, not when it quotes a number.
    assert [u["external_id"] for u in records["unreadable_updates"]] == ["901"]
    assert "opening hours" not in str(records)  # Bob's words are Bob's
    with pytest.raises(SubjectNotFound):
        records_of(repository.engine, "x", "4242")  # the same id on another platform is someone else


def test_erasure_leaves_nothing_of_the_customer_and_keeps_the_counts(
    repository: Repository, held: dict[str, Recorded], tmp_path: Path
) -> None:
    tracker = tmp_path / "rasa_tracker.db"
    tracker_engine = create_engine(f"sqlite:///{tracker}")
    with tracker_engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, data TEXT)"))
        for sender in (held["alice"].conversation_id, held["bob"].conversation_id):
            conn.execute(
                text("INSERT INTO events (sender_id, data) VALUES (:s, 'x')"), {"s": f"conversation-{sender}"}
            )
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    (nlu / "reviewed.yml").write_text(f"nlu:\n- intent: complaint\n  examples: |\n    - {ALICE_SAYS}\n")

    report = erase(repository.engine, "telegram", "4242", tracker_url=f"sqlite:///{tracker}", nlu_dir=nlu)

    assert (report.customers, report.cases, report.messages, report.handoffs) == (1, 1, 2, 1)
    assert report.deleted == {
        "unreadable_updates": 1,
        "review_items": 1,
        "case_notes": 1,
        "case_tags": 1,
        "followups": 0,
    }
    assert report.tracker == "1 events deleted"
    assert report.training_data == [f"{nlu / 'reviewed.yml'}:4"]
    assert ALICE_SAYS not in str(report.to_dict())  # the report says what was done, not what was said

    with pytest.raises(SubjectNotFound):
        records_of(repository.engine, "telegram", "4242")
    with repository.engine.connect() as conn:
        dump = " ".join(
            str(row)
            for table in (
                "customers",
                "conversations",
                "messages",
                "handoffs",
                "handoff_events",
                "case_notes",
                "review_items",
            )
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
        kept = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
        raw_kept = (
            conn.execute(text("SELECT external_id FROM unreadable_updates ORDER BY id")).scalars().all()
        )
    assert raw_kept == ["902", "903"]  # Bob's and nobody's stay
    for trace in ("4242", "Rose Lane", "0612345678", "4242_h"):
        assert trace not in dump, trace
    assert ERASED in dump and kept == 4  # the rows stay, for the counts; their words do not
    assert "opening hours" in dump  # Bob is untouched
    with tracker_engine.connect() as conn:
        assert conn.execute(text("SELECT sender_id FROM events")).scalars().all() == [
            f"conversation-{held['bob'].conversation_id}"
        ]
    tracker_engine.dispose()

    with pytest.raises(SubjectNotFound):  # erasing again finds nothing, and changes nothing
        erase(repository.engine, "telegram", "4242")


def test_someone_known_only_by_an_update_nobody_could_read_is_found_and_erased(
    repository: Repository,
) -> None:
    unreadable = UnreadableStore(repository.engine)
    unreadable.keep("x", "e1", {"dm_event": {"sender_id": "777", "text": None}}, "no text", utcnow())
    records = records_of(repository.engine, "x", "777")
    assert records["customer"] == [] and len(records["unreadable_updates"]) == 1
    assert erase(repository.engine, "x", "777").deleted["unreadable_updates"] == 1
    with pytest.raises(SubjectNotFound):
        records_of(repository.engine, "x", "777")
