"""TopicClassifier on hand-made sparse features: training, the selector output, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix

from nlu.topic_classifier import TopicClassifier

# Three features: "parcel" words, "money" words, "hours" words.
VECTORS = {
    "complaint/delivery": [3, 0, 0],
    "complaint/billing": [0, 3, 0],
    "question/opening_hours": [0, 0, 3],
    "question/pricing": [0, 3, 1],
}


def _message(vector: list[int], full_intent: str | None = None) -> Message:
    data = {TEXT: "x"}
    if full_intent:
        data[INTENT] = full_intent.split("/")[0]
        data[INTENT_RESPONSE_KEY] = full_intent
    message = Message(data=data)
    message.add_features(Features(csr_matrix([vector]), "sentence", TEXT, "test"))
    return message


def _training_data() -> TrainingData:
    rng = np.random.default_rng(3)
    examples = [
        _message([max(0, v + int(rng.integers(0, 2))) for v in vector], key)
        for key, vector in VECTORS.items()
        for _ in range(8)
    ]
    return TrainingData(training_examples=examples)


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def test_picks_the_topic_per_retrieval_intent(storage: LocalModelStorage) -> None:
    resource = Resource("topics")
    component = TopicClassifier.create({}, storage, resource, _context())
    component.train(_training_data())

    [message] = component.process([_message([4, 0, 0])])
    selector = message.get("response_selector")
    assert selector["all_retrieval_intents"] == ["complaint", "question"]
    best = selector["complaint"]["response"]
    assert best["intent_response_key"] == "complaint/delivery"
    assert best["utter_action"] == "utter_complaint/delivery"
    assert 0.5 < best["confidence"] <= 1.0
    ranking = selector["complaint"]["ranking"]
    assert ranking[0]["intent_response_key"] == "complaint/delivery"
    assert ranking[0]["confidence"] >= ranking[-1]["confidence"]


def test_survives_persist_and_load(storage: LocalModelStorage) -> None:
    resource = Resource("topics")
    trained = TopicClassifier.create({}, storage, resource, _context())
    trained.train(_training_data())
    loaded = TopicClassifier.load({}, storage, resource, _context())

    probe = [0, 0, 4]
    expected = trained.process([_message(probe)])[0].get("response_selector")
    actual = loaded.process([_message(probe)])[0].get("response_selector")
    assert actual == expected
    assert actual["question"]["response"]["intent_response_key"] == "question/opening_hours"


def test_untrained_component_leaves_messages_alone(storage: LocalModelStorage) -> None:
    component = TopicClassifier.load({}, storage, Resource("missing"), _context())
    [message] = component.process([_message([1, 1, 1])])
    assert message.get("response_selector") is None
