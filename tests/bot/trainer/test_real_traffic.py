"""The real-traffic yardstick's pure parts: labels, agreement, kinds and the reply judge."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.trainer import real_traffic
from bot.trainer.evaluation import LabelledExample, Prediction
from bot.trainer.real_traffic import LabelledTweet, ResponsePhrases, fitting_first_response


def _tweet(label: str, a: str, b: str, split: str = "dev") -> LabelledTweet:
    return LabelledTweet("1", label, a, b, split)


def test_the_committed_labels_load_with_600_dev_tweets() -> None:
    labels = real_traffic.load_labels(PROJECT_ROOT / real_traffic.LABELS_FILE)
    assert sum(label.split == "dev" for label in labels) >= 600
    assert len({label.tweet_id for label in labels}) == len(labels)
    # Where the two annotators agreed, that is the label; a third settled the rest.
    assert all(label.label == label.annotator_a for label in labels if label.annotator_a == label.annotator_b)


def test_a_label_outside_the_four_kinds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("tweet_id\tlabel\tannotator_a\tannotator_b\tsplit\n1\tabuse\tother\tother\tdev\n")
    with pytest.raises(ValueError, match=r"labels\.tsv:2"):
        real_traffic.load_labels(path)


@pytest.mark.parametrize(
    ("pairs", "observed", "kappa"),
    [
        ([("complaint", "complaint"), ("praise", "praise")], 1.0, 1.0),
        ([("complaint", "praise"), ("praise", "complaint")], 0.0, -1.0),
        (
            [("complaint", "complaint"), ("complaint", "praise"), ("praise", "praise"), ("other", "other")],
            0.75,
            0.6364,
        ),
    ],
)
def test_agreement_is_cohens_kappa(pairs: list[tuple[str, str]], observed: float, kappa: float) -> None:
    got_observed, got_kappa = real_traffic.agreement([_tweet(a, a, b) for a, b in pairs])
    assert got_observed == pytest.approx(observed)
    assert got_kappa == pytest.approx(kappa, abs=1e-4)


def test_examples_need_every_labelled_id_in_the_corpus() -> None:
    corpus = {"1": real_traffic.CorpusTweet("1", "late again", "negative", "Late Flight")}
    assert real_traffic.examples([_tweet("complaint", "complaint", "complaint")], corpus) == [
        LabelledExample("late again", "complaint")
    ]
    with pytest.raises(KeyError):
        real_traffic.examples([LabelledTweet("2", "other", "other", "other", "dev")], corpus)


@pytest.mark.parametrize(
    ("intent", "ranking", "kind"),
    [
        ("complaint", [("complaint", 0.9)], "complaint"),
        ("request_human", [("request_human", 0.8)], "question"),
        ("greet", [("greet", 0.8)], "other"),
        ("nlu_fallback", [("nlu_fallback", 0.5), ("question", 0.3), ("complaint", 0.2)], "question"),
    ],
)
def test_the_four_way_score_credits_kinds(intent: str, ranking: list[tuple[str, float]], kind: str) -> None:
    prediction = Prediction(intent, ranking[0][1], tuple(ranking))
    report = real_traffic.score_four_way([LabelledExample("x", kind)], [prediction])
    assert report.intent_macro_f1 == 1.0


def test_crowd_agreement_counts_only_concrete_negatives_and_positives() -> None:
    tweets = [
        real_traffic.CorpusTweet("1", "a", "negative", "Lost Luggage"),
        real_traffic.CorpusTweet("2", "b", "negative", "Can't Tell"),
        real_traffic.CorpusTweet("3", "c", "positive", ""),
        real_traffic.CorpusTweet("4", "d", "neutral", ""),
    ]
    predictions = [Prediction(name, 0.9, ((name, 0.9),)) for name in ("complaint", "praise", "chatter", "x")]
    crowd = real_traffic.crowd_agreement(tweets, predictions)
    assert (crowd.concrete_negative_as_complaint, crowd.concrete_negative_support) == (1.0, 1)
    assert (crowd.positive_as_praise, crowd.positive_support) == (0.0, 1)


@pytest.fixture(scope="module")
def phrases() -> ResponsePhrases:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return ResponsePhrases.from_responses(domain["responses"])


def _first(name: str) -> str:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return str(domain["responses"][name][0]["text"])


@pytest.mark.parametrize(
    ("kind", "replies", "handed_off", "fits"),
    [
        ("complaint", ["utter_ack_apology"], True, True),
        ("complaint", ["utter_ack_apology"], False, False),
        ("complaint", ["utter_praise"], True, False),
        ("question", ["utter_question/shipping"], False, True),
        ("question", [], True, True),
        ("question", [], False, False),
        ("praise", ["utter_praise"], False, True),
        ("praise", ["utter_praise", "utter_ack_apology"], False, False),
        ("other", [], False, True),
        ("other", ["utter_ack_apology"], True, False),
        ("other", ["utter_praise"], False, False),
    ],
)
def test_the_judge_of_first_responses(
    phrases: ResponsePhrases, kind: str, replies: list[str], handed_off: bool, fits: bool
) -> None:
    texts = [_first(name).replace("{name}", "Ana") for name in replies]
    assert fitting_first_response(kind, texts, handed_off, phrases) is fits
