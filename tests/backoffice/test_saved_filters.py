"""Saved filters of the proposal list: saved from the list's current filters (checked
again), offered as links with the current one marked, shared with the team or not, deleted
by whom may."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.auth import hash_password
from storage.database import create_sessionmaker
from storage.staff import add_staff
from tests.backoffice.support import csrf_of, page, signed_in
from tests.factories import make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

Client = TestClient[object, object]
ANNA = ("anna@example.brussels", "anna passphrase long enough")
BRAM = ("bram@example.brussels", "bram passphrase long enough")
CHEF = ("chef@example.brussels", "chef passphrase long enough")


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await add_staff(session, ANNA[0], hash_password(ANNA[1]), "reviewer", "fr")
        await add_staff(session, BRAM[0], hash_password(BRAM[1]), "reviewer", "nl")
        await add_staff(session, CHEF[0], hash_password(CHEF[1]), "admin", "en")
        await make_proposal(session, title="Un compost à Schaerbeek", commune_refnis="21015")
        await make_proposal(session, title="Un potager à Ixelles", commune_refnis="21009")
    return sessions


@pytest.fixture
async def anna(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    async with signed_in(sessions, ANNA) as client:
        yield client


@pytest.fixture
async def bram(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    async with signed_in(sessions, BRAM) as client:
        yield client


@pytest.fixture
async def chef(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    async with signed_in(sessions, CHEF) as client:
        yield client


async def save(client: Client, name: str, query: str, shared: bool = False) -> str:
    data = {"csrf_token": await csrf_of(client, "/proposals"), "name": name, "query": query}
    if shared:
        data["shared"] = "1"
    response = await client.post("/saved-filters", data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


def chips(body: str) -> list[tuple[str, str, bool]]:
    """The saved filters the list offers: name, link, whether it is the current one."""
    section = body.split('class="saved-filters"', 1)[1].split("</section>", 1)[0]
    return [
        (name, url.replace("&amp;", "&"), current == ' aria-current="true"')
        for url, current, name in re.findall(
            r'<a href="([^"]+)"((?: aria-current="true")?)>([^<]+)</a>', section
        )
    ]


def delete_ids(body: str) -> list[str]:
    return re.findall(r'action="/saved-filters/(\d+)/delete"', body)


async def test_the_list_saves_its_filters_and_offers_them_back(anna: Client) -> None:
    body = await page(anna, "/proposals?commune=21015&sort=oldest")
    # the form carries the list's filters, ready to be named
    assert 'name="query" value="commune=21015&amp;sort=oldest"' in body
    assert chips(body) == []

    # a query saved by hand is checked again and written in one order: unknown or bad
    # values dropped, the page left out
    location = await save(
        anna,
        "Schaerbeek, les plus anciennes",
        "sort=oldest&page=3&commune=21015&bogus=1&theme=nope",
    )
    assert location == "/proposals?commune=21015&sort=oldest"

    body = await page(anna, location)
    assert chips(body) == [("Schaerbeek, les plus anciennes", location, True)]
    assert 'id="total" data-total="1"' in body  # the filter itself still applies
    body = await page(anna, "/proposals")
    assert chips(body) == [("Schaerbeek, les plus anciennes", location, False)]

    # the same name again: the filter is replaced, not doubled
    await save(anna, "Schaerbeek, les plus anciennes", "commune=21015")
    assert chips(await page(anna, "/proposals")) == [
        ("Schaerbeek, les plus anciennes", "/proposals?commune=21015", False)
    ]


async def test_assigned_to_me_means_whoever_uses_the_shared_filter(
    anna: Client, bram: Client
) -> None:
    await save(anna, "Mes propositions", "assignee=me&status=all", shared=True)
    await save(anna, "Privé", "status=withdrawn")
    body = await page(bram, "/proposals")
    assert chips(body) == [("Mes propositions", "/proposals?assignee=me&status=all", False)]
    assert '<span class="tag">gedeeld</span>' in body  # shared; Bram reads Dutch
    assert delete_ids(body) == []  # shared by Anna: Bram may use it, not delete it
    body = await page(bram, "/proposals?assignee=me&status=all")
    assert 'id="total" data-total="0"' in body  # nothing assigned to Bram


async def test_owner_deletes_hers_an_admin_deletes_a_shared_one(
    anna: Client, bram: Client, chef: Client
) -> None:
    await save(anna, "Privé", "status=withdrawn")
    await save(anna, "Équipe", "status=all", shared=True)
    mine, shared = sorted(delete_ids(await page(anna, "/proposals")), key=int)

    async def delete(client: Client, filter_id: str) -> int:
        token = await csrf_of(client, "/proposals")
        response = await client.post(
            f"/saved-filters/{filter_id}/delete",
            data={"csrf_token": token},
            allow_redirects=False,
        )
        return response.status

    assert await delete(bram, shared) == 404
    assert await delete(chef, mine) == 404  # personal: not even an admin sees it
    assert delete_ids(await page(chef, "/proposals")) == [shared]
    assert await delete(chef, shared) == 303
    assert await delete(anna, mine) == 303
    assert chips(await page(anna, "/proposals")) == []


async def test_a_filter_needs_a_name_and_a_form_token(anna: Client) -> None:
    token = await csrf_of(anna, "/proposals")
    response = await anna.post(
        "/saved-filters", data={"csrf_token": token, "name": "  ", "query": ""}
    )
    assert response.status == 400
    assert "Donnez un nom" in await response.text()
    response = await anna.post(
        "/saved-filters", data={"name": "Sans jeton", "query": ""}, allow_redirects=False
    )
    assert response.status in (400, 403)
    assert chips(await page(anna, "/proposals")) == []
