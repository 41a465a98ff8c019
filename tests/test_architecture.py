"""The shape of the code, checked: what may import what (docs/architecture.md, "Layers").

Read from the source with `ast`, so nothing is imported to check it. Imports under
`if TYPE_CHECKING:` are for type hints only and do not count; imports inside functions do.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "actions", "nlu")

DOMAIN = (
    "bot.acknowledgement",
    "bot.business_hours",
    "bot.continuation",
    "bot.errors",
    "bot.followups",
    "bot.handoff",
    "bot.language",
    "bot.messages",
    "bot.privacy",
    "bot.question_shape",
    "bot.settings",
    "bot.sla",
    "bot.strong_language",
    "bot.text_limits",
    "bot.triage",
    "bot.uncertainty",
    "bot.wording",
    "bot.x_costs",
)
"""Plain Python without I/O: the rules of a first line, tested in tables."""

DOMAIN_LIBRARIES = frozenset({"pydantic", "pycld2", "twitter_text"})
"""Besides the standard library: typed settings, and two pure functions from well-kept libraries:
a language detector and X's rules for counting a post's length."""

PLATFORM_LIBRARIES = frozenset({"telegram", "tweepy"})


@cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imported(module: str, path: Path) -> set[str]:
    """Every module name an import statement of `module` names (`from a import b`: a and a.b)."""
    names: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    package = package[: len(package) - node.level + 1]
                    base = ".".join([*package, base] if base else package)
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    visit([c for c in children if isinstance(c, ast.stmt | ast.ExceptHandler)])  # type: ignore[misc]

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return names


@cache
def _graph() -> dict[str, frozenset[str]]:
    modules = _modules()
    return {
        name: frozenset(n for n in _imported(name, path) if n in modules and n != name)
        for name, path in modules.items()
    }


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def test_there_are_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for following in sorted(graph[node]):
            if state.get(following) == 1:
                cycles.append([*path[path.index(following) :], following])
            elif following not in state:
                walk(following)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert cycles == []


def test_only_the_adapters_import_a_platform_library() -> None:
    offenders = {
        name: sorted(n for n in _imported(name, path) if _top(n) in PLATFORM_LIBRARIES)
        for name, path in _modules().items()
        if not name.startswith("bot.adapters")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("module", DOMAIN)
def test_a_domain_module_does_no_io(module: str) -> None:
    allowed = set(sys.stdlib_module_names) | DOMAIN_LIBRARIES
    imported = _imported(module, _modules()[module])
    ours = {n for n in imported if n in _modules()}
    foreign = {_top(n) for n in imported if _top(n) not in PACKAGES}
    assert sorted(foreign - allowed) == []
    assert sorted(n for n in ours if n not in DOMAIN and n != "bot") == []


def test_the_model_code_uses_nothing_of_the_service() -> None:
    """nlu/ is what the model runs, and part of its fingerprint: it cannot lean on bot/ or actions/."""
    leaning = {
        name: sorted(n for n in _imported(name, path) if _top(n) in ("bot", "actions"))
        for name, path in _modules().items()
        if name.startswith("nlu")
    }
    assert {name: found for name, found in leaning.items() if found} == {}
