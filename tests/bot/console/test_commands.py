"""`firstline users create/list`: the first admin from the command line, then signing in with it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.console.auth import verify_password
from bot.settings import Settings
from bot.store import create_store_engine
from bot.store.accounts import AccountRepository


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path))
    return tmp_path


def test_create_the_first_admin_and_list_accounts(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long admin password\n"))
    assert main(["users", "create", "--username", "Ada", "--role", "admin", "--password-stdin"]) == 0
    capsys.readouterr()

    assert main(["users", "list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["username"], listed["role"], listed["active"]) == ("ada", "admin", True)
    engine = create_store_engine(Settings(_env_file=None, data_dir=data_dir).store_url)
    _, stored = AccountRepository(engine).credentials("ada") or (None, "")
    engine.dispose()
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a long admin password")
    assert not verify_password(stored, "a long admin passwor")


@pytest.mark.parametrize(
    ("args", "password"),
    [
        (["--username", "bob", "--role", "agent"], "short\n"),
        (["--username", "no spaces", "--role", "agent"], "long enough password\n"),
    ],
)
def test_refused_accounts_are_not_stored(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    password: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password))
    assert main(["users", "create", *args, "--password-stdin"]) == 2
    assert "refused" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_locked_out_admin_gets_back_in_from_the_terminal(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("the first long password\n"))
    assert main(["users", "create", "--username", "ada", "--role", "admin", "--password-stdin"]) == 0
    engine = create_store_engine(Settings(_env_file=None, data_dir=data_dir).store_url)
    accounts = AccountRepository(engine)
    account, _ = accounts.credentials("ada") or (None, "")
    assert account is not None
    accounts.update(account.id, active=False)

    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new long password\n"))
    assert main(["users", "set-password", "--username", "ada", "--password-stdin"]) == 0
    account, stored = accounts.credentials("ada") or (None, "")
    assert account is not None and account.active
    assert verify_password(stored, "a brand new long password")
    assert not verify_password(stored, "the first long password")

    monkeypatch.setattr("sys.stdin", io.StringIO("whatever long password\n"))
    assert main(["users", "set-password", "--username", "nobody", "--password-stdin"]) == 2
    assert "no account" in capsys.readouterr().err
    engine.dispose()
