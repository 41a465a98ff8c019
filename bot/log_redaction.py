"""Keeps secrets out of the log, whichever library writes the line.

Some secrets travel inside URLs: the Telegram Bot API puts the bot token in the path
(`https://api.telegram.org/bot<token>/getMe`), and httpx logs every request URL at INFO, so a
plain start wrote the token to the log seven times (issue 12, finding 6). Quieting httpx is not
enough on its own: an exception's text, a DEBUG level turned on to chase a bug, or a new library
can print the same URL. So every log record is redacted when it is created, before any handler or
formatter sees it:

- the configured secrets themselves (every `SecretStr` in the settings), wherever they appear;
- anything shaped like a Telegram bot token (`<digits>:<30+ URL-safe characters>`);
- the path segment after `/bot` in a URL, whatever it holds.

A record factory rather than a `logging.Filter`: a filter sits on one handler or one logger and
misses records that reach other handlers (a test's capture, a handler added later), while the
factory sees every record, and only records that passed the level check, so the cost is paid
only for lines that are written.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["REDACTED", "install", "redact", "uninstall"]

REDACTED = "[redacted]"
_BOT_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])\d{3,}:[A-Za-z0-9_-]{30,}")
_BOT_PATH = re.compile(r"/bot[^/\s?#\"']+")
_MIN_SECRET = 8
"""Shorter configured values are not redacted literally: they would blank out ordinary words."""

_secrets: tuple[str, ...] = ()
_installed: Callable[..., logging.LogRecord] | None = None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the given secrets and anything shaped like a bot token replaced."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _BOT_TOKEN.sub(REDACTED, text)
    return _BOT_PATH.sub(f"/bot{REDACTED}", text)


def install(secrets: Iterable[str] = ()) -> None:
    """Redacts every log record from now on; calling it again replaces the list of secrets.

    Also quiets httpx and httpcore to WARNING: their INFO and DEBUG lines are one per request
    and say nothing an operator needs.
    """
    global _secrets, _installed
    # Longest first, so a secret that contains another is replaced whole.
    _secrets = tuple(sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True))
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if _installed is not None:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    factory.__wrapped__ = previous  # type: ignore[attr-defined]
    _installed = factory
    logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Puts back the record factory that was there before `install` (for tests)."""
    global _secrets, _installed
    if _installed is not None and logging.getLogRecordFactory() is _installed:
        logging.setLogRecordFactory(_installed.__wrapped__)  # type: ignore[attr-defined]
    _secrets, _installed = (), None


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:
        # A bad format string is the logging module's to report; leave the record as it was.
        return
    record.msg, record.args = redact(message, _secrets), ()
    if record.exc_info and not record.exc_text:
        # Formatters use `exc_text` when it is set, so the traceback is written redacted.
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"), _secrets)
    if record.stack_info:
        record.stack_info = redact(record.stack_info, _secrets)
