"""Benchmark: what does the social-text normaliser buy over Rasa's WhitespaceTokenizer?

Trains the shipped config.yml and a copy whose SocialTokenizer is swapped for Rasa's
WhitespaceTokenizer, on the same data and seeds, scores both on the held-out set and prints JSON
with both scores and the deltas (social minus whitespace). Everything is written to a temporary
directory, including Rasa's training cache, so the checkout stays clean.

    python bench/nlu_normaliser.py [--report FILE]

Rasa's own output goes to stderr; stdout carries only the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot.trainer.evaluation import EvaluationReport, evaluate, train_nlu

__all__ = ["main", "run"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SOCIAL = "nlu.social_tokenizer.SocialTokenizer"
WHITESPACE = "WhitespaceTokenizer"
HEADLINE = (
    "intent_macro_f1",
    "complaint_recall",
    "complaint_precision",
    "topic_accuracy",
    "fallback_rate",
)
DELTAS = ("intent_macro_f1", "complaint_recall", "topic_accuracy")


def run(work_dir: Path) -> dict[str, EvaluationReport]:
    """Trains and scores both tokenizers, returning the report of each by name."""
    shipped = (ROOT / "config.yml").read_text(encoding="utf-8")
    # A text replacement rather than a YAML round trip, so the copy differs in that one name only.
    if shipped.count(f"name: {SOCIAL}") != 1:
        raise SystemExit(f"config.yml must use {SOCIAL} exactly once")
    configs = {
        "social": shipped,
        "whitespace": shipped.replace(f"name: {SOCIAL}", f"name: {WHITESPACE}"),
    }

    reports: dict[str, EvaluationReport] = {}
    for name, text in configs.items():
        config = work_dir / f"config_{name}.yml"
        config.write_text(text, encoding="utf-8")
        model = train_nlu(config, ROOT / "data" / "nlu", ROOT / "domain.yml", work_dir / "models", name)
        reports[name] = evaluate(model, ROOT / "tests" / "data" / "nlu_heldout.yml")
    return reports


def summary(reports: dict[str, EvaluationReport]) -> dict[str, Any]:
    """Headline scores per tokenizer and the deltas the normaliser has to justify itself by."""
    scores = {
        name: {"n_examples": report.n_examples, **{key: round(getattr(report, key), 4) for key in HEADLINE}}
        for name, report in reports.items()
    }
    deltas = {
        key: round(getattr(reports["social"], key) - getattr(reports["whitespace"], key), 4) for key in DELTAS
    }
    return {**scores, "delta_social_minus_whitespace": deltas}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="also write both full reports to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="firstline-bench-") as tmp:
        work_dir = Path(tmp)
        # Rasa reads its cache location from the environment when training starts.
        os.environ["RASA_CACHE_DIRECTORY"] = str(work_dir / "rasa-cache")
        # Rasa prints progress and "model saved" lines to stdout; keep stdout for the JSON.
        with contextlib.redirect_stdout(sys.stderr):
            reports = run(work_dir)

    if args.report:
        full = {name: report.to_dict() for name, report in reports.items()}
        args.report.write_text(json.dumps(full, indent=2, ensure_ascii=False), encoding="utf-8")
        logger.info("Full reports written to %s", args.report)
    print(json.dumps(summary(reports), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
