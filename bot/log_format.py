"""How the log is written: lines for people by default, JSON lines for log pipelines.

With `FIRSTLINE_LOG_FORMAT=json` every line on standard error is one JSON object (time, level,
logger, message, and the exception when there is one), so a log shipper needs no parsing rules.
In both formats, a line written during a customer's turn names the case and the message it
belongs to (`case_id`, `message_id`): when an answer went wrong, the operator finds every line of
that turn among the interleaved turns of other customers.

The turn is carried in a context variable, which asyncio copies into each task, so concurrent
turns never see each other's ids.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Literal

import structlog

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "configure", "is_json", "turn"]

LogFormat = Literal["text", "json"]

_TURN: ContextVar[tuple[int | None, int | None]] = ContextVar("firstline_turn", default=(None, None))
_json = False


@contextmanager
def turn(case_id: int | None, message_id: int | None) -> Iterator[None]:
    """Lines logged inside this block (in this task and the tasks it starts) carry these ids."""
    token = _TURN.set((case_id, message_id))
    try:
        yield
    finally:
        _TURN.reset(token)


class TextFormatter(logging.Formatter):
    """`2026-12-07 12:00:00,123 INFO bot.gateway: ... [case 4, message 17]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        case_id, message_id = _TURN.get()
        if case_id is None and message_id is None:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [case {case_id}, message {message_id}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages and tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        case_id, message_id = _TURN.get()
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if case_id is not None:
            entry["case_id"] = case_id
        if message_id is not None:
            entry["message_id"] = message_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: LogFormat, level: int) -> None:
    """Writes the log to standard error in `log_format`, replacing any handler set before."""
    global _json
    _json = log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if _json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def is_json() -> bool:
    """Whether the log is JSON lines, so that other writers to standard error keep to it."""
    return _json


def quiet_rasa_logging(level: int = logging.WARNING) -> None:
    """Rasa logs through structlog, which, left unconfigured, prints every debug event to stdout.

    That would corrupt `firstline say`'s JSON output and cost time on every message.
    """
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
