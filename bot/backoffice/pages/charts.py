"""Server-rendered SVG charts: a horizontal bar chart and a column chart.

Pure functions from numbers to markup, so that the dashboard works offline and under the
strict Content-Security-Policy: no script, no style attribute (colours come from
presentation attributes, which the stylesheet may override through the classes). Every
piece of text goes through `Markup.format`, which escapes it. The caller translates the
title, description and "no data" message, and formats the values.

Screen readers reach every bar that links somewhere: a chart with links is a `group`
(named by its title) whose links are named by their tooltip ("Compost: 8"); only a chart
without any link is one `img`, whose children screen readers do not enter.

Text widths cannot be measured on the server: they are estimated from the number of
characters, and long labels are shortened (the full label stays in the bar's tooltip and
in the table that goes with each chart on the page).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

SVG_NS = "http://www.w3.org/2000/svg"
FONT_SIZE = 13
CHAR_WIDTH = 7.5
"""An estimate of the average advance of one character at FONT_SIZE in a sans-serif font."""
PAD = 8
GAP = 8
LABEL_MAX_CHARS = 30
BAR_COLOUR = "#0b5cab"
TEXT_COLOUR = "#1d2330"
AXIS_COLOUR = "#5b6475"

ROW_HEIGHT = 26
BAR_HEIGHT = 18
PLOT_WIDTH = 320

PLOT_HEIGHT = 160
MIN_COLUMN_WIDTH = 28


@dataclass(frozen=True)
class Bar:
    """One bar (or column): its label, its value and, optionally, where it leads."""

    label: str
    value: int
    href: str | None = None


def _n(x: float) -> str:
    """A coordinate, short: 12, 12.5."""
    return f"{x:.1f}".removesuffix(".0")


def _shorten(label: str, limit: int = LABEL_MAX_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def _svg(
    kind: str,
    width: float,
    height: float,
    title: str,
    description: str,
    body: Markup,
    *,
    links: bool = False,
) -> Markup:
    """The chart: one image, or with `links` a group of them (an image hides its links)."""
    return Markup(
        '<svg xmlns="{ns}" class="chart {kind}" role="{role}" aria-label="{title}" '
        'width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-size="{font}" '
        'font-family="system-ui, sans-serif">'
        "<title>{title}</title><desc>{description}</desc>{body}</svg>"
    ).format(
        ns=SVG_NS,
        kind=kind,
        role="group" if links else "img",
        title=title,
        description=description,
        w=_n(width),
        h=_n(height),
        font=FONT_SIZE,
        body=body,
    )


def _no_data(kind: str, title: str, message: str) -> Markup:
    width = max(240.0, _text_width(message) + 2 * PAD)
    height = FONT_SIZE + 4 * PAD
    body = Markup(
        '<text class="chart-empty" x="{x}" y="{y}" text-anchor="middle" fill="{fill}">'
        "{message}</text>"
    ).format(x=_n(width / 2), y=_n(height / 2 + FONT_SIZE / 3), fill=AXIS_COLOUR, message=message)
    return _svg(kind, width, height, title, message, body)


def _item(bar: Bar, value: str, parts: Sequence[Markup]) -> Markup:
    """One bar's shapes and texts with a tooltip, inside a link when the bar has one.

    The tooltip (`<title>`) is also the link's accessible name, with the whole label. An
    aria-label would say the same but not contain the texts drawn (axe:
    label-content-name-mismatch)."""
    inner = Markup("<title>{label}: {value}</title>{parts}").format(
        label=bar.label, value=value, parts=Markup("").join(parts)
    )
    if bar.href is None:
        return Markup('<g class="item">{inner}</g>').format(inner=inner)
    return Markup('<a class="item" href="{href}">{inner}</a>').format(href=bar.href, inner=inner)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    description: str,
    no_data: str,
    format_value: Callable[[int], str] = str,
) -> Markup:
    """Horizontal bars, one row each, longest = full width; labels on the left.

    Without any value above zero, a chart-sized "no data" message instead.
    """
    highest = max((bar.value for bar in bars), default=0)
    if highest <= 0:
        return _no_data("bar-chart", title, no_data)
    labels = [_shorten(bar.label) for bar in bars]
    values = [format_value(bar.value) for bar in bars]
    label_width = PAD + max(_text_width(label) for label in labels)
    plot_x = label_width + GAP
    width = plot_x + PLOT_WIDTH + GAP + max(_text_width(v) for v in values) + PAD
    height = 2 * PAD + len(bars) * ROW_HEIGHT
    parts: list[Markup] = []
    for index, (bar, label, value) in enumerate(zip(bars, labels, values, strict=True)):
        top = PAD + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        baseline = top + BAR_HEIGHT / 2 + FONT_SIZE / 3
        length = PLOT_WIDTH * max(bar.value, 0) / highest
        label_text = Markup(
            '<text class="label" x="{x}" y="{y}" text-anchor="end" fill="{fill}">{label}</text>'
        ).format(x=_n(label_width), y=_n(baseline), fill=TEXT_COLOUR, label=label)
        rect = Markup(
            '<rect class="bar" x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}"/>'
        ).format(x=_n(plot_x), y=_n(top), w=_n(length), h=BAR_HEIGHT, fill=BAR_COLOUR)
        value_text = Markup(
            '<text class="value" x="{x}" y="{y}" fill="{fill}">{value}</text>'
        ).format(x=_n(plot_x + length + GAP / 2), y=_n(baseline), fill=TEXT_COLOUR, value=value)
        parts.append(_item(bar, value, (label_text, rect, value_text)))
    links = any(bar.href is not None for bar in bars)
    body = Markup("").join(parts)
    return _svg("bar-chart", width, height, title, description, body, links=links)


def column_chart(
    columns: Sequence[Bar],
    *,
    title: str,
    description: str,
    no_data: str,
    format_value: Callable[[int], str] = str,
) -> Markup:
    """Vertical columns left to right (a time series), tallest = full height; labels below.

    Without any value above zero, a chart-sized "no data" message instead.
    """
    highest = max((column.value for column in columns), default=0)
    if highest <= 0:
        return _no_data("column-chart", title, no_data)
    labels = [_shorten(column.label, 12) for column in columns]
    values = [format_value(column.value) for column in columns]
    column_width = max(
        MIN_COLUMN_WIDTH, *(_text_width(text) for text in labels), *(_text_width(v) for v in values)
    )
    plot_top = PAD + FONT_SIZE + GAP / 2
    axis_y = plot_top + PLOT_HEIGHT
    width = 2 * PAD + len(columns) * column_width + (len(columns) - 1) * GAP
    height = axis_y + GAP / 2 + FONT_SIZE + PAD
    parts: list[Markup] = []
    for index, (column, label, value) in enumerate(zip(columns, labels, values, strict=True)):
        left = PAD + index * (column_width + GAP)
        middle = left + column_width / 2
        tall = PLOT_HEIGHT * max(column.value, 0) / highest
        rect = Markup(
            '<rect class="bar" x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}"/>'
        ).format(x=_n(left), y=_n(axis_y - tall), w=_n(column_width), h=_n(tall), fill=BAR_COLOUR)
        value_text = Markup(
            '<text class="value" x="{x}" y="{y}" text-anchor="middle" fill="{fill}">{value}</text>'
        ).format(x=_n(middle), y=_n(axis_y - tall - GAP / 2), fill=TEXT_COLOUR, value=value)
        label_text = Markup(
            '<text class="label" x="{x}" y="{y}" text-anchor="middle" fill="{fill}">{label}</text>'
        ).format(x=_n(middle), y=_n(axis_y + GAP / 2 + FONT_SIZE), fill=TEXT_COLOUR, label=label)
        parts.append(_item(column, value, (rect, value_text, label_text)))
    parts.append(
        Markup(
            '<line class="axis" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{stroke}"/>'
        ).format(x1=PAD, x2=_n(width - PAD), y=_n(axis_y), stroke=AXIS_COLOUR)
    )
    links = any(column.href is not None for column in columns)
    body = Markup("").join(parts)
    return _svg("column-chart", width, height, title, description, body, links=links)
