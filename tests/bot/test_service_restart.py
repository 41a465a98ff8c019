"""Kill Firstline with SIGKILL while messages are in flight, start it again: every message already
accepted is answered, and none twice.

The real `firstline run` process polls a fake Telegram Bot API through python-telegram-bot. The
fake is scripted so that the kill lands at the worst moments: replies waiting for a retry, one
reply in the middle of being sent, and updates fetched but not yet confirmed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import model_store
from bot.settings import PROJECT_ROOT
from tests.fakes.telegram_api import TOKEN, FakeTelegramApi, message, private_chat, user

pytestmark = pytest.mark.model

CUSTOMERS = 8


class StallingTelegramApi(FakeTelegramApi):
    """Records the messages Telegram really accepted, and can hold a send unanswered forever
    (what a process killed mid-request leaves behind: the request never completes)."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: list[dict[str, Any]] = []
        self.stall_after_failures = False
        self.stalled = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self.stall_after_failures = False
        self._released.set()

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802 - Bot API name
        if self.stall_after_failures:
            self.stalled.set()
            await asyncio.to_thread(self._released.wait)
            # The caller is gone; Telegram would not have delivered a message it never finished.
            return None
        result = await super()._api_sendMessage(params)
        if isinstance(result, dict):
            with self._lock:
                self.delivered.append(params)
        return result


@pytest.fixture
def stalling_telegram() -> Iterator[StallingTelegramApi]:
    with StallingTelegramApi().running() as api:
        yield api


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    process.log = log  # type: ignore[attr-defined]
    return process


def _wait(condition: Any, what: str, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            log = process.log.read_text()  # type: ignore[attr-defined]
            raise AssertionError(f"firstline exited while waiting for {what}:\n{log[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}:\n{process.log.read_text()[-3000:]}")  # type: ignore[attr-defined]


def test_sigkill_mid_flight_then_restart_answers_each_message_exactly_once(
    stalling_telegram: StallingTelegramApi, tmp_path: Path, model_path: Path
) -> None:
    api = stalling_telegram
    models = tmp_path / "models"
    models.mkdir()
    (models / model_store.model_path(PROJECT_ROOT, models).name).symlink_to(model_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_DATA_DIR=str(tmp_path / "var"),
        FIRSTLINE_MODEL_DIR=str(models),
        FIRSTLINE_TELEGRAM_TOKEN=TOKEN,
        FIRSTLINE_TELEGRAM_API_URL=api.base_url,
        FIRSTLINE_SEND_BACKOFF_SECONDS="3",
        FIRSTLINE_TURN_LEASE_SECONDS="2",
    )
    for n in range(CUSTOMERS):
        customer = user(7000 + n, f"Customer{n}", f"customer{n}")
        api.queue(
            message=message(private_chat(customer), customer, f"order #{4100 + n} never arrived, 2 weeks!")
        )
    # The first three sends fail (their replies wait for a retry), the fourth hangs mid-request.
    api.fail("sendMessage", 502, times=3)
    api.stall_after_failures = True

    first = _start(env, _free_port(), tmp_path / "first.log")
    try:
        _wait(api.stalled.is_set, "a send in flight after three failed ones", first)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    assert api.delivered == []
    api.release()

    second = _start(env, _free_port(), tmp_path / "second.log")
    try:
        chats = {7000 + n for n in range(CUSTOMERS)}
        _wait(lambda: {m["chat_id"] for m in api.delivered} >= chats, "every customer answered", second)
        # Longer than a lease and a backoff: anything that would be sent twice would be by now.
        time.sleep(8)
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
    per_chat = Counter(m["chat_id"] for m in api.delivered)
    assert per_chat == dict.fromkeys(chats, 1), per_chat


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
