"""Casework on SQLite and PostgreSQL: claims that race, assignment, closing and reopening, notes,
tags and canned replies."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import pytest

from bot.errors import NotFound
from bot.messages import Customer, InboundMessage
from bot.store import Repository, create_store_engine
from bot.store.accounts import Account, AccountRepository
from bot.store.casework import CaseworkRepository, Conflict, InvalidInput
from bot.wording import fill
from tests.fakes.handoffs import open_complaint_handoff

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"  # never verified here


@pytest.fixture
def casework(repository: Repository) -> CaseworkRepository:
    return CaseworkRepository(repository.engine)


@pytest.fixture
def people(repository: Repository) -> dict[str, Account]:
    accounts = AccountRepository(repository.engine)
    return {
        "ana": accounts.create("ana", HASH, "agent", "Ana"),
        "ben": accounts.create("ben", HASH, "agent", "Ben"),
        "tara": accounts.create("tara", HASH, "trainer", "Tara"),
        "ada": accounts.create("ada", HASH, "admin", "Ada"),
    }


def _handoff(repository: Repository, user: str = "carol", text: str = "my parcel never arrived") -> int:
    recorded = repository.record_inbound(
        InboundMessage(
            platform="web",
            platform_message_id=f"{user}:{text}",
            conversation_key=f"public:{user}",
            public=True,
            customer=Customer(user, handle=user, display_name=user.capitalize(), audience=800),
            text=text,
        )
    )
    assert recorded is not None
    return open_complaint_handoff(repository.engine, recorded, summary=text)


def _case_id(casework: CaseworkRepository, handoff_id: int) -> int:
    return int(casework.handoff(handoff_id).case_id)


def _race(*attempts: Callable[[], None]) -> list[BaseException | None]:
    """Runs the attempts in threads released at the same moment; what each raised, or None."""
    start = threading.Barrier(len(attempts))
    outcomes: list[BaseException | None] = [None] * len(attempts)

    def run(index: int) -> None:
        start.wait()
        try:
            attempts[index]()
        except BaseException as exc:  # collected, then asserted on by the test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_of_two_claims_at_once_exactly_one_wins(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    # Two engines: two instances of the service, each with its own connection pool.
    other = create_store_engine(repository.engine.url.render_as_string(hide_password=False))
    try:
        for round_ in range(5):
            handoff_id = _handoff(repository, user=f"racer{round_}")
            outcomes = _race(
                partial(casework.claim, handoff_id, people["ana"].id),
                partial(CaseworkRepository(other).claim, handoff_id, people["ben"].id),
            )
            assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
            winner = people["ana"] if outcomes[0] is None else people["ben"]
            row = casework.handoff(handoff_id)
            assert row.assignee_id == winner.id and row.claimed_at is not None
            loser_message = str(next(o for o in outcomes if o is not None))
            assert loser_message == f"handoff {handoff_id} is owned by {winner.display_name}"
            assert [(e.action, e.actor) for e in casework.case_view(handoff_id).events] == [
                ("claimed", winner.display_name)
            ]
    finally:
        other.dispose()


def test_claiming_twice_a_closed_or_a_missing_handoff_is_refused(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    handoff_id = _handoff(repository)
    casework.claim(handoff_id, people["ana"].id)
    with pytest.raises(Conflict, match="you already own"):
        casework.claim(handoff_id, people["ana"].id)
    casework.close(handoff_id, "resolved", people["ana"].id, "refund sent")
    with pytest.raises(Conflict, match="is resolved"):
        casework.claim(handoff_id, people["ben"].id)
    with pytest.raises(NotFound):
        casework.claim(9999, people["ana"].id)


def test_assign_gives_an_unowned_or_own_handoff_and_keeps_the_first_pickup_time(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    handoff_id = _handoff(repository)
    casework.assign(handoff_id, people["ben"].id, people["ana"].id)
    first = casework.handoff(handoff_id)
    assert first.assignee_id == people["ben"].id and first.claimed_at is not None

    # Ana does not own it any more, so she cannot move it on; Ben can, and an admin can override.
    with pytest.raises(Conflict, match="owned by Ben"):
        casework.assign(handoff_id, people["ana"].id, people["ana"].id)
    casework.assign(handoff_id, people["ana"].id, people["ben"].id)
    casework.assign(handoff_id, people["ben"].id, people["ada"].id, override=True)
    last = casework.handoff(handoff_id)
    assert last.assignee_id == people["ben"].id
    assert last.claimed_at == first.claimed_at  # the SLA's pickup stays the first one
    events = [(e.action, e.actor, e.detail) for e in casework.case_view(handoff_id).events]
    assert events == [
        ("assigned", "Ana", {"to": "Ben"}),
        ("assigned", "Ben", {"to": "Ana"}),
        ("assigned", "Ada", {"to": "Ben"}),
    ]


@pytest.mark.parametrize("who", ["tara", "disabled", "nobody"])
def test_handoffs_go_only_to_active_agents_and_admins(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account], who: str
) -> None:
    handoff_id = _handoff(repository)
    if who == "disabled":
        AccountRepository(repository.engine).update(people["ben"].id, active=False)
    assignee_id = {"tara": people["tara"].id, "disabled": people["ben"].id, "nobody": 9999}[who]
    with pytest.raises(InvalidInput, match="active agents and admins"):
        casework.assign(handoff_id, assignee_id, people["ana"].id)
    assert casework.handoff(handoff_id).assignee_id is None


def test_close_then_reopen_makes_the_reopener_the_owner(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    handoff_id = _handoff(repository)
    casework.claim(handoff_id, people["ana"].id)
    claimed_at = casework.handoff(handoff_id).claimed_at
    with pytest.raises(ValueError, match="resolved or handed_back"):
        casework.close(handoff_id, "open", people["ana"].id)
    casework.close(handoff_id, "handed_back", people["ana"].id)
    with pytest.raises(Conflict, match="is handed back"):
        casework.close(handoff_id, "resolved", people["ben"].id)

    casework.reopen(handoff_id, people["ben"].id)
    row = casework.handoff(handoff_id)
    assert (row.status, row.assignee_id, row.closed_at, row.outcome) == ("open", people["ben"].id, None, None)
    assert row.claimed_at == claimed_at
    assert repository.open_handoff_id(row.case_id) == handoff_id
    with pytest.raises(Conflict, match="owned by Ben"):
        casework.reopen(handoff_id, people["ana"].id)  # it is open already


def test_reopen_is_refused_while_the_case_has_another_open_handoff(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    first = _handoff(repository, text="my parcel never arrived")
    casework.close(first, "resolved", people["ana"].id, "found it")
    # The same customer writes again on the same public thread: the case gets a new handoff.
    second = _handoff(repository, text="and now the second parcel is missing too")
    assert second != first
    assert _case_id(casework, second) == _case_id(casework, first)

    with pytest.raises(Conflict, match="another open handoff"):
        casework.reopen(first, people["ana"].id)
    row = casework.handoff(first)
    assert (row.status, row.outcome, row.assignee_id) == ("resolved", "found it", None)
    assert repository.open_handoff_id(row.case_id) == second
    assert [e.action for e in casework.case_view(first).events] == ["resolved"]


def test_notes_are_kept_in_order_with_their_author(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    case_id = _case_id(casework, _handoff(repository))
    first = casework.add_note(case_id, people["ana"].id, "  called the courier  ")
    casework.add_note(case_id, people["ben"].id, "courier says Tuesday")
    assert (first.author, first.text) == ("Ana", "called the courier")
    assert [(n.author, n.text) for n in casework.notes(case_id)] == [
        ("Ana", "called the courier"),
        ("Ben", "courier says Tuesday"),
    ]
    for bad in ("   ", "x" * 5001):
        with pytest.raises(InvalidInput, match="a note is 1 to 5000 characters"):
            casework.add_note(case_id, people["ana"].id, bad)
    with pytest.raises(NotFound):
        casework.add_note(9999, people["ana"].id, "lost")
    assert len(casework.notes(case_id)) == 2


def test_tags_are_normalised_once_each_and_removable(
    repository: Repository, casework: CaseworkRepository
) -> None:
    case_id = _case_id(casework, _handoff(repository))
    assert casework.add_tag(case_id, "  Refund   Sent ") == ["refund sent"]
    assert casework.add_tag(case_id, "refund sent") == ["refund sent"]
    assert casework.add_tag(case_id, "courier/dpd") == ["courier/dpd", "refund sent"]
    for bad in ("", "-leading", "x" * 65, "emoji 😡"):
        with pytest.raises(InvalidInput):
            casework.add_tag(case_id, bad)
    with pytest.raises(NotFound):
        casework.add_tag(9999, "lost")
    assert casework.remove_tag(case_id, "refund sent") == ["courier/dpd"]
    assert casework.remove_tag(case_id, "never there") == ["courier/dpd"]
    assert casework.case_view(casework.queue()[0].handoff_id).tags == ["courier/dpd"]


def test_canned_replies_keep_their_placeholders_until_used(casework: CaseworkRepository) -> None:
    saved = casework.save_canned_reply(
        "  Sorry,   parcel ", "Hi {name}, I'm {agent} from {brand}; I'll look into it now. {unknown}"
    )
    assert saved.title == "Sorry, parcel"
    [stored] = casework.canned_replies()
    assert stored.text == "Hi {name}, I'm {agent} from {brand}; I'll look into it now. {unknown}"
    values = {"name": "Carol", "agent": "Ana", "brand": "Kestrel"}
    assert fill(stored.text, values, keep_unknown=True) == (
        "Hi Carol, I'm Ana from Kestrel; I'll look into it now. {unknown}"  # left for the agent to fix
    )

    casework.save_canned_reply("Thanks", "Thank you, {handle}!")
    with pytest.raises(InvalidInput, match="exists already"):
        casework.save_canned_reply("Thanks", "a second one with the same title")
    updated = casework.save_canned_reply("Sorry, parcel", "Sorry {name}, on it.", saved.id)
    assert [(r.title, r.text) for r in casework.canned_replies()] == [
        ("Sorry, parcel", "Sorry {name}, on it."),
        ("Thanks", "Thank you, {handle}!"),
    ]
    for title, text in (("", "text"), ("x" * 129, "text"), ("title", " "), ("title", "x" * 4001)):
        with pytest.raises(InvalidInput):
            casework.save_canned_reply(title, text)
    with pytest.raises(NotFound):
        casework.save_canned_reply("Ghost", "text", 9999)

    casework.delete_canned_reply(updated.id)
    assert [r.title for r in casework.canned_replies()] == ["Thanks"]
    with pytest.raises(NotFound):
        casework.delete_canned_reply(updated.id)


def test_only_the_owner_an_admin_override_or_the_operator_closes_an_owned_handoff(
    repository: Repository, casework: CaseworkRepository, people: dict[str, Account]
) -> None:
    handoff_id = _handoff(repository)
    casework.claim(handoff_id, people["ana"].id)
    with pytest.raises(Conflict, match="owned by Ana"):
        casework.close(handoff_id, "resolved", people["ben"].id, "mine now")
    with pytest.raises(Conflict, match="owned by Ana"):
        casework.close(handoff_id, "resolved", None)  # no account, no override: refused too
    assert casework.handoff(handoff_id).status == "open"

    CaseworkRepository(repository.engine).close(
        handoff_id, "handed_back", None, "done from the shell", override=True
    )  # the operator's path
    row = casework.handoff(handoff_id)
    assert (row.status, row.outcome) == ("handed_back", "done from the shell")
    events = casework.case_view(handoff_id).events
    assert [(e.action, e.actor, e.detail) for e in events] == [
        ("claimed", "Ana", None),
        ("handed_back", None, {"outcome": "done from the shell"}),
    ]
    with pytest.raises(Conflict, match="is handed back"):
        CaseworkRepository(repository.engine).close(handoff_id, "resolved", None, override=True)
