"""The back-office with a screen reader and on a phone (issue 14 §8): axe-core in headless
Chromium on every page, in French and in Dutch, at desktop width and at 375 px.

The pages come from the router, so that a page added later is scanned too: every GET route
but the API and the static files, with its path parameters filled from the seeded database,
kept when it answers HTML (the exports, /healthz and /metrics do not). The sign-in page is
scanned signed out, and a page that does not exist shows the error page.

axe-core is the npm package pinned in package.json (`npm ci` puts it in node_modules/), read
from disk and added to each page before the page's own scripts: no CDN, and the pages keep
their Content-Security-Policy. Without it (or without Debian's chromium) the tests are
skipped, except on CI, where they fail. Run alone:

    .venv/bin/pytest tests/backoffice/test_accessibility.py
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.services.announcements import Announcer
from bot.services.bulk import AssignTo, Target, run_bulk
from storage.bulk import proposals_by_reference
from storage.coaches import invite_coach
from storage.database import create_sessionmaker
from storage.models import InboxUpdate, Initiative, OutboxMessage
from storage.staff import add_staff, staff_by_email
from tests.backoffice.support import SECRET
from tests.clock import TEST_NOW
from tests.e2e.test_e2e import CHROMIUM
from tests.factories import make_citizen, make_proposal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]

AXE = Path(__file__).parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ADMIN = ("admin@example.brussels", "correct horse battery staple")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
BLOCKING = ("serious", "critical")
"""The impacts that fail the scan; axe's "moderate" and "minor" findings are not counted."""

SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"
"""Whether the page scrolls sideways (tables and charts scroll in their own box)."""

NOT_SCANNED = re.compile(r"^/(api/|static)")
"""Routes that are no page: the JSON API (bearer tokens) and the static files."""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing on CI: .ci/run must run `npm ci`")
        pytest.skip(f"{AXE} is missing: run `npm ci` at the repository's root")
    return AXE.read_text(encoding="utf-8")


# ------------------------------------------------------------------ the back-office


@dataclass
class BackOffice:
    root: str
    language: str
    app: web.Application
    reference: str
    ids: dict[str, str]
    """An existing id for the `{id}` of a path, by the path's first segment."""

    def pages(self) -> list[str]:
        """Every GET page of the router, its path parameters filled; /logout last."""
        found = set()
        for route in self.app.router.routes():
            info = route.resource.get_info() if route.resource is not None else {}
            pattern = info.get("path") or info.get("formatter")
            if route.method != "GET" or pattern is None or NOT_SCANNED.match(pattern):
                continue
            found.add(self._fill(pattern))
        return sorted(found, key=lambda path: (path == "/logout", path))

    def _fill(self, pattern: str) -> str:
        """`/proposals/{reference}` → `/proposals/BXL-2026-00001`; `{id}`: the seeded one."""

        def value(match: re.Match[str]) -> str:
            if match[1] == "reference":
                return quote(self.reference)
            return quote(self.ids[pattern.strip("/").split("/")[0]])

        return re.sub(r"\{(\w+)\}", value, pattern)


def _message(key: str, status: str, **fields: Any) -> OutboxMessage:
    return OutboxMessage(
        kind="telegram",
        chat_id=4242,
        payload={"text": key},
        dedupe_key=key,
        status=status,
        attempts=1,
        next_attempt_at=TEST_NOW,
        created_at=TEST_NOW - timedelta(days=1),
        **fields,
    )


async def _seed(engine: AsyncEngine, language: str) -> tuple[str, dict[str, str]]:
    """An administrator speaking `language`, a proposal in each status (one a test), an
    initiative, a coach, a dead and a pending message, a message the bot could not handle,
    a bulk action."""
    async with create_sessionmaker(engine).begin() as session:
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", language)
        await add_staff(session, "reviewer@example.brussels", hash_password("x" * 16), "reviewer")
        citizen = await make_citizen(session, 4242, "fr")
        statuses = ["submitted", "in_review", "needs_info", "accepted", "rejected", "withdrawn"]
        references = []
        for number, status in enumerate(statuses):
            proposal = await make_proposal(
                session,
                citizen,
                now=TEST_NOW - timedelta(days=3 * number),
                title=f"Un potager partagé et un compost de quartier, numéro {number}",
                themes=["food", "compost"] if number % 2 else ["culture"],
                commune_refnis="21004" if number % 3 else "21015",
                budget_cents=250_000 * (number + 1),
                is_test=number == 5,
            )
            proposal.status = status
            references.append(proposal.reference)
        initiative = Initiative(
            external_id="i1",
            name="Compost & Co",
            description="Un compost collectif au coin de la rue.",
            commune_refnis="21004",
            themes=["compost"],
            language="fr",
        )
        session.add(initiative)
        coach, _token = await invite_coach(session, "Camille Coach", "fr", ADMIN[0])
        session.add_all(
            [
                _message("dead", "dead", last_error="Forbidden: bot was blocked by the user"),
                _message("pending", "pending"),
                InboxUpdate(
                    bot_id=424242,
                    update_id=1,
                    chat_id=4242,
                    status="parked",
                    attempts=8,
                    next_attempt_at=TEST_NOW,
                    received_at=TEST_NOW - timedelta(minutes=5),
                    payload={"update_id": 1, "message": {"text": "Un potager rue Royale"}},
                    last_error="OperationalError: database gone",
                ),
            ]
        )
        await session.flush()
        # A bulk action (/proposals/bulk/{id}) with a skipped proposal, which can still be
        # undone throughout the scan.
        admin = await staff_by_email(session, ADMIN[0])
        proposals = await proposals_by_reference(session, references[:2])
        action = await run_bulk(
            session,
            Announcer(),
            AssignTo(admin),
            [
                Target(p.id, shown=True, shown_assignee=None if n else 1)
                for n, p in enumerate(proposals)
            ],
            actor=ADMIN[0],
            now=TEST_NOW + timedelta(minutes=30),
        )
        ids = {
            "initiatives": str(initiative.id),
            "coaches": str(coach.id),
            "proposals": str(action.id),
        }
        return references[0], ids


@pytest.fixture
async def back_office(
    request: pytest.FixtureRequest, engine: AsyncEngine
) -> AsyncIterator[BackOffice]:
    """The back-office on a port of its own, its administrator speaking the language the
    test is parametrized with (`indirect`)."""
    language: str = request.param
    reference, ids = await _seed(engine, language)
    app = create_app(create_sessionmaker(engine), secret_key=SECRET, default_language=language)
    server = TestServer(app)
    await server.start_server()
    try:
        yield BackOffice(str(server.make_url("")).rstrip("/"), language, app, reference, ids)
    finally:
        await server.close()


async def sign_in(page: Page, root: str) -> None:
    await page.fill("#email", ADMIN[0])
    await page.fill("#password", ADMIN[1])
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"{root}/")


# ------------------------------------------------------------------ axe


async def violations(page: Page) -> list[str]:
    """axe's serious and critical violations on the page, one line per element."""
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            summary = " ".join(str(node.get("failureSummary", "")).split())
            found.append(
                f"{violation['impact']} {violation['id']} ({violation['help']}): "
                f"{', '.join(map(str, node['target']))} — {summary[:300]}"
            )
    return found


async def scan(
    context: BrowserContext, back_office: BackOffice, language: str, size: str
) -> tuple[list[str], list[str]]:
    """(the pages scanned, every blocking violation with its page) in one browser context."""
    root = back_office.root
    page = await context.new_page()
    found: list[str] = []
    scanned: list[str] = []

    async def check(path: str) -> None:
        scanned.append(path)
        found.extend(f"[{language} {size}] {path}: {line}" for line in await violations(page))
        if await page.evaluate(SIDEWAYS):
            found.append(f"[{language} {size}] {path}: the page scrolls sideways")

    await page.goto(f"{root}/login?lang={language}")
    assert await page.get_attribute("html", "lang") == language
    await check("/login")
    await sign_in(page, root)
    for path in back_office.pages():
        response = await context.request.get(root + path, max_redirects=0)
        if "text/html" not in response.headers["content-type"]:
            continue  # an export, /healthz, /metrics (404 without its token), /login (303)
        assert response.status == 200, (path, response.status)
        answer = await page.goto(root + path)
        assert answer is not None and answer.status == 200, path
        assert await page.get_attribute("html", "lang") == language, path
        await check(path)
    missing = await page.goto(f"{root}/proposals/BXL-1999-99999")  # the error page
    assert missing is not None and missing.status == 404
    await check("/proposals/BXL-1999-99999")
    await page.close()
    return scanned, found


@pytest.mark.parametrize("back_office", ["fr", "nl"], indirect=True)
async def test_no_serious_violation_on_any_page(
    back_office: BackOffice, browser: Browser, axe_source: str
) -> None:
    """axe finds nothing serious or critical on any page, at desktop width and at 375 px,
    and no page scrolls sideways at 375 px."""
    language = back_office.language
    found: list[str] = []
    for size, viewport in (("desktop", DESKTOP), ("375px", PHONE)):
        context = await browser.new_context(viewport=viewport, locale=f"{language}-BE")
        await context.add_init_script(script=axe_source)
        scanned, seen = await scan(context, back_office, language, size)
        await context.close()
        found += seen
        reference = back_office.reference
        for expected in ("/login", "/", "/proposals", f"/proposals/{reference}", "/logout"):
            assert expected in scanned, (expected, scanned)
    assert not found, f"{len(found)} problems:\n" + "\n".join(found)


# ------------------------------------------------------------------ a phone


@pytest.mark.parametrize("back_office", ["fr"], indirect=True)
async def test_the_list_fits_a_phone_and_its_filters_fold_away(
    back_office: BackOffice, browser: Browser
) -> None:
    """At 375 px the list does not scroll sideways and shows each proposal's reference,
    title, status and submission date; the filters are folded, and work once opened. At
    desktop width they are open."""
    root = back_office.root
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(f"{root}/login")
    await sign_in(page, root)
    await page.goto(f"{root}/proposals")
    await page.keyboard.press("Tab")  # the skip link comes first, shown when focused
    skip = page.locator("a.skip-link:focus")
    assert await skip.get_attribute("href") == "#main" and await skip.is_visible()
    assert await page.locator("main#main").count() == 1
    assert not await page.evaluate(SIDEWAYS), "the list scrolls sideways at 375 px"
    row = page.locator("table.proposals tbody tr").first
    reference = row.get_by_role("link", name=re.compile(r"^BXL-"))
    title = row.locator("td", has_text="Un potager partagé")
    for cell in (reference, title, row.locator(".status"), row.locator("time")):
        assert await cell.is_visible(), cell
        box = await cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    status = page.locator("select#f-status")
    assert not await status.is_visible(), "the filters are open at 375 px"
    await page.click("details.filters-fold > summary")
    assert await status.is_visible()
    await status.select_option("accepted")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url(re.compile(r"status=accepted"))
    assert await page.locator("table.proposals tbody tr").count() == 1
    await context.close()

    wide = await browser.new_context(viewport=DESKTOP)
    page = await wide.new_page()
    await page.goto(f"{root}/login")
    await sign_in(page, root)
    await page.goto(f"{root}/proposals")
    assert await page.locator("select#f-status").is_visible(), "the filters are folded on a desktop"
    await wide.close()
