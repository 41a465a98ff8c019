"""Real customer traffic as the yardstick of understanding: labelled airline tweets.

The project's own held-out set is written by the same hands as the training data, so it measures
how well the model fits our way of writing. Real posts to brands read differently (handles,
slang, sarcasm, half a sentence), and a model tuned on our examples alone falls far on them.

The corpus (`airline-tweets/Tweets.csv` under `Settings.corpora_dir`) is CC BY-NC-SA: its texts
may not enter this Apache-2.0 repository. The project commits only tweet ids with labels of its
own (`bench/data/airline_intents.tsv`: two independent annotators, disagreements settled by a
third) and reads the texts from the corpus folder when it scores. Labels are the four kinds
(`bot.triage.KINDS`); a model's intents are reduced to them with `bot.triage.kind_of`.

The file splits the labelled tweets into `dev` (every choice is made on it, together with
cross-validation on data/nlu) and `check` (read only to confirm a finished change).

Everything here is plain Python over data; parsing with a model is `bot.trainer.evaluation.predict`.
"""

from __future__ import annotations

import csv
import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.trainer.evaluation import EvaluationReport, LabelledExample, Prediction, score
from bot.triage import FALLBACK_INTENT, KINDS, NO_ANSWER_TOPIC, kind_of

__all__ = [
    "AIRLINE_CORPUS",
    "CONCRETE_REASONS",
    "LABELS_FILE",
    "CorpusTweet",
    "CrowdAgreement",
    "LabelledTweet",
    "ResponsePhrases",
    "agreement",
    "crowd_agreement",
    "examples",
    "fitting_first_response",
    "four_way",
    "load_corpus",
    "load_labels",
    "score_four_way",
]

AIRLINE_CORPUS = Path("airline-tweets") / "Tweets.csv"
"""Where the corpus lies under `Settings.corpora_dir`."""
LABELS_FILE = Path("bench") / "data" / "airline_intents.tsv"
"""The project's own labels, under the project directory."""
CONCRETE_REASONS = frozenset(
    {
        "Bad Flight",
        "Cancelled Flight",
        "Customer Service Issue",
        "Damaged Luggage",
        "Flight Attendant Complaints",
        "Flight Booking Problems",
        "Late Flight",
        "longlines",
        "Lost Luggage",
    }
)
"""Crowd reasons for a negative tweet that name a concrete grievance ("Can't Tell" does not)."""


@dataclass(frozen=True, slots=True)
class LabelledTweet:
    tweet_id: str
    label: str
    """The settled label: complaint, question, praise or other."""
    annotator_a: str
    annotator_b: str
    split: str
    """dev or check."""


@dataclass(frozen=True, slots=True)
class CorpusTweet:
    tweet_id: str
    text: str
    """As posted, with the HTML entities the corpus kept (`&amp;`) decoded."""
    sentiment: str
    """The crowd's label: negative, neutral or positive."""
    reason: str
    """The crowd's reason for a negative label, else empty."""


@dataclass(frozen=True, slots=True)
class CrowdAgreement:
    """How the model reads the corpus's crowd sentiment, over every tweet in the corpus."""

    concrete_negative_as_complaint: float
    """Share of negative tweets with a concrete reason that the model reads as complaint."""
    concrete_negative_support: int
    positive_as_praise: float
    """Share of positive tweets that the model reads as praise."""
    positive_support: int


def load_labels(path: Path) -> list[LabelledTweet]:
    """Reads the labels file (tab-separated, with a header).

    Raises:
        ValueError: A row names a label outside the four kinds or an unknown split.
    """
    rows: list[LabelledTweet] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle, delimiter="\t"), start=2):
            labels = (row["label"], row["annotator_a"], row["annotator_b"])
            if any(label not in KINDS for label in labels) or row["split"] not in ("dev", "check"):
                raise ValueError(f"{path}:{line}: labels must be one of {KINDS}, split dev or check")
            rows.append(LabelledTweet(row["tweet_id"], *labels, row["split"]))
    return rows


def load_corpus(path: Path) -> dict[str, CorpusTweet]:
    """Reads the airline corpus by tweet id.

    Raises:
        FileNotFoundError: The corpus is not there; its message says which setting points at it.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"no airline corpus at {path}; set FIRSTLINE_CORPORA_DIR to the folder holding airline-tweets/"
        )
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["tweet_id"]: CorpusTweet(
                row["tweet_id"],
                html.unescape(row["text"]),
                row["airline_sentiment"],
                row.get("negativereason") or "",
            )
            for row in csv.DictReader(handle)
        }


def examples(
    labels: Iterable[LabelledTweet], corpus: dict[str, CorpusTweet], split: str | None = "dev"
) -> list[LabelledExample]:
    """The labelled tweets of one split (None: all) with their texts, labelled with their kind.

    Raises:
        KeyError: A labelled tweet id is missing from the corpus (a different copy of it).
    """
    chosen = [label for label in labels if split is None or label.split == split]
    missing = [label.tweet_id for label in chosen if label.tweet_id not in corpus]
    if missing:
        raise KeyError(f"{len(missing)} labelled tweet ids are not in the corpus, e.g. {missing[0]}")
    return [LabelledExample(corpus[label.tweet_id].text, label.label) for label in chosen]


def agreement(labels: Sequence[LabelledTweet]) -> tuple[float, float]:
    """Observed agreement and Cohen's kappa of the two annotators."""
    if not labels:
        raise ValueError("no labels")
    n = len(labels)
    observed = sum(label.annotator_a == label.annotator_b for label in labels) / n
    first = Counter(label.annotator_a for label in labels)
    second = Counter(label.annotator_b for label in labels)
    expected = sum(first[kind] * second[kind] for kind in KINDS) / (n * n)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 1.0
    return observed, kappa


def four_way(prediction: Prediction) -> Prediction:
    """A prediction with its intents reduced to kinds; a fallback keeps its ranking's best guess.

    The ranking is folded by kind (the best confidence per kind), so that `score` credits a
    fallback with the classifier's best kind, as it does for intents on the held-out set.
    """
    ranking: dict[str, float] = {}
    for name, confidence in prediction.ranking:
        kind = FALLBACK_INTENT if name == FALLBACK_INTENT else kind_of(name)
        ranking[kind] = max(confidence, ranking.get(kind, 0.0))
    intent = FALLBACK_INTENT if prediction.intent == FALLBACK_INTENT else kind_of(prediction.intent)
    return Prediction(
        intent=intent,
        confidence=prediction.confidence,
        ranking=tuple(sorted(ranking.items(), key=lambda item: -item[1])),
    )


def score_four_way(
    labelled: Sequence[LabelledExample], predictions: Sequence[Prediction]
) -> EvaluationReport:
    """The held-out report's metrics over the four kinds (macro-F1, complaint recall, per kind)."""
    return score(zip(labelled, (four_way(p) for p in predictions), strict=True))


def crowd_agreement(corpus: Iterable[CorpusTweet], predictions: Sequence[Prediction]) -> CrowdAgreement:
    """How often the model's kind matches the crowd's sentiment where the two should agree."""
    concrete = positive = as_complaint = as_praise = 0
    for tweet, prediction in zip(corpus, predictions, strict=True):
        kind = four_way(prediction)
        best = kind.intent if kind.intent != FALLBACK_INTENT else _best_kind(kind)
        if tweet.sentiment == "negative" and tweet.reason in CONCRETE_REASONS:
            concrete += 1
            as_complaint += best == "complaint"
        elif tweet.sentiment == "positive":
            positive += 1
            as_praise += best == "praise"
    return CrowdAgreement(
        as_complaint / concrete if concrete else 0.0,
        concrete,
        as_praise / positive if positive else 0.0,
        positive,
    )


def _best_kind(prediction: Prediction) -> str:
    for name, _ in prediction.ranking:
        if name != FALLBACK_INTENT:
            return name
    return FALLBACK_INTENT


@dataclass(frozen=True, slots=True)
class ResponsePhrases:
    """The domain's wordings that tell what a reply did: apologised, thanked, refused, answered.

    Read from the domain's responses (every variation, every language), so a judge of replies
    follows the wording trainers edit instead of a copy of it.
    """

    apologies: tuple[re.Pattern[str], ...]
    thanks: tuple[re.Pattern[str], ...]
    refusals: tuple[re.Pattern[str], ...]
    answers: tuple[re.Pattern[str], ...]

    @classmethod
    def from_responses(cls, responses: Mapping[str, Sequence[Mapping[str, Any]]]) -> ResponsePhrases:
        not_an_answer = f"utter_{NO_ANSWER_TOPIC}"  # says a person will answer

        def patterns(*names: str, prefix: str | None = None) -> tuple[re.Pattern[str], ...]:
            chosen = [
                variation["text"]
                for name, variations in responses.items()
                if name in names or (prefix is not None and name.startswith(prefix) and name != not_an_answer)
                for variation in variations
                if isinstance(variation.get("text"), str)
            ]
            return tuple(_template_pattern(text) for text in chosen)

        return cls(
            apologies=patterns("utter_ack_apology"),
            thanks=patterns("utter_praise"),
            refusals=patterns("utter_out_of_scope"),
            answers=patterns(prefix="utter_question/"),
        )


def fitting_first_response(
    kind: str, replies: Sequence[str], handed_off: bool, phrases: ResponsePhrases
) -> bool:
    """Whether what a customer got fits what they wrote, as the product promises:

    - a complaint: an apology and a person;
    - a question: a curated answer or a person;
    - praise: thanks, and no apology;
    - anything else: no apology, no thanks and no "outside what I can help with" (silence is fine).
    """
    said = " ".join(replies)

    def has(patterns: Sequence[re.Pattern[str]]) -> bool:
        return any(pattern.search(said) for pattern in patterns)

    if kind == "complaint":
        return has(phrases.apologies) and handed_off
    if kind == "question":
        return (has(phrases.answers) or handed_off) and not has(phrases.refusals)
    if kind == "praise":
        return has(phrases.thanks) and not has(phrases.apologies)
    return not (has(phrases.apologies) or has(phrases.thanks) or has(phrases.refusals))


def _template_pattern(template: str) -> re.Pattern[str]:
    """A response template as a pattern: its `{slots}` match anything."""
    parts = re.split(r"\{[^{}]*\}", template)
    return re.compile(".*?".join(re.escape(part.strip()) for part in parts if part.strip()), re.DOTALL)
