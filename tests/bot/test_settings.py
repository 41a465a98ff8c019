"""The configuration table in docs/configuration.md is the one `bot.settings_doc` renders."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from bot.settings_doc import BEGIN, DOC_PATH, END, replace_table, settings_table


def test_every_setting_says_what_it_is_for() -> None:
    undescribed = [name for name, field in Settings.__fields__.items() if not field.field_info.description]
    assert undescribed == []


def test_the_table_has_a_row_per_setting_and_no_secret_values() -> None:
    table = settings_table()
    rows = table.splitlines()[2:]
    assert len(rows) == len(Settings.__fields__)
    assert "| `FIRSTLINE_PORT` | `8080` |" in table
    assert "| `FIRSTLINE_DATA_DIR` | `./var` |" in table
    assert "| `FIRSTLINE_SESSION_SECRET` | (generated) |" in table
    secrets = [name for name, field in Settings.__fields__.items() if field.type_ is SecretStr]
    assert secrets
    for name in secrets:
        (row,) = [row for row in rows if row.startswith(f"| `FIRSTLINE_{name.upper()}` |")]
        assert row.split(" | ")[1] in ("(empty)", "(generated)")


def test_docs_configuration_holds_the_rendered_table() -> None:
    document = DOC_PATH.read_text(encoding="utf-8")
    assert document.count(BEGIN) == 1 and document.count(END) == 1
    between = document.split(BEGIN, 1)[1].split(END, 1)[0]
    assert between == "\n" + settings_table(), (
        "docs/configuration.md is out of date with bot/settings.py: run python -m bot.settings_doc --write"
    )


def test_replace_table_keeps_the_text_around_the_markers() -> None:
    document = f"before\n{BEGIN}\nold\n{END}\nafter\n"
    assert replace_table(document, "new\n") == f"before\n{BEGIN}\nnew\n{END}\nafter\n"
    with pytest.raises(ValueError, match="markers"):
        replace_table("no markers here", "new\n")
