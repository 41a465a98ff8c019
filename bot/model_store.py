"""Which trained model belongs to the project's current data, and training one when there is none.

A model is named after a fingerprint of everything that shapes it (config, domain, training data,
the custom NLU components, the locked dependencies), so "is the model older than the data?" is
answered by content rather than by file times, and a cache of models can be shared between
checkouts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sys
import time
from pathlib import Path

import yaml

from bot.progress import progress

__all__ = ["ensure", "find_model", "fingerprint", "model_path", "train"]

logger = logging.getLogger(__name__)

_INPUTS = ("config.yml", "domain.yml", "requirements.lock")
_INPUT_DIRS = (("data", "*.yml"), ("nlu", "*.py"))


def _named_models(project_dir: Path) -> list[Path]:
    """Files the pipeline names (a component's `model`, such as another sentence encoder): a model
    trained with a different file is a different model, even with the same config text."""
    try:
        config = yaml.safe_load((project_dir / "config.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    steps = config.get("pipeline") if isinstance(config, dict) else None
    named = [step["model"] for step in steps or [] if isinstance(step, dict) and step.get("model")]
    return [project_dir / str(name) for name in named]


def fingerprint(project_dir: Path) -> str:
    digest = hashlib.sha256()
    files = [project_dir / name for name in _INPUTS]
    for folder, pattern in _INPUT_DIRS:
        files.extend(sorted((project_dir / folder).rglob(pattern)))
    files.extend(_named_models(project_dir))
    for path in files:
        if path.is_file():
            name = path.relative_to(project_dir) if path.is_relative_to(project_dir) else path
            digest.update(str(name).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_path(project_dir: Path, model_dir: Path) -> Path:
    return model_dir / f"firstline-{fingerprint(project_dir)}.tar.gz"


def find_model(project_dir: Path, model_dir: Path) -> Path | None:
    path = model_path(project_dir, model_dir)
    return path if path.is_file() else None


def train(project_dir: Path, model_dir: Path) -> Path:
    """Trains the full model (NLU and dialogue) into `model_dir`; returns its path."""
    import rasa.api

    target = model_path(project_dir, model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    logger.info("training %s (about two minutes on two cores)", target.name)
    result = rasa.api.train(
        domain=str(project_dir / "domain.yml"),
        config=str(project_dir / "config.yml"),
        training_files=[str(project_dir / "data")],
        output=str(model_dir),
        fixed_model_name=target.name.removesuffix(".tar.gz"),
        force_training=True,
    )
    if result.code != 0 or not target.is_file():
        raise RuntimeError(f"training failed (rasa exit code {result.code})")
    return target


def ensure(project_dir: Path, model_dir: Path, *, force: bool = False) -> Path:
    """The model for the current data: the one already trained, or one trained now (`force`:
    trained now in any case), saying which on standard error."""
    existing = find_model(project_dir, model_dir)
    if existing and not force:
        progress(f"model {existing.name} matches the current data")
        return existing
    progress("training the model on data/ (the first time takes a minute or two)")
    started = time.monotonic()
    # Rasa prints its own progress to standard output; a command's standard output is for JSON.
    with contextlib.redirect_stdout(sys.stderr):
        path = train(project_dir, model_dir)
    progress(f"trained {path.name} in {time.monotonic() - started:.0f} s")
    return path
