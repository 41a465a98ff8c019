"""Cross-validation of the NLU pipeline on the training data alone.

Every modelling choice (pipeline, hyper-parameters, decision rules, new training data) is made
here, never on tests/data/nlu_heldout.yml, which only checks a finished change. The script runs
the pipeline of each config file's NLU part (tokenizer, featurizers, intent classifiers, topic
classifier, fallback) component by component on stratified folds of data/nlu: each fold's
featurizers and classifiers are trained on the other folds only, so no vocabulary or weight has
seen the examples it is scored on. The entity extractors are skipped (they do not touch intents)
and so is Rasa's graph, whose caching and fingerprinting cost more than the training itself.

Out-of-fold predictions are pooled and scored with `bot.trainer.evaluation.score`, the same metrics as the
quality gate: intent macro-F1, complaint recall and precision, topic accuracy, fallback rate.

    python bench/nlu_cv.py                                    # the shipped config.yml
    python bench/nlu_cv.py --config a.yml --config b.yml      # compare configs on the same folds
    python bench/nlu_cv.py --base-ref f8d043b                 # judge new data, see below

With `--base-ref`, only examples that already existed in data/nlu at that git revision are
scored; examples added since are put in every training fold. That asks the question new data has
to answer: does it help on messages it was not written next to?

Rasa's own output goes to stderr; stdout carries only the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.trainer.evaluation import EvaluationReport, LabelledExample, Prediction, prediction_from_parse, score

__all__ = ["CvResult", "cross_validate", "main"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
# Entity extraction does not change the intent or the topic; it only costs time here.
_SKIPPED = {"CRFEntityExtractor", "EntitySynonymMapper", "DucklingEntityExtractor", "SpacyEntityExtractor"}


@dataclass(frozen=True, slots=True)
class CvResult:
    """Pooled out-of-fold report of one config, with the spread of macro-F1 over the folds."""

    config: str
    report: EvaluationReport
    fold_macro_f1: tuple[float, ...]
    seconds: float

    def summary(self) -> dict[str, Any]:
        report = self.report
        return {
            "config": self.config,
            "n_scored": report.n_examples,
            "macro_f1": round(report.intent_macro_f1, 4),
            "macro_f1_fold_sd": round(statistics.pstdev(self.fold_macro_f1), 4),
            "complaint_recall": round(report.complaint_recall, 4),
            "complaint_precision": round(report.complaint_precision, 4),
            "topic_accuracy": round(report.topic_accuracy, 4),
            "fallback_rate": round(report.fallback_rate, 4),
            "per_intent_f1": {name: round(s.f1, 3) for name, s in sorted(report.per_intent.items())},
            "confusions": [(c.expected, c.predicted, c.count) for c in report.confusions[:8]],
            "seconds": round(self.seconds, 1),
        }


def _pipeline(config: Path) -> list[dict[str, Any]]:
    from rasa.shared.utils.io import read_yaml_file

    entries = read_yaml_file(str(config)).get("pipeline") or []
    return [dict(entry) for entry in entries if entry.get("name") not in _SKIPPED]


def _components(pipeline: list[dict[str, Any]], work_dir: Path) -> list[tuple[Any, bool, bool]]:
    """Creates untrained components the way Rasa's graph does (defaults, then the entry).

    Returns:
        Each component with whether it trains and whether it preprocesses the training data
        (tokenizers and featurizers; Rasa does not run classifiers over the training data).
    """
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    storage = LocalModelStorage(work_dir)
    preprocessing = {
        DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER,
        DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
    }
    built = []
    for index, entry in enumerate(pipeline):
        registered = DefaultV1Recipe._from_registry(entry["name"])
        clazz = registered.clazz
        options = {key: value for key, value in entry.items() if key != "name"}
        node = f"cv_{index}_{clazz.__name__}"
        context = ExecutionContext(GraphSchema({}), model_id="cv", node_name=node)
        config = {**clazz.get_default_config(), **options}
        component = clazz.create(config, storage, Resource(node), context)
        built.append((component, registered.is_trainable, bool(registered.types & preprocessing)))
    return built


def _run_fold(
    pipeline: list[dict[str, Any]], train: list[Any], test_texts: Sequence[str], base: Any, work_dir: Path
) -> list[Prediction]:
    """Trains each component on `train` in order and returns its predictions for `test_texts`."""
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = TrainingData(
        training_examples=[Message(data=dict(message.data)) for message in train],
        entity_synonyms=base.entity_synonyms,
        regex_features=base.regex_features,
        lookup_tables=base.lookup_tables,
    )
    test = [Message(data={TEXT: text}) for text in test_texts]
    for component, trainable, preprocessing in _components(pipeline, work_dir):
        if trainable:
            component.train(data)
        if preprocessing:
            component.process_training_data(data)
        component.process(test)
    return [prediction_from_parse(message.as_dict(only_output_properties=True)) for message in test]


def _labels(messages: Sequence[Any]) -> list[str]:
    return [message.get_full_intent() for message in messages]


def _squash(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _texts_at(ref: str, data: Path) -> set[str]:
    """Squashed example texts of the NLU data as committed at `ref`."""
    from rasa.shared.nlu.training_data.loading import load_data

    relative = data.resolve().relative_to(ROOT)
    with tempfile.TemporaryDirectory(prefix="firstline-cv-ref-") as tmp:
        archive = subprocess.run(
            ["git", "archive", ref, str(relative)], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        old = load_data(str(Path(tmp) / relative))
    return {_squash(message.get("text")) for message in old.intent_examples}


def cross_validate(
    configs: Sequence[Path], data: Path, folds: int, seeds: Sequence[int], base_ref: str | None
) -> list[CvResult]:
    """Scores every config on the same folds of `data`.

    Args:
        configs: Config files; only their NLU pipelines are used.
        data: The NLU training data (file or directory).
        folds: Number of stratified folds.
        seeds: One fold split per seed; the predictions of every split are pooled.
        base_ref: If set, only examples present in `data` at this git revision are scored.

    Returns:
        One result per config, in the order given.
    """
    from rasa.shared.nlu.training_data.loading import load_data

    base = load_data(str(data))
    examples = [m for m in base.intent_examples if m.get("text")]
    labels = _labels(examples)
    scored = np.arange(len(examples))
    always_train: list[Any] = []
    if base_ref:
        old = _texts_at(base_ref, data)
        keep = [i for i, m in enumerate(examples) if _squash(m.get("text")) in old]
        kept = set(keep)
        always_train = [m for i, m in enumerate(examples) if i not in kept]
        scored = np.asarray(keep)
        logger.info(
            "%d examples scored, %d added since %s train every fold", len(keep), len(always_train), base_ref
        )

    results = []
    for config in configs:
        pipeline = _pipeline(config)
        started = time.perf_counter()
        pairs: list[tuple[LabelledExample, Prediction]] = []
        fold_f1: list[float] = []
        for seed in seeds:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            for train_idx, test_idx in splitter.split(scored, [labels[i] for i in scored]):
                train = [examples[i] for i in scored[train_idx]] + always_train
                test = [examples[i] for i in scored[test_idx]]
                with tempfile.TemporaryDirectory(prefix="firstline-cv-") as tmp:
                    predictions = _run_fold(pipeline, train, [m.get("text") for m in test], base, Path(tmp))
                fold_pairs = [
                    (LabelledExample(m.get("text"), label), p)
                    for m, label, p in zip(test, _labels(test), predictions, strict=True)
                ]
                fold_f1.append(score(fold_pairs).intent_macro_f1)
                pairs.extend(fold_pairs)
        results.append(CvResult(str(config), score(pairs), tuple(fold_f1), time.perf_counter() - started))
        logger.info("%s: %s", config, json.dumps(results[-1].summary()))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, action="append", help="config file (repeatable)")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "nlu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, action="append", help="fold split seed (repeatable)")
    parser.add_argument("--base-ref", help="score only examples that existed at this git revision")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    configs = args.config or [ROOT / "config.yml"]
    # Rasa prints progress to stdout; keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        results = cross_validate(configs, args.data, args.folds, args.seed or [7], args.base_ref)
    print(json.dumps([result.summary() for result in results], indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
