"""The NLU quality gate: the shipped model, trained on data/, scored on the held-out file."""

from __future__ import annotations

import json
import re

import pytest

from bot.rasa_runtime import RasaRuntime
from bot.settings import PROJECT_ROOT
from bot.trainer.evaluation import load_heldout, prediction_from_parse, score

HELDOUT = PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml"
TRAINING = PROJECT_ROOT / "data" / "nlu"

# The product's targets (issue 2) are macro-F1 >= 0.90 and complaint recall >= 0.95, measured on a
# held-out set nobody tuned the training data or the pipeline against (choices are made by
# cross-validation on data/nlu, bench/nlu_cv.py). The trainers' bar (issue 5) is higher, 0.93 and
# 0.97, and the shipped model meets it (README, "Measured"), so the gate holds that bar.
TARGET_MACRO_F1 = 0.93
TARGET_COMPLAINT_RECALL = 0.97
MIN_MACRO_F1 = TARGET_MACRO_F1
MIN_COMPLAINT_RECALL = TARGET_COMPLAINT_RECALL


def _squash(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def test_heldout_is_disjoint_from_training_data() -> None:
    training = {_squash(e.text) for e in load_heldout(TRAINING)}
    leaked = [e.text for e in load_heldout(HELDOUT) if _squash(e.text) in training]
    assert leaked == []


def test_heldout_covers_every_intent_with_enough_examples() -> None:
    counts: dict[str, int] = {}
    for example in load_heldout(HELDOUT):
        base = example.intent.split("/")[0]
        counts[base] = counts.get(base, 0) + 1
    expected = {
        "complaint",
        "question",
        "praise",
        "greet",
        "goodbye",
        "request_human",
        "abuse",
        "chatter",
    }
    assert set(counts) == expected
    assert min(counts.values()) >= 15, counts


@pytest.mark.model
async def test_intent_quality_on_heldout(rasa_runtime: RasaRuntime) -> None:
    examples = load_heldout(HELDOUT)
    predictions = [prediction_from_parse(await rasa_runtime.parse(e.text)) for e in examples]
    report = score(zip(examples, predictions, strict=True))
    summary = {
        "macro_f1": round(report.intent_macro_f1, 3),
        "complaint_recall": round(report.complaint_recall, 3),
        "complaint_precision": round(report.complaint_precision, 3),
        "topic_accuracy": round(report.topic_accuracy, 3),
        "targets_met": report.intent_macro_f1 >= TARGET_MACRO_F1
        and report.complaint_recall >= TARGET_COMPLAINT_RECALL,
        "errors": [(e.text, e.expected, e.predicted) for e in report.errors],
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    assert report.intent_macro_f1 >= MIN_MACRO_F1, summary
    assert report.complaint_recall >= MIN_COMPLAINT_RECALL, summary
