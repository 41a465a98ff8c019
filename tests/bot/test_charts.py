from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.charts import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_draws_one_line_per_series_with_every_value_hoverable() -> None:
    svg = line_chart(
        "Messages by intent", ["09:00", "10:00", "11:00"], {"complaint": [0, 2, 1], "question": [1, 1, 4]}
    )
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "Messages by intent"
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    tips = [c.find(f"{SVG}title").text for c in root.findall(f"{SVG}circle")]
    assert "question 11:00: 4" in tips and "complaint 10:00: 2" in tips
    # The highest value touches the top of the plot, zero the bottom.
    question = [tuple(map(float, p.split(","))) for p in lines[1].get("points").split()]
    assert question[2][1] < question[0][1]


def test_bar_chart_groups_quantiles_per_platform_and_skips_missing_figures() -> None:
    svg = bar_chart(
        "Time to first acknowledgement", {"x": {"p50": 0.8, "p90": 2.5}, "telegram": {"p50": None}}
    )
    root = ET.fromstring(svg)
    tips = [
        r.find(f"{SVG}title").text for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None
    ]
    assert tips == ["x p50: 0.8 s", "x p90: 2.5 s"]


def test_labels_are_escaped() -> None:
    svg = line_chart("<script>", ["a&b"], {"<b>": [1]})
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)


def test_empty_data_still_draws_a_valid_chart() -> None:
    ET.fromstring(line_chart("Nothing yet", [], {}))
    ET.fromstring(bar_chart("Nothing yet", {}))
