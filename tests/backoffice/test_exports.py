"""CSV and JSON exports of the current filter, parsed back and checked against the data."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.backoffice.pages.exports import csv_cell
from storage.database import create_sessionmaker
from storage.staff import add_staff
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STAFF = ("exports@example.brussels", "a long enough passphrase")


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[TestClient[Any, Any]]:
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await add_staff(session, STAFF[0], hash_password(STAFF[1]), "reviewer", "fr")
        citizen = await make_citizen(session, 5151, "fr")
        for number, (theme, share) in enumerate(
            [("compost", True), ("compost", False), ("culture", True)], start=1
        ):
            await make_proposal(
                session,
                citizen,
                language="fr",
                title=f"Projet n°{number} – café « Été »",
                description="Ligne 1\nLigne 2, avec virgule",
                carrier="association",
                commune_refnis="21009",
                themes=[theme],
                budget_cents=250050,
                contact_name="Zoé",
                contact_email="zoe@example.be",
                latitude=50.83,
                longitude=4.37,
                consent_contact=True,
                consent_share=share,
            )
    app = create_app(sessions, secret_key=b"e" * 32, default_language="fr")
    async with TestClient(TestServer(app)) as test_client:
        page = await (await test_client.get("/login")).text()
        token = CSRF_RE.search(page).group(1)  # type: ignore[union-attr]
        await test_client.post(
            "/login", data={"email": STAFF[0], "password": STAFF[1], "csrf_token": token}
        )
        yield test_client


async def test_csv_has_a_bom_keeps_accents_and_respects_consent(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/proposals/export.csv?theme=compost&sort=reference")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    body = await response.read()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert [r["reference"] for r in rows] == ["BXL-2026-00001", "BXL-2026-00002"]
    first, second = rows
    assert first["title"] == "Projet n°1 – café « Été »"
    assert first["description"] == "Ligne 1\nLigne 2, avec virgule"
    assert first["commune"] == "Ixelles" and first["themes"] == "compost"
    assert first["budget_eur"] == "2500,5"  # a French reader's Excel reads a number
    assert (first["contact_name"], first["contact_email"]) == ("Zoé", "zoe@example.be")
    assert (second["contact_name"], second["contact_email"], second["latitude"]) == ("", "", "")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+32 470 12 34 56", "'+32 470 12 34 56"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        (["=1", "compost"], "'=1;compost"),
        ("Un potager = du lien", "Un potager = du lien"),
        (-2500.5, "-2500,5"),
        (2500, 2500),
        (None, ""),
    ],
)
def test_no_cell_is_a_formula(value: Any, cell: Any) -> None:
    assert csv_cell(value, decimal_comma=True) == cell


async def test_a_formula_typed_by_a_citizen_reaches_the_csv_as_text(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        citizen = await make_citizen(session, 5152, "fr")
        await make_proposal(
            session, citizen, language="fr", title="@SUM(1+1)*cmd|' /C calc'!A0", themes=["food"]
        )
    body = await (await client.get("/proposals/export.csv?theme=food")).read()
    (row,) = csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";")
    assert row["title"] == "'@SUM(1+1)*cmd|' /C calc'!A0"


async def test_json_matches_the_filter(client: TestClient[Any, Any]) -> None:
    response = await client.get("/proposals/export.json?theme=culture")
    rows = json.loads(await response.text())
    assert [r["reference"] for r in rows] == ["BXL-2026-00003"]
    assert rows[0]["themes"] == ["culture"] and rows[0]["contact_email"] == "zoe@example.be"
    everything = json.loads(await (await client.get("/proposals/export.json")).text())
    assert len(everything) == 3


async def test_the_list_links_to_exports_with_its_filter(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/proposals?theme=compost")).text()
    assert "/proposals/export.csv?theme=compost" in page


async def test_exports_need_a_signed_in_user(engine: AsyncEngine) -> None:
    app = create_app(create_sessionmaker(engine), secret_key=b"e" * 32)
    async with TestClient(TestServer(app)) as anonymous:
        response = await anonymous.get("/proposals/export.csv", allow_redirects=False)
        assert response.status in (303, 401)
