"""LinearIntentClassifier on hand-made sparse features: ranking, confidences, boost, class weight,
persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix

from nlu.intent_classifier import LinearIntentClassifier, sentence_features, softmax

# Two featurizer blocks per message: three "word" counts and two "char" counts.
VECTORS = {
    "complaint": ([3, 0, 0], [2, 0]),
    "question": ([0, 3, 0], [0, 2]),
    "praise": ([0, 0, 3], [1, 1]),
}


def _message(words: list[int], chars: list[int], intent: str | None = None) -> Message:
    message = Message(data={TEXT: "x", **({INTENT: intent} if intent else {})})
    message.add_features(Features(csr_matrix([words]), "sentence", TEXT, "words"))
    message.add_features(Features(csr_matrix([chars]), "sentence", TEXT, "chars"))
    # Sequence features are the entity extractors' business, never the intent classifier's.
    message.add_features(Features(csr_matrix([[9, 9]]), "sequence", TEXT, "words"))
    return message


def _training_data(per_intent: int = 10) -> TrainingData:
    rng = np.random.default_rng(5)
    examples = [
        _message(
            [max(0, v + int(rng.integers(0, 2))) for v in words],
            [max(0, v + int(rng.integers(0, 2))) for v in chars],
            intent,
        )
        for intent, (words, chars) in VECTORS.items()
        for _ in range(per_intent)
    ]
    return TrainingData(training_examples=examples)


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def _trained(storage: LocalModelStorage, config: dict | None = None) -> LinearIntentClassifier:
    component = LinearIntentClassifier.create(config or {}, storage, Resource("intents"), _context())
    component.train(_training_data())
    return component


def test_features_are_log_scaled_and_unit_length_per_block() -> None:
    features = sentence_features([_message([3, 4, 0], [0, 0])]).toarray()
    words, chars = features[0, :3], features[0, 3:]
    assert np.linalg.norm(words) == pytest.approx(1.0)
    assert words[0] / words[1] == pytest.approx(np.log1p(3) / np.log1p(4))
    assert chars.tolist() == [0.0, 0.0]


def test_a_dense_block_is_normalised_but_not_log_scaled() -> None:
    message = _message([3, 4, 0], [0, 0])
    message.add_features(Features(np.array([[0.3, -0.4]]), "sentence", TEXT, "embedding"))
    dense = sentence_features([message]).toarray()[0, 5:]
    assert dense.tolist() == pytest.approx([0.6, -0.8])


def test_softmax_rows_sum_to_one_even_for_large_scores() -> None:
    rows = softmax(np.array([[1000.0, 999.0], [0.0, 0.0]]))
    assert rows.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert rows[1].tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("words", "chars", "expected"),
    [([4, 0, 0], [2, 0], "complaint"), ([0, 4, 0], [0, 2], "question"), ([0, 0, 4], [1, 1], "praise")],
)
def test_ranks_the_right_intent_first(
    storage: LocalModelStorage, words: list[int], chars: list[int], expected: str
) -> None:
    [message] = _trained(storage).process([_message(words, chars)])
    intent = message.get(INTENT)
    ranking = message.get("intent_ranking")
    assert intent["name"] == expected
    assert 0.5 < intent["confidence"] <= 1.0
    assert ranking[0]["name"] == expected
    assert sum(entry["confidence"] for entry in ranking) == pytest.approx(1.0)
    assert ranking == sorted(ranking, key=lambda entry: -entry["confidence"])


def test_boost_tips_a_close_call(storage: LocalModelStorage) -> None:
    between = _message([1, 2, 0], [1, 1])
    # Temperature 1 keeps the toy data's probabilities away from 0 and 1.
    unscaled = {"calibration_folds": 0}
    plain_component = _trained(storage, unscaled)
    plain = plain_component.probabilities([between])[0]
    classes = list(plain_component.classes)
    complaint, question = classes.index("complaint"), classes.index("question")
    assert plain.argmax() == question
    # A boost worth more than the odds against complaint makes it the answer.
    factor = 2.0 * plain[question] / plain[complaint]
    boosted_component = _trained(storage, {**unscaled, "boost": {"complaint": factor}})
    boosted = boosted_component.probabilities([between])[0]
    assert boosted[complaint] > plain[complaint]
    assert boosted.sum() == pytest.approx(1.0)
    [message] = boosted_component.process([between])
    assert message.get(INTENT)["name"] == "complaint"


def test_class_weight_moves_the_boundary_towards_the_weighted_intent(storage: LocalModelStorage) -> None:
    between = _message([1, 2, 0], [1, 1])
    unscaled = {"calibration_folds": 0}
    plain_component = _trained(storage, unscaled)
    classes = list(plain_component.classes)
    complaint = classes.index("complaint")
    weighted_component = _trained(storage, {**unscaled, "class_weight": {"complaint": 5.0}})
    plain = plain_component.probabilities([between])[0]
    weighted = weighted_component.probabilities([between])[0]
    # Only training changed: no boost, yet the weighted intent gains on the close call.
    assert weighted[complaint] > plain[complaint]
    assert list(weighted_component.classes) == classes
    # An example squarely of another intent stays with it.
    [clear] = weighted_component.process([_message([0, 0, 4], [1, 1])])
    assert clear.get(INTENT)["name"] == "praise"


def test_survives_persist_and_load(storage: LocalModelStorage) -> None:
    trained = _trained(storage)
    loaded = LinearIntentClassifier.load({}, storage, Resource("intents"), _context())
    probe = [_message([0, 4, 1], [0, 2])]
    assert loaded.classes.tolist() == trained.classes.tolist()
    assert loaded.temperature == pytest.approx(trained.temperature)
    assert loaded.probabilities(probe) == pytest.approx(trained.probabilities(probe))


def test_untrained_component_leaves_messages_alone(storage: LocalModelStorage) -> None:
    component = LinearIntentClassifier.load({}, storage, Resource("missing"), _context())
    [message] = component.process([_message([1, 0, 0], [1, 0])])
    assert message.get(INTENT) is None


def test_a_single_intent_is_not_trained(storage: LocalModelStorage) -> None:
    component = LinearIntentClassifier.create({}, storage, Resource("one"), _context())
    component.train(TrainingData(training_examples=[_message([1, 0, 0], [1, 0], "greet")] * 3))
    [message] = component.process([_message([1, 0, 0], [1, 0])])
    assert message.get(INTENT) is None


def test_features_of_another_width_are_refused(storage: LocalModelStorage) -> None:
    odd = Message(data={TEXT: "x"})
    odd.add_features(Features(csr_matrix([[1, 0]]), "sentence", TEXT, "words"))
    with pytest.raises(ValueError, match="features"):
        _trained(storage).probabilities([odd])
