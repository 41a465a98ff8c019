"""SocialTokenizer inside Rasa: token text, lemma and offsets, options, entity alignment."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from rasa.engine.recipes.recipe import Recipe
from rasa.nlu.constants import BILOU_ENTITIES, TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils import bilou_utils
from rasa.shared.data import TrainingType
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import read_model_configuration

from bot.rasa_runtime import RasaRuntime
from nlu.social_tokenizer import SocialTokenizer

ROOT = Path(__file__).resolve().parents[2]
ANNOTATED_DATA = sorted((ROOT / "data" / "nlu").glob("*.yml")) + sorted(
    (ROOT / "tests" / "data").glob("nlu_*.yml")
)


def _tokens(text: str, config: dict[str, Any] | None = None) -> list[tuple[str, int, int]]:
    tokenizer = SocialTokenizer(config or {})
    return [(token.text, token.start, token.end) for token in tokenizer.tokenize(Message({TEXT: text}), TEXT)]


def _training_data(yaml_examples: str) -> TrainingData:
    return RasaYAMLReader().reads('version: "3.1"\nnlu:\n' + yaml_examples)


def _misaligned_warnings(data: TrainingData) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        EntityExtractorMixin.check_correct_entity_annotations(data)
    return [str(warning.message) for warning in caught if "Misaligned" in str(warning.message)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is my parcel", [("where", 0, 5), ("is", 6, 8), ("my", 9, 11), ("parcel", 12, 18)]),
        ("sooooo late!!!", [("soo", 0, 6), ("late", 7, 11), ("!!", 11, 14)]),
        ("@acme 😡", [("__mention__", 0, 5), ("emoji_pouting_face", 6, 7)]),
        ("#NeverAgain ok", [("never", 0, 11), ("again", 0, 11), ("ok", 12, 14)]),
        ("order #4839201", [("order", 0, 5), ("4839201", 7, 14)]),
        ("see https://t.co/x.", [("see", 0, 3), ("__url__", 4, 18)]),
        ("I DON’T CARE", [("i", 0, 1), ("don't", 2, 7), ("care", 8, 12)]),
    ],
)
def test_tokens_keep_raw_offsets(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert _tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [("", 0, 0)]),
        ("   ", [("", 0, 0)]),
        (" :) ", [(":)", 1, 3)]),
        ("...", [("...", 0, 3)]),
        ("😡😡", [("emoji_pouting_face", 0, 1), ("emoji_pouting_face", 1, 2)]),
        ("https://a.b/c www.d.e", [("__url__", 0, 13), ("__url__", 14, 21)]),
    ],
)
def test_every_message_gets_a_token(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert _tokens(text) == expected


def test_lemma_is_the_normalised_form() -> None:
    """CountVectorsFeaturizer reads the lemma, so it must be normalised like the text."""
    tokens = SocialTokenizer({}).tokenize(Message({TEXT: "SOOOO MAD 😡 @acme"}), TEXT)
    assert [token.lemma for token in tokens] == [token.text for token in tokens]
    assert [token.lemma for token in tokens] == ["soo", "mad", "emoji_pouting_face", "__mention__"]


def test_defaults_are_merged_under_the_pipeline_options() -> None:
    tokenizer = SocialTokenizer({"intent_tokenization_flag": True})
    assert tokenizer.intent_tokenization_flag is True
    assert tokenizer.intent_split_symbol == "_"
    assert tokenizer.token_pattern_regex is None


def test_intent_split_option_is_honoured() -> None:
    data = TrainingData([Message({TEXT: "get me a human", INTENT: "request_human"})])
    SocialTokenizer({"intent_tokenization_flag": True}).process_training_data(data)
    intent_tokens = data.training_examples[0].get(TOKENS_NAMES[INTENT])
    assert [token.text for token in intent_tokens] == ["request", "human"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A faithful token is split at raw offsets.
        ("ks-5520913", [("ks", 0, 2), ("5520913", 3, 10)]),
        # An elongated word no longer lines up with the raw text: pieces keep the word's span.
        ("sooo-good", [("soo", 0, 9), ("good", 0, 9)]),
        # Placeholders are never split.
        ("@acme_uk 😡", [("__mention__", 0, 8), ("emoji_pouting_face", 9, 10)]),
    ],
)
def test_token_pattern(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert _tokens(text, {"token_pattern": r"[^\W_]+"}) == expected


@pytest.mark.parametrize(
    ("annotated", "value", "tags"),
    [
        ("where is order [#4839201](order_number) ???", "#4839201", ["O", "O", "O", "U-order_number", "O"]),
        ("where is order #[4839201](order_number) ???", "4839201", ["O", "O", "O", "U-order_number", "O"]),
        ("order [4839201](order_number) pls", "4839201", ["O", "U-order_number", "O"]),
        ("order [KS-5520913](order_number) 😡", "KS-5520913", ["O", "U-order_number", "O"]),
        ("my [Hub Mini](product)!!! broke", "Hub Mini", ["O", "B-product", "L-product", "O", "O"]),
        ("@acme [#NeverAgain](campaign)", "#NeverAgain", ["O", "O", "U-campaign"]),
    ],
)
def test_training_entities_align_with_tokens(annotated: str, value: str, tags: list[str]) -> None:
    data = _training_data(f"  - intent: complaint\n    examples: |\n      - {annotated}\n")
    SocialTokenizer({}).process_training_data(data)
    example = data.training_examples[0]
    assert example.get(ENTITIES)[0]["value"] == value

    assert _misaligned_warnings(data) == []
    bilou_utils.apply_bilou_schema_to_message(example)
    assert example.get(BILOU_ENTITIES) == tags


def test_order_number_token_starts_at_the_digits_when_nothing_is_annotated() -> None:
    """At prediction time the extracted value is the token's span: the number without "#"."""
    text = "where is order #4839201"
    token = SocialTokenizer({}).tokenize(Message({TEXT: text}), TEXT)[-1]
    assert text[token.start : token.end] == "4839201"


@pytest.mark.parametrize("path", ANNOTATED_DATA, ids=lambda path: path.name)
def test_project_annotations_align(path: Path) -> None:
    """Every entity the trainers annotated must sit on token boundaries, or DIET never sees it."""
    data = load_data(str(path))
    SocialTokenizer({}).process_training_data(data)
    assert _misaligned_warnings(data) == []


def test_config_resolves_to_this_component() -> None:
    config = read_model_configuration(ROOT / "config.yml")
    graph = Recipe.recipe_for_name(config["recipe"]).graph_config_for_recipe(
        config, {}, training_type=TrainingType.NLU
    )
    tokenizers = [node for node in graph.predict_schema.nodes.values() if node.uses is SocialTokenizer]
    assert len(tokenizers) == 1


@pytest.mark.model
@pytest.mark.parametrize(
    "text",
    ["", "   ", ":)", "😡😡😡", "https://t.co/x www.acme.com", "sooo late 😡 #NeverAgain " * 4_000],
    ids=["empty", "whitespace", "emoticon", "emoji-only", "urls-only", "100kB"],
)
async def test_trained_pipeline_parses_awkward_messages(rasa_runtime: RasaRuntime, text: str) -> None:
    parse = await rasa_runtime.parse(text)
    assert parse["intent"]["name"]
    if not text.strip():
        assert parse["intent"]["name"] == "nlu_fallback"
