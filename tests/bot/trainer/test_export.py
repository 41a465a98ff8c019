"""`firstline nlu export`: placeholders, duplicates and conflicts, and a file Rasa reads back and
validates."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot.cli import _parser
from bot.messages import Customer, InboundMessage
from bot.privacy import find_personal_data
from bot.settings import PROJECT_ROOT, Settings
from bot.store import Repository, create_store_engine, migrate
from bot.store.review import ReviewInbox
from bot.trainer.export import annotate, export_reviewed, plan_export, scrub
from bot.trainer.training_data import LocatedExample, read_nlu_file
from bot.trainer.validation import Project, validate
from bot.uncertainty import Uncertainty

DOUBT = Uncertainty("question", 0.45, "complaint", 0.4, "low_confidence")


def _order(text: str, number: str) -> dict[str, Any]:
    start = text.index(number)
    return {"entity": "order_number", "value": number, "start": start, "end": start + len(number)}


@pytest.mark.parametrize(
    "text",
    [
        "order #4839201 never came, mail me at bob.smith@gmail.com",
        "call me on +44 7700 900123 about KS-4839201 pls",
        "my card 4000 1234 5678 9010 was charged twice for 123456789",
    ],
)
def test_personal_data_is_replaced_by_realistic_placeholders(text: str) -> None:
    scrubbed, _ = scrub(text, [], seed="7")
    originals = {found.value for found in find_personal_data(text)}
    assert originals and not any(value in scrubbed for value in originals)
    # Placeholders still look like what they replace, so privacy checks and entity features see them.
    assert [f.kind for f in find_personal_data(scrubbed)] == [f.kind for f in find_personal_data(text)]
    assert scrub(text, [], seed="7") == (scrubbed, ())  # the same item always gets the same ones


def test_entities_move_with_the_text_and_synonyms_keep_their_value() -> None:
    text = "  the  buds\nbroke,   order #4839201 "
    entities = [
        {"entity": "product", "value": "Kestrel Buds", "start": 7, "end": 11},
        _order(text, "#4839201"),
    ]
    scrubbed, moved = scrub(text, entities, seed="1")
    assert scrubbed.startswith("the buds broke, order #") and len(scrubbed) == len(
        "the buds broke, order #4839201"
    )
    product, order = moved
    assert scrubbed[product["start"] : product["end"]] == "buds" and product["value"] == "Kestrel Buds"
    assert scrubbed[order["start"] : order["end"]] == order["value"] != "#4839201"
    synonym = '{"entity": "product", "value": "Kestrel Buds"}'
    assert annotate(scrubbed, moved) == f"the [buds]{synonym} broke, order [{order['value']}](order_number)"


def _example(text: str, intent: str, line: int = 3) -> LocatedExample:
    return LocatedExample(text, intent, text, Path("data/nlu/x.yml"), line)


class _Item:
    """Just what plan_export reads of a ReviewEntry."""

    def __init__(
        self, item_id: int, text: str, intent: str, entities: tuple[dict[str, Any], ...] = ()
    ) -> None:
        self.id, self.text, self.corrected_intent, self.corrected_entities = item_id, text, intent, entities


def test_plan_skips_duplicates_conflicts_heldout_and_unknown_intents() -> None:
    existing = [
        _example("where is my parcel", "complaint/delivery"),
        _example("love you guys", "praise", 4),
        _example("when do you open", "question/opening_hours", 5),
        _example("my screen cracked", "complaint/product", 6),
    ]
    heldout = [_example("sayonara", "goodbye")]
    items = [
        _Item(1, "Where is my parcel??", "complaint/delivery"),
        _Item(2, "love you guys!", "complaint/product"),
        _Item(3, "Sayonara", "goodbye"),
        _Item(4, "my lamp flickers", "complaint"),
        _Item(5, "hola", "greet_spanish"),
        _Item(6, "my [lamp](product) died", "complaint/product"),
        _Item(7, "what time do you open on sunday", "question/opening_hours"),
        _Item(8, "What time do you open on Sunday!", "question/opening_hours"),
        _Item(9, "   ", "praise"),
    ]
    plan = plan_export(items, existing, heldout)  # type: ignore[arg-type]
    assert [(e.item_id, e.text) for e in plan.written] == [(7, "what time do you open on sunday")]
    reasons = {s.item_id: s.reason for s in plan.skipped}
    assert reasons[1].startswith("already in the training data (data/nlu/x.yml:3)")
    assert reasons[2].startswith("conflict: the training data has it as praise")
    assert "held-out set" in reasons[3]
    assert reasons[4] == "complaint needs a topic (complaint/delivery, complaint/product)"
    assert reasons[5].startswith("intent greet_spanish is not in the training data")
    assert "Rasa's format" in reasons[6]
    assert reasons[8] == "already in the training data (earlier in this export)"
    assert reasons[9].startswith("nothing left")
    assert [s.item_id for s in plan.skipped if s.already_present] == [1, 8]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A copy of the real project's data, so the export can be validated with it."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    real = Project.at(PROJECT_ROOT)
    return Project(root, root / "config.yml", root / "domain.yml", root / "data", real.code, real.heldout)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[tuple[Repository, ReviewInbox]]:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    yield Repository(engine), ReviewInbox(engine)
    engine.dispose()


def _reviewed(
    store: tuple[Repository, ReviewInbox],
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
) -> int:
    repository, inbox = store
    recorded = repository.record_inbound(
        InboundMessage("web", f"m-{text}", f"private:{text}", False, Customer(text[:20]), text)
    )
    assert recorded is not None
    item_id = inbox.add_review_item(recorded.message_id, recorded.case_id, text, DOUBT)
    assert item_id is not None
    inbox.review(item_id, "correct", None, intent=intent, entities=entities or [])
    return item_id


def test_export_round_trips_through_rasa_and_validates(
    project: Project, inbox: tuple[Repository, ReviewInbox], tmp_path: Path
) -> None:
    late = "yo   my order #5512093 STILL isnt here, reach me at tom.h@gmail.com"
    _reviewed(inbox, late, "complaint/delivery", [_order(late, "#5512093")])
    _reviewed(inbox, "the kestrel buds are unreal for the price 🔥", "praise")
    _reviewed(inbox, "can i pay with paypal?", "question/pricing")
    _reviewed(inbox, "ok bye", "goodbye")  # already in the data: skipped, counted as exported
    out = project.data / "nlu" / "reviewed.yml"

    plan = export_reviewed(inbox[1], project.data, out, project.heldout)
    assert len(plan.written) == 3 and [s.already_present for s in plan.skipped] == [True]

    loaded = load_data(str(out))
    read_back = sorted(
        (
            m.get("text"),
            m.get_full_intent(),
            tuple((e["entity"], e["value"], e["start"], e["end"]) for e in m.get("entities") or []),
        )
        for m in loaded.intent_examples
    )
    expected = sorted(
        (e.text, e.intent, tuple((x["entity"], x["value"], x["start"], x["end"]) for x in e.entities))
        for e in plan.written
    )
    assert read_back == expected
    [complaint] = [e for e in plan.written if e.intent == "complaint/delivery"]
    assert "5512093" not in complaint.text and "tom.h@gmail.com" not in complaint.text
    assert complaint.text.startswith("yo my order #") and "@example." in complaint.text

    assert validate(project) == []  # Rasa's validator (warnings as errors) and Firstline's checks

    # Everything is marked: a second export adds nothing and leaves the file as it was.
    before = out.read_text()
    assert export_reviewed(inbox[1], project.data, out, project.heldout).written == []
    assert out.read_text() == before


def test_a_later_export_keeps_the_file_and_adds_to_it(
    project: Project,
    inbox: tuple[Repository, ReviewInbox],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "reviewed.yml"
    _reviewed(inbox, "can i pay with paypal?", "question/pricing")
    settings = Settings(
        project_dir=project.root,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        _env_file=None,
    )
    args = _parser().parse_args(["nlu", "export", "--out", str(out), "--heldout", str(project.heldout)])
    assert args.handler(settings, args) == 0
    _reviewed(inbox, "do you take apple pay", "question/pricing")
    _reviewed(inbox, "I love you Kestrel 😂❤️", "complaint/product")
    assert args.handler(settings, args) == 0

    assert [(e.intent, e.text) for e in read_nlu_file(out)] == [
        ("question/pricing", "can i pay with paypal?"),
        ("question/pricing", "do you take apple pay"),
    ]
    printed = capsys.readouterr().out
    assert "skipped, conflict: the training data has it as praise" in printed
