"""`firstline nlu export`: reviewed inbox messages become Rasa training examples.

Real customer messages are the best training data, but they carry real people's e-mail
addresses, phone numbers and order numbers. Those are replaced by realistic placeholders before
anything is written (a placeholder still looks like an order number, so the entity extractor
keeps learning what one looks like), and entity annotations move with the text.

An example is only written when it adds something: one already in the training data is skipped
(and counted as exported), one whose text the data gives another intent is reported as a
conflict, and one from the held-out set is refused, because training on it would make the
held-out score meaningless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.privacy import find_personal_data
from bot.store.review import ReviewEntry, ReviewInbox
from bot.trainer.training_data import LocatedExample, nlu_files, normalise, read_examples, read_nlu_file
from bot.triage import RETRIEVAL_DELIMITER, base_intent

__all__ = [
    "ExportPlan",
    "Exportable",
    "Skipped",
    "annotate",
    "export_reviewed",
    "plan_export",
    "render_nlu_yaml",
    "scrub",
]

logger = logging.getLogger(__name__)

_PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "email": (
        "jane.doe@example.com",
        "sam.lee@example.org",
        "alex.kowalski@example.net",
        "maria.garcia@example.com",
    ),
    # Numbers reserved for fiction and documentation (555-01xx, Ofcom's drama ranges).
    "phone": ("+1 555 0100", "+44 20 7946 0958", "+1 555 0142", "0161 496 0731"),
    "card": ("4111 1111 1111 1111", "5500 0000 0000 0004"),
}
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEADER = """\
version: "3.1"

# Real customer messages from the review inbox, labelled by a trainer. Written by
# `firstline nlu export`: e-mail addresses, phone and order numbers are placeholders. Edit freely;
# the next export keeps what is here and adds new examples below each intent.

nlu:
"""


@dataclass(frozen=True, slots=True)
class Exportable:
    """A reviewed message ready to be written: placeholders in, entities over the new text."""

    item_id: int
    intent: str
    text: str
    entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def annotated(self) -> str:
        return annotate(self.text, self.entities)


@dataclass(frozen=True, slots=True)
class Skipped:
    item_id: int
    text: str
    reason: str
    already_present: bool = False
    """True when the data already has this example: the item counts as exported."""


@dataclass(slots=True)
class ExportPlan:
    written: list[Exportable] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def scrub(
    text: str, entities: Sequence[Mapping[str, Any]], seed: str
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """Replaces personal data by placeholders and folds the text onto one clean line.

    Args:
        text: The customer's message.
        entities: Entities over `text` (entity, value, start, end).
        seed: Picks the placeholders, so the same message always gets the same ones.

    Returns:
        The new text, and the entities moved onto it. An entity's value follows its text when
        it was that text ("#4839201" becomes "#4821305"); a synonym value ("Kestrel Buds" for
        "buds") is kept.
    """
    edits: list[tuple[int, int, str]] = []
    orders = [(int(e["start"]), int(e["end"])) for e in entities if e.get("entity") == "order_number"]
    for index, (start, end, kind) in enumerate(_personal_spans(text)):
        # A long order number can look like a phone number; the annotation knows better.
        if any(s <= start and end <= e for s, e in orders):
            kind = "order_number"
        edits.append((start, end, _placeholder(kind, text[start:end], f"{seed}:{index}")))
    for match in _WHITESPACE.finditer(text):
        at_edge = match.start() == 0 or match.end() == len(text)
        if not any(s < match.end() and match.start() < e for s, e, _ in edits):
            edits.append((match.start(), match.end(), "" if at_edge else " "))
    for match in _CONTROL.finditer(text):
        edits.append((match.start(), match.end(), ""))
    return _apply(text, sorted(edits), entities)


def annotate(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """The example in Rasa's markup: "[#4821305](order_number)", or with a JSON dict when the
    value differs from the text (a synonym)."""
    parts, position = [], 0
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        if start < position:
            continue  # overlapping annotations cannot be written; keep the first
        surface = text[start:end]
        value = str(entity.get("value") or surface)
        if value == surface:
            markup = f"[{surface}]({entity['entity']})"
        else:
            markup = (
                f"[{surface}]{json.dumps({'entity': entity['entity'], 'value': value}, ensure_ascii=False)}"
            )
        parts += [text[position:start], markup]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def plan_export(
    items: Sequence[ReviewEntry],
    existing: Sequence[LocatedExample],
    heldout: Sequence[LocatedExample] = (),
) -> ExportPlan:
    """Decides, for each reviewed item, whether and how it becomes a training example.

    Args:
        items: Confirmed and corrected review items.
        existing: Every example of the training data (the export file's included).
        heldout: The held-out examples, which must never be trained on.
    """
    from rasa.shared.nlu.training_data import entities_parser

    known_intents = {example.intent for example in existing}
    retrieval = {base_intent(intent) for intent in known_intents if RETRIEVAL_DELIMITER in intent}
    by_text: dict[str, LocatedExample] = {}
    for example in existing:
        by_text.setdefault(normalise(example.text), example)
    held = {normalise(example.text): example for example in heldout}
    plan = ExportPlan()
    for item in items:
        intent = item.corrected_intent or ""
        text, entities = scrub(item.text, item.corrected_entities, seed=str(item.id))

        def skip(reason: str, present: bool = False, text: str = text, item_id: int = item.id) -> None:
            plan.skipped.append(Skipped(item_id, text, reason, present))

        key = normalise(text)
        if not key:
            skip("nothing left to learn from once cleaned")
        elif key in held:
            skip(f"the held-out set has this message ({held[key].location}); it must not be trained on")
        elif key in by_text and by_text[key].intent == intent:
            skip(f"already in the training data ({_where(by_text[key])})", present=True)
        elif key in by_text:
            found = by_text[key]
            skip(f"conflict: the training data has it as {found.intent} ({_where(found)})")
        elif intent in retrieval:
            topics = sorted(known for known in known_intents if known.startswith(intent + "/"))
            skip(f"{intent} needs a topic ({', '.join(topics)})")
        elif intent not in known_intents:
            skip(f"intent {intent} is not in the training data; add it there first")
        else:
            candidate = Exportable(item.id, intent, text, entities)
            parsed = entities_parser.find_entities_in_training_example(candidate.annotated)
            plain = entities_parser.replace_entities(candidate.annotated)
            if plain != text or [_core(e) for e in parsed] != [_core(e) for e in entities]:
                skip("cannot be written in Rasa's format (brackets that read as entity markup)")
                continue
            plan.written.append(candidate)
            by_text[key] = LocatedExample(text, intent, candidate.annotated, Path(), 0)
    return plan


def render_nlu_yaml(examples: Mapping[str, Sequence[str]]) -> str:
    """A Rasa NLU file with the annotated examples of each intent, intents in name order."""
    blocks = []
    for intent in sorted(examples):
        lines = "".join(f"      - {example}\n" for example in examples[intent])
        blocks.append(f"  - intent: {intent}\n    examples: |\n{lines}")
    return _HEADER + "\n".join(blocks)


def export_reviewed(
    inbox: ReviewInbox,
    data_dir: Path,
    out: Path,
    heldout: Path | None = None,
    *,
    dry_run: bool = False,
) -> ExportPlan:
    """Writes the inbox's reviewed examples into `out` and marks them exported.

    Args:
        inbox: The review inbox.
        data_dir: The project's training data (duplicates and conflicts are checked against it).
        out: The export file; its examples are kept, new ones added.
        heldout: The held-out NLU file, if any.
        dry_run: Decide and report, but write and mark nothing.

    Raises:
        bot.trainer.training_data.DataFileError: A data file or `out` is not valid YAML.
    """
    files = nlu_files(data_dir) if data_dir.exists() else []
    if out.is_file() and out.resolve() not in {path.resolve() for path in files}:
        files.append(out)
    existing = read_examples(files)
    plan = plan_export(inbox.exportable(), existing, read_examples([heldout]) if heldout else ())
    if dry_run:
        return plan
    if plan.written:
        merged: dict[str, list[str]] = {}
        for example in read_nlu_file(out) if out.is_file() else []:
            merged.setdefault(example.intent, []).append(example.annotated)
        for example in plan.written:
            merged.setdefault(example.intent, []).append(example.annotated)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_nlu_yaml(merged), encoding="utf-8")
        logger.info("wrote %d reviewed examples to %s", len(plan.written), out)
    inbox.mark_exported(
        [e.item_id for e in plan.written] + [s.item_id for s in plan.skipped if s.already_present]
    )
    return plan


def _personal_spans(text: str) -> list[tuple[int, int, str]]:
    """Where `bot.privacy` finds personal data in `text`, as (start, end, kind)."""
    spans: list[tuple[int, int, str]] = []
    for found in find_personal_data(text):
        start = 0
        while (start := text.find(found.value, start)) >= 0:
            end = start + len(found.value)
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, found.kind))
                break
            start = end
    return sorted(spans)


def _placeholder(kind: str, original: str, seed: str) -> str:
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    if kind == "order_number":
        # Same length as the original, so "KS-" and "#" forms keep matching the data's regex.
        digits = str(digest)[-len(original) :].rjust(len(original), "4")
        return ("4" + digits[1:]) if digits[0] == "0" else digits
    options = _PLACEHOLDERS.get(kind, ("[redacted]",))
    return options[digest % len(options)]


def _apply(
    text: str, edits: Sequence[tuple[int, int, str]], entities: Sequence[Mapping[str, Any]]
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """Applies non-overlapping (start, end, replacement) edits and moves entities along."""
    pieces, position = [], 0
    shifts: list[tuple[int, int, int, int]] = []  # old start, old end, new start, new end
    new_length = 0
    for start, end, replacement in edits:
        if start < position:
            continue
        pieces.append(text[position:start])
        new_length += start - position
        shifts.append((start, end, new_length, new_length + len(replacement)))
        pieces.append(replacement)
        new_length += len(replacement)
        position = end
    pieces.append(text[position:])
    new_text = "".join(pieces)

    def moved(offset: int, is_end: bool) -> int:
        delta = 0
        for old_start, old_end, new_start, new_end in shifts:
            if old_start <= offset < old_end or (is_end and old_start < offset <= old_end):
                return new_end if is_end else new_start
            if old_end <= offset:
                delta = new_end - old_end
        return offset + delta

    result = []
    for entity in entities:
        start, end = moved(int(entity["start"]), False), moved(int(entity["end"]), True)
        surface = new_text[start:end].strip()
        start = new_text.find(surface, start) if surface else start
        end = start + len(surface)
        if not surface:
            continue
        value = entity.get("value")
        old_surface = text[int(entity["start"]) : int(entity["end"])]
        result.append(
            {
                "entity": entity["entity"],
                "value": surface if not value or value == old_surface else value,
                "start": start,
                "end": end,
            }
        )
    return new_text, tuple(result)


def _where(example: LocatedExample) -> str:
    return example.location if example.line else "earlier in this export"


def _core(entity: Mapping[str, Any]) -> tuple[Any, ...]:
    return (entity.get("entity"), str(entity.get("value")), int(entity["start"]), int(entity["end"]))
