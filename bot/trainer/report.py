"""The NLU test report a trainer reads: terminal summary, JSON file, HTML page, and comparisons.

The JSON keeps the whole `EvaluationReport` plus where it came from (git revision, data
fingerprint, held-out file), so a saved report can be compared with a later run. The HTML page is
self-contained (the confusion matrix is an embedded PNG), so it can be attached to a pull request
or opened from a CI artefact without a network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.trainer.evaluation import Confusion, EvaluationReport, IntentScores, WrongExample

__all__ = [
    "REPORT_FORMAT",
    "Comparison",
    "SavedReport",
    "compare",
    "confusion_matrix",
    "format_comparison",
    "format_summary",
    "load_report",
    "render_confusion_png",
    "write_report",
]

logger = logging.getLogger(__name__)

REPORT_FORMAT = 1
_HEADLINES = (
    ("intent macro-F1", "intent_macro_f1"),
    ("complaint recall", "complaint_recall"),
    ("complaint precision", "complaint_precision"),
    ("topic accuracy", "topic_accuracy"),
    ("fallback rate", "fallback_rate"),
)


@dataclass(frozen=True, slots=True)
class SavedReport:
    """A report with where it came from.

    Attributes:
        report: The scores.
        source: What was scored: {"revision", "fingerprint", "model", "heldout", "heldout_sha256",
            "created_at"}; any may be missing.
    """

    report: EvaluationReport
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.source.get("label") or self.source.get("revision") or "report")

    def to_dict(self) -> dict[str, Any]:
        return {"format": REPORT_FORMAT, "source": dict(self.source), "report": self.report.to_dict()}


def load_report(path: Path) -> SavedReport:
    """Reads a report JSON that `write_report` wrote.

    Raises:
        ValueError: The file is not such a report.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != REPORT_FORMAT:
            raise ValueError(f"unknown report format {data.get('format')!r}")
        return SavedReport(_report_from_dict(data["report"]), dict(data.get("source") or {}))
    except (OSError, json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a Firstline NLU report: {exc}") from exc


def _report_from_dict(data: Mapping[str, Any]) -> EvaluationReport:
    """The inverse of `EvaluationReport.to_dict` (kept here: `nlu/` is part of every model's
    fingerprint, and reading reports does not change a model)."""

    def wrong(items: Sequence[Mapping[str, Any]]) -> tuple[WrongExample, ...]:
        return tuple(WrongExample(**item) for item in items)

    return EvaluationReport(
        n_examples=int(data["n_examples"]),
        intent_macro_f1=float(data["intent_macro_f1"]),
        complaint_precision=float(data["complaint_precision"]),
        complaint_recall=float(data["complaint_recall"]),
        topic_accuracy=float(data["topic_accuracy"]),
        topic_support=int(data["topic_support"]),
        topic_accuracy_by_intent=dict(data["topic_accuracy_by_intent"]),
        fallback_rate=float(data["fallback_rate"]),
        per_intent={name: IntentScores(**scores) for name, scores in data["per_intent"].items()},
        confusions=tuple(Confusion(**item) for item in data["confusions"]),
        errors=wrong(data["errors"]),
        topic_errors=wrong(data["topic_errors"]),
    )


def confusion_matrix(report: EvaluationReport) -> tuple[list[str], list[list[int]]]:
    """The full (expected x predicted) counts, rebuilt from per-intent recall and every error.

    Returns:
        The labels (expected intents first, then intents only ever predicted) and the matrix,
        rows expected, columns predicted.
    """
    expected = sorted(name for name, scores in report.per_intent.items() if scores.support)
    predicted_only = sorted({e.predicted for e in report.errors} - set(expected))
    labels = expected + predicted_only
    position = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for error in report.errors:
        matrix[position[error.expected]][position[error.predicted]] += 1
    for name in expected:
        row = position[name]
        matrix[row][row] = report.per_intent[name].support - sum(matrix[row])
    return labels, matrix


def render_confusion_png(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> bytes:
    """The confusion matrix as a PNG heat map, counts written in the cells.

    Uses a bare `Figure` with the Agg canvas: no pyplot global state, no display needed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = max(4.0, 0.6 * len(labels) + 2)
    figure = Figure(figsize=(size, size * 0.85), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # Rows normalised by support, so a small intent's mistakes show as clearly as a big one's.
    shares = [[count / (sum(row) or 1) for count in row] for row in matrix]
    axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels=labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("expected")
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            if count:
                dark = shares[row][column] > 0.5
                axes.text(
                    column, row, str(count), ha="center", va="center", color="white" if dark else "black"
                )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def format_summary(saved: SavedReport, max_errors: int = 30) -> list[str]:
    """The lines `firstline nlu test` prints."""
    report = saved.report
    lines = [f"Scored {report.n_examples} held-out examples ({saved.label})"]
    lines += [f"  {title:<20} {getattr(report, attribute):.3f}" for title, attribute in _HEADLINES]
    lines += ["", f"  {'intent':<16} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}"]
    for name, scores in sorted(report.per_intent.items()):
        figures = f"{scores.precision:>9.3f} {scores.recall:>7.3f} {scores.f1:>6.3f} {scores.support:>8}"
        lines.append(f"  {name:<16} {figures}")
    if report.confusions:
        lines += ["", "Confusions that cost most (expected -> predicted):"]
        lines += [f"  {c.count:>3}  {c.expected} -> {c.predicted}" for c in report.confusions]
    if report.errors:
        lines += ["", f"Wrong examples ({len(report.errors)}):"]
        lines += [_wrong_line(error) for error in report.errors[:max_errors]]
        if len(report.errors) > max_errors:
            lines.append(f"  ... and {len(report.errors) - max_errors} more in the report")
    return lines


def write_report(saved: SavedReport, out_dir: Path) -> tuple[Path, Path]:
    """Writes `report.json` and `report.html` into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "report.json", out_dir / "report.html"
    json_path.write_text(json.dumps(saved.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(_html(saved), encoding="utf-8")
    logger.info("wrote %s and %s", json_path, html_path)
    return json_path, html_path


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two reports on the same held-out set, side by side.

    Attributes:
        broke: Examples the reference got right and the new run gets wrong.
        fixed: Examples the reference got wrong and the new run gets right.
        same_heldout: False when the reports were scored on different held-out files; the
            figures are then not comparable and the caller should say so.
    """

    before: SavedReport
    after: SavedReport
    broke: tuple[WrongExample, ...]
    fixed: tuple[WrongExample, ...]
    same_heldout: bool


def compare(before: SavedReport, after: SavedReport) -> Comparison:
    """What a change did: the new run (`after`) against a reference (`before`)."""
    old = {error.text: error for error in before.report.errors}
    new = {error.text: error for error in after.report.errors}
    before_sha, after_sha = before.source.get("heldout_sha256"), after.source.get("heldout_sha256")
    return Comparison(
        before=before,
        after=after,
        broke=tuple(error for text, error in new.items() if text not in old),
        fixed=tuple(error for text, error in old.items() if text not in new),
        same_heldout=not before_sha or not after_sha or before_sha == after_sha,
    )


def format_comparison(comparison: Comparison) -> list[str]:
    """The side-by-side table `firstline nlu test --compare` prints."""
    before, after = comparison.before.report, comparison.after.report
    left, right = comparison.before.label[:14], comparison.after.label[:14]
    lines = []
    if not comparison.same_heldout:
        lines.append(
            "WARNING: the two runs were scored on different held-out sets; the figures do not compare"
        )
    lines.append(f"  {'':<20} {left:>14} {right:>14} {'change':>8}")
    for title, attribute in _HEADLINES:
        a, b = getattr(before, attribute), getattr(after, attribute)
        lines.append(f"  {title:<20} {a:>14.3f} {b:>14.3f} {b - a:>+8.3f}")
    lines += ["", f"  {'F1 per intent':<20} {left:>14} {right:>14} {'change':>8}"]
    for name in sorted(set(before.per_intent) | set(after.per_intent)):
        a = before.per_intent[name].f1 if name in before.per_intent else None
        b = after.per_intent[name].f1 if name in after.per_intent else None
        change = f"{b - a:>+8.3f}" if a is not None and b is not None else f"{'':>8}"
        lines.append(f"  {name:<20} {_cell(a)} {_cell(b)} {change}")
    lines += ["", f"Right before, wrong now ({len(comparison.broke)}):"]
    lines += [_wrong_line(error) for error in comparison.broke] or ["  none"]
    lines += ["", f"Wrong before, right now ({len(comparison.fixed)}):"]
    lines += [f"  {error.expected:<14} {error.text}" for error in comparison.fixed] or ["  none"]
    return lines


def _cell(value: float | None) -> str:
    return f"{value:>14.3f}" if value is not None else f"{'-':>14}"


def _wrong_line(error: WrongExample) -> str:
    return f"  {error.expected:<14} -> {error.predicted:<14} {error.confidence:.2f}  {error.text}"


def _html(saved: SavedReport) -> str:
    report = saved.report
    labels, matrix = confusion_matrix(report)
    picture = base64.b64encode(render_confusion_png(labels, matrix)).decode("ascii")
    e = html.escape
    headline = "".join(
        f"<tr><th>{e(title)}</th><td>{getattr(report, attribute):.3f}</td></tr>"
        for title, attribute in _HEADLINES
    )
    per_intent = "".join(
        f"<tr><td>{e(name)}</td><td>{s.precision:.3f}</td><td>{s.recall:.3f}</td><td>{s.f1:.3f}</td>"
        f"<td>{s.support}</td></tr>"
        for name, s in sorted(report.per_intent.items())
    )
    confusions = "".join(
        f"<tr><td>{c.count}</td><td>{e(c.expected)}</td><td>{e(c.predicted)}</td></tr>"
        for c in report.confusions
    )
    errors = "".join(
        f"<tr><td>{e(w.expected)}</td><td>{e(w.predicted)}</td><td>{w.confidence:.2f}</td><td>{e(w.text)}</td></tr>"
        for w in report.errors
    )
    source = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in saved.source.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NLU report: {e(saved.label)}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.2rem 0.7rem; text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>NLU report: {e(saved.label)}</h1>
<p>{report.n_examples} held-out examples.</p>
<h2>Headline figures</h2><table>{headline}</table>
<h2>Per intent</h2>
<table><tr><th>intent</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_intent}</table>
<h2>Confusion matrix</h2>
<img alt="confusion matrix: rows expected, columns predicted" src="data:image/png;base64,{picture}">
<h2>Confusions that cost most</h2>
<table><tr><th>count</th><th>expected</th><th>predicted</th></tr>{confusions}</table>
<h2>Wrong examples ({len(report.errors)})</h2>
<table><tr><th>expected</th><th>predicted</th><th>confidence</th><th>text</th></tr>{errors}</table>
<h2>Source</h2><table>{source}</table>
</body></html>
"""
