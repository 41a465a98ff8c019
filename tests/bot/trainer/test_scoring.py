"""`firstline nlu test` on the real project and model, with --compare against a git revision and
against a saved report. The session's model is linked under the data's fingerprint, so nothing
trains here; that the fingerprint matches is itself part of what is tested."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot import model_store
from bot.cli import _parser
from bot.settings import PROJECT_ROOT, Settings
from bot.trainer.scoring import RevisionError, score_revision

pytestmark = pytest.mark.model


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Trainer", "-c", "user.email=trainer@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository holding the project's current config, domain, data and components."""
    repo = tmp_path / "project"
    repo.mkdir()
    for name in ("config.yml", "domain.yml", "requirements.lock"):
        shutil.copy2(PROJECT_ROOT / name, repo / name)
    for folder in ("data", "nlu"):
        shutil.copytree(PROJECT_ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "tests" / "data").mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml", repo / "tests" / "data")
    _git(repo, "init", "-q")
    _git(repo, "add", "config.yml", "domain.yml", "requirements.lock", "data", "nlu")
    _git(repo, "commit", "-q", "-m", "data")
    return repo


@pytest.fixture
def settings_for(project: Path, tmp_path: Path, model_path: Path) -> Settings:
    models = tmp_path / "models"
    models.mkdir()
    (models / model_store.model_path(PROJECT_ROOT, models).name).symlink_to(model_path)
    return Settings(project_dir=project, data_dir=tmp_path / "var", model_dir=models, _env_file=None)


def _nlu_test(settings: Settings, *args: str) -> int:
    parsed = _parser().parse_args(["nlu", "test", *args])
    return int(parsed.handler(settings, parsed))


def test_nlu_test_compares_with_a_revision_and_with_a_saved_report(
    settings_for: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _nlu_test(settings_for, "--compare", "HEAD", "--out", str(tmp_path / "first")) == 0
    out = capsys.readouterr().out
    figures = json.loads((tmp_path / "first" / "report.json").read_text())["report"]
    assert figures["n_examples"] > 100
    assert re.search(rf"intent macro-F1\s+{figures['intent_macro_f1']:.3f}", out)
    assert re.search(r"^\s+complaint\s+[01]\.\d{3}\s+[01]\.\d{3}", out, re.MULTILINE)
    assert "Confusions that cost most" in out and "Wrong examples" in out
    # HEAD holds the same data as the working tree: same figures, nothing changed either way.
    assert "Compared with HEAD:" in out
    assert re.search(r"intent macro-F1\s+(\d\.\d{3})\s+\1\s+\+0\.000", out)
    assert "Right before, wrong now (0)" in out and "Wrong before, right now (0)" in out
    page = (tmp_path / "first" / "report.html").read_text()
    assert "data:image/png;base64," in page and f"{figures['complaint_recall']:.3f}" in page

    saved = tmp_path / "first" / "report.json"
    assert _nlu_test(settings_for, "--compare", str(saved), "--out", str(tmp_path / "second")) == 0
    assert re.search(r"complaint recall\s+(\d\.\d{3})\s+\1\s+\+0\.000", capsys.readouterr().out)


def test_an_unknown_revision_is_a_clear_error(settings_for: Settings) -> None:
    heldout = settings_for.project_dir / "tests" / "data" / "nlu_heldout.yml"
    with pytest.raises(RevisionError, match="neither a saved report nor a git revision"):
        score_revision(settings_for.project_dir, "no-such-branch", settings_for.model_dir, heldout)
    assert _nlu_test(settings_for, "--compare", "no-such-branch") == 2
