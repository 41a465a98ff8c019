"""Scoring a project's NLU on the held-out set: the working tree, or its data at a git revision.

Models are cached by the fingerprint of what shapes them (`bot.model_store.fingerprint`), so a
trainer who runs `firstline nlu test` twice, or compares against a revision whose data equals the
working tree's, trains nothing the second time; the service's full model is used when one
matches. A revision is scored with its config, domain and data but with the working tree's
custom components: those are Python the running process has already imported.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nlu
from bot import model_store
from bot.trainer.report import SavedReport, load_report
from nlu.evaluation import evaluate, train_nlu

__all__ = ["RevisionError", "nlu_model", "reference", "score_revision", "score_working_tree"]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
_COMPONENTS = Path(nlu.__file__).resolve().parent
"""The custom Rasa components: part of every model's fingerprint."""
_PROJECT_FILES = ("config.yml", "domain.yml", "data", "requirements.lock")


class RevisionError(ValueError):
    """A `--compare` reference that is neither a saved report nor a git revision of the project."""


def _quiet(_: str) -> None:
    pass


def nlu_model(project_dir: Path, model_dir: Path, progress: Progress = _quiet) -> Path:
    """A model for the project's current data: the full one if trained, else an NLU-only one.

    Raises:
        nlu.evaluation.TrainingFailed: Rasa produced no model.
    """
    full = model_store.find_model(project_dir, model_dir)
    if full is not None:
        progress(f"using {full.name}, which matches the data")
        return full
    name = f"nlu-{model_store.fingerprint(project_dir)}"
    cached = model_dir / f"{name}.tar.gz"
    if cached.is_file():
        progress(f"using {cached.name}, which matches the data")
        return cached
    progress(f"training an NLU model on {project_dir / 'data'} (a minute or two on two cores)")
    started = datetime.now(timezone.utc)
    model_dir.mkdir(parents=True, exist_ok=True)
    path = train_nlu(
        project_dir / "config.yml", project_dir / "data", project_dir / "domain.yml", model_dir, name
    )
    progress(f"trained {path.name} in {(datetime.now(timezone.utc) - started).total_seconds():.0f} s")
    return path


def score_working_tree(
    project_dir: Path,
    model_dir: Path,
    heldout: Path,
    progress: Progress = _quiet,
    model: Path | None = None,
) -> SavedReport:
    """Trains (if needed) and scores the project as it is on disk."""
    model = model or nlu_model(project_dir, model_dir, progress)
    progress(f"scoring {model.name} on {heldout.name}")
    source = _source(project_dir, heldout, model, label="working tree")
    source["revision"] = _git(project_dir, "rev-parse", "--short", "HEAD") or None
    return SavedReport(evaluate(model, heldout), source)


def score_revision(
    project_dir: Path, revision: str, model_dir: Path, heldout: Path, progress: Progress = _quiet
) -> SavedReport:
    """Scores the project's config, domain and data as they were at a git revision.

    Raises:
        RevisionError: `revision` is not a commit of the project's repository.
    """
    commit = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if not commit:
        raise RevisionError(f"{revision!r} is neither a saved report nor a git revision of {project_dir}")
    with tempfile.TemporaryDirectory(prefix="firstline-compare-") as scratch:
        tree = Path(scratch)
        _extract(project_dir, commit, tree)
        shutil.copytree(_COMPONENTS, tree / "nlu", ignore=shutil.ignore_patterns("__pycache__"))
        progress(f"checked out the data of {revision} ({commit[:7]})")
        model = nlu_model(tree, model_dir, progress)
        progress(f"scoring {model.name} on {heldout.name}")
        source = _source(tree, heldout, model, label=revision)
        source["revision"] = commit[:12]
        return SavedReport(evaluate(model, heldout), source)


def reference(
    project_dir: Path, ref: str, model_dir: Path, heldout: Path, progress: Progress = _quiet
) -> SavedReport:
    """What `--compare REF` compares against: a saved report file, or else a git revision.

    Raises:
        ValueError: REF is a file but not a report.
        RevisionError: REF is neither.
    """
    path = Path(ref)
    if path.is_file():
        progress(f"comparing with the saved report {path}")
        return load_report(path)
    return score_revision(project_dir, ref, model_dir, heldout, progress)


def _source(project_dir: Path, heldout: Path, model: Path, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "fingerprint": model_store.fingerprint(project_dir),
        "model": model.name,
        "heldout": heldout.name,
        "heldout_sha256": hashlib.sha256(heldout.read_bytes()).hexdigest(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _git(project_dir: Path, *args: str) -> str:
    """A git command's output, or "" when git or the repository is not there."""
    try:
        done = subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("git %s failed: %s", " ".join(args), exc)
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _extract(project_dir: Path, commit: str, into: Path) -> None:
    """Writes the revision's project files (those that existed then) into `into`."""
    present = [name for name in _PROJECT_FILES if _git(project_dir, "cat-file", "-t", f"{commit}:{name}")]
    archive = subprocess.run(
        ["git", "-C", str(project_dir), "archive", "--format=tar", commit, "--", *present],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if archive.returncode != 0:
        raise RevisionError(
            f"git archive {commit[:7]} failed: {archive.stderr.decode(errors='replace').strip()}"
        )
    with tempfile.TemporaryFile() as buffer:
        buffer.write(archive.stdout)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer, mode="r:") as tar:
            tar.extractall(into, filter="data")
