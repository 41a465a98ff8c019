"""The configuration table of `docs/configuration.md`, rendered from the `Settings` fields.

The table is written from the fields' descriptions, so the code and the documentation cannot say
different things: `tests/bot/test_settings.py` fails when the file is out of date. To bring it up
to date after changing `bot/settings.py`:

    python -m bot.settings_doc --write

Without `--write` the table is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.settings import PROJECT_ROOT, Settings

__all__ = ["BEGIN", "DOC_PATH", "END", "replace_table", "settings_table"]

DOC_PATH = PROJECT_ROOT / "docs" / "configuration.md"
BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def _default(field: Any) -> str:
    """A field's default as the table shows it; a secret's value is never shown."""
    shown = field.field_info.extra.get("shown_default")
    if shown is not None:
        return str(shown)
    value = field.default
    if field.type_ is SecretStr or value is None or value == "":
        return "(empty)"
    if isinstance(value, Path):
        # Defaults under the checkout are shown relative to it, never as this machine's path.
        relative = Path(os.path.relpath(value, PROJECT_ROOT)).as_posix()
        value = relative if relative.startswith(".") else f"./{relative}"
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"`{value}`"


def settings_table() -> str:
    """The markdown table of every setting: variable, default and description, in field order."""
    prefix = Settings.__config__.env_prefix
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.__fields__.items():
        description = (field.field_info.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {_default(field)} | {description} |")
    return "\n".join(rows) + "\n"


def replace_table(document: str, table: str) -> str:
    """`document` with the text between the markers replaced by `table`."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are not both in the document")
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.settings_doc", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"update the table in {DOC_PATH.name}")
    args = parser.parse_args(argv)
    table = settings_table()
    if not args.write:
        sys.stdout.write(table)
        return 0
    document = DOC_PATH.read_text(encoding="utf-8")
    updated = replace_table(document, table)
    if updated != document:
        DOC_PATH.write_text(updated, encoding="utf-8")
        print(f"updated {DOC_PATH.relative_to(PROJECT_ROOT)}")
    else:
        print(f"{DOC_PATH.relative_to(PROJECT_ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
