"""A trained model is named for everything it was built from, and for nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import model_store


def _project(root: Path, encoder: str | None = None) -> Path:
    (root / "data").mkdir()
    (root / "nlu").mkdir()
    (root / "data" / "nlu.yml").write_text("nlu: []\n")
    (root / "nlu" / "component.py").write_text("X = 1\n")
    (root / "domain.yml").write_text("version: '3.1'\n")
    model = f"\n    model: {encoder}" if encoder else ""
    (root / "config.yml").write_text(f"pipeline:\n  - name: SentenceEmbeddingFeaturizer{model}\n")
    return root


@pytest.mark.parametrize(
    ("change", "renamed"),
    [
        (lambda root: (root / "data" / "nlu.yml").write_text("nlu: [x]\n"), True),
        (lambda root: (root / "nlu" / "component.py").write_text("X = 2\n"), True),
        (lambda root: (root / "domain.yml").write_text("version: '3.1'\n# edited\n"), True),
        # The encoder a config names is an input although it is not among the project's files.
        (lambda root: (root / "encoder.onnx").write_bytes(b"other weights"), True),
        (lambda root: (root / "README.md").write_text("notes\n"), False),
        (lambda root: (root / "tests").mkdir(), False),
    ],
    ids=["data", "component", "domain", "named encoder", "readme", "tests"],
)
def test_the_fingerprint_follows_the_models_inputs(tmp_path: Path, change, renamed: bool) -> None:
    root = _project(tmp_path, encoder="encoder.onnx")
    (root / "encoder.onnx").write_bytes(b"weights")
    before = model_store.fingerprint(root)
    change(root)
    assert (model_store.fingerprint(root) != before) is renamed


def test_a_config_that_cannot_be_read_still_gets_a_fingerprint(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "config.yml").write_text("pipeline: [unclosed\n")
    assert len(model_store.fingerprint(root)) == 16
