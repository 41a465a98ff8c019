"""Picks the topic of a retrieval intent ("complaint/delivery", "question/opening_hours").

Rasa's own ResponseSelector does this with a TensorFlow model per retrieval intent. Each of
those costs about a minute of training and many seconds of graph building every time the model
is loaded, for a decision that a linear model over the pipeline's sparse features makes as well
on this kind of data. This component keeps Rasa's data format (retrieval intents in the training
data, `utter_<intent>/<topic>` responses in the domain) and writes its answer under
`response_selector` exactly as ResponseSelector does, so Rasa's dialogue, `rasa test` and
Firstline's actions read it unchanged.

A topic with a curated answer must also pass an open-set check before it is given: the message
has to be close (cosine of sentence embeddings) to at least one of that topic's own training
examples. The classifier has to pick one of the topics it knows; a question none of them answers
("do you sell gift cards?") still lands on the nearest one ("pricing"), sometimes with high
confidence. When the check fails, the topic becomes the retrieval intent's `no_answer_topic`
("question/other": a person answers). With `centre`, both vectors are first centred on the mean
of the retrieval intent's training examples: that takes away what every question shares, so the
cosine measures the topic and not the register, and a threshold has something to hold on to.
Chosen by cross-validation on data/nlu (`bench/faq_open_set.py`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from nlu.intent_classifier import sentence_features

__all__ = ["TopicClassifier"]

logger = logging.getLogger(__name__)

_SELECTOR = "response_selector"
_FILE = "topics.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TopicClassifier(GraphComponent):
    """One multinomial logistic regression per retrieval intent, over the sparse features."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Retrieval intents to pick topics for; empty means every one in the data.
            "retrieval_intents": [],
            # Inverse regularisation strength, over the same log-scaled, per-featurizer normalised
            # features as the intent classifier.
            "C": 30.0,
            "max_iter": 3000,
            # Looser than scikit-learn's 1e-4: the probabilities agree to 1e-3, in a quarter less time.
            "tol": 1e-3,
            "ranking_length": 5,
            # Per retrieval intent, the topic that means "no curated answer" and the least cosine
            # similarity to one of the chosen topic's examples, e.g.
            # {"question": {"no_answer_topic": "other", "min_similarity": 0.4, "centre": true}}.
            "open_set": {},
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        models: dict[str, LogisticRegression] | None = None,
        examples: dict[str, dict[str, np.ndarray]] | None = None,
        centres: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.models = models or {}
        self.examples = examples or {}
        """Per retrieval intent and topic, the unit sentence embeddings of its training examples
        (only for retrieval intents with an open-set check), centred first when the rule says so."""
        self.centres = centres or {}
        """Per retrieval intent with a centred open-set check, the mean of its examples' vectors."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TopicClassifier:
        return cls(config, model_storage, resource)

    @staticmethod
    def _embeddings(messages: list[Message]) -> np.ndarray | None:
        """Unit-length sentence embeddings, or None when the pipeline has no dense featurizer."""
        rows = []
        for message in messages:
            dense = message.get_dense_features(TEXT)[1]
            if dense is None:
                return None
            rows.append(np.asarray(dense.features, dtype=np.float32).reshape(-1))
        return normalize(np.vstack(rows))

    def _centred(self, retrieval_intent: str) -> bool:
        return bool(((self.config["open_set"] or {}).get(retrieval_intent) or {}).get("centre", False))

    def _open_set(self, retrieval_intent: str) -> tuple[str, float] | None:
        rule = (self.config["open_set"] or {}).get(retrieval_intent)
        if not rule:
            return None
        return f"{retrieval_intent}/{rule['no_answer_topic']}", float(rule["min_similarity"])

    def train(self, training_data: TrainingData) -> Resource:
        wanted = set(self.config["retrieval_intents"]) or set(training_data.retrieval_intents)
        for retrieval_intent in sorted(wanted):
            examples = [
                m
                for m in training_data.intent_examples
                if m.get(INTENT) == retrieval_intent and m.get(INTENT_RESPONSE_KEY)
            ]
            labels = [m.get(INTENT_RESPONSE_KEY) for m in examples]
            if len(set(labels)) < 2:
                logger.warning("retrieval intent %r has fewer than two topics; skipped", retrieval_intent)
                continue
            model = LogisticRegression(
                C=self.config["C"],
                max_iter=self.config["max_iter"],
                tol=self.config["tol"],
                class_weight="balanced",
            )
            model.fit(sentence_features(examples), labels)
            self.models[retrieval_intent] = model
            open_set = self._open_set(retrieval_intent)
            embeddings = self._embeddings(examples) if open_set else None
            if open_set and embeddings is None:
                raise ValueError("the open-set check needs a dense featurizer (a sentence embedding)")
            if open_set and embeddings is not None:
                if self._centred(retrieval_intent):
                    self.centres[retrieval_intent] = embeddings.mean(axis=0)
                    embeddings = normalize(embeddings - self.centres[retrieval_intent])
                label_array = np.asarray(labels)
                self.examples[retrieval_intent] = {
                    topic: embeddings[label_array == topic] for topic in sorted(set(labels))
                }
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if not self.models or not messages:
            return messages
        features = sentence_features(messages)
        probabilities = {name: model.predict_proba(features) for name, model in self.models.items()}
        embeddings = self._embeddings(messages) if self.examples else None
        for row, message in enumerate(messages):
            selector = dict(message.get(_SELECTOR) or {})
            selector["all_retrieval_intents"] = sorted(self.models)
            for name, model in self.models.items():
                ranked = sorted(
                    zip(model.classes_, probabilities[name][row], strict=True), key=lambda pair: -pair[1]
                )[: self.config["ranking_length"]]
                best_key, best_confidence = ranked[0]
                similarity = self._similarity(name, str(best_key), embeddings, row)
                open_set = self._open_set(name)
                if open_set and similarity is not None and similarity < open_set[1]:
                    # Like no question this answer was written for: a person answers instead.
                    best_key = open_set[0]
                selector[name] = {
                    "response": {
                        "responses": None,
                        "confidence": float(best_confidence),
                        "intent_response_key": str(best_key),
                        "utter_action": f"utter_{best_key}",
                        **({"similarity": round(similarity, 4)} if similarity is not None else {}),
                    },
                    "ranking": [{"confidence": float(c), "intent_response_key": str(k)} for k, c in ranked],
                }
            message.set(_SELECTOR, selector, add_to_output=True)
        return messages

    def _similarity(
        self, retrieval_intent: str, topic: str, embeddings: np.ndarray | None, row: int
    ) -> float | None:
        """The best cosine between message `row` and the topic's examples, when it is checked."""
        open_set = self._open_set(retrieval_intent)
        known = self.examples.get(retrieval_intent, {}).get(topic)
        if embeddings is None or open_set is None or topic == open_set[0] or known is None or not len(known):
            return None
        vector = embeddings[row]
        centre = self.centres.get(retrieval_intent)
        if centre is not None:
            vector = normalize((vector - centre)[None, :])[0]
        return float(np.max(known @ vector))

    def persist(self) -> None:
        """Stores plain arrays (no pickles), so loading a model file never runs its code."""
        arrays: dict[str, np.ndarray] = {}
        for name, model in self.models.items():
            arrays[f"{name}.coef"] = model.coef_
            arrays[f"{name}.intercept"] = model.intercept_
            arrays[f"{name}.classes"] = np.asarray(model.classes_, dtype=str)
        for name, topics in self.examples.items():
            for topic, embeddings in topics.items():
                arrays[f"{name}.examples.{topic}"] = embeddings
        for name, centre in self.centres.items():
            arrays[f"{name}.centre"] = centre
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / _FILE, **arrays)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TopicClassifier:
        models: dict[str, LogisticRegression] = {}
        examples: dict[str, dict[str, np.ndarray]] = {}
        centres: dict[str, np.ndarray] = {}
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(directory / _FILE, allow_pickle=False) as arrays:
                    for key in arrays.files:
                        if ".examples." in key:
                            name, topic = key.split(".examples.", 1)
                            examples.setdefault(name, {})[topic] = arrays[key]
                        elif key.endswith(".centre"):
                            centres[key.removesuffix(".centre")] = arrays[key]
                    model_keys = {
                        key.rsplit(".", 1)[0]
                        for key in arrays.files
                        if ".examples." not in key and not key.endswith(".centre")
                    }
                    for name in model_keys:
                        model = LogisticRegression(C=config.get("C", 30.0), class_weight="balanced")
                        model.coef_ = arrays[f"{name}.coef"]
                        model.intercept_ = arrays[f"{name}.intercept"]
                        model.classes_ = arrays[f"{name}.classes"]
                        models[name] = model
        except (ValueError, FileNotFoundError):
            logger.warning("no trained topics found for %s; topics will be missing", resource.name)
        return cls(config, model_storage, resource, models, examples, centres)
