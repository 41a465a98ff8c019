"""Checks a trainer's change before it is trained: Rasa's validation plus Firstline's own checks.

Every problem is one line with the file and line to fix, so that a trainer (or an editor's
quick-fix list) can jump straight to it. Rasa's warnings count as errors, except three that are not
the trainer's to fix: a response that the custom actions compose from code looks "unused" to Rasa,
Rasa itself merges retrieval intents into the domain twice and then warns about it, and it warns
that slot auto-fill is gone whenever a domain has a slot (its own command line hides that one).

The checks are plain functions over the indexed project, so each can be tested on a tiny fixture
project; only `rasa_problems` imports Rasa's core (and so TensorFlow), and only when asked to.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from rasa.shared.core.constants import DEFAULT_ACTION_NAMES

from bot.trainer.references import (
    CodeReferences,
    DomainIndex,
    Location,
    StepReference,
    read_code_references,
    read_domain,
    read_steps,
)
from bot.trainer.training_data import DataFileError, LocatedExample, nlu_files, normalise, read_examples
from bot.triage import RETRIEVAL_DELIMITER, base_intent

__all__ = [
    "DEFAULT_MIN_EXAMPLES",
    "Problem",
    "Project",
    "ProjectIndex",
    "check_curated_answers",
    "check_duplicates",
    "check_example_counts",
    "check_heldout_leaks",
    "check_near_duplicates",
    "check_references",
    "index_project",
    "rasa_problems",
    "validate",
]

logger = logging.getLogger(__name__)

DEFAULT_MIN_EXAMPLES = 20
NEAR_DUPLICATE_RATIO = 0.9
_QUESTION_INTENT = "question"
_QUOTED = re.compile(r"'([^']+)'")
_THIS_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the data, where it is, and which check found it."""

    path: str
    line: int
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} [{self.check}]"


@dataclass(frozen=True, slots=True)
class Project:
    """Where a Rasa project's parts are; the defaults are the layout `rasa init` creates."""

    root: Path
    config: Path
    domain: Path
    data: Path
    code: tuple[Path, ...] = ()
    heldout: Path | None = None

    @classmethod
    def at(cls, root: Path) -> Project:
        heldout = root / "tests" / "data" / "nlu_heldout.yml"
        return cls(
            root=root,
            config=root / "config.yml",
            domain=root / "domain.yml",
            data=root / "data",
            code=tuple(path for path in (root / "actions", root / "bot") if path.is_dir()),
            heldout=heldout if heldout.is_file() else None,
        )

    def shown(self, path: Path) -> Path:
        return path.relative_to(self.root) if path.is_relative_to(self.root) else path


@dataclass(slots=True)
class ProjectIndex:
    """The project read once, with positions, for all checks."""

    examples: list[LocatedExample] = field(default_factory=list)
    domain: DomainIndex | None = None
    steps: list[StepReference] = field(default_factory=list)
    code: CodeReferences = field(default_factory=CodeReferences)
    heldout: list[LocatedExample] = field(default_factory=list)


def index_project(project: Project) -> tuple[ProjectIndex, list[Problem]]:
    """Reads every file the checks need; unreadable files become problems, not exceptions."""
    index = ProjectIndex()
    problems: list[Problem] = []

    def guarded(read: object) -> None:
        try:
            read()  # type: ignore[operator]
        except DataFileError as exc:
            problems.append(Problem(str(project.shown(exc.path)), exc.line, "yaml", exc.reason))

    data_files = sorted(project.data.rglob("*.yml")) if project.data.is_dir() else []
    for path in nlu_files(project.data) if project.data.exists() else []:
        guarded(lambda path=path: index.examples.extend(read_examples([path], project.root)))
    for path in data_files:
        guarded(lambda path=path: index.steps.extend(read_steps([(path, project.shown(path))])))
    if project.domain.is_file():
        guarded(lambda: setattr(index, "domain", read_domain(project.domain, project.shown(project.domain))))
    else:
        problems.append(
            Problem(str(project.shown(project.domain)), 0, "domain", "the domain file is missing")
        )
    if project.heldout is not None:
        guarded(lambda: index.heldout.extend(read_examples([project.heldout], project.root)))
    sources = [
        path
        for folder in project.code
        for path in sorted(folder.rglob("*.py"))
        # This package talks about response names in general ("utter_" + intent), not as uses.
        if not path.resolve().is_relative_to(_THIS_PACKAGE)
    ]
    index.code = read_code_references((path, project.shown(path)) for path in sources)
    return index, list(dict.fromkeys(problems))


def check_duplicates(examples: Sequence[LocatedExample]) -> list[Problem]:
    """The same text under two intents: the model is told two things at once."""
    first: dict[str, LocatedExample] = {}
    problems = []
    for example in examples:
        seen = first.setdefault(example.text, example)
        if seen.intent != example.intent:
            problems.append(
                _problem(
                    example,
                    "duplicate",
                    f'"{example.text}" is an example of both {seen.intent} ({seen.location}) '
                    f"and {example.intent}",
                )
            )
    return problems


def check_near_duplicates(
    examples: Sequence[LocatedExample], ratio: float = NEAR_DUPLICATE_RATIO
) -> list[Problem]:
    """Nearly the same text under two intents (case, punctuation, a typo apart).

    A pair is compared character by character only when its word sets overlap by at least
    half (Jaccard). Comparing every pair of ten thousand examples took a minute and a half, so
    candidates come from prefix filtering: with each example's words ordered rarest first, two
    sets that overlap by half must share a word among the first |words| - ceil(|words| / 2) + 1
    of each, and only examples sharing such a word are looked at.
    """
    normalised = [normalise(example.text) for example in examples]
    words = [set(text.split()) for text in normalised]
    frequency: dict[str, int] = defaultdict(int)
    for found in words:
        for word in found:
            frequency[word] += 1
    prefixes = [
        sorted(found, key=lambda word: (frequency[word], word))[: len(found) - math.ceil(len(found) / 2) + 1]
        for found in words
    ]
    having: dict[str, list[int]] = defaultdict(list)
    problems = []
    for later in range(len(examples)):
        candidates = sorted({earlier for word in prefixes[later] for earlier in having[word]})
        for word in prefixes[later]:
            having[word].append(later)
        for earlier in candidates:
            a, b = examples[earlier], examples[later]
            if a.intent == b.intent or a.text == b.text:
                continue
            shared = len(words[earlier] & words[later]) / len(words[earlier] | words[later])
            if normalised[earlier] != normalised[later] and shared < 0.5:
                continue
            similarity = SequenceMatcher(None, normalised[earlier], normalised[later]).ratio()
            if similarity >= ratio:
                problems.append(
                    _problem(
                        b,
                        "near-duplicate",
                        f'"{b.text}" ({b.intent}) is nearly the same as "{a.text}" ({a.intent}, '
                        f"{a.location})",
                    )
                )
                break
    return problems


def check_example_counts(
    examples: Sequence[LocatedExample], minimum: int = DEFAULT_MIN_EXAMPLES
) -> list[Problem]:
    """Intents (and retrieval topics) with too few examples to learn from or to score."""
    by_intent: dict[str, list[LocatedExample]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    return [
        _problem(
            found[0],
            "too-few-examples",
            f"intent {intent} has {len(found)} example{'s' if len(found) != 1 else ''}; "
            f"at least {minimum} are needed",
        )
        for intent, found in by_intent.items()
        if len(found) < minimum
    ]


def check_references(
    domain: DomainIndex, steps: Sequence[StepReference], code: CodeReferences
) -> list[Problem]:
    """Responses and actions used by rules, stories or code that the domain lacks, and the reverse
    for custom actions: one listed in the domain that no code implements."""
    problems = []
    shown = domain.path
    for step in steps:
        if step.kind != "action":
            continue
        if step.name.startswith("utter_") and not _defines_response(domain, step.name):
            problems.append(
                _at(
                    step.location,
                    "missing-response",
                    f"response {step.name} is used here but {shown} does not define it",
                )
            )
        elif (
            step.name.startswith("action_")
            and step.name not in domain.actions
            and step.name not in DEFAULT_ACTION_NAMES  # action_listen and Rasa's other built-ins
        ):
            problems.append(
                _at(
                    step.location,
                    "missing-action",
                    f"action {step.name} is used here but {shown} does not list it",
                )
            )
    for name, location in code.responses.items():
        if name not in domain.responses:
            problems.append(
                _at(
                    location,
                    "missing-response",
                    f"response {name} is used here but {shown} does not define it",
                )
            )
    for prefix, location in code.response_prefixes.items():
        if not any(name.startswith(prefix) for name in domain.responses):
            problems.append(
                _at(
                    location,
                    "missing-response",
                    f"responses {prefix}... are used here but {shown} defines none",
                )
            )
    if code.actions:
        for name, location in domain.actions.items():
            if name.startswith("action_") and name not in code.actions:
                problems.append(
                    _at(location, "missing-action", f"action {name} is listed but no code implements it")
                )
        for name, location in code.actions.items():
            if name not in domain.actions:
                problems.append(
                    _at(
                        location,
                        "missing-action",
                        f"action {name} is implemented here but {shown} does not list it",
                    )
                )
    return problems


def check_curated_answers(examples: Sequence[LocatedExample], domain: DomainIndex) -> list[Problem]:
    """Retrieval intents and their responses must pair up: a curated answer nobody can ask for
    is dead text, and a question topic without an answer has nothing to say."""
    topics: dict[str, LocatedExample] = {}
    for example in examples:
        if "/" in example.intent:
            topics.setdefault(example.intent, example)
    problems = []
    for name, location in domain.responses.items():
        intent = name.removeprefix("utter_")
        if "/" in intent and intent not in topics:
            kind = "curated answer" if intent.startswith(_QUESTION_INTENT + "/") else "response"
            problems.append(
                _at(location, "unasked-answer", f"{kind} {name} has no training examples for intent {intent}")
            )
    for intent, example in topics.items():
        if f"utter_{intent}" not in domain.responses:
            problems.append(
                _problem(
                    example,
                    "missing-response",
                    f"intent {intent} has no response utter_{intent} in {domain.path}",
                )
            )
    return problems


def check_heldout_leaks(
    examples: Sequence[LocatedExample], heldout: Sequence[LocatedExample]
) -> list[Problem]:
    """Training examples that are also in the held-out set make its score a lie."""
    held = {normalise(example.text): example for example in heldout}
    return [
        _problem(
            example,
            "heldout-leak",
            f'"{example.text}" is in the held-out set ({held[normalise(example.text)].location}); '
            "write your own example instead",
        )
        for example in examples
        if normalise(example.text) in held
    ]


def rasa_problems(project: Project, index: ProjectIndex) -> list[Problem]:
    """Runs Rasa's validator (as `rasa data validate --fail-on-warnings` does) and turns every
    warning into a located problem."""
    from rasa.shared.exceptions import RasaException
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    messages: list[str] = []
    with _captured(messages):
        try:
            importer = TrainingDataImporter.load_from_config(
                config_path=str(project.config),
                domain_path=str(project.domain),
                training_data_paths=[str(project.data)],
            )
            validator = Validator.from_importer(importer)
            if validator.domain.is_empty():
                messages.append("the domain is empty")
            else:
                validator.verify_domain_validity()
                validator.verify_actions_in_stories_rules()
                validator.verify_forms_in_stories_rules()
                validator.verify_form_slots()
                validator.verify_slot_mappings()
                validator.verify_nlu(ignore_warnings=False)
                validator.verify_story_structure(ignore_warnings=False)
                validator.warn_if_config_mandatory_keys_are_not_set()
        except (RasaException, ValueError, KeyError, TypeError) as exc:
            messages.append(f"Rasa cannot load the project: {exc}")
    retrieval = {
        base_intent(example.intent) for example in index.examples if RETRIEVAL_DELIMITER in example.intent
    }
    problems = []
    for message in dict.fromkeys(" ".join(message.split()) for message in messages):
        if not _is_excused(message, index, retrieval):
            problems.append(_locate(message, project, index))
    return problems


def validate(
    project: Project, *, min_examples: int = DEFAULT_MIN_EXAMPLES, include_rasa: bool = True
) -> list[Problem]:
    """Every problem in the project, Rasa's first, each at most once.

    Args:
        project: The project.
        min_examples: The fewest examples an intent (or retrieval topic) may have.
        include_rasa: Whether to run Rasa's own validator (it imports TensorFlow: seconds).
    """
    index, problems = index_project(project)
    if problems:
        # With a file unreadable, every other check would report its missing contents as well.
        return problems
    if include_rasa:
        problems.extend(rasa_problems(project, index))
    problems.extend(check_duplicates(index.examples))
    problems.extend(check_near_duplicates(index.examples))
    problems.extend(check_example_counts(index.examples, min_examples))
    problems.extend(check_heldout_leaks(index.examples, index.heldout))
    if index.domain is not None:
        problems.extend(check_references(index.domain, index.steps, index.code))
        problems.extend(check_curated_answers(index.examples, index.domain))
    return list(dict.fromkeys(problems))


@contextmanager
def _captured(messages: list[str]) -> Iterator[None]:
    """Collects Rasa's warnings (`warnings.warn`) and its validator's log warnings (story
    conflicts) instead of letting them scroll past."""

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = _Collect(logging.WARNING)
    rasa_logger = logging.getLogger("rasa.validator")
    rasa_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        messages.extend(
            str(warning.message)
            for warning in caught
            if issubclass(warning.category, UserWarning)
            and not issubclass(warning.category, DeprecationWarning)
        )
    finally:
        rasa_logger.removeHandler(handler)


def _is_excused(message: str, index: ProjectIndex, retrieval: set[str]) -> bool:
    """Rasa warnings that are not problems in this project, or that a Firstline check reports
    with a better location."""
    if "is not used in any story or rule" in message:
        names = _QUOTED.findall(message)
        return bool(names) and index.code.uses_response(names[0])
    if message.startswith("Slot auto-fill has been removed in 3.0"):
        return True  # said whenever a domain has slots at all; Rasa's own CLI filters it out too
    if "duplicated intents have been found across multiple domain files" in message:
        duplicated = {name.strip() for name in message.rsplit(":", 1)[-1].split(",")}
        return duplicated <= retrieval
    # Reported by check_duplicates and check_references, with file and line.
    return "labeled with multiple different intents" in message or (
        "is used in the" in message
        and ("not a valid utterance action" in message or "not listed in the domain" in message)
    )


def _locate(message: str, project: Project, index: ProjectIndex) -> Problem:
    """Puts a Rasa message at the declaration of the first name it quotes."""
    for name in _QUOTED.findall(message):
        location = index.domain.locate(name) if index.domain is not None else None
        if location is None:
            example = next((e for e in index.examples if e.intent == name), None)
            location = Location(example.path, example.line) if example else None
        if location is None:
            step = next((s for s in index.steps if s.name == name), None)
            location = step.location if step else None
        if location is not None:
            return _at(location, "rasa", message)
    return Problem(str(project.shown(project.domain)), 0, "rasa", message)


def _defines_response(domain: DomainIndex, name: str) -> bool:
    """A response, or a retrieval action ("utter_question") with at least one topic response."""
    return name in domain.responses or any(response.startswith(name + "/") for response in domain.responses)


def _problem(example: LocatedExample, check: str, message: str) -> Problem:
    return Problem(str(example.path), example.line, check, message)


def _at(location: Location, check: str, message: str) -> Problem:
    return Problem(str(location.path), location.line, check, message)
