"""CSV, XLSX and JSON exports of the current filter, read back and checked against the data."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook, load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.backoffice.pages.exports import csv_cell, xlsx_value
from storage.clock import BRUSSELS
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


async def xlsx_of(client: TestClient[Any, Any], query: str) -> Workbook:
    response = await client.get("/proposals/export.xlsx" + query)
    assert response.status == 200
    assert response.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["Content-Disposition"] == 'attachment; filename="proposals.xlsx"'
    return load_workbook(io.BytesIO(await response.read()))


async def test_xlsx_has_the_csv_columns_with_their_types(client: TestClient[Any, Any]) -> None:
    workbook = await xlsx_of(client, "?theme=compost&sort=reference")
    assert workbook.sheetnames == ["Propositions"]  # the reviewer reads French
    sheet = workbook["Propositions"]
    header, *rows = [list(row) for row in sheet.iter_rows()]
    csv_body = await (await client.get("/proposals/export.csv?theme=compost")).read()
    csv_header = next(csv.reader(io.StringIO(csv_body.decode("utf-8-sig")), delimiter=";"))
    assert [cell.value for cell in header] == csv_header
    assert all(cell.font.bold for cell in header)
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:Z3"
    first, second = ({h.value: cell for h, cell in zip(header, row, strict=True)} for row in rows)
    assert [first["reference"].value, second["reference"].value] == [
        "BXL-2026-00001",
        "BXL-2026-00002",
    ]
    assert first["title"].value == "Projet n°1 – café « Été »"
    assert first["description"].value == "Ligne 1\nLigne 2, avec virgule"
    assert first["commune_refnis"].value == "21009"  # a code, kept as text
    budget = first["budget_eur"]
    assert budget.value == 2500.5 and budget.data_type == "n"
    assert budget.number_format == "#,##0.00"
    submitted = first["submitted_at"]
    assert isinstance(submitted.value, datetime) and submitted.value.tzinfo is None
    assert submitted.is_date and "hh:mm" in submitted.number_format
    assert first["consent_share"].value is True and second["consent_share"].value is False
    assert (second["contact_name"].value, second["latitude"].value) == (None, None)
    assert 10 <= sheet.column_dimensions["E"].width <= 60  # title


async def test_xlsx_keeps_formulas_as_text_and_times_in_brussels(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    titles = ["=1+1", "@SUM(1+1)*cmd|' /C calc'!A0", "#N/A"]
    async with create_sessionmaker(engine)() as session, session.begin():
        citizen = await make_citizen(session, 5153, "fr")
        for title in titles:
            await make_proposal(
                session,
                citizen,
                now=datetime(2026, 1, 15, 13, 30, 5, 250_000, tzinfo=UTC),
                language="fr",
                title=title,
                themes=["food"],
            )
    response = await client.get("/proposals/export.xlsx?theme=food&sort=reference")
    body = await response.read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    for title, row in zip(titles, sheet.iter_rows(min_row=2), strict=True):
        cell = row[4]
        assert (cell.value, cell.data_type) == (title, "s")
        assert cell.quotePrefix is (title[0] in "=@")  # stays text when edited in Excel
        assert row[2].value == datetime(2026, 1, 15, 14, 30, 5)  # winter: UTC+1


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (["compost", "culture"], "compost;culture"),
        ("vertical\x0btab and \x00null", "verticaltab and null"),
        ("Ligne 1\r\n\tLigne 2", "Ligne 1\r\n\tLigne 2"),
        (
            datetime(2026, 6, 15, 8, 0, 1, 999, tzinfo=UTC).astimezone(BRUSSELS),
            datetime(2026, 6, 15, 10, 0, 1),
        ),
        (2500.5, 2500.5),
        (None, None),
    ],
)
def test_xlsx_values(value: Any, cell: Any) -> None:
    assert xlsx_value(value) == cell


async def test_json_matches_the_filter(client: TestClient[Any, Any]) -> None:
    response = await client.get("/proposals/export.json?theme=culture")
    rows = json.loads(await response.text())
    assert [r["reference"] for r in rows] == ["BXL-2026-00003"]
    assert rows[0]["themes"] == ["culture"] and rows[0]["contact_email"] == "zoe@example.be"
    everything = json.loads(await (await client.get("/proposals/export.json")).text())
    assert len(everything) == 3


async def test_the_list_links_to_exports_with_its_filter(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/proposals?theme=compost")).text()
    # The list shows the open proposals by default; the exports would show every status.
    assert "/proposals/export.csv?status=open&amp;theme=compost" in page
    assert "/proposals/export.xlsx?status=open&amp;theme=compost" in page
    page = await (await client.get("/proposals?status=all&theme=compost")).text()
    assert "/proposals/export.csv?status=all&amp;theme=compost" in page


@pytest.mark.parametrize("name", ["export.csv", "export.xlsx", "export.json"])
async def test_exports_need_a_signed_in_user(engine: AsyncEngine, name: str) -> None:
    """Any role may export (the fixture's user is a reviewer); nobody signed out may."""
    app = create_app(create_sessionmaker(engine), secret_key=b"e" * 32)
    async with TestClient(TestServer(app)) as anonymous:
        response = await anonymous.get(f"/proposals/{name}", allow_redirects=False)
        assert response.status in (303, 401)
