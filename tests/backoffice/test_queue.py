"""My queue (the landing page), taking and assigning a proposal from the back-office, the
"new for you" mark, and the team's load for administrators."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Locator, Page
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from storage.database import create_sessionmaker
from storage.models import Proposal
from storage.staff import add_staff
from storage.workflow import review
from tests.backoffice.support import SECRET, csrf_of, login, page, sign_in
from tests.factories import make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

Client = TestClient[object, object]
ADMIN = ("admin@example.brussels", "admin passphrase long enough")
ANNA = ("anna@example.brussels", "anna passphrase long enough")
BRAM = ("bram@example.brussels", "bram passphrase long enough")
ROW_RE = re.compile(r'<td class="ref"><a href="/proposals/([A-Z0-9-]+)[?"]')

# The tests' clock says Monday 15 June 2026: 10 working days before is Monday 1 June.
OLD = datetime(2026, 5, 4, 9, tzinfo=UTC)  # 28 working days of waiting: overdue
RECENT = datetime(2026, 6, 10, 9, tzinfo=UTC)  # 3 working days


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def refs(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessions() as session, session.begin():
        for email, password in (ADMIN, ANNA, BRAM):
            role = "admin" if email == ADMIN[0] else "reviewer"
            await add_staff(session, email, hash_password(password), role, "en")
        made = {
            "recent": await make_proposal(session, now=RECENT, title="Recent bench"),
            "old": await make_proposal(session, now=OLD, title="Old garden"),
            "decided": await make_proposal(session, now=OLD, title="Decided one"),
        }
        await review(session, made["decided"], actor="x", to_status="accepted")
        return {name: proposal.reference for name, proposal in made.items()}


async def client_for(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    app = create_app(sessions, secret_key=SECRET, default_language="en")
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def anna(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async for client in client_for(sessions):
        assert (await login(client, *ANNA)).status == 303
        yield client


@pytest.fixture
async def bram(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async for client in client_for(sessions):
        assert (await login(client, *BRAM)).status == 303
        yield client


@pytest.fixture
async def admin(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async for client in client_for(sessions):
        assert (await login(client, *ADMIN)).status == 303
        yield client


async def assign(client: Client, reference: str, assignee: str, expected: str = "") -> str:
    """Post the assignment form; where the back-office sends the browser next."""
    response = await client.post(
        f"/proposals/{reference}/assign",
        data={
            "assignee": assignee,
            "expected": expected,
            "csrf_token": await csrf_of(client, f"/proposals/{reference}"),
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def staff_id(sessions: async_sessionmaker[AsyncSession], reference: str) -> int | None:
    async with sessions() as session:
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == reference))
        ).scalar_one()
        return proposal.assignee_id


async def test_the_queue_is_the_landing_page_longest_wait_first_overdue_marked(
    anna: Client, refs: dict[str, str]
) -> None:
    body = await page(anna, "/")
    assert "<h1>My queue</h1>" in body
    assert ROW_RE.findall(body) == [refs["old"], refs["recent"]]  # not the decided one
    # Ascension Day and Whit Monday are not working days.
    assert "28 working days" in body and "3 working days" in body
    assert body.count('class="tag overdue"') == 1
    assert 'id="team-load"' not in body  # for administrators
    assert body.count(">Take it<") == 2


async def test_take_it_then_a_colleague_on_a_stale_page_is_told_who_has_it(
    anna: Client, bram: Client, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    reference = refs["old"]
    await page(bram, "/")  # Bram's queue still shows it to nobody
    assert await assign(anna, reference, "me") == f"/proposals/{reference}"
    body = await page(anna, f"/proposals/{reference}")
    assert "anna@example.brussels (you)" in body
    assert ">Take it<" not in body
    # Anna's queue keeps it (hers), Bram's no longer shows it.
    assert reference in ROW_RE.findall(await page(anna, "/"))
    assert reference not in ROW_RE.findall(await page(bram, "/"))
    # Bram presses "take it" on the page he loaded before: refused, told who has it.
    location = await assign(bram, reference, "me", expected="")
    assert location == f"/proposals/{reference}?assign=conflict#assignment"
    body = await page(bram, location.split("#")[0])
    assert "Someone else changed the assignment in the meantime" in body
    assert "now with: anna@example.brussels" in body
    async with sessions() as session:
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == reference))
        ).scalar_one()
        anna_id = proposal.assignee_id
    assert anna_id is not None
    # Seeing Anna as the assignee, Bram can give it back to nobody.
    await assign(bram, reference, "", expected=str(anna_id))
    assert await staff_id(sessions, reference) is None
    body = await page(bram, f"/proposals/{reference}")
    assert "No longer assigned" in body and "Assigned" in body  # the history


async def test_an_assignment_by_someone_else_is_new_until_opened_and_admins_see_the_load(
    admin: Client, anna: Client, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    body = await page(admin, f"/proposals/{refs['recent']}")
    anna_id = re.search(r'<option value="(\d+)" >anna@example.brussels</option>', body)
    assert anna_id, body
    await assign(admin, refs["recent"], anna_id.group(1))
    queue = await page(anna, "/")
    assert '<span class="badge">1 new</span>' in queue
    assert "new for you" in queue
    await page(anna, f"/proposals/{refs['recent']}")
    assert "new for you" not in await page(anna, "/")
    # The administrator's queue shows the team's load: Anna has one, nobody has the other.
    load = await page(admin, "/")
    assert 'id="team-load"' in load
    assert 'href="/proposals?assignee=nobody&amp;sort=waiting"' in load
    assert f'href="/proposals?assignee={anna_id.group(1)}&amp;sort=waiting"' in load
    # The list filters by assignee; "me" is the signed-in staff member.
    mine = await page(anna, "/proposals?assignee=me")
    assert ROW_RE.findall(mine) == [refs["recent"]]
    assert ROW_RE.findall(await page(admin, "/proposals?assignee=nobody")) == [refs["old"]]


async def test_bad_assignment_forms_are_refused(anna: Client, refs: dict[str, str]) -> None:
    token = await csrf_of(anna, "/")
    for data in ({"assignee": "someone"}, {"assignee": "me", "expected": "x"}):
        response = await anna.post(
            f"/proposals/{refs['old']}/assign", data={**data, "csrf_token": token}
        )
        assert response.status == 400
    response = await anna.post(
        f"/proposals/{refs['old']}/assign", data={"assignee": "99999", "csrf_token": token}
    )
    assert response.status == 400 and "no longer exists" in await response.text()
    response = await anna.post(
        "/proposals/BXL-1999-00001/assign", data={"assignee": "me", "csrf_token": token}
    )
    assert response.status == 404


async def test_previous_and_next_within_the_queue_or_the_list(
    anna: Client, refs: dict[str, str]
) -> None:
    old, recent = refs["old"], refs["recent"]
    queue = await page(anna, "/")
    assert f'href="/proposals/{old}?in=queue"' in queue
    first = await page(anna, f"/proposals/{old}?in=queue")
    assert f'rel="next" href="/proposals/{recent}?in=queue"' in first
    assert 'rel="prev"' not in first and "1 of 2" in first
    assert '<a href="/">← My queue</a>' in first
    second = await page(anna, f"/proposals/{recent}?in=queue")
    assert f'rel="prev" href="/proposals/{old}?in=queue"' in second
    assert 'rel="next"' not in second
    # From the list, the neighbours follow its filter and sort (every status, oldest first).
    listed = await page(anna, "/proposals?status=all&sort=oldest")
    link = f"/proposals/{old}?status=all&amp;sort=oldest&amp;in=list"
    assert f'href="{link}"' in listed
    detail = await page(anna, link.replace("&amp;", "&"))
    assert "1 of 3" in detail and 'href="/proposals?status=all&amp;sort=oldest"' in detail
    assert f'rel="next" href="/proposals/{refs["decided"]}?status=all&amp;sort=oldest' in detail
    # Without `in`, the page has no neighbours.
    assert 'rel="next"' not in await page(anna, f"/proposals/{old}")


async def test_sortable_columns_say_how_the_list_is_sorted(anna: Client) -> None:
    body = await page(anna, "/proposals?status=all&sort=budget")
    assert 'aria-sort="descending"><a href="/proposals?status=all&amp;sort=budget">' in body
    assert body.count("aria-sort=") == 1
    assert '<a href="/proposals?status=all&amp;sort=reference">' in body
    # The submission column goes from newest to oldest and back.
    body = await page(anna, "/proposals?sort=newest")
    assert 'aria-sort="descending"><a href="/proposals?sort=oldest">' in body
    body = await page(anna, "/proposals?sort=oldest")
    assert 'aria-sort="ascending"><a href="/proposals?sort=newest">' in body
    assert 'aria-keyshortcuts="/"' in body and '<script src="/static/shortcuts.js"' in body


async def test_the_filter_form_offers_the_assignees(anna: Client) -> None:
    body = await page(anna, "/proposals?assignee=me")
    assert '<option value="me" selected>Me</option>' in body
    assert '<option value="nobody" >Nobody</option>' in body
    assert ">bram@example.brussels</option>" in body


# ------------------------------------------------------------------ in a browser


async def signed_in_page(browser: Browser, root: str, who: tuple[str, str]) -> Page:
    page_ = await (await browser.new_context()).new_page()
    await sign_in(page_, root, who)
    return page_


def queue_rows(page_: Page) -> Locator:
    return page_.locator("table.queue tbody tr")


@pytest.mark.slow
async def test_two_colleagues_work_the_queue_in_a_browser(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    """Anna takes the oldest proposal from her queue; Bram, whose page still shows it free,
    presses "take it" too and is told Anna has it; Anna gives him the other one from its
    page with the keyboard-reachable form; his menu and queue say it is new for him."""
    server = TestServer(create_app(sessions, secret_key=SECRET, default_language="en"))
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        anna_page = await signed_in_page(browser, root, ANNA)
        bram_page = await signed_in_page(browser, root, BRAM)

        # the landing page: open proposals, the longest wait first, the overdue one marked
        rows = queue_rows(anna_page)
        assert await rows.count() == 2
        first, second = rows.nth(0), rows.nth(1)
        assert await first.locator("td.ref").inner_text() == refs["old"]
        assert "overdue" in await first.locator("td.wait").inner_text()
        assert await second.locator("td.ref").inner_text() == refs["recent"]
        assert "overdue" not in await second.locator("td.wait").inner_text()

        await first.get_by_role("button", name=f"Take it ({refs['old']})").click()
        await anna_page.wait_for_load_state()
        mine = queue_rows(anna_page).nth(0)
        assert "anna@example.brussels (you)" in await mine.inner_text()
        assert await mine.get_by_role("button").count() == 0  # nothing left to take

        # Bram's queue was loaded before: it still offers the proposal Anna took
        stale = queue_rows(bram_page).nth(0)
        await stale.get_by_role("button", name=f"Take it ({refs['old']})").click()
        await bram_page.wait_for_url(re.compile(r"assign=conflict"))
        alert = bram_page.get_by_role("alert")
        assert "now with: anna@example.brussels" in await alert.inner_text()
        assert await bram_page.locator("#assignee").inner_text() == "anna@example.brussels"

        # Anna opens the recent one from her queue and gives it to Bram
        await anna_page.goto(f"{root}/")
        await anna_page.get_by_role("link", name=refs["recent"]).click()
        await anna_page.wait_for_url(re.compile(refs["recent"]))
        assignment = anna_page.locator("section#assignment")
        await assignment.get_by_label("Assign to").select_option(label=BRAM[0])
        await assignment.get_by_role("button", name="Assign", exact=True).click()
        await anna_page.wait_for_load_state()
        assert await anna_page.locator("#assignee").inner_text() == BRAM[0]

        # for Bram: one new in the menu, marked in his queue until he opens it
        await bram_page.goto(f"{root}/")
        menu = bram_page.get_by_role("link", name=re.compile("^My queue"))
        assert await menu.inner_text() == "My queue 1 new"
        row = queue_rows(bram_page).filter(has_text=refs["recent"])
        assert "new for you" in await row.inner_text()
        await row.get_by_role("link", name=refs["recent"]).click()
        await bram_page.wait_for_url(re.compile(refs["recent"]))
        await bram_page.goto(f"{root}/")
        assert await bram_page.get_by_role("link", name=re.compile("^My queue")).inner_text() == (
            "My queue"
        )
        # the one Anna has is no longer in Bram's queue
        assert await queue_rows(bram_page).count() == 1

        # "t" takes a proposal from its page: Anna takes Bram's back, from the keyboard
        await anna_page.keyboard.press("t")
        await anna_page.wait_for_load_state()
        await anna_page.wait_for_function(
            "document.querySelector('#assignee').textContent.includes('(you)')"
        )
        async with sessions() as session:
            holders = dict(
                (await session.execute(select(Proposal.reference, Proposal.assignee_id))).all()
            )
        assert holders[refs["recent"]] == holders[refs["old"]] is not None
    finally:
        await server.close()
