"""Picks the topic of a retrieval intent ("complaint/delivery", "question/opening_hours").

Rasa's own ResponseSelector does this with a TensorFlow model per retrieval intent. Each of
those costs about a minute of training and many seconds of graph building every time the model
is loaded, for a decision that a linear model over the pipeline's sparse features makes as well
on this kind of data. This component keeps Rasa's data format (retrieval intents in the training
data, `utter_<intent>/<topic>` responses in the domain) and writes its answer under
`response_selector` exactly as ResponseSelector does, so Rasa's dialogue, `rasa test` and
Firstline's actions read it unchanged.
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
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.linear_model import LogisticRegression

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
            # Inverse regularisation strength: the sparse features are many and the data small.
            "C": 10.0,
            "max_iter": 2000,
            "ranking_length": 5,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        models: dict[str, LogisticRegression] | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.models = models or {}

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
    def _features(messages: list[Message]) -> csr_matrix:
        rows = []
        for message in messages:
            sparse = message.get_sparse_features(TEXT)[1]
            dense = message.get_dense_features(TEXT)[1]
            parts = [csr_matrix(sparse.features)] if sparse is not None else []
            if dense is not None:
                parts.append(csr_matrix(dense.features))
            rows.append(hstack(parts) if parts else csr_matrix((1, 0)))
        return vstack(rows).tocsr()

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
                C=self.config["C"], max_iter=self.config["max_iter"], class_weight="balanced"
            )
            model.fit(self._features(examples), labels)
            self.models[retrieval_intent] = model
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if not self.models or not messages:
            return messages
        features = self._features(messages)
        probabilities = {name: model.predict_proba(features) for name, model in self.models.items()}
        for row, message in enumerate(messages):
            selector = dict(message.get(_SELECTOR) or {})
            selector["all_retrieval_intents"] = sorted(self.models)
            for name, model in self.models.items():
                ranked = sorted(
                    zip(model.classes_, probabilities[name][row], strict=True), key=lambda pair: -pair[1]
                )[: self.config["ranking_length"]]
                best_key, best_confidence = ranked[0]
                selector[name] = {
                    "response": {
                        "responses": None,
                        "confidence": float(best_confidence),
                        "intent_response_key": str(best_key),
                        "utter_action": f"utter_{best_key}",
                    },
                    "ranking": [{"confidence": float(c), "intent_response_key": str(k)} for k, c in ranked],
                }
            message.set(_SELECTOR, selector, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Stores plain arrays (no pickles), so loading a model file never runs its code."""
        arrays: dict[str, np.ndarray] = {}
        for name, model in self.models.items():
            arrays[f"{name}.coef"] = model.coef_
            arrays[f"{name}.intercept"] = model.intercept_
            arrays[f"{name}.classes"] = np.asarray(model.classes_, dtype=str)
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
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(directory / _FILE, allow_pickle=False) as arrays:
                    for name in {key.rsplit(".", 1)[0] for key in arrays.files}:
                        model = LogisticRegression(C=config.get("C", 10.0), class_weight="balanced")
                        model.coef_ = arrays[f"{name}.coef"]
                        model.intercept_ = arrays[f"{name}.intercept"]
                        model.classes_ = arrays[f"{name}.classes"]
                        models[name] = model
        except (ValueError, FileNotFoundError):
            logger.warning("no trained topics found for %s; topics will be missing", resource.name)
        return cls(config, model_storage, resource, models)
