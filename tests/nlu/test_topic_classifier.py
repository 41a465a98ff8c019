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


# The open-set check: sparse features say which topic, a 4-d "sentence embedding" says how close
# the message is to that topic's own examples.
OPEN_SET = {"open_set": {"question": {"no_answer_topic": "other", "min_similarity": 0.4}}}
EMBEDDINGS = {
    "question/opening_hours": [1.0, 0.0, 0.0, 0.0],
    "question/pricing": [0.0, 1.0, 0.0, 0.0],
    "question/other": [0.0, 0.0, 1.0, 0.0],
}
SPARSE = {"question/opening_hours": [0, 0, 3], "question/pricing": [0, 3, 1], "question/other": [1, 1, 1]}


def _with_embedding(message: Message, embedding: list[float]) -> Message:
    message.add_features(Features(np.asarray([embedding]), "sentence", TEXT, "embedding"))
    return message


def _questions() -> TrainingData:
    rng = np.random.default_rng(5)
    examples = [
        _with_embedding(
            _message([v + int(rng.integers(0, 2)) for v in SPARSE[key]], key),
            list(np.asarray(embedding) + rng.normal(0, 0.05, 4)),
        )
        for key, embedding in EMBEDDINGS.items()
        for _ in range(8)
    ]
    return TrainingData(training_examples=examples)


@pytest.mark.parametrize(
    ("embedding", "expected"),
    [
        ([1.0, 0.0, 0.0, 0.0], "question/opening_hours"),  # like the answer's own examples
        ([0.0, 0.0, 0.0, 1.0], "question/other"),  # the words of an hours question, unlike any
        ([0.3, 0.0, 0.0, 1.0], "question/other"),  # cosine 0.29: still too far
    ],
)
def test_a_topic_is_kept_only_when_the_message_is_close_to_its_examples(
    storage: LocalModelStorage, embedding: list[float], expected: str
) -> None:
    component = TopicClassifier.create(OPEN_SET, storage, Resource("topics"), _context())
    component.train(_questions())

    [message] = component.process([_with_embedding(_message([0, 0, 4]), embedding)])
    response = message.get("response_selector")["question"]["response"]
    assert response["intent_response_key"] == expected
    assert response["utter_action"] == f"utter_{expected}"
    # The ranking still shows what the classifier picked, for whoever reads the case.
    ranking = message.get("response_selector")["question"]["ranking"]
    assert ranking[0]["intent_response_key"] == "question/opening_hours"


def _crowded_questions() -> TrainingData:
    """The same questions, with a large part every vector shares (as an encoder tuned on how
    people sound gives calm questions): plain cosines are all high."""
    rng = np.random.default_rng(5)
    examples = [
        _with_embedding(
            _message([v + int(rng.integers(0, 2)) for v in SPARSE[key]], key),
            [*(np.asarray(embedding) + rng.normal(0, 0.05, 4)), 3.0],
        )
        for key, embedding in EMBEDDINGS.items()
        for _ in range(8)
    ]
    return TrainingData(training_examples=examples)


@pytest.mark.parametrize(
    ("centre", "embedding", "expected"),
    [
        (False, [1.0, 0.0, 0.0, 0.0, 3.0], "question/opening_hours"),
        (False, [0.0, 0.0, 0.0, 1.0, 3.0], "question/opening_hours"),  # cosine 0.9: the shared part
        (True, [1.0, 0.0, 0.0, 0.0, 3.0], "question/opening_hours"),
        (True, [0.0, 0.0, 0.0, 1.0, 3.0], "question/other"),  # centred, it is like none of them
    ],
)
def test_a_centred_check_sees_past_what_every_question_shares(
    storage: LocalModelStorage, centre: bool, embedding: list[float], expected: str
) -> None:
    config = {"open_set": {"question": {**OPEN_SET["open_set"]["question"], "centre": centre}}}
    resource = Resource("topics")
    TopicClassifier.create(config, storage, resource, _context()).train(_crowded_questions())
    loaded = TopicClassifier.load(config, storage, resource, _context())

    [message] = loaded.process([_with_embedding(_message([0, 0, 4]), embedding)])
    assert message.get("response_selector")["question"]["response"]["intent_response_key"] == expected


def test_the_open_set_check_survives_persist_and_load(storage: LocalModelStorage) -> None:
    resource = Resource("topics")
    TopicClassifier.create(OPEN_SET, storage, resource, _context()).train(_questions())
    loaded = TopicClassifier.load(OPEN_SET, storage, resource, _context())

    [far] = loaded.process([_with_embedding(_message([0, 0, 4]), [0.0, 0.0, 0.0, 1.0])])
    assert far.get("response_selector")["question"]["response"]["intent_response_key"] == "question/other"
    [near] = loaded.process([_with_embedding(_message([0, 0, 4]), [1.0, 0.1, 0.0, 0.0])])
    assert near.get("response_selector")["question"]["response"]["similarity"] > 0.9


def test_the_open_set_check_needs_a_sentence_embedding(storage: LocalModelStorage) -> None:
    component = TopicClassifier.create(OPEN_SET, storage, Resource("topics"), _context())
    with pytest.raises(ValueError, match="dense featurizer"):
        component.train(_training_data())
