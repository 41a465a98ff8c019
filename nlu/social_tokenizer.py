"""Rasa tokenizer for social-media text: normalised tokens, raw-text offsets.

The normalisation itself lives in `nlu.normalization`; this module only adapts it to Rasa's
`Tokenizer` contract (token text, lemma, offsets, the shared tokenizer options).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu.normalization import NormalisedToken, TokenKind, normalise

__all__ = ["SocialTokenizer"]

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SocialTokenizer(Tokenizer):
    """Tokenizes social-media text into normalised tokens that keep raw-text offsets.

    Token text and lemma are both the normalised form ("soo", "__url__",
    "emoji_pouting_face"): the CountVectorsFeaturizer reads the lemma and the
    LexicalSyntacticFeaturizer reads the text, and both should see the same vocabulary.
    Offsets always point into the raw text, so entity annotations align and extracted entity
    values are the customer's own characters.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The keys every Rasa tokenizer understands, with Rasa's defaults."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @staticmethod
    def not_supported_languages() -> list[str] | None:
        """Languages written without spaces between words, which this tokenizer cannot split."""
        return ["zh", "ja", "th"]

    def __init__(self, config: dict[str, Any]) -> None:
        """Creates the tokenizer.

        Args:
            config: The pipeline entry's options; missing keys take the defaults.
        """
        super().__init__({**self.get_default_config(), **config})

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SocialTokenizer:
        """Creates the component for the graph; the tokenizer keeps no trained state."""
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokenizes one attribute of a message.

        Args:
            message: The message; during training its annotated entities decide which of two
                plausible starts a token gets (see `NormalisedToken.alt_start`).
            attribute: The message attribute to tokenize, e.g. "text".

        Returns:
            At least one token, even for text that normalises to nothing.
        """
        text: str = message.get(attribute) or ""
        entity_starts = _entity_starts(message) if attribute == TEXT else frozenset()

        tokens: list[Token] = []
        for normalised in self._split_on_token_pattern(normalise(text)):
            start = normalised.start
            if normalised.alt_start is not None and normalised.alt_start in entity_starts:
                start = normalised.alt_start
            tokens.append(Token(normalised.text, start, normalised.end, lemma=normalised.text))

        if not tokens:
            tokens.append(_whole_text_token(text))
        return tokens

    def _split_on_token_pattern(self, tokens: list[NormalisedToken]) -> list[NormalisedToken]:
        """Applies the optional `token_pattern` to the normalised tokens.

        Rasa's own helper computes offsets from the token text, which is wrong once the text
        has been normalised ("__url__" is not the URL). Placeholders are never split; a piece
        of a token whose text no longer lines up with the raw text keeps the whole token's
        offsets.
        """
        if self.token_pattern_regex is None:
            return tokens

        result: list[NormalisedToken] = []
        for token in tokens:
            if token.kind not in (TokenKind.WORD, TokenKind.NUMBER, TokenKind.HASHTAG):
                result.append(token)
                continue
            pieces = [piece for piece in self.token_pattern_regex.findall(token.text) if piece]
            if not pieces:
                result.append(token)
                continue
            running_offset = 0
            for piece in pieces:
                start, end = token.start, token.end
                if token.aligned:
                    offset = token.text.index(piece, running_offset)
                    running_offset = offset + len(piece)
                    start, end = token.start + offset, token.start + offset + len(piece)
                # The other plausible start only still applies to a piece starting where the
                # token does.
                alt_start = token.alt_start if start == token.start else None
                result.append(NormalisedToken(piece, start, end, token.kind, alt_start))
        return result


def _entity_starts(message: Message) -> frozenset[int]:
    return frozenset(
        entity[ENTITY_ATTRIBUTE_START]
        for entity in message.get(ENTITIES) or []
        if ENTITY_ATTRIBUTE_START in entity
    )


def _whole_text_token(text: str) -> Token:
    """The single token for text that normalised to nothing (":)", "...", "   ").

    Like Rasa's WhitespaceTokenizer, keep the text itself rather than nothing, so that every
    message has a token for the featurizers to work with.
    """
    stripped = text.strip()
    start = text.find(stripped) if stripped else 0
    return Token(stripped.lower(), start, start + len(stripped), lemma=stripped.lower())
