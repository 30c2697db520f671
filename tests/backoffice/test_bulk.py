"""Bulk actions from the proposal list (issue 14 §5): the ticked proposals, those of the
page or a whole filter (confirmed first when more than a few); assign, change the status
(skipping where the workflow does not allow it), export exactly the selection; the result
page and its undo for a minute. Then the same in headless Chromium."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from storage.assignment import assign
from storage.database import create_sessionmaker
from storage.models import OutboxMessage, Proposal, ProposalEvent
from storage.staff import add_staff, staff_by_email
from tests.backoffice.support import SECRET, csrf_of, page, sign_in, signed_in
from tests.backoffice.test_accessibility import AXE, PHONE, SIDEWAYS, violations
from tests.clock import TEST_NOW, MovingClock
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

Client = TestClient[object, object]
SAM = ("sam@example.brussels", "sam passphrase long enough")  # reads English
BRAM = ("bram@example.brussels", "bram passphrase long enough")


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def refs(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """Sam and Bram; three proposals (submitted, in review, accepted), newest first."""
    async with sessions() as session, session.begin():
        await add_staff(session, SAM[0], hash_password(SAM[1]), "reviewer", "en")
        await add_staff(session, BRAM[0], hash_password(BRAM[1]), "reviewer", "en")
        references = []
        for number, status in enumerate(("submitted", "in_review", "accepted")):
            citizen = await make_citizen(session, 9100 + number, "fr")
            proposal = await make_proposal(
                session, citizen, now=TEST_NOW - timedelta(days=3 - number)
            )
            proposal.status = status
            references.append(proposal.reference)
        return references[::-1]


@pytest.fixture
async def sam(sessions: async_sessionmaker[AsyncSession], refs: list[str]) -> AsyncIterator[Client]:
    async with signed_in(sessions, SAM) as client:
        yield client


async def bulk(client: Client, **fields: Any) -> tuple[int, str, str]:
    """Send the list's bulk form: (status, the redirect's location or "", the body)."""
    body = await page(client, "/proposals?status=all")
    data: list[tuple[str, str]] = [("csrf_token", _csrf(body))]
    fields.setdefault("filter", "status=all")
    data += [("shown", value) for value in re.findall(r'name="shown" value="([^"]*)"', body)]
    for name, value in fields.items():
        values = value if isinstance(value, list) else [value]
        data += [(name, v) for v in values]
    response = await client.post("/proposals/bulk", data=data, allow_redirects=False)
    return response.status, response.headers.get("Location", ""), await response.text()


def _csrf(body: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert found
    return found.group(1)


async def proposal(sessions: async_sessionmaker[AsyncSession], reference: str) -> Proposal:
    async with sessions() as session:
        found = (
            await session.execute(select(Proposal).where(Proposal.reference == reference))
        ).scalar_one()
        return found


async def events(
    sessions: async_sessionmaker[AsyncSession], reference: str
) -> list[tuple[str, str | None, str | None, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(ProposalEvent)
            .join(Proposal, Proposal.id == ProposalEvent.proposal_id)
            .where(Proposal.reference == reference)
            .order_by(ProposalEvent.id)
        )
        return [(e.kind, e.from_status, e.to_status, e.actor) for e in rows.scalars()][1:]


async def citizen_messages(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "telegram"))
        return list(rows.scalars())


async def test_each_row_has_a_labelled_checkbox_in_the_bulk_form(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = await page(sam, "/proposals?status=all")
    assert '<form id="bulk" method="post" action="/proposals/bulk"' in body
    for reference in refs:
        assert (
            f'<input type="checkbox" form="bulk" name="ref" value="{reference}" '
            f'id="pick-{reference}"><label class="visually-hidden" '
            f'for="pick-{reference}">Select {reference}</label>'
        ) in body
        assert f'name="shown" value="{reference}="' in body
    assert 'value="filter"> All 3 proposals matching this filter' in body
    assert 'name="filter" value="status=all&amp;sort=newest"' in body
    assert '<span class="pick-all" hidden>' in body  # shown by the script only
    statuses = re.search(r'<select id="bulk-status" name="status">(.*?)</select>', body)
    assert statuses and re.findall(r'value="(\w+)"', statuses.group(1)) == [
        "in_review",
        "needs_info",
        "accepted",
        "rejected",
    ]


async def test_ticked_proposals_are_assigned_and_the_result_offers_to_undo(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    status, location, _ = await bulk(sam, action="assign", assignee="me", ref=refs[:2])
    assert status == 303 and re.fullmatch(r"/proposals/bulk/\d+", location)
    body = await page(sam, location)
    assert "2 proposals assigned to sam@example.brussels." in body
    assert 'action="' + location + '/undo"' in body and "Undo" in body
    assert "Possible for " in body
    for reference in refs[:2]:
        assert await events(sessions, reference) == [("assigned", None, None, SAM[0])]
    assert (await proposal(sessions, refs[2])).assignee_id is None

    status, location, _ = await bulk(sam, action="assign", assignee="nobody", scope="page")
    body = await page(sam, location)
    assert "2 proposals are now assigned to nobody." in body
    assert "1 proposal skipped" in body and "nothing to change: it already was so" in body


async def test_an_assignment_made_meanwhile_is_a_conflict_not_overwritten(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = await page(sam, "/proposals?status=all")  # shows the first with nobody
    async with sessions() as session, session.begin():  # then Bram takes it
        bram = await staff_by_email(session, BRAM[0])
        first = (
            await session.execute(select(Proposal).where(Proposal.reference == refs[0]))
        ).scalar_one()
        await assign(session, first, bram, actor=BRAM[0], expected=None)
    data = [("csrf_token", _csrf(body)), ("action", "assign"), ("assignee", "me")]
    data += [("shown", v) for v in re.findall(r'name="shown" value="([^"]*)"', body)]
    data += [("ref", refs[0]), ("ref", refs[1])]
    response = await sam.post("/proposals/bulk", data=data, allow_redirects=False)
    result = await page(sam, response.headers["Location"])
    assert "1 proposal assigned to sam@example.brussels." in result
    assert (
        f"{refs[0]}</a>: someone else changed its assignment in the meantime "
        f"(now: {BRAM[0]})" in result
    )


async def test_a_status_change_skips_the_proposals_the_workflow_does_not_allow(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    # refs: accepted, in review, submitted
    _status, location, _ = await bulk(sam, action="status", status="rejected", scope="page")
    body = await page(sam, location)
    assert "2 proposals changed to the status “not retained”." in body
    assert "1 proposal skipped" in body
    assert f"{refs[0]}</a>: this change is not possible from the status “accepted”" in body
    assert "The messages to the 2 citizens wait until the minute to undo is over." in body
    assert [
        m.next_attempt_at >= TEST_NOW + timedelta(seconds=60)
        for m in await citizen_messages(sessions)
    ] == [True, True]
    assert await events(sessions, refs[1]) == [("status", "in_review", "rejected", SAM[0])]


async def test_a_whole_filter_of_more_than_a_few_is_confirmed_first(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        for _ in range(4):
            await make_proposal(session)
    status, _location, body = await bulk(
        sam, action="status", status="in_review", scope="filter", ref=refs[0]
    )
    assert status == 200
    assert "You are about to change 7 proposals." in body
    assert "Change the status to “in review”" in body
    assert await events(sessions, refs[2]) == []  # nothing changed yet
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', body)
    assert ("confirmed", "1") in fields and ("scope", "filter") in fields
    response = await sam.post(
        "/proposals/bulk",
        data=[(name, value.replace("&amp;", "&")) for name, value in fields],
        allow_redirects=False,
    )
    assert response.status == 303
    result = await page(sam, response.headers["Location"])
    assert "6 proposals changed to the status “in review”." in result  # accepted ones too
    assert "1 proposal skipped" in result
    assert "nothing to change: it already was so" in result


async def test_a_small_filter_is_changed_at_once(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    status, location, _ = await bulk(sam, action="assign", assignee="me", scope="filter")
    assert status == 303
    assert "3 proposals assigned to sam@example.brussels." in await page(sam, location)


async def test_the_export_holds_exactly_the_selection(sam: Client, refs: list[str]) -> None:
    response = await sam.post(
        "/proposals/bulk",
        data=[
            ("csrf_token", await csrf_of(sam, "/proposals")),
            ("action", "export_csv"),
            ("ref", refs[2]),
            ("ref", refs[0]),
        ],
    )
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [row["reference"] for row in rows] == [refs[2], refs[0]]
    response = await sam.post(
        "/proposals/bulk",
        data=[
            ("csrf_token", await csrf_of(sam, "/proposals")),
            ("action", "export_xlsx"),
            ("ref", refs[1]),
        ],
    )
    workbook = openpyxl.load_workbook(io.BytesIO(await response.read()))
    column = [cell.value for cell in next(workbook.active.iter_cols(max_col=1))]  # type: ignore[union-attr]
    assert column == ["reference", refs[1]]
    status, location, _ = await bulk(sam, action="export_csv", scope="filter")
    assert (status, location) == (303, "/proposals/export.csv?status=all")


async def test_nothing_ticked_and_forms_from_elsewhere_are_refused(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    status, _location, body = await bulk(sam, action="assign", assignee="me")
    assert status == 400
    assert "Tick at least one proposal, or choose all those of the page." in body
    status, _location, body = await bulk(sam, action="status", status="withdrawn", ref=refs[2])
    assert status == 400 and "Choose a status from the list." in body
    response = await sam.post(
        "/proposals/bulk",
        data={"action": "assign", "assignee": "me", "ref": refs[2]},
        allow_redirects=False,
    )
    assert response.status == 403  # no CSRF token
    _status, location, _ = await bulk(sam, action="assign", assignee="me", ref=refs[2])
    response = await sam.post(location + "/undo", data={}, allow_redirects=False)
    assert response.status == 403
    assert (await proposal(sessions, refs[2])).assignee_id is not None


async def test_undo_puts_back_then_is_refused_after_the_minute(
    sam: Client,
    refs: list[str],
    sessions: async_sessionmaker[AsyncSession],
    fixed_clock: MovingClock,
) -> None:
    _status, location, _ = await bulk(sam, action="status", status="needs_info", ref=refs[1:])
    token = await csrf_of(sam, location)
    response = await sam.post(location + "/undo", data={"csrf_token": token}, allow_redirects=False)
    assert response.headers["Location"] == location + "#result"
    body = await page(sam, location)
    assert "2 proposals are back as they were." in body and 'id="undo"' not in body
    assert await citizen_messages(sessions) == []
    assert await events(sessions, refs[2]) == [
        ("status", "submitted", "needs_info", SAM[0]),
        ("status", "needs_info", "submitted", SAM[0]),
    ]

    _status, location, _ = await bulk(sam, action="status", status="needs_info", ref=refs[1:])
    token = await csrf_of(sam, location)
    fixed_clock.set(TEST_NOW + timedelta(minutes=5))
    body = await page(sam, location)
    assert 'id="undo"' not in body and "The minute to undo this change is over." in body
    response = await sam.post(location + "/undo", data={"csrf_token": token}, allow_redirects=False)
    assert response.headers["Location"] == location + "?refused=too_late#result"
    body = await page(sam, location + "?refused=too_late")
    assert "This change can no longer be undone: the minute to undo it is over." in body
    assert (await proposal(sessions, refs[2])).status == "needs_info"
    assert len(await citizen_messages(sessions)) == 2


async def test_only_the_author_may_undo(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    _status, location, _ = await bulk(sam, action="assign", assignee="me", ref=refs[2])
    async with signed_in(sessions, BRAM) as bram:
        body = await page(bram, location)
        assert "1 proposal assigned to sam@example.brussels." in body
        assert 'id="undo"' not in body
        token = await csrf_of(bram, location)
        response = await bram.post(location + "/undo", data={"csrf_token": token})
        assert "Only the staff member who made this change can undo it." in await response.text()
    assert await page(sam, "/proposals/bulk/999", status=404)


# ------------------------------------------------------------------ in a browser


@pytest.mark.slow
async def test_staff_change_two_statuses_and_undo_in_a_browser(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], refs: list[str]
) -> None:
    app = create_app(sessions, secret_key=SECRET, default_language="en")
    server = TestServer(app)
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        tab = await browser.new_page()
        await sign_in(tab, root, SAM)
        await tab.goto(f"{root}/proposals")  # open ones: in review and submitted
        select_all = tab.get_by_label("Select all on this page")
        assert await select_all.is_visible()  # the script shows it
        await select_all.check()
        assert await tab.get_by_label(f"Select {refs[1]}").is_checked()
        await select_all.uncheck()
        await tab.get_by_label(f"Select {refs[1]}").check()
        await tab.get_by_label(f"Select {refs[2]}").check()
        await tab.get_by_label("New status").select_option("needs_info")
        await tab.get_by_role("button", name="Change the status").click()
        await tab.wait_for_url(re.compile(r"/proposals/bulk/\d+$"))
        assert await tab.locator("#done-line").inner_text() == (
            "2 proposals changed to the status “waiting for the citizen's answer”."
        )
        assert len(await citizen_messages(sessions)) == 2  # held
        await tab.get_by_role("button", name="Undo").click()
        await tab.wait_for_url(re.compile(r"/proposals/bulk/\d+#result$"))
        assert "2 proposals are back as they were." in await tab.locator("#result").inner_text()
        for reference, before in ((refs[1], "in_review"), (refs[2], "submitted")):
            assert (await proposal(sessions, reference)).status == before
            assert await events(sessions, reference) == [
                ("status", before, "needs_info", SAM[0]),
                ("status", "needs_info", before, SAM[0]),
            ]
        assert await citizen_messages(sessions) == []
        await tab.goto(f"{root}/proposals/{refs[2]}")
        history = await tab.locator("body").inner_text()
        assert history.count("Status change") >= 2
        await tab.close()
    finally:
        await server.close()


async def test_the_queue_offers_the_same_form_without_the_whole_filter(
    sam: Client, refs: list[str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = await page(sam, "/")
    assert f'name="ref" value="{refs[2]}"' in body and f'name="shown" value="{refs[2]}="' in body
    assert 'value="filter"' not in body and 'name="back" value="/"' in body
    shown = re.findall(r'name="shown" value="([^"]*)"', body)
    response = await sam.post(
        "/proposals/bulk",
        data=[("csrf_token", _csrf(body)), ("action", "assign"), ("assignee", "me")]
        + [("scope", "page"), ("back", "/")]
        + [("shown", value) for value in shown],
        allow_redirects=False,
    )
    result = await page(sam, response.headers["Location"])
    assert "2 proposals assigned to sam@example.brussels." in result  # the open ones
    assert '<a href="/">Back to the list</a>' in result


@pytest.mark.slow
async def test_the_confirmation_reads_well_on_a_phone(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], refs: list[str]
) -> None:
    """A whole filter of more than a few: the confirmation page, at 375 px, with axe-core
    (not a GET page: the accessibility scan of every page cannot reach it)."""
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm ci` at the repository's root")
    async with sessions() as session, session.begin():
        for _ in range(4):
            await make_proposal(session)
        long_name = "marie-christine.vandenberghe-de-schrijver@example.brussels"
        await add_staff(session, long_name, "not-a-hash", "reviewer")  # in the assignee list
    app = create_app(sessions, secret_key=SECRET, default_language="fr")
    server = TestServer(app)
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        context = await browser.new_context(viewport=PHONE)
        await context.add_init_script(script=AXE.read_text(encoding="utf-8"))
        tab = await context.new_page()
        await sign_in(tab, root, BRAM)
        await tab.goto(f"{root}/proposals")  # the six open ones
        assert not await tab.evaluate(SIDEWAYS)
        assert await tab.get_by_label(f"Select {refs[2]}").is_visible()
        await tab.get_by_label("All 6 proposals matching this filter").check()
        await tab.get_by_label("Assign to").select_option("me")
        await tab.get_by_role("button", name="Assign", exact=True).click()
        await tab.wait_for_load_state()
        assert await tab.locator("h1").inner_text() == "Confirm the change"
        assert "You are about to change 6 proposals." in await tab.locator("main").inner_text()
        assert await violations(tab) == [] and not await tab.evaluate(SIDEWAYS)
        await tab.get_by_role("button", name="Change 6 proposals").click()
        await tab.wait_for_url(re.compile(r"/proposals/bulk/\d+$"))
        assert await tab.locator("#done-line").inner_text() == (
            "6 proposals assigned to bram@example.brussels."
        )
        assert await violations(tab) == [] and not await tab.evaluate(SIDEWAYS)
        await context.close()
    finally:
        await server.close()


async def test_the_export_of_my_proposals_holds_only_mine(sam: Client, refs: list[str]) -> None:
    """The list's "assigned to me" reaches the export (a whole filter's export is the list's
    own export)."""
    await bulk(sam, action="assign", assignee="me", ref=refs[1])
    status, location, _ = await bulk(
        sam, action="export_csv", scope="filter", filter="status=all&assignee=me"
    )
    assert (status, location) == (303, "/proposals/export.csv?status=all&assignee=me")
    response = await sam.get(location)
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [row["reference"] for row in rows] == [refs[1]]
