"""How the model reads real customers: the labelled airline tweets, scored four ways.

    python bench/nlu_real.py                      # the model for the current data, dev split
    python bench/nlu_real.py --model m.tar.gz     # any model archive
    python bench/nlu_real.py --crowd              # also every corpus tweet against crowd sentiment
    python bench/nlu_real.py --service            # also post each tweet as a customer, judge the reply
    python bench/nlu_real.py --split check        # the check split: only for a finished change

It prints one JSON document on stdout (progress on stderr):

- `labels`: how many tweets are labelled, and the two annotators' agreement (observed, kappa);
- `model`: four-way macro-F1, complaint recall and precision, F1 per kind, fallback rate and the
  costliest confusions on the chosen split;
- `crowd` (with `--crowd`): over all 14,640 tweets, the share of negative tweets with a concrete
  crowd reason read as complaint, and of positive tweets read as praise;
- `service` (with `--service`): each tweet posted publicly through the web API by its own new
  customer, in a fresh in-process service with a throwaway store, and the share of customers who
  got a fitting first response (`bot.trainer.real_traffic.fitting_first_response`), per kind.

The texts come from the corpus under `FIRSTLINE_CORPORA_DIR` (default `../shared/corpora`); the
repository holds only tweet ids and labels (bench/data/airline_intents.tsv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bot import model_store
from bot.log_format import quiet_rasa_logging
from bot.settings import PROJECT_ROOT, Settings
from bot.trainer import real_traffic
from bot.trainer.evaluation import EvaluationReport, LabelledExample, predict
from bot.triage import KINDS

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _progress(message: str) -> None:
    print(f"[nlu_real] {message}", file=sys.stderr, flush=True)


def _model_summary(report: EvaluationReport) -> dict[str, Any]:
    return {
        "n": report.n_examples,
        "macro_f1": round(report.intent_macro_f1, 3),
        "complaint_recall": round(report.complaint_recall, 3),
        "complaint_precision": round(report.complaint_precision, 3),
        "f1": {kind: round(report.per_intent[kind].f1, 3) for kind in KINDS if kind in report.per_intent},
        "support": {kind: report.per_intent[kind].support for kind in KINDS if kind in report.per_intent},
        "fallback_rate": round(report.fallback_rate, 3),
        "confusions": [f"{c.expected} -> {c.predicted}: {c.count}" for c in report.confusions],
    }


async def _through_service(settings: Settings, model: Path, tweets: list[LabelledExample]) -> dict[str, Any]:
    """Posts every tweet publicly through the HTTP API, each by a new customer, and judges it."""
    import httpx

    from bot.app import create_app
    from bot.service import Service

    domain = yaml.safe_load((settings.project_dir / "domain.yml").read_text(encoding="utf-8"))
    phrases = real_traffic.ResponsePhrases.from_responses(domain.get("responses") or {})
    service = Service.build(settings, model)
    fitting: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    try:
        app = create_app(service)
        transport = httpx.ASGITransport(app=app)
        for number, tweet in enumerate(tweets, start=1):
            # A new client has no visitor cookie, so each tweet comes from a new customer.
            async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
                response = await http.post("/api/web/messages", json={"text": tweet.text, "public": True})
            if response.status_code != 200:
                statuses[f"http {response.status_code}"] += 1
                totals[tweet.intent] += 1
                continue
            outcome = response.json()
            statuses[outcome["status"]] += 1
            replies = [reply["text"] for reply in outcome["replies"]]
            handed_off = outcome.get("handoff_id") is not None
            totals[tweet.intent] += 1
            fitting[tweet.intent] += real_traffic.fitting_first_response(
                tweet.intent, replies, handed_off, phrases
            )
            if number % 100 == 0:
                _progress(f"posted {number}/{len(tweets)}")
    finally:
        await service.stop()
    total = sum(totals.values())
    return {
        "n": total,
        "fitting": round(sum(fitting.values()) / total, 3) if total else 0.0,
        "fitting_by_kind": {kind: round(fitting[kind] / totals[kind], 3) for kind in KINDS if totals[kind]},
        "statuses": dict(statuses),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a model archive (default: the one for the current data)")
    parser.add_argument("--split", choices=("dev", "check", "all"), default="dev")
    parser.add_argument(
        "--crowd", action="store_true", help="score every corpus tweet against crowd sentiment"
    )
    parser.add_argument("--service", action="store_true", help="post the split through the service")
    parser.add_argument("--labels", type=Path, default=PROJECT_ROOT / real_traffic.LABELS_FILE)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    quiet_rasa_logging()  # Rasa's structlog would print every parse to stdout, into the JSON

    settings = Settings()
    model = args.model or model_store.find_model(settings.project_dir, settings.model_dir)
    if model is None:
        model_dir = Path.home() / ".cache" / "firstline" / "models"
        model = model_store.find_model(settings.project_dir, model_dir) or model_store.train(
            settings.project_dir, model_dir
        )
    if args.split == "check":
        _progress("scoring the CHECK split: use it only to confirm a finished change, never to choose")

    labels = real_traffic.load_labels(args.labels)
    corpus = real_traffic.load_corpus(settings.corpora_dir / real_traffic.AIRLINE_CORPUS)
    tweets = real_traffic.examples(labels, corpus, None if args.split == "all" else args.split)
    observed, kappa = real_traffic.agreement(labels)

    started = time.monotonic()
    texts = [tweet.text for tweet in tweets]
    crowd_tweets = list(corpus.values()) if args.crowd else []
    predictions = predict(model, texts + [tweet.text for tweet in crowd_tweets])
    report = real_traffic.score_four_way(tweets, predictions[: len(texts)])
    result: dict[str, Any] = {
        "model": str(model),
        "split": args.split,
        "labels": {
            "tweets": len(labels),
            "by_split": dict(Counter(label.split for label in labels)),
            "agreement": round(observed, 3),
            "kappa": round(kappa, 3),
        },
        "nlu": _model_summary(report),
    }
    if args.crowd:
        crowd = real_traffic.crowd_agreement(crowd_tweets, predictions[len(texts) :])
        result["crowd"] = {
            "concrete_negative_as_complaint": round(crowd.concrete_negative_as_complaint, 3),
            "concrete_negative_support": crowd.concrete_negative_support,
            "positive_as_praise": round(crowd.positive_as_praise, 3),
            "positive_support": crowd.positive_support,
        }
    if args.service:
        with tempfile.TemporaryDirectory() as data_dir:
            service_settings = Settings(
                data_dir=Path(data_dir),
                tracker_store_url="memory",
                public_url="http://firstline.bench",
                # Every tweet comes from one address, on purpose; the limits are measured elsewhere.
                rate_limit_web_per_address=0,
                rate_limit_web_per_visitor=0,
                rate_limit_replies_per_account=0,
                _env_file=None,
            )
            result["service"] = asyncio.run(_through_service(service_settings, model, tweets))
    result["seconds"] = round(time.monotonic() - started, 1)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
