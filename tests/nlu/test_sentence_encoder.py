"""The ONNX all-MiniLM-L6-v2 against an independent float32 run of the same model, and its batching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlu.sentence_encoder import SentenceEncoder, bundled_encoder

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return bundled_encoder()


def test_matches_an_independent_run_of_the_model(encoder: SentenceEncoder) -> None:
    # The reference vectors come from the float32 weights by a NumPy forward pass: a different
    # runtime and precision, so agreement is close but not exact.
    reference = json.loads(REFERENCE.read_text())["vectors"]
    texts = list(reference)
    ours = encoder.encode(texts)
    for text, vector in zip(texts, ours, strict=True):
        theirs = np.asarray(reference[text])
        cosine = float(vector @ theirs / np.linalg.norm(theirs))
        assert cosine > 0.99, text


def test_vectors_are_unit_length_and_shaped_by_the_model(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["hi", "", "where is my order"])
    assert vectors.shape == (3, encoder.dimension) == (3, 384)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_padding_in_a_batch_does_not_change_a_vector(encoder: SentenceEncoder) -> None:
    texts = ["ok", "my parcel was left in the rain and nobody answers the phone", "refund?"]
    together = encoder.encode(texts, batch_size=8)
    alone = np.vstack([encoder.encode([text]) for text in texts])
    assert np.abs(together - alone).max() < 1e-5


def test_similar_requests_are_closer_than_unrelated_ones(encoder: SentenceEncoder) -> None:
    parcel, late, logo = encoder.encode(
        ["where is my parcel", "my package has not arrived yet", "I love your new logo"]
    )
    assert parcel @ late > parcel @ logo + 0.2


def test_a_huge_message_is_cut_at_the_model_length(encoder: SentenceEncoder) -> None:
    long_text = "refund " * 5000
    vector = encoder.encode([long_text])[0]
    # Truncated to the tokens the model was tuned on, the vector equals that of its first part.
    cut = encoder.encode(["refund " * 254])[0]
    assert float(vector @ cut) > 0.999


def test_a_model_without_the_bert_inputs_is_refused(tmp_path: Path) -> None:
    class _Session:
        def get_inputs(self) -> list[object]:
            return []

    with pytest.raises(ValueError, match="input_ids"):
        SentenceEncoder(_Session(), bundled_encoder()._tokenizer, max_tokens=16)  # type: ignore[arg-type]
