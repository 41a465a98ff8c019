"""The review inbox on SQLite and PostgreSQL: unsure and relabelled messages, reviews, export marks."""

from __future__ import annotations

import pytest

from bot.errors import NotFound
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.store import Recorded, Repository
from bot.store.review import ReviewError, ReviewInbox
from bot.triage import Triage
from bot.uncertainty import Uncertainty

DOUBT = Uncertainty("question", 0.48, "complaint", 0.41, "low_confidence")


def _inbound(repository: Repository, text: str, message_id: str) -> Recorded:
    recorded = repository.record_inbound(
        InboundMessage(
            platform="web",
            platform_message_id=message_id,
            conversation_key="private:alice",
            public=False,
            customer=Customer("alice", handle="alice"),
            text=text,
        )
    )
    assert recorded is not None
    return recorded


def _bot_reply(repository: Repository, recorded: Recorded, text: str) -> None:
    repository.queue_outbound(
        OutboundMessage("web", "private:alice", False, text, "alice"),
        conversation_id=recorded.conversation_id,
        author="bot",
        in_reply_to_id=recorded.message_id,
    )


@pytest.fixture
def inbox(repository: Repository) -> ReviewInbox:
    return ReviewInbox(repository.engine)


def test_an_unsure_message_lands_in_the_inbox_once(repository: Repository, inbox: ReviewInbox) -> None:
    recorded = _inbound(repository, "is order #4839201 coming today?", "m1")
    entities = [{"entity": "order_number", "value": "#4839201", "start": 9, "end": 17, "extractor": "CRF"}]
    item_id = inbox.add_review_item(
        recorded.message_id,
        recorded.case_id,
        "is order #4839201 coming today?",
        DOUBT,
        topic="order_status",
        entities=entities,
    )
    assert item_id is not None
    assert inbox.add_review_item(recorded.message_id, recorded.case_id, "again", DOUBT) is None

    [item] = inbox.items()
    assert (item.id, item.source, item.status) == (item_id, "unsure", "open")
    assert (item.guess, item.confidence, item.second_intent, item.second_confidence) == (
        "question/order_status",
        0.48,
        "complaint",
        0.41,
    )
    assert item.entities == ({"entity": "order_number", "value": "#4839201", "start": 9, "end": 17},)
    assert inbox.counts() == {"open": 1, "confirmed": 0, "corrected": 0, "discarded": 0}


def test_a_relabelled_message_lands_in_the_inbox_with_the_agents_label(
    repository: Repository, inbox: ReviewInbox
) -> None:
    recorded = _inbound(repository, "great, another week of waiting", "m1")
    understood = Triage("praise", 0.81, "praise", 0.81)
    repository.record_understanding(recorded.message_id, recorded.case_id, understood.to_dict())

    item_id = inbox.relabel(recorded.message_id, "complaint/delivery", agent_id=None)
    item = inbox.item(item_id)
    assert (item.source, item.status, item.guess, item.confidence) == ("relabelled", "open", "praise", 0.81)
    assert (item.suggested_intent, item.proposed_intent) == ("complaint/delivery", "complaint/delivery")


def test_relabelling_an_unsure_item_reopens_it_with_the_label(
    repository: Repository, inbox: ReviewInbox
) -> None:
    recorded = _inbound(repository, "hmm", "m1")
    item_id = inbox.add_review_item(recorded.message_id, recorded.case_id, "hmm", DOUBT)
    assert item_id is not None
    inbox.review(item_id, "discard", None)
    assert inbox.relabel(recorded.message_id, "out_of_scope", None) == item_id
    item = inbox.item(item_id)
    assert (item.source, item.status, item.suggested_intent) == ("relabelled", "open", "out_of_scope")


def test_relabelling_refuses_bot_messages_bad_names_and_unknown_ids(
    repository: Repository, inbox: ReviewInbox
) -> None:
    recorded = _inbound(repository, "hi", "m1")
    _bot_reply(repository, recorded, "Hello! How can we help today?")
    reply_id = recorded.message_id + 1
    with pytest.raises(ReviewError, match="only customer messages"):
        inbox.relabel(reply_id, "greet", None)
    with pytest.raises(ReviewError, match="not an intent name"):
        inbox.relabel(recorded.message_id, "Greet!", None)
    with pytest.raises(NotFound):
        inbox.relabel(9999, "greet", None)


def test_confirm_correct_and_discard(repository: Repository, inbox: ReviewInbox) -> None:
    ids = []
    for n, text in enumerate(["when do you open?", "my parcel is lost", "asdf"]):
        recorded = _inbound(repository, text, f"m{n}")
        item_id = inbox.add_review_item(
            recorded.message_id, recorded.case_id, text, DOUBT, topic="opening_hours"
        )
        assert item_id is not None
        ids.append(item_id)

    confirmed = inbox.review(ids[0], "confirm", None)
    assert (confirmed.status, confirmed.corrected_intent) == ("confirmed", "question/opening_hours")
    corrected = inbox.review(
        ids[1],
        "correct",
        None,
        intent="complaint/delivery",
        entities=[{"entity": "product", "start": 3, "end": 9}],
    )
    assert (corrected.status, corrected.corrected_intent) == ("corrected", "complaint/delivery")
    assert corrected.corrected_entities == ({"entity": "product", "value": "parcel", "start": 3, "end": 9},)
    assert inbox.review(ids[2], "discard", None).status == "discarded"
    assert inbox.items() == []
    assert [i.id for i in inbox.exportable()] == ids[:2]

    inbox.mark_exported(ids[:1])
    assert [i.id for i in inbox.exportable()] == ids[1:2]
    with pytest.raises(ReviewError, match="already in the training data"):
        inbox.review(ids[0], "discard", None)


@pytest.mark.parametrize(
    ("decision", "intent", "entities", "message"),
    [
        ("maybe", None, None, "unknown decision"),
        ("correct", None, None, "say which intent"),
        ("correct", "complaint delivery", None, "not an intent name"),
        ("correct", "complaint", [{"entity": "product", "start": 5, "end": 99}], "outside the message"),
        ("correct", "complaint", [{"entity": "product"}], "needs entity, start and end"),
    ],
)
def test_bad_reviews_are_refused(
    repository: Repository,
    inbox: ReviewInbox,
    decision: str,
    intent: str | None,
    entities: list[dict[str, object]] | None,
    message: str,
) -> None:
    recorded = _inbound(repository, "my parcel is lost", "m1")
    item_id = inbox.add_review_item(recorded.message_id, recorded.case_id, "my parcel is lost", DOUBT)
    assert item_id is not None
    with pytest.raises(ReviewError, match=message):
        inbox.review(item_id, decision, None, intent=intent, entities=entities)
    assert inbox.item(item_id).status == "open"


def test_context_is_the_conversation_around_the_message(repository: Repository, inbox: ReviewInbox) -> None:
    first = _inbound(repository, "hello", "m1")
    _bot_reply(repository, first, "Hi! How can we help?")
    second = _inbound(repository, "hmm not sure the thing works", "m2")
    _bot_reply(repository, second, "A person will pick this up.")
    item_id = inbox.add_review_item(second.message_id, second.case_id, "hmm not sure the thing works", DOUBT)
    assert item_id is not None

    context = inbox.context(item_id, around=2)
    assert [(m.author, m.text, m.is_item) for m in context] == [
        ("customer", "hello", False),
        ("bot", "Hi! How can we help?", False),
        ("customer", "hmm not sure the thing works", True),
        ("bot", "A person will pick this up.", False),
    ]
    with pytest.raises(NotFound):
        inbox.context(9999)
