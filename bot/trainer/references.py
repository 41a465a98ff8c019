"""Where a Rasa project declares and uses its names: domain, rules and stories, and the code.

Validation needs positions for every message it prints, and it needs to know which responses
the custom actions compose themselves (Firstline's acknowledgement joins `utter_ack_*` parts), so
that a response used only from code is not reported as unused. Everything here is read-only and
works on any project layout that Rasa accepts (one domain file, data files anywhere below
`data/`).
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.trainer.training_data import read_yaml

__all__ = [
    "CodeReferences",
    "DomainIndex",
    "Location",
    "StepReference",
    "read_code_references",
    "read_domain",
    "read_steps",
]

logger = logging.getLogger(__name__)

_RESPONSE_NAME = re.compile(r"^utter_\w+(?:/\w+)?$")
# At least "utter_x": a bare "utter_" + name says nothing about which responses are used.
_RESPONSE_PREFIX = re.compile(r"^utter_\w+")
_ACTION_NAME = re.compile(r"^action_\w+$")


@dataclass(frozen=True, slots=True)
class Location:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(slots=True)
class DomainIndex:
    """The names a domain declares, each with the line it is declared on."""

    path: Path
    intents: dict[str, Location] = field(default_factory=dict)
    entities: dict[str, Location] = field(default_factory=dict)
    actions: dict[str, Location] = field(default_factory=dict)
    responses: dict[str, Location] = field(default_factory=dict)

    def locate(self, name: str) -> Location | None:
        for names in (self.responses, self.actions, self.intents, self.entities):
            if name in names:
                return names[name]
        return None


@dataclass(frozen=True, slots=True)
class StepReference:
    """An `intent:` or `action:` step of a rule or story."""

    kind: str  # "intent" or "action"
    name: str
    location: Location


@dataclass(slots=True)
class CodeReferences:
    """What the project's Python code says about responses and actions.

    Attributes:
        responses: Response names written out in full ("utter_unsure"), first use of each.
        response_prefixes: Beginnings of response names built at run time
            (f"utter_question/{topic}" gives "utter_question/").
        actions: Custom actions the code implements (`name()` returning "action_..."), with
            where.
    """

    responses: dict[str, Location] = field(default_factory=dict)
    response_prefixes: dict[str, Location] = field(default_factory=dict)
    actions: dict[str, Location] = field(default_factory=dict)

    def uses_response(self, name: str) -> bool:
        """Whether code uses `name`, or, for a retrieval response ("utter_question"), any of its
        topics."""
        if name in self.responses:
            return True
        return any(
            prefix.startswith(name + "/") or name.startswith(prefix) for prefix in self.response_prefixes
        )


def read_domain(path: Path, display: Path | None = None) -> DomainIndex:
    """Indexes a domain file.

    Raises:
        bot.trainer.training_data.DataFileError: The file is not valid YAML.
    """
    shown = display or path
    document = read_yaml(path)
    index = DomainIndex(shown)
    if not isinstance(document, dict):
        return index
    for key, names in (
        ("intents", index.intents),
        ("entities", index.entities),
        ("actions", index.actions),
    ):
        section = document.get(key)
        if isinstance(section, list):
            for position, entry in enumerate(section):
                name = next(iter(entry)) if isinstance(entry, dict) and entry else entry
                if isinstance(name, str):
                    names[name] = Location(shown, section.lc.item(position)[0] + 1)
    responses = document.get("responses")
    if isinstance(responses, dict):
        for name in responses:
            index.responses[str(name)] = Location(shown, responses.lc.key(name)[0] + 1)
    return index


def read_steps(paths: Iterable[tuple[Path, Path]]) -> list[StepReference]:
    """The intent and action steps of every rule and story in `paths` ((file, shown path) pairs).

    Raises:
        bot.trainer.training_data.DataFileError: A file is not valid YAML.
    """
    steps: list[StepReference] = []
    for path, shown in paths:
        document = read_yaml(path)
        if not isinstance(document, dict):
            continue
        for section in ("rules", "stories"):
            for block in document.get(section) or []:
                if isinstance(block, dict):
                    steps.extend(_block_steps(block.get("steps"), shown))
    return steps


def _block_steps(entries: Any, shown: Path) -> list[StepReference]:
    if not isinstance(entries, list):
        return []
    found = []
    for position, step in enumerate(entries):
        if not isinstance(step, dict):
            continue
        for kind in ("intent", "action"):
            if isinstance(step.get(kind), str):
                found.append(
                    StepReference(kind, step[kind], Location(shown, entries.lc.item(position)[0] + 1))
                )
    return found


def read_code_references(paths: Iterable[tuple[Path, Path]]) -> CodeReferences:
    """Response names and implemented actions in Python files ((file, shown path) pairs).

    A file that does not parse is logged and skipped: it is the test suite's job to catch
    broken code, and the trainer's data should still be checked.
    """
    references = CodeReferences()
    for path, shown in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            logger.warning("skipping %s: %s", path, exc)
            continue
        for node in ast.walk(tree):
            _collect(node, shown, references)
    return references


def _collect(node: ast.AST, shown: Path, references: CodeReferences) -> None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _RESPONSE_NAME.match(node.value):
        references.responses.setdefault(node.value, Location(shown, node.lineno))
    elif isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if (
            isinstance(head, ast.Constant)
            and isinstance(head.value, str)
            and _RESPONSE_PREFIX.match(head.value)
        ):
            references.response_prefixes.setdefault(head.value, Location(shown, node.lineno))
    elif isinstance(node, ast.FunctionDef) and node.name == "name":
        for statement in ast.walk(node):
            if (
                isinstance(statement, ast.Return)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
                and _ACTION_NAME.match(statement.value.value)
            ):
                references.actions.setdefault(statement.value.value, Location(shown, statement.lineno))
