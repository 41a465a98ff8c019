"""Train an NLU model and score it on held-out data.

Shared by the CI quality gate, the normaliser benchmark and the trainers' tooling, so that they
all report the same numbers. The scoring (`score`) is a pure function over labelled examples and
predictions; only `train_nlu`, `load_heldout` and `evaluate` touch Rasa, and they import it
lazily because importing Rasa loads TensorFlow, which the metrics and their tests do not need.

All intent metrics are computed on base intents: "complaint/delivery" counts as "complaint".
The topic after the slash is scored separately, from the response selector's choice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sklearn.metrics import f1_score, precision_recall_fscore_support

from bot.triage import FALLBACK_INTENT, RETRIEVAL_DELIMITER, base_intent, best_guess

if TYPE_CHECKING:
    from rasa.core.processor import MessageProcessor

__all__ = [
    "COMPLAINT_INTENT",
    "Confusion",
    "EvaluationReport",
    "IntentScores",
    "LabelledExample",
    "Prediction",
    "TrainingFailed",
    "WrongExample",
    "evaluate",
    "load_heldout",
    "predict",
    "prediction_from_parse",
    "score",
    "scored_intent",
    "train_nlu",
]

logger = logging.getLogger(__name__)

COMPLAINT_INTENT = "complaint"
# Rasa uses this selector key when a ResponseSelector has no `retrieval_intent` of its own.
_DEFAULT_SELECTOR = "default"
_SELECTOR_INTENTS_KEY = "all_retrieval_intents"


class TrainingFailed(RuntimeError):
    """Rasa finished training without producing a model (e.g. no usable NLU data)."""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """A held-out message and its label as written in the data ("complaint/delivery")."""

    text: str
    intent: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the model said about one message, reduced to what the metrics need.

    Attributes:
        intent: The top intent as parsed; may be "nlu_fallback".
        confidence: Its confidence.
        ranking: The intent ranking, best first, as (intent, confidence) pairs.
        topics: The response selector's choice per selector key, e.g.
            {"complaint": "complaint/delivery", "question": "question/opening_hours"}.
        topic_confidences: The confidence of each choice in `topics`, by the same keys.
    """

    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...] = ()
    topics: Mapping[str, str] = field(default_factory=dict)
    topic_confidences: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IntentScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Confusion:
    """How often examples of `expected` were scored as `predicted`."""

    expected: str
    predicted: str
    count: int


@dataclass(frozen=True, slots=True)
class WrongExample:
    text: str
    expected: str
    predicted: str
    confidence: float


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Scores of one model on one held-out set.

    Attributes:
        n_examples: Number of held-out examples.
        intent_macro_f1: Macro-F1 over the base intents that occur in the held-out set;
            predictions of other intents still count against the true intent's recall.
        complaint_precision: Precision of "complaint" (0.0 when it never occurs).
        complaint_recall: Recall of "complaint" (0.0 when it never occurs), the number that
            matters most: a missed complaint is a customer left without an acknowledgement.
        topic_accuracy: Share of examples with a topic ("complaint/delivery") whose response
            selector picked exactly that topic; 0.0 when `topic_support` is 0.
        topic_support: Number of examples with a topic.
        topic_accuracy_by_intent: `topic_accuracy` per retrieval intent.
        fallback_rate: Share of examples the pipeline answered with "nlu_fallback".
        per_intent: Precision, recall, F1 and support per base intent (expected or predicted).
        confusions: The most frequent (expected, predicted) mistakes, most frequent first.
        errors: Every example whose base intent was scored wrong.
        topic_errors: Every example whose topic was picked wrong.
    """

    n_examples: int
    intent_macro_f1: float
    complaint_precision: float
    complaint_recall: float
    topic_accuracy: float
    topic_support: int
    topic_accuracy_by_intent: Mapping[str, float]
    fallback_rate: float
    per_intent: Mapping[str, IntentScores]
    confusions: tuple[Confusion, ...]
    errors: tuple[WrongExample, ...]
    topic_errors: tuple[WrongExample, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (nested dataclasses become dicts, tuples lists)."""
        return dataclasses.asdict(self, dict_factory=_json_dict)


def scored_intent(prediction: Prediction) -> tuple[str, float]:
    """The base intent (and its confidence) that the intent metrics credit to a prediction: the
    classifier's best guess (`bot.triage.best_guess`), so a fallback counts as that guess and the
    fallback rate is reported on its own. A fallback with nothing else ranked counts as wrong."""
    return best_guess(prediction.intent, prediction.confidence, prediction.ranking)


def score(
    results: Iterable[tuple[LabelledExample, Prediction]], max_confusions: int = 10
) -> EvaluationReport:
    """Computes the evaluation report from (expected, predicted) pairs.

    Args:
        results: Each held-out example with the model's prediction for it.
        max_confusions: How many of the most frequent confusion pairs to keep.

    Returns:
        The report.

    Raises:
        ValueError: If there are no results; an empty held-out set must not pass a gate.
    """
    pairs = list(results)
    if not pairs:
        raise ValueError("No held-out examples to score.")

    expected = [base_intent(example.intent) for example, _ in pairs]
    scored = [scored_intent(prediction) for _, prediction in pairs]
    predicted = [name for name, _ in scored]

    expected_labels = sorted(set(expected))
    all_labels = sorted(set(expected) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        expected, predicted, labels=all_labels, zero_division=0
    )
    per_intent = {
        label: IntentScores(float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(all_labels, precision, recall, f1, support, strict=True)
    }
    macro_f1 = float(f1_score(expected, predicted, labels=expected_labels, average="macro", zero_division=0))
    complaint = per_intent.get(COMPLAINT_INTENT, IntentScores(0.0, 0.0, 0.0, 0))

    confusion_counts = Counter(
        (truth, guess) for truth, guess in zip(expected, predicted, strict=True) if truth != guess
    )
    confusions = tuple(
        Confusion(truth, guess, count)
        for (truth, guess), count in sorted(confusion_counts.items(), key=lambda item: (-item[1], item[0]))[
            :max_confusions
        ]
    )
    errors = tuple(
        WrongExample(example.text, truth, guess, confidence)
        for (example, _), truth, (guess, confidence) in zip(pairs, expected, scored, strict=True)
        if truth != guess
    )

    fallbacks = sum(base_intent(prediction.intent) == FALLBACK_INTENT for _, prediction in pairs)
    topic_accuracy, topic_support, by_intent, topic_errors = _score_topics(pairs)

    report = EvaluationReport(
        n_examples=len(pairs),
        intent_macro_f1=macro_f1,
        complaint_precision=complaint.precision,
        complaint_recall=complaint.recall,
        topic_accuracy=topic_accuracy,
        topic_support=topic_support,
        topic_accuracy_by_intent=by_intent,
        fallback_rate=fallbacks / len(pairs),
        per_intent=per_intent,
        confusions=confusions,
        errors=errors,
        topic_errors=topic_errors,
    )
    logger.info(
        "Scored %d examples: macro-F1 %.3f, complaint recall %.3f, topic accuracy %.3f, fallback rate %.3f",
        report.n_examples,
        report.intent_macro_f1,
        report.complaint_recall,
        report.topic_accuracy,
        report.fallback_rate,
    )
    return report


def prediction_from_parse(parse: Mapping[str, Any]) -> Prediction:
    """Reduces a Rasa parse result to a `Prediction`.

    Args:
        parse: The dict returned by Rasa's message processor for one message.

    Returns:
        The prediction; missing keys become an empty intent with confidence 0.
    """
    intent = parse.get("intent") or {}
    ranking = tuple(
        (str(entry.get("name") or ""), float(entry.get("confidence") or 0.0))
        for entry in parse.get("intent_ranking") or []
    )
    topics: dict[str, str] = {}
    topic_confidences: dict[str, float] = {}
    for key, selection in (parse.get("response_selector") or {}).items():
        if key == _SELECTOR_INTENTS_KEY or not isinstance(selection, Mapping):
            continue
        response = selection.get("response") or {}
        if response.get("intent_response_key"):
            topics[key] = str(response["intent_response_key"])
            topic_confidences[key] = float(response.get("confidence") or 0.0)
    return Prediction(
        intent=str(intent.get("name") or ""),
        confidence=float(intent.get("confidence") or 0.0),
        ranking=ranking,
        topics=topics,
        topic_confidences=topic_confidences,
    )


def train_nlu(config: Path, nlu_data: Path, domain: Path, out_dir: Path, fixed_name: str) -> Path:
    """Trains an NLU-only model.

    Args:
        config: The pipeline configuration (config.yml).
        nlu_data: An NLU data file or a directory of them.
        domain: The domain; the response selectors need its retrieval responses.
        out_dir: Where the model archive goes.
        fixed_name: The archive's name without ".tar.gz".

    Returns:
        The path of the trained model archive.

    Raises:
        TrainingFailed: If Rasa did not produce a model.
    """
    import rasa.model_training

    logger.info("Training NLU model %s from %s with %s", fixed_name, nlu_data, config)
    model = rasa.model_training.train_nlu(
        config=str(config),
        nlu_data=str(nlu_data),
        output=str(out_dir),
        fixed_model_name=fixed_name,
        domain=str(domain),
    )
    if not model:
        raise TrainingFailed(f"Rasa trained no NLU model from {nlu_data} with {config}")
    return Path(model)


def load_heldout(heldout: Path) -> list[LabelledExample]:
    """Reads the labelled examples of a Rasa NLU data file.

    Args:
        heldout: A Rasa NLU YAML file (or directory) with intent examples.

    Returns:
        One example per annotated message, labelled with its full intent.
    """
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(heldout))
    return [
        LabelledExample(text=message.get(TEXT), intent=message.get_full_intent())
        for message in data.intent_examples
    ]


def evaluate(model_path: Path, heldout: Path) -> EvaluationReport:
    """Scores a trained model on a held-out NLU data file.

    Args:
        model_path: A model archive from `train_nlu` (or a full Rasa model).
        heldout: The held-out NLU data.

    Returns:
        The evaluation report.

    Raises:
        ValueError: If the held-out data has no intent examples.
    """
    examples = load_heldout(heldout)
    if not examples:
        raise ValueError(f"No intent examples in {heldout}")
    predictions = predict(model_path, [example.text for example in examples])
    return score(zip(examples, predictions, strict=True))


def predict(model_path: Path, texts: Sequence[str]) -> list[Prediction]:
    """Parses every text with one loaded model.

    Goes through the message processor rather than `Agent.parse_message`, which would read a
    customer's "/something" as an intent payload.
    """
    from rasa.core.agent import Agent

    logger.info("Loading %s to parse %d messages", model_path, len(texts))
    processor = Agent.load(str(model_path)).processor
    if processor is None:
        raise ValueError(f"{model_path} holds no loadable model")
    return [prediction_from_parse(parse) for parse in asyncio.run(_parse_all(processor, texts))]


async def _parse_all(processor: MessageProcessor, texts: Sequence[str]) -> list[dict[str, Any]]:
    from rasa.core.channels.channel import UserMessage

    return [await processor.parse_message(UserMessage(text=text)) for text in texts]


def _score_topics(
    pairs: Sequence[tuple[LabelledExample, Prediction]],
) -> tuple[float, int, dict[str, float], tuple[WrongExample, ...]]:
    """Scores the response selectors on the examples that carry a topic.

    Each example is judged by the selector of its *expected* retrieval intent, whatever the
    intent classifier said, so that topic accuracy measures the selector alone.
    """
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    errors: list[WrongExample] = []
    for example, prediction in pairs:
        if RETRIEVAL_DELIMITER not in example.intent:
            continue
        retrieval_intent = base_intent(example.intent)
        selector = retrieval_intent if retrieval_intent in prediction.topics else _DEFAULT_SELECTOR
        chosen = prediction.topics.get(selector, "")
        totals[retrieval_intent] += 1
        if chosen == example.intent:
            hits[retrieval_intent] += 1
        else:
            confidence = prediction.topic_confidences.get(selector, 0.0)
            errors.append(WrongExample(example.text, example.intent, chosen, confidence))

    support = sum(totals.values())
    accuracy = sum(hits.values()) / support if support else 0.0
    by_intent = {intent: hits[intent] / totals[intent] for intent in sorted(totals)}
    return accuracy, support, by_intent, tuple(errors)


def _json_dict(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in items}
