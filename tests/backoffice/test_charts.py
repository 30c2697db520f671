"""The SVG charts of the dashboard: well-formed, proportional, escaped, accessible."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from bot.backoffice.pages.charts import PLOT_HEIGHT, PLOT_WIDTH, Bar, bar_chart, column_chart

Chart = Callable[..., Markup]
NS = {"svg": "http://www.w3.org/2000/svg"}
XSS = "<i>&\"'</i>"  # short enough to be shown whole
TEXTS: dict[str, Any] = {
    "title": "Proposals by theme",
    "description": "One bar per theme",
    "no_data": "No data",
}


def parse(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    root = ET.fromstring(str(markup))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def widths(root: ET.Element) -> list[float]:
    return [float(rect.attrib["width"]) for rect in root.iterfind(".//svg:rect", NS)]


def heights(root: ET.Element) -> list[float]:
    return [float(rect.attrib["height"]) for rect in root.iterfind(".//svg:rect", NS)]


def texts(root: ET.Element, css_class: str) -> list[str]:
    return [
        "".join(node.itertext())
        for node in root.iterfind(".//svg:text", NS)
        if node.get("class") == css_class
    ]


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
def test_accessible_name_and_description(chart: Chart) -> None:
    root = parse(chart([Bar("a", 1)], **TEXTS))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Proposals by theme"
    assert root.findtext("svg:title", namespaces=NS) == "Proposals by theme"
    assert root.findtext("svg:desc", namespaces=NS) == "One bar per theme"
    width, height = float(root.attrib["width"]), float(root.attrib["height"])
    assert root.get("viewBox") == f"0 0 {root.attrib['width']} {root.attrib['height']}"
    assert width > 0 and height > 0


def test_bars_are_proportional_and_link_where_asked() -> None:
    bars = [
        Bar("Compost", 8, "/proposals?theme=compost"),
        Bar("Food", 2, "/proposals?theme=food&sort=oldest"),
        Bar("Nowhere", 4),
        Bar("Water", 0, "/proposals?theme=water"),
    ]
    root = parse(bar_chart(bars, **TEXTS, format_value=lambda n: f"{n} p."))
    assert widths(root) == [PLOT_WIDTH, PLOT_WIDTH / 4, PLOT_WIDTH / 2, 0]
    links = [a.get("href") for a in root.iterfind(".//svg:a", NS)]
    assert links == [
        "/proposals?theme=compost",
        "/proposals?theme=food&sort=oldest",
        "/proposals?theme=water",
    ]
    assert texts(root, "label") == ["Compost", "Food", "Nowhere", "Water"]
    assert texts(root, "value") == ["8 p.", "2 p.", "4 p.", "0 p."]
    # Each bar says what it is when pointed at, and to a screen reader (the link's name),
    # which reaches the links of a chart that is a group (an img hides its children).
    tooltips = [a.findtext("svg:title", namespaces=NS) for a in root.iterfind(".//svg:a", NS)]
    assert tooltips[0] == "Compost: 8 p."
    assert tooltips == ["Compost: 8 p.", "Food: 2 p.", "Water: 0 p."]
    assert root.get("role") == "group"
    # Rows do not overlap.
    rects = list(root.iterfind(".//svg:rect", NS))
    ys = [float(rect.attrib["y"]) for rect in rects]
    assert all(b - a >= float(rects[0].attrib["height"]) for a, b in itertools.pairwise(ys))


def test_columns_are_proportional_in_order_on_one_axis() -> None:
    columns = [Bar(f"W{n}", n % 4, f"/proposals?from=w{n}") for n in range(12)]
    root = parse(column_chart(columns, **TEXTS))
    assert heights(root) == pytest.approx([PLOT_HEIGHT * (n % 4) / 3 for n in range(12)], abs=0.06)
    rects = list(root.iterfind(".//svg:rect", NS))
    xs = [float(r.attrib["x"]) for r in rects]
    assert xs == sorted(xs) and len(set(xs)) == 12
    bottoms = {float(r.attrib["y"]) + float(r.attrib["height"]) for r in rects}
    assert len(bottoms) == 1  # every column stands on the axis
    axis = root.find(".//svg:line", NS)
    assert axis is not None and float(axis.attrib["y1"]) == bottoms.pop()
    assert texts(root, "label") == [f"W{n}" for n in range(12)]
    assert float(root.attrib["width"]) >= xs[-1] + float(rects[-1].attrib["width"])


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
def test_labels_and_links_are_escaped(chart: Chart) -> None:
    markup = chart([Bar(XSS, 3, '/proposals?q="><script>'), Bar("b", 1)], **TEXTS)
    assert "<script" not in markup and "<i>" not in markup
    root = parse(markup)
    assert XSS in texts(root, "label")
    assert root.findtext(".//svg:a/svg:title", namespaces=NS) == f"{XSS}: 3"
    link = root.find(".//svg:a", NS)
    assert link is not None and link.get("href") == '/proposals?q="><script>'
    titled = parse(chart([Bar("a", 1)], title=XSS, description=XSS, no_data=XSS))
    assert titled.get("aria-label") == XSS and titled.findtext("svg:desc", namespaces=NS) == XSS


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
@pytest.mark.parametrize("bars", [[], [Bar("a", 0), Bar("b", 0)]])
def test_no_data_is_said_not_drawn(chart: Chart, bars: list[Bar]) -> None:
    root = parse(chart(bars, **TEXTS))
    assert root.find(".//svg:rect", NS) is None
    assert texts(root, "chart-empty") == ["No data"]
    assert root.get("aria-label") == "Proposals by theme"
    assert root.findtext("svg:desc", namespaces=NS) == "No data"


def test_sizes_follow_the_data() -> None:
    short = parse(bar_chart([Bar("a", 1)], **TEXTS))
    tall = parse(bar_chart([Bar(str(n), 1) for n in range(10)], **TEXTS))
    wide = parse(bar_chart([Bar("Cohésion sociale et solidarité", 1)], **TEXTS))
    assert float(tall.attrib["height"]) > float(short.attrib["height"])
    assert float(wide.attrib["width"]) > float(short.attrib["width"])
    few = parse(column_chart([Bar("a", 1)] * 3, **TEXTS))
    many = parse(column_chart([Bar("a", 1)] * 12, **TEXTS))
    assert float(many.attrib["width"]) > float(few.attrib["width"])


def test_long_labels_are_shortened_but_kept_whole_in_the_tooltip() -> None:
    label = "Un très long nom de commune ou de thème qui ne tient pas"
    root = parse(bar_chart([Bar(label, 5, "/x")], **TEXTS))
    (shown,) = texts(root, "label")
    assert shown.endswith("…") and len(shown) <= 30 and label.startswith(shown[:-1])
    assert root.findtext(".//svg:a/svg:title", namespaces=NS) == f"{label}: 5"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=50),
            st.integers(min_value=0, max_value=10**6),
        ),
        max_size=25,
    )
)
def test_any_data_gives_well_formed_svg(rows: list[tuple[str, int]]) -> None:
    bars = [Bar(label, value, f"/proposals?q={label}") for label, value in rows]
    for chart in (bar_chart, column_chart):
        root = parse(chart(bars, **TEXTS))
        drawn = widths(root) if chart is bar_chart else heights(root)
        highest = max((value for _label, value in rows), default=0)
        if highest:
            full = PLOT_WIDTH if chart is bar_chart else PLOT_HEIGHT
            assert drawn == pytest.approx([full * v / highest for _l, v in rows], abs=0.06)
        else:
            assert drawn == []
