"""The NLU report on hand-made scores: matrix, terminal lines, files, saved reports, comparisons."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from bot.trainer.evaluation import LabelledExample, Prediction, score
from bot.trainer.report import (
    SavedReport,
    compare,
    confusion_matrix,
    format_comparison,
    format_summary,
    load_report,
    write_report,
)


def _saved(predictions: dict[str, str], label: str, heldout_sha: str = "abc") -> SavedReport:
    truth = {
        "parcel late": "complaint/delivery",
        "charged twice": "complaint/billing",
        "when do you open": "question/opening_hours",
        "hi": "greet",
        "love it": "praise",
    }
    pairs = [
        (LabelledExample(text, truth[text]), Prediction(intent, 0.8)) for text, intent in predictions.items()
    ]
    return SavedReport(score(pairs), {"label": label, "heldout_sha256": heldout_sha})


BEFORE = {
    "parcel late": "complaint",
    "charged twice": "question",
    "when do you open": "question",
    "hi": "greet",
    "love it": "greet",
}
AFTER = {**BEFORE, "charged twice": "complaint", "hi": "praise"}


def test_confusion_matrix_counts_every_example() -> None:
    labels, matrix = confusion_matrix(_saved(BEFORE, "before").report)
    assert labels == ["complaint", "greet", "praise", "question"]
    assert matrix == [
        [1, 0, 0, 1],  # one complaint right, one taken for a question
        [0, 1, 0, 0],
        [0, 1, 0, 0],  # praise taken for a greeting
        [0, 0, 0, 1],
    ]
    assert sum(map(sum, matrix)) == 5


def test_summary_lists_figures_table_confusions_and_errors() -> None:
    text = "\n".join(format_summary(_saved(BEFORE, "working tree")))
    assert "Scored 5 held-out examples (working tree)" in text
    assert re.search(r"intent macro-F1\s+0\.\d{3}", text)
    assert re.search(r"complaint recall\s+0\.500", text)
    assert re.search(r"complaint\s+1\.000\s+0\.500\s+0\.667\s+2", text)
    assert "1  complaint -> question" in text
    assert "charged twice" in text and "love it" in text


def test_written_report_round_trips_and_the_page_has_the_picture(tmp_path: Path) -> None:
    saved = _saved(BEFORE, "working tree")
    json_path, html_path = write_report(saved, tmp_path / "out")
    assert load_report(json_path) == saved
    assert json.loads(json_path.read_text())["report"]["complaint_recall"] == 0.5

    page = html_path.read_text()
    assert "<h1>NLU report: working tree</h1>" in page
    assert f"{saved.report.intent_macro_f1:.3f}" in page and "charged twice" in page
    picture = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert picture is not None and base64.b64decode(picture.group(1)).startswith(b"\x89PNG")
    assert not re.search(r'(src|href)="(?!data:)', page)  # self-contained: nothing to fetch


def test_a_file_that_is_not_a_report_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"format": 1, "report": {"n_examples": 3}}')
    with pytest.raises(ValueError, match="is not a Firstline NLU report"):
        load_report(bad)


def test_comparison_shows_deltas_and_what_changed_either_way() -> None:
    comparison = compare(_saved(BEFORE, "HEAD~1"), _saved(AFTER, "working tree"))
    assert [e.text for e in comparison.broke] == ["hi"]
    assert [e.text for e in comparison.fixed] == ["charged twice"]
    text = "\n".join(format_comparison(comparison))
    assert re.search(r"complaint recall\s+0\.500\s+1\.000\s+\+0\.500", text)
    assert re.search(r"greet\s+0\.667\s+0\.000\s+-0\.667", text)
    assert "Right before, wrong now (1):" in text and "greet          -> praise" in text
    assert "WARNING" not in text


def test_comparison_warns_when_the_heldout_sets_differ() -> None:
    comparison = compare(_saved(BEFORE, "old", "abc"), _saved(AFTER, "new", "def"))
    assert not comparison.same_heldout
    assert format_comparison(comparison)[0].startswith("WARNING")
