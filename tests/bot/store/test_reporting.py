"""The metrics queries on SQLite and PostgreSQL, over messages and handoffs with known times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.messages import Customer, InboundMessage, utcnow
from bot.store import Recorded, Repository
from bot.store.models import Handoff, MessageRow
from bot.store.reporting import Reporting, metrics_snapshot
from bot.store.review import ReviewInbox
from tests.fakes.handoffs import open_complaint_handoff
from tests.fakes.understood import store_understood

NOW = utcnow().replace(microsecond=0)


def _inbound(
    repository: Repository, n: int, at: datetime, intent: str | None, topic: str | None, platform: str = "web"
) -> Recorded:
    message = InboundMessage(
        platform, f"m{n}", f"chat-{n}", False, Customer(f"u{n}"), "hello", received_at=at
    )
    recorded = repository.record_inbound(message)
    assert recorded is not None
    if intent:
        repository.record_understanding(
            recorded.message_id, recorded.case_id, {"intent": intent, "topic": topic}
        )
    return recorded


def _reply(repository: Repository, to: Recorded, at: datetime, status: str = "sent") -> None:
    with Session(repository.engine) as session, session.begin():
        session.add(
            MessageRow(
                case_id=to.case_id,
                conversation_id=to.conversation_id,
                platform="web",
                direction="out",
                author="bot",
                in_reply_to_id=to.message_id,
                text="thanks!",
                created_at=at,
                status=status,
            )
        )


def _handoff(repository: Repository, to: Recorded, **times: datetime | str | None) -> int:
    handoff_id = open_complaint_handoff(repository.engine, to, topic=None, priority=60)
    if times:
        with Session(repository.engine) as session, session.begin():
            session.execute(update(Handoff).where(Handoff.id == handoff_id).values(**times))
    return handoff_id


@pytest.fixture
def reporting(repository: Repository) -> Reporting:
    # A praise answered in 2 s, a question answered in 0.5 s (and again later: only the first
    # reply counts), a greeting whose reply failed (no sample).
    praise = _inbound(repository, 1, NOW - timedelta(hours=2), "praise", None)
    _reply(repository, praise, NOW - timedelta(hours=2) + timedelta(seconds=2))
    question = _inbound(repository, 2, NOW - timedelta(hours=1), "question", "shipping", platform="x")
    _reply(repository, question, NOW - timedelta(hours=1) + timedelta(seconds=0.5))
    _reply(repository, question, NOW - timedelta(hours=1) + timedelta(seconds=9))
    greeting = _inbound(repository, 3, NOW - timedelta(minutes=30), "greet", None)
    _reply(repository, greeting, NOW - timedelta(minutes=29), status="dead")
    # Three complaints: acknowledged in 1 s and picked up after 10 minutes; acknowledged in 3 s
    # and resolved; waiting, not acknowledged at all.
    first = _inbound(repository, 4, NOW - timedelta(hours=3), "complaint", "delivery")
    _handoff(
        repository,
        first,
        acknowledged_at=NOW - timedelta(hours=3) + timedelta(seconds=1),
        created_at=NOW - timedelta(hours=3),
        claimed_at=NOW - timedelta(hours=3) + timedelta(minutes=10),
    )
    second = _inbound(repository, 5, NOW - timedelta(hours=2), "complaint", "billing")
    _handoff(
        repository,
        second,
        acknowledged_at=NOW - timedelta(hours=2) + timedelta(seconds=3),
        created_at=NOW - timedelta(hours=2),
        status="resolved",
        closed_at=NOW - timedelta(hours=1),
    )
    waiting = _inbound(repository, 6, NOW - timedelta(minutes=5), "complaint", "delivery")
    _handoff(repository, waiting, created_at=NOW - timedelta(minutes=5))
    # Last week: outside a one-day window, but in the running totals.
    old = _inbound(repository, 7, NOW - timedelta(days=7), "complaint", "delivery")
    _reply(repository, old, NOW - timedelta(days=7) + timedelta(seconds=60))
    return Reporting(repository.engine)


def test_time_to_first_acknowledgement(reporting: Reporting) -> None:
    samples = reporting.ack_samples(NOW - timedelta(days=1), NOW)
    assert sorted((s.platform, round(s.seconds, 3)) for s in samples) == [
        ("web", 1.0),
        ("web", 2.0),
        ("web", 3.0),
        ("x", 0.5),
    ]


def test_time_to_pickup_and_handoff_counts(reporting: Reporting) -> None:
    assert reporting.pickup_seconds(NOW - timedelta(days=1), NOW) == [600.0]
    counts = reporting.handoff_counts(NOW - timedelta(days=1), NOW)
    assert (counts.open, counts.opened, counts.resolved, counts.handed_back) == (2, 3, 1, 0)


def test_volume_and_running_totals(reporting: Reporting) -> None:
    understood = reporting.understood(NOW - timedelta(days=1), NOW)
    assert sorted(f"{u.intent}/{u.topic}" for u in understood) == [
        "complaint/billing",
        "complaint/delivery",
        "complaint/delivery",
        "greet/None",
        "praise/None",
        "question/shipping",
    ]
    assert reporting.messages_by_intent() == {"complaint": 4, "greet": 1, "praise": 1, "question": 1}
    assert reporting.messages_by_topic() == {"billing": 1, "delivery": 3, "shipping": 1}
    assert reporting.handoffs_by_status() == {"open": 2, "resolved": 1}


def test_snapshot_from_the_store(reporting: Reporting) -> None:
    data = metrics_snapshot(reporting.engine, NOW, timedelta(days=1), "hour")
    assert data["first_ack_seconds"]["x"]["p50"] == 0.5
    assert data["first_ack_seconds"]["web"]["count"] == 3
    assert data["pickup_seconds"]["p50"] == 600.0
    assert data["handoffs"]["open"] == 2
    assert sum(data["volume"]["by_intent"]["complaint"]) == 3
    assert len(data["volume"]["starts"]) in (24, 25)


# --- chatter ------------------------------------------------------------------------------------


@pytest.fixture
def chatter(repository: Repository) -> dict[str, Recorded]:
    """Chatter in public (left alone; one a week old), in private (answered), in a case a
    complaint had opened, and one an agent relabelled; a complaint and a praise for contrast."""

    def said(key: str, text: str, ago: timedelta, intent: str = "chatter", **where: Any) -> Recorded:
        return store_understood(repository, key, text, intent, at=NOW - ago, **where)

    posts = {
        "joke": said("c1", "lol your van just drove past me", timedelta(hours=1)),
        "photo": said("c2", "[photo] my cat in your box", timedelta(hours=2), platform="telegram"),
        "old": said("c3", "shoutout to @Kestrel", timedelta(days=3)),
        "private": said("c4", "haha ok", timedelta(minutes=30), public=False, platform="web", who="ann"),
        "complaint": said("c5", "my parcel never came", timedelta(hours=4), "complaint", who="bo"),
        "praise": said("c6", "you are great", timedelta(hours=5), "praise"),
        "relabelled": said("c7", "great, broken again 🙃", timedelta(hours=6)),
    }
    _reply(repository, posts["private"], NOW - timedelta(minutes=29))
    _reply(repository, posts["praise"], NOW - timedelta(hours=5), status="dead")
    posts["in_case"] = said("c8", "😂", timedelta(hours=3), who="bo", conversation="post:c5")
    _handoff(repository, posts["complaint"])
    ReviewInbox(repository.engine).relabel(posts["relabelled"].message_id, "complaint/product", None)
    return posts


def test_the_chatter_list_is_newest_first_with_where_who_and_the_case(
    repository: Repository, chatter: dict[str, Recorded]
) -> None:
    listed = Reporting(repository.engine).chatter()
    names = {r.message_id: name for name, r in chatter.items()}
    assert [names[m.message_id] for m in listed] == [
        "private",
        "joke",
        "photo",
        "in_case",
        "relabelled",
        "old",
    ]
    by_name = {names[m.message_id]: m for m in listed}
    joke = by_name["joke"]
    assert (joke.platform, joke.public, joke.customer_handle, joke.customer_name) == ("x", True, "jo", "Jo")
    assert (joke.text, joke.confidence, joke.answered, joke.handoff_id) == (
        "lol your van just drove past me",
        0.91,
        False,
        None,
    )
    assert joke.at == NOW - timedelta(hours=1) and joke.case_id == chatter["joke"].case_id
    assert (by_name["private"].public, by_name["private"].answered) == (False, True)
    assert by_name["in_case"].handoff_id is not None
    assert by_name["in_case"].case_id == chatter["complaint"].case_id
    assert by_name["relabelled"].relabelled_as == "complaint/product"
    assert joke.relabelled_as is None


def test_the_chatter_list_filters_by_window_and_platform_and_is_bounded(
    repository: Repository, chatter: dict[str, Recorded]
) -> None:
    reporting = Reporting(repository.engine)
    day = reporting.chatter(since=NOW - timedelta(hours=24))
    assert chatter["old"].message_id not in {m.message_id for m in day} and len(day) == 5
    assert [m.message_id for m in reporting.chatter(platform="telegram")] == [chatter["photo"].message_id]
    assert reporting.chatter(platform="nowhere") == []
    assert [m.message_id for m in reporting.chatter(limit=2)] == [
        chatter["private"].message_id,
        chatter["joke"].message_id,
    ]
    # `until` is exclusive: the photo, received exactly two hours ago, is not in it.
    earlier = reporting.chatter(since=NOW - timedelta(hours=24), until=NOW - timedelta(hours=2))
    assert [m.message_id for m in earlier] == [
        chatter["in_case"].message_id,
        chatter["relabelled"].message_id,
    ]


def test_unanswered_public_chatter_is_counted_in_the_window(
    repository: Repository, chatter: dict[str, Recorded]
) -> None:
    reporting = Reporting(repository.engine)
    # joke, photo, in_case and relabelled: public, silent, within the day. Not the private one
    # (answered), nor the complaint or the praise, nor last week's.
    assert reporting.chatter_unanswered(NOW - timedelta(days=1), NOW) == 4
    assert reporting.chatter_unanswered(NOW - timedelta(days=7), NOW) == 5
    assert reporting.chatter_unanswered(NOW - timedelta(hours=2, minutes=30), NOW) == 2
    _reply(repository, chatter["joke"], NOW)  # a person answered it after all
    assert reporting.chatter_unanswered(NOW - timedelta(days=1), NOW) == 3
    assert metrics_snapshot(repository.engine, NOW, timedelta(days=1))["chatter_unanswered"] == 3
