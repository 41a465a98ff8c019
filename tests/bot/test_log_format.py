from __future__ import annotations

import asyncio
import json
import logging
import sys

import pytest

from bot.log_format import JsonFormatter, TextFormatter, turn


def _record(message: str = "handoff %s opened", *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("bot.gateway", logging.INFO, __file__, 1, message, args or (7,), exc_info)


@pytest.mark.parametrize(
    ("ids", "expected_tail"),
    [
        (None, "bot.gateway: handoff 7 opened"),
        ((4, 17), "bot.gateway: handoff 7 opened [case 4, message 17]"),
        ((4, None), "bot.gateway: handoff 7 opened [case 4, message None]"),
    ],
)
def test_text_lines_name_the_turn(ids: tuple[int, int | None] | None, expected_tail: str) -> None:
    if ids is None:
        line = TextFormatter().format(_record())
    else:
        with turn(*ids):
            line = TextFormatter().format(_record())
    assert line.endswith(f"INFO {expected_tail}")


def test_a_json_line_is_one_object_with_the_turn_and_the_exception() -> None:
    with turn(4, 17):
        line = JsonFormatter().format(_record("multi\nline %s", "message", exc=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "multi\nline message"
    assert (entry["level"], entry["logger"], entry["case_id"], entry["message_id"]) == (
        "INFO",
        "bot.gateway",
        4,
        17,
    )
    assert "ValueError: boom" in entry["exception"]
    outside = json.loads(JsonFormatter().format(_record()))
    assert "case_id" not in outside and "message_id" not in outside


async def test_concurrent_turns_keep_their_own_ids() -> None:
    formatter = JsonFormatter()
    lines: list[dict[str, object]] = []

    async def customer(case_id: int) -> None:
        with turn(case_id, case_id * 10):
            for _ in range(3):
                await asyncio.sleep(0)  # let the other turn run in between
                lines.append(json.loads(formatter.format(_record("turn of case %s", case_id))))

    await asyncio.gather(customer(1), customer(2))
    assert len(lines) == 6
    assert all(line["message"] == f"turn of case {line['case_id']}" for line in lines)
    assert all(line["message_id"] == line["case_id"] * 10 for line in lines)  # type: ignore[operator]
