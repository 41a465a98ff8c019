"""Cross-validated choice of the curated answers' open-set check (nlu/topic_classifier.py).

A curated answer must go only to the questions it answers. Two knobs decide it: how confident
the topic classifier must be (`Settings.question_confidence`) and how close the question must be
to one of the answer's own examples (`open_set.min_similarity` in config.yml). This script picks
them on data/nlu alone, so the committed off-FAQ set (tests/data/off_faq_questions.yml) stays a
test that nothing was tuned on:

- the FAQ questions of each fold's test part play the answerable questions;
- its `question/other` examples (questions no curated answer serves) play the off-FAQ ones.

The similarity is read two ways: the plain cosine of the sentence vectors, and the cosine after
both are centred on the mean vector of the training questions (`centre` in the open-set rule).
Centring takes away what every question shares, so an encoder whose questions crowd together
(one tuned on how people sound) still separates them by topic.

Featurizers are fitted on each fold's training part only. One JSON line per setting:

    python bench/faq_open_set.py [--folds 5] [--seed 7]

- `faq_answered`: share of FAQ questions that get a curated answer (want high);
- `faq_right`: share that get the right one (the rest of the answered got a wrong answer);
- `off_faq_answered`: share of off-FAQ questions that get one anyway (want near 0).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nlu_cv import ROOT, _labels, _pipeline
from nlu_cv_sweep import DENSE, _featurise, _stack

from bot.triage import NO_ANSWER_TOPIC

_NONE = NO_ANSWER_TOPIC
TOPIC_C = (10.0, 30.0)
CONFIDENCE = (0.5, 0.6, 0.7)
SIMILARITY = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.85)


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def sweep(config: Path, data: Path, folds: int, seed: int) -> list[dict[str, Any]]:
    from rasa.shared.nlu.training_data.loading import load_data

    base = load_data(str(data))
    questions = [
        m for m in base.intent_examples if m.get("text") and m.get_full_intent().startswith("question/")
    ]
    labels = np.asarray(_labels(questions))
    pipeline = _pipeline(config)
    # (C, truth, chosen topic, its confidence, best cosine to that topic's training examples,
    # the same centred)
    rows: list[tuple[float, str, str, float, float, float]] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(questions, labels):
        train = [questions[i] for i in train_idx]
        train_blocks, test_blocks = _featurise(
            pipeline, train, [questions[i].get("text") for i in test_idx], base
        )
        dense = next(name for name in train_blocks if name.endswith(DENSE))
        train_vectors = _unit(train_blocks[dense].toarray())
        test_vectors = _unit(test_blocks[dense].toarray())
        similarity = test_vectors @ train_vectors.T
        centre = train_vectors.mean(axis=0)
        centred = _unit(test_vectors - centre) @ _unit(train_vectors - centre).T
        for c in TOPIC_C:
            model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
            model.fit(_stack(train_blocks, "log_l2"), labels[train_idx])
            proba = model.predict_proba(_stack(test_blocks, "log_l2"))
            for row, index in enumerate(test_idx):
                best = int(proba[row].argmax())
                topic = str(model.classes_[best])
                same = labels[train_idx] == topic
                rows.append(
                    (
                        c,
                        str(labels[index]),
                        topic,
                        float(proba[row, best]),
                        float(similarity[row][same].max()),
                        float(centred[row][same].max()),
                    )
                )
    out = []
    for c in TOPIC_C:
        mine = [r for r in rows if r[0] == c]
        for centre, confidence, least in itertools.product((False, True), CONFIDENCE, SIMILARITY):
            answered = [
                (truth, topic, topic != _NONE and conf >= confidence and (cent if centre else sim) >= least)
                for _, truth, topic, conf, sim, cent in mine
            ]
            faq = [a for a in answered if a[0] != _NONE]
            off = [a for a in answered if a[0] == _NONE]
            out.append(
                {
                    "topic_C": c,
                    "centre": centre,
                    "question_confidence": confidence,
                    "min_similarity": least,
                    "faq_answered": round(float(np.mean([a for _, _, a in faq])), 3),
                    "faq_right": round(float(np.mean([a and t == truth for truth, t, a in faq])), 3),
                    "off_faq_answered": round(float(np.mean([a for _, _, a in off])), 3),
                    "faq": len(faq),
                    "off_faq": len(off),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "nlu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        rows = sweep(args.config, args.data, args.folds, args.seed)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
