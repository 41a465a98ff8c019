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
from bot.settings import Settings
from bot.trainer.evaluation import LabelledExample, evaluate, train_nlu
from bot.trainer.report import SavedReport, load_report

__all__ = ["RevisionError", "nlu_model", "reference", "score_revision", "score_working_tree", "yardsticks"]

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
        bot.trainer.evaluation.TrainingFailed: Rasa produced no model.
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


def yardsticks(settings: Settings, model: Path, progress: Progress = _quiet) -> list[str]:
    """Lines for the report beside the held-out set's: real traffic and the FAQ's scope.

    Real traffic is the airline dev split (`bot.trainer.real_traffic`), skipped with a note when
    the corpus folder is not there; the FAQ's scope compares the off-FAQ questions with the
    held-out set's FAQ questions (`bot.trainer.faq_scope`).
    """
    from bot.trainer import faq_scope, real_traffic
    from bot.trainer.evaluation import load_heldout, predict

    project = settings.project_dir
    off_faq_file = project / "tests" / "data" / "off_faq_questions.yml"
    off_faq = [e.text for e in load_heldout(off_faq_file)] if off_faq_file.is_file() else []
    heldout = load_heldout(project / "tests" / "data" / "nlu_heldout.yml")
    faq = [example for example in heldout if example.intent.startswith("question/")]
    tweets: list[LabelledExample] = []
    lines: list[str] = []
    try:
        labels = real_traffic.load_labels(project / real_traffic.LABELS_FILE)
        corpus = real_traffic.load_corpus(settings.corpora_dir / real_traffic.AIRLINE_CORPUS)
        tweets = real_traffic.examples(labels, corpus, "dev")
    except (FileNotFoundError, KeyError) as exc:
        lines.append(f"real traffic: not scored ({exc})")
    if not tweets and not off_faq:
        return lines
    progress(f"scoring {model.name} on {len(tweets)} real tweets and {len(off_faq) + len(faq)} questions")
    predictions = predict(model, [t.text for t in tweets] + off_faq + [e.text for e in faq])
    if tweets:
        real = real_traffic.score_four_way(tweets, predictions[: len(tweets)])
        per_kind = ", ".join(f"{k} {v.f1:.3f}" for k, v in sorted(real.per_intent.items()) if v.support)
        lines.append(
            f"real traffic (airline dev, {real.n_examples} tweets): macro-F1 {real.intent_macro_f1:.3f}, "
            f"complaint recall {real.complaint_recall:.3f}; F1 {per_kind}"
        )
    rest = predictions[len(tweets) :]
    if not off_faq or not faq:
        lines.append(f"curated answers: not scored (no questions at {off_faq_file}, or no FAQ ones held out)")
        return lines
    scope = faq_scope.score_faq_scope(
        rest[: len(off_faq)], list(zip(faq, rest[len(off_faq) :], strict=True)), settings.question_confidence
    )
    lines.append(
        f"curated answers: given to {scope.off_faq_answered:.1%} of {scope.off_faq} off-FAQ questions "
        f"(should be near 0), to {scope.faq_answered:.1%} of {scope.faq} FAQ questions "
        f"({scope.faq_answered_right:.1%} the right one)"
    )
    return lines
