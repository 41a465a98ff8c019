"""Small charts as inline SVG, drawn on the server: the metrics page needs no JavaScript library.

Each function takes the numbers of a `bot.metrics` snapshot and returns one `<svg>` element with a
`<title>` (read by screen readers) and the values in `<title>`s of their marks, so hovering a point
shows its figure. Labels are escaped; the output is safe to put into a page as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["PALETTE", "bar_chart", "line_chart"]

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")

_WIDTH, _HEIGHT, _PAD, _LEGEND = 640, 220, 32, 18


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> str:
    """One line per series over the buckets in `labels` (volume by intent or topic over time)."""
    top = max([1.0, *(v for values in series.values() for v in values)])
    plot_w, plot_h = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD
    step = plot_w / max(len(labels) - 1, 1)
    parts = [_frame(title, len(series)), _axis(top, plot_h)]
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (_PAD + i * step, _PAD + plot_h - (v / top) * plot_h) for i, v in enumerate(values[: len(labels)])
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for (x, y), label, value in zip(points, labels, values, strict=False):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(label)}: {_number(value)}</title></circle>"
            )
        parts.append(_legend(index, name, colour))
    if labels:
        parts.append(_text(_PAD, _HEIGHT - 8, labels[0], "start"))
        parts.append(_text(_WIDTH - _PAD, _HEIGHT - 8, labels[-1], "end"))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, groups: Mapping[str, Mapping[str, float | None]], unit: str = "s") -> str:
    """Grouped bars: per group (a platform) one bar per measure (p50, p90); None draws nothing."""
    measures = list(dict.fromkeys(m for values in groups.values() for m in values))
    top = max([1e-9, *(v for values in groups.values() for v in values.values() if v is not None)])
    plot_w, plot_h = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(measures), 1)
    parts = [_frame(title, len(measures)), _axis(top, plot_h, unit)]
    for g, (group, values) in enumerate(groups.items()):
        left = _PAD + g * group_w + group_w * 0.1
        for m, measure in enumerate(measures):
            value = values.get(measure)
            if value is None:
                continue
            height = (value / top) * plot_h
            parts.append(
                f'<rect x="{left + m * bar_w:.1f}" y="{_PAD + plot_h - height:.1f}" '
                f'width="{bar_w * 0.9:.1f}" height="{height:.1f}" fill="{PALETTE[m % len(PALETTE)]}">'
                f"<title>{escape(group)} {escape(measure)}: {_number(value)} {escape(unit)}</title></rect>"
            )
        parts.append(_text(left + group_w * 0.4, _HEIGHT - 8, group, "middle"))
    for m, measure in enumerate(measures):
        parts.append(_legend(m, measure, PALETTE[m % len(PALETTE)]))
    parts.append("</svg>")
    return "".join(parts)


def _frame(title: str, legend_rows: int) -> str:
    height = _HEIGHT + legend_rows * _LEGEND
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {_WIDTH} {height}" '
        f'width="{_WIDTH}" height="{height}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{_PAD}" y1="{_HEIGHT - _PAD}" x2="{_WIDTH - _PAD}" y2="{_HEIGHT - _PAD}" '
        'stroke="#9ca3af"/>'
    )


def _axis(top: float, plot_h: float, unit: str = "") -> str:
    suffix = f" {unit}" if unit else ""
    # The top value goes above the plot, left-aligned: right-aligned in the margin, a label such
    # as "0.246 s" ran off the left edge.
    return _text(_PAD, _PAD - 6, f"{_number(top)}{suffix}", "start") + _text(
        _PAD - 4, _PAD + plot_h + 4, "0", "end"
    )


def _legend(index: int, name: str, colour: str) -> str:
    y = _HEIGHT + index * _LEGEND + 4
    return f'<rect x="{_PAD}" y="{y}" width="10" height="10" fill="{colour}"/>' + _text(
        _PAD + 16, y + 9, name, "start"
    )


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="#374151">{escape(text)}</text>'
