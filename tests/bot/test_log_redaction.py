"""No secret reaches the log: the redaction table, and the Telegram adapter started with a known token."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot import log_redaction
from bot.adapters.telegram_adapter import TelegramAdapter
from bot.log_redaction import REDACTED, redact
from tests.fakes.telegram_api import TOKEN, FakeTelegramApi

R = REDACTED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f'HTTP Request: POST http://127.0.0.1:8081/bot{TOKEN}/getMe "HTTP/1.1 200 OK"',
            f'HTTP Request: POST http://127.0.0.1:8081/bot{R}/getMe "HTTP/1.1 200 OK"',
        ),
        (f"token={TOKEN}", f"token={R}"),
        (
            "https://api.telegram.org/botSOMETHING-ELSE/sendMessage",
            f"https://api.telegram.org/bot{R}/sendMessage",
        ),
        ("the x consumer secret is s3cr3t-value", f"the x consumer secret is {R}"),
        ("handoff 12 opened for case 7 (complaint)", "handoff 12 opened for case 7 (complaint)"),
        ("at 12:30 the robot answered", "at 12:30 the robot answered"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, ["s3cr3t-value"]) == expected


@pytest.fixture
def redaction() -> Iterator[None]:
    log_redaction.install(["s3cr3t-value", "short"])
    yield
    log_redaction.uninstall()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_every_record_is_redacted_message_arguments_and_traceback(
    redaction: None, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("firstline.test")
    with caplog.at_level(logging.DEBUG):
        log.debug("calling %s", f"https://api.telegram.org/bot{TOKEN}/getMe")
        log.info("secret %s and short", "s3cr3t-value")
        try:
            raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getUpdates failed")
        except RuntimeError:
            log.exception("polling failed")
    assert TOKEN not in caplog.text and "s3cr3t-value" not in caplog.text
    assert "short" in caplog.text  # too short to redact literally: it would blank ordinary words
    assert caplog.text.count(R) == 4
    assert "RuntimeError" in caplog.text


async def test_the_bot_token_never_reaches_the_log_at_any_level(
    redaction: None, telegram_api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12, finding 6: httpx's request lines carried the Bot API URL, token included."""
    adapter = TelegramAdapter(TOKEN, api_url=telegram_api.base_url)
    # Every logger at DEBUG, httpx's too (which `install` quiets): the redaction is what is tested.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
        with caplog.at_level(logging.DEBUG, logger="httpcore"):
            await adapter.connect()
            await adapter.bot.get_updates(timeout=0)
            await adapter.bot.shutdown()
    assert "HTTP Request" in caplog.text  # httpx did log the requests...
    assert f"/bot{R}/getMe" in caplog.text
    assert TOKEN not in caplog.text  # ...without the token
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
