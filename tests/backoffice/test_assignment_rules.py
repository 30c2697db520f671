"""The assignment rules page (administrators): add, replace and remove rules; the next
proposals follow them and show as new in their assignee's queue."""

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
ADMIN = ("admin@example.brussels", "admin passphrase long enough")
ANNA = ("anna@example.brussels", "anna passphrase long enough")


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def staff_ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session, session.begin():
        admin = await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "fr")
        anna = await add_staff(session, ANNA[0], hash_password(ANNA[1]), "reviewer", "nl")
        return {"admin": admin.id, "anna": anna.id}


@pytest.fixture
async def admin(
    sessions: async_sessionmaker[AsyncSession], staff_ids: dict[str, int]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, ADMIN) as client:
        yield client


@pytest.fixture
async def anna(
    sessions: async_sessionmaker[AsyncSession], staff_ids: dict[str, int]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, ANNA) as client:
        yield client


async def post(client: Client, path: str, **data: str) -> tuple[int, str]:
    data["csrf_token"] = await csrf_of(client, "/assignment-rules")
    response = await client.post(path, data=data, allow_redirects=False)
    return response.status, response.headers.get("Location", "") or await response.text()


async def test_rules_are_added_replaced_removed_and_followed(
    admin: Client,
    anna: Client,
    sessions: async_sessionmaker[AsyncSession],
    staff_ids: dict[str, int],
) -> None:
    body = await page(admin, "/assignment-rules")
    assert "Aucune règle" in body  # the administrator reads French
    assert '<option value="theme:compost">Compost</option>' in body
    assert '<option value="commune:21015">Schaerbeek</option>' in body
    status, where = await post(
        admin, "/assignment-rules", rule="theme:compost", staff=str(staff_ids["anna"])
    )
    assert (status, where) == (303, "/assignment-rules?saved=1")
    body = await page(admin, where)
    rules = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", body)
    assert rules == [("Thème", "Compost", ANNA[0])]
    # The same theme again replaces the rule.
    await post(admin, "/assignment-rules", rule="theme:compost", staff=str(staff_ids["admin"]))
    await post(admin, "/assignment-rules", rule="commune:21015", staff=str(staff_ids["anna"]))
    body = await page(admin, "/assignment-rules")
    rules = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", body)
    assert rules == [("Thème", "Compost", ADMIN[0]), ("Commune", "Schaerbeek", ANNA[0])]

    # The next proposal in Schaerbeek goes to Anna, and is new in her queue (in Dutch).
    async with sessions() as session, session.begin():
        proposal = await make_proposal(session, themes=["food"], commune_refnis="21015")
    assert proposal.assignee_id == staff_ids["anna"]
    queue = await page(anna, "/")
    assert '<span class="badge">1 nieuw</span>' in queue and proposal.reference in queue
    history = await page(anna, f"/proposals/{proposal.reference}")
    assert "een toewijzingsregel" in history

    remove = re.search(r'action="(/assignment-rules/\d+/remove)"', body)
    assert remove
    assert (await post(admin, remove.group(1)))[0] == 303  # the first rule: Compost
    body = await page(admin, "/assignment-rules")
    rules = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", body)
    assert rules == [("Commune", "Schaerbeek", ANNA[0])]


async def test_only_administrators_and_only_known_values(
    admin: Client, anna: Client, staff_ids: dict[str, int]
) -> None:
    assert (await anna.get("/assignment-rules")).status == 403
    anna_id = str(staff_ids["anna"])
    for rule in ("budget:1", "theme:unknown", "commune:99999", "nonsense"):
        status, body = await post(admin, "/assignment-rules", rule=rule, staff=anna_id)
        assert status == 400 and "Choisissez un appel" in body, rule
    status, _body = await post(admin, "/assignment-rules", rule="theme:food", staff="x")
    assert status == 400
    status, body = await post(admin, "/assignment-rules", rule="theme:food", staff="424242")
    assert status == 400
