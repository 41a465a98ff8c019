"""The `firstline` command as a user runs it, in a subprocess, with the real model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import model_store
from bot.settings import PROJECT_ROOT
from tests.fakes.telegram_api import TOKEN, FakeTelegramApi

pytestmark = pytest.mark.model


@pytest.fixture
def cli_env(tmp_path: Path, model_path: Path) -> dict[str, str]:
    models = tmp_path / "models"
    models.mkdir()
    # The CLI looks the model up by the data's fingerprint; link the session's model under it.
    (models / model_store.model_path(PROJECT_ROOT, models).name).symlink_to(model_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(FIRSTLINE_DATA_DIR=str(tmp_path / "var"), FIRSTLINE_MODEL_DIR=str(models))
    return env


def _firstline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _python(env, "-m", "bot.cli", *args)


def _python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_say_prints_replies_and_handoff_then_handoffs_lists_it(cli_env: dict[str, str]) -> None:
    said = _firstline(
        cli_env, "say", "--public", "--user", "alice", "--name", "Alice", "--audience", "900",
        "my order never arrived and nobody answers my emails",
    )  # fmt: skip
    assert said.returncode == 0, said.stderr[-2000:]
    result = json.loads(said.stdout)
    assert result["understood"]["intent"] == "complaint"
    assert result["replies"] and "join=" in result["replies"][0]["text"]
    assert result["handoff"]["customer"]["audience"] == 900
    assert "[firstline]" in said.stderr  # progress goes to stderr, JSON alone to stdout

    listed = _firstline(cli_env, "handoffs")
    assert listed.returncode == 0, listed.stderr
    [handoff] = json.loads(listed.stdout)
    assert handoff["id"] == result["handoff_id"]

    back = _firstline(cli_env, "hand-back", str(handoff["id"]))
    assert back.returncode == 0 and json.loads(back.stdout)["status"] == "handed_back"
    assert json.loads(_firstline(cli_env, "handoffs").stdout) == []
    assert _firstline(cli_env, "resolve", "999").returncode == 1


def test_a_customer_s_data_is_exported_then_erased(cli_env: dict[str, str], tmp_path: Path) -> None:
    said = _firstline(
        cli_env, "say", "--user", "carol", "my order 55123 never arrived, call me on 0612345678"
    )
    assert said.returncode == 0, said.stderr[-2000:]

    out = tmp_path / "carol.json"
    exported = _firstline(
        cli_env, "privacy", "export", "--platform", "web", "--user", "carol", "--out", str(out)
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    document = json.loads(out.read_text())
    assert document["user"] == "carol" and "0612345678" in document["messages"][0]["text"]

    erased = _firstline(cli_env, "privacy", "erase", "--platform", "web", "--user", "carol")
    assert erased.returncode == 0, erased.stderr[-2000:]
    report = json.loads(erased.stdout)
    assert report["messages_anonymised"] >= 2 and "0612345678" not in erased.stdout + erased.stderr
    again = _firstline(cli_env, "privacy", "export", "--platform", "web", "--user", "carol")
    assert again.returncode == 1 and "no web customer 'carol'" in again.stderr


def test_json_logs_are_one_object_a_line_and_name_the_turn(cli_env: dict[str, str]) -> None:
    said = _firstline(
        {**cli_env, "FIRSTLINE_LOG_FORMAT": "json"},
        "say", "--public", "--user", "bob", "my parcel never arrived and nobody answers",
    )  # fmt: skip
    assert said.returncode == 0, said.stderr[-2000:]
    lines = [json.loads(line) for line in said.stderr.splitlines() if line.strip()]
    assert any("matches the current data" in line["message"] for line in lines)  # progress, as JSON
    case_id = json.loads(said.stdout)["case_id"]
    opened = [line for line in lines if line["message"].startswith("handoff")]
    assert opened and all(line["case_id"] == case_id and line["message_id"] for line in opened)


def test_run_serves_the_demo_and_stops_cleanly_on_ctrl_c(cli_env: dict[str, str]) -> None:
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
        env=cli_env,
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.5)
        assert status == 200, process.stderr.read() if process.poll() is not None else "no answer"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        log = process.stderr.read()
        assert "Firstline is up" in log
        # The first minute shows Firstline's lines, not the dependencies' deprecation notices.
        assert re.findall(r"\w+Warning: .*", log) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_never_writes_the_telegram_token_to_the_log(
    cli_env: dict[str, str], telegram_api: FakeTelegramApi, tmp_path: Path
) -> None:
    """Issue 12, finding 6: the real `firstline run`, at DEBUG, with a known bot token."""
    import signal
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **cli_env,
        "FIRSTLINE_TELEGRAM_TOKEN": TOKEN,
        "FIRSTLINE_TELEGRAM_API_URL": telegram_api.base_url,
        "FIRSTLINE_LOG_LEVEL": "DEBUG",
    }
    log_path = tmp_path / "firstline.log"
    # A file, not a pipe: at DEBUG the log outgrows a pipe's buffer and would block the service.
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stderr=log_file,
            text=True,
        )
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and process.poll() is None and len(telegram_api.offsets()) < 2:
                time.sleep(0.5)
            assert len(telegram_api.offsets()) >= 2, "the adapter never polled Telegram"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    log = log_path.read_text()
    assert "telegram" in log.lower()
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log


@pytest.mark.parametrize("command", [["handoffs"], ["users", "list"]])
def test_a_command_that_reads_the_store_does_not_load_rasa_s_runtime(
    cli_env: dict[str, str], command: list[str]
) -> None:
    # Loading Rasa's runtime (and TensorFlow under it) takes seconds that a look at the store never
    # needs; its small shared constants may come along.
    probe = (
        "import sys; from bot.cli import main; code = main(sys.argv[1:]); "
        "print('loaded:', *[m for m in ('rasa.core', 'tensorflow', 'bot.service') if m in sys.modules], "
        "file=sys.stderr); sys.exit(code)"
    )
    ran = _python(cli_env, "-c", probe, *command)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stderr.splitlines()[-1] == "loaded:"
