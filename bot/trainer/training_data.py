"""Rasa NLU training examples with the file and line each one was written on.

Rasa's own reader gives the examples but forgets where they came from; a trainer fixing data
needs "data/nlu/complaint.yml:42". Examples are read with ruamel.yaml (which keeps positions)
and turned into plain text and entities with Rasa's own entity parser, so the texts are exactly
the ones Rasa trains on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

__all__ = [
    "DataFileError",
    "LocatedExample",
    "nlu_files",
    "normalise",
    "read_examples",
    "read_nlu_file",
    "read_yaml",
]

logger = logging.getLogger(__name__)

_ITEM_PREFIX = "-"
_STRIP = "\n\r "


class DataFileError(ValueError):
    """A data file that cannot be read as YAML; `line` is 1-based, 0 when unknown."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.reason = message


@dataclass(frozen=True, slots=True)
class LocatedExample:
    """One training example as Rasa reads it, and where it is written.

    Attributes:
        text: The plain text (entity markup removed), as Rasa trains on it.
        intent: The full intent ("complaint/delivery").
        annotated: The example as written, with its entity markup.
        entities: Rasa's entity dicts (entity, value, start, end, ...) over `text`.
        path: The file.
        line: The 1-based line.
    """

    text: str
    intent: str
    annotated: str
    path: Path
    line: int
    entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


def normalise(text: str) -> str:
    """The text as duplicate checks compare it: case, punctuation and spacing do not count."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def read_yaml(path: Path) -> Any:
    """Loads a YAML file keeping positions (`.lc`) on its mappings and sequences.

    Raises:
        DataFileError: The file is not valid YAML.
    """
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise DataFileError(path, line, f"not valid YAML: {exc.problem or exc.context}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, 0, f"cannot be read: {exc}") from exc


def nlu_files(data: Path) -> list[Path]:
    """The YAML files under `data` (or `data` itself) that hold an `nlu:` section."""
    candidates = [data] if data.is_file() else sorted(data.rglob("*.yml")) + sorted(data.rglob("*.yaml"))
    found = []
    for path in candidates:
        # Cheap test first: most rule and story files never mention "nlu:" at the start of a line.
        if re.search(r"^nlu\s*:", path.read_text(encoding="utf-8", errors="replace"), re.MULTILINE):
            found.append(path)
    return found


def read_nlu_file(path: Path, display: Path | None = None) -> list[LocatedExample]:
    """The intent examples of one Rasa NLU YAML file.

    Args:
        path: The file.
        display: The path to report (e.g. relative to the project); defaults to `path`.

    Raises:
        DataFileError: The file is not valid YAML.
    """
    from rasa.shared.nlu.training_data import entities_parser

    shown = display or path
    document = read_yaml(path)
    if not isinstance(document, dict):
        return []
    items = document.get("nlu") or []
    examples: list[LocatedExample] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        intent = str(item["intent"])
        for annotated, line in _item_examples(item):
            entities = tuple(entities_parser.find_entities_in_training_example(annotated))
            examples.append(
                LocatedExample(
                    text=entities_parser.replace_entities(annotated),
                    intent=intent,
                    annotated=annotated,
                    path=shown,
                    line=line,
                    entities=entities,
                )
            )
    return examples


def read_examples(paths: Iterable[Path], root: Path | None = None) -> list[LocatedExample]:
    """Every intent example of `paths`, reported relative to `root` when given."""
    examples: list[LocatedExample] = []
    for path in paths:
        display = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
        examples.extend(read_nlu_file(path, display))
    return examples


def _item_examples(item: Any) -> Iterator[tuple[str, int]]:
    """(annotated text, 1-based line) of an intent item's examples, in either YAML form.

    A block scalar (`examples: |`) starts on the line after its key, one example per line, the
    way Rasa splits it; a list of `- text:` mappings carries its own positions.
    """
    examples = item.get("examples")
    key_line = item.lc.key("examples")[0] if "examples" in item else item.lc.line
    if isinstance(examples, str):
        for offset, raw in enumerate(examples.splitlines()):
            if raw.startswith(_ITEM_PREFIX):
                yield raw[1:].strip(_STRIP), key_line + 2 + offset
    elif isinstance(examples, list):
        for index, entry in enumerate(examples):
            if isinstance(entry, dict) and entry.get("text"):
                yield str(entry["text"]).strip(_STRIP), examples.lc.item(index)[0] + 1
