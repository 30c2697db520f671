"""The dashboard: proposals per status, theme, commune and week as SVG charts, and the outbox.

Each bar leads to the proposals list filtered the same way, so the figures must count what
the list counts (test proposals left out). Each chart comes with its numbers as a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web
from babel.dates import format_skeleton
from markupsafe import Markup

from bot.backoffice.common import render, translator
from bot.backoffice.keys import SESSIONMAKER
from bot.backoffice.pages.charts import Bar, bar_chart, column_chart
from bot.backoffice.pages.inbox import inbox_figures
from bot.backoffice.pages.outbox import outbox_figures
from bot.backoffice.pages.proposals import status_label
from bot.text.i18n import N_, Translator
from matching.communes import commune_by_refnis
from matching.themes import theme_ids, theme_label
from storage.review import status_counts
from storage.stats import (
    NO_COMMUNE,
    REGION_WIDE,
    WeekCount,
    commune_counts,
    theme_counts,
    weekly_counts,
)

NO_DATA = N_("No proposal yet.")


@dataclass(frozen=True)
class Chart:
    key: str
    """Also the name of the table cells' data attribute (data-status="accepted")."""
    heading: str
    label_heading: str
    """The header of the table's first column."""
    svg: Markup
    rows: list[tuple[str, Bar]]
    """(key, bar) for the table: the same numbers as the chart."""


def _list_url(**query: str) -> str:
    """The list of the proposals a bar counts: of any status, like the charts."""
    return "/proposals?" + urlencode({"status": "all", **query})


def _chart(
    t: Translator,
    key: str,
    heading: str,
    label_heading: str,
    description: str,
    rows: list[tuple[str, Bar]],
    *,
    columns: bool = False,
) -> Chart:
    draw = column_chart if columns else bar_chart
    svg = draw(
        [bar for _key, bar in rows],
        title=t.gettext(heading),
        description=t.gettext(description),
        no_data=t.gettext(NO_DATA),
        format_value=t.number,
    )
    return Chart(key, t.gettext(heading), t.gettext(label_heading), svg, rows)


def _by_count(rows: list[tuple[str, Bar]]) -> list[tuple[str, Bar]]:
    """Largest first, then alphabetically."""
    return sorted(rows, key=lambda row: (-row[1].value, row[1].label.lower()))


def _theme_rows(t: Translator, counts: dict[str, int]) -> list[tuple[str, Bar]]:
    """Every known theme (a theme nobody proposes is worth seeing) and any other found."""
    known = theme_ids()
    rows = [
        (theme, Bar(theme_label(theme, t.language), counts.get(theme, 0), _list_url(theme=theme)))
        for theme in known
    ]
    rows += [(theme, Bar(theme, n)) for theme, n in counts.items() if theme not in known]
    return _by_count(rows)


def _commune_rows(t: Translator, counts: dict[str, int]) -> list[tuple[str, Bar]]:
    """The communes that have proposals; the whole region and "none" are buckets of their own.

    Those two have no link: the list cannot be filtered on them.
    """
    rows = []
    for key, count in counts.items():
        if key == REGION_WIDE:
            bar = Bar(t.gettext("Whole region"), count)
        elif key == NO_COMMUNE:
            bar = Bar(t.gettext("No commune given"), count)
        else:
            try:
                name = commune_by_refnis(key).name(t.language)
            except KeyError:
                bar = Bar(key, count)
            else:
                bar = Bar(name, count, _list_url(commune=key))
        rows.append((key, bar))
    return _by_count(rows)


def _week_rows(t: Translator, weeks: list[WeekCount]) -> list[tuple[str, Bar]]:
    return [
        (
            week.monday.isoformat(),
            Bar(
                format_skeleton("MMMd", week.monday, locale=t.locale),
                week.count,
                _list_url(**{"from": week.monday.isoformat(), "to": week.sunday.isoformat()}),
            ),
        )
        for week in weeks
    ]


async def dashboard(request: web.Request) -> web.Response:
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        statuses = await status_counts(db)
        themes = await theme_counts(db)
        communes = await commune_counts(db)
        weeks = await weekly_counts(db)
        outbox = await outbox_figures(db, t)
        inbox = await inbox_figures(db, t)
    charts = [
        _chart(
            t,
            "week",
            N_("Proposals per week"),
            N_("Week starting"),
            N_("How many proposals were submitted each week, over the last twelve weeks."),
            _week_rows(t, weeks),
            columns=True,
        ),
        _chart(
            t,
            "status",
            N_("Proposals by status"),
            N_("Status"),
            N_("How many proposals are in each status."),
            [
                (status, Bar(status_label(t, status), count, _list_url(status=status)))
                for status, count in statuses.items()
            ],
        ),
        _chart(
            t,
            "theme",
            N_("Proposals by theme"),
            N_("Theme"),
            N_("How many proposals are about each theme; a proposal may have several themes."),
            _theme_rows(t, themes),
        ),
        _chart(
            t,
            "commune",
            N_("Proposals by commune"),
            N_("Commune"),
            N_("How many proposals are for each commune, or for the whole region."),
            _commune_rows(t, communes),
        ),
    ]
    return await render(
        request,
        "dashboard.html",
        {"charts": charts, "total": sum(statuses.values()), "outbox": outbox, "inbox": inbox},
    )


def add_dashboard_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard", dashboard, name="dashboard")
