"""The catalogue pages: initiatives (search, filters, pages, CSV upload, edit) and calls."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import bot.services.sentence_vectors
import matching.semantic
from bot.backoffice.app import create_app
from bot.backoffice.auth import LoginThrottle, hash_password
from bot.backoffice.keys import SENTENCE_VECTORS
from bot.backoffice.pages.catalogue import IMPORT_MESSAGES, import_message
from bot.services.catalogue import catalogue_format
from bot.services.sentence_vectors import BackgroundVectors
from bot.text.i18n import Translator
from matching.calls import all_calls
from matching.catalogue import PROBLEMS, CatalogueError, Problem, parse_catalogue
from matching.semantic import encoder_name
from storage.database import create_engine, create_sessionmaker
from storage.initiatives import (
    InitiativeFilters,
    catalogue_counts,
    catalogue_stamp,
    proposals_per_call,
    search_initiatives,
)
from storage.models import Initiative
from storage.staff import add_staff
from tests.backoffice.support import CSRF_RE, OUR_SCRIPT, SECRET, csrf_of, login, page
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

ADMIN = ("admin@example.brussels", "correct horse battery staple")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
XSS = "<script>alert(1)</script> Compost"
BULK = 60  # "Quartier 00" … "Quartier 59", then three more: 63 in all
TOTAL = BULK + 3

TOTAL_RE = re.compile(r'data-total="(\d+)"')
ROW_RE = re.compile(r'<a class="initiative-link" href="/initiatives/(\d+)">')
HEADER = "external_id,name,description,commune,themes,language,url\n"


async def seed_catalogue(session: AsyncSession) -> dict[str, int]:
    """60 bulk initiatives and three particular ones; their database ids by external id."""
    for i in range(BULK):
        session.add(
            Initiative(
                external_id=f"q{i:02d}",
                name=f"Quartier {i:02d}",
                description="Une initiative de voisins.",
                commune_refnis="21015" if i % 2 == 0 else "21013",
                themes=["food"] if i % 3 == 0 else ["nature"],
                language="fr",
            )
        )
    session.add_all(
        [
            Initiative(
                external_id="ecole-1",
                name="École des devoirs du Parvis",
                description="Soutien scolaire pour les enfants du quartier.",
                commune_refnis="21013",
                themes=["youth", "social"],
                language="fr",
            ),
            Initiative(
                external_id="nl-7",
                name="Samentuin Laken",
                description="Een moestuin met de buren.",
                commune_refnis="21004",
                themes=["food", "nature"],
                language="nl",
                url="https://example.org/samentuin",
            ),
            Initiative(external_id="x-1", name=XSS, themes=["compost"], language="en"),
        ]
    )
    await session.flush()
    rows = await session.execute(select(Initiative.external_id, Initiative.id))
    return {external_id: id_ for external_id, id_ in rows.all()}


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session, session.begin():
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
        await add_staff(session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "fr")
        found = await seed_catalogue(session)
        citizen = await make_citizen(session, 4242, "fr")
        calls = [
            ("inspirons_projet", False),
            ("inspirons_projet", False),
            ("inspirons_projet", False),
            ("inspirons_projet", True),  # a test proposal: not counted
            ("ixelles_main_a_la_pate", False),
            ("ixelles_main_a_la_pate", False),
            (None, False),
            ("old_call", False),  # a call since removed from calls.toml
        ]
        for call_id, is_test in calls:
            await make_proposal(
                session, citizen, commune_refnis="21009", call_id=call_id, is_test=is_test
            )
    return found


@pytest.fixture
async def client(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]
) -> AsyncIterator[TestClient[object, object]]:
    app = create_app(sessions, secret_key=SECRET, default_language="en", throttle=LoginThrottle())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture
async def admin(client: TestClient[object, object]) -> TestClient[object, object]:
    assert (await login(client, *ADMIN)).status == 303
    return client


@pytest.fixture
async def reviewer(client: TestClient[object, object]) -> TestClient[object, object]:
    assert (await login(client, *REVIEWER)).status == 303
    return client


def total_of(body: str) -> int:
    found = TOTAL_RE.search(body)
    assert found, "no total on the page"
    return int(found.group(1))


async def token_of(client: TestClient[object, object], path: str = "/initiatives") -> str:
    found = CSRF_RE.search(await page(client, path))
    assert found
    return found.group(1)


async def upload(
    client: TestClient[object, object],
    content: bytes,
    filename: str = "catalogue.csv",
    *,
    token: str | None = "fetch",
) -> tuple[int, str]:
    form = FormData()
    if token == "fetch":
        token = await token_of(client)
    if token is not None:
        form.add_field("csrf_token", token)
    form.add_field("file", content, filename=filename, content_type="text/csv")
    response = await client.post("/initiatives/upload", data=form)
    return response.status, await response.text()


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                Initiative.external_id,
                Initiative.name,
                Initiative.description,
                Initiative.commune_refnis,
                Initiative.themes,
                Initiative.language,
                Initiative.url,
                Initiative.updated_at,
            ).order_by(Initiative.external_id)
        )
        return [tuple(row) for row in rows.all()]


async def initiative(
    sessions: async_sessionmaker[AsyncSession], external_id: str
) -> Initiative | None:
    async with sessions() as session:
        found = await session.execute(
            select(Initiative).where(Initiative.external_id == external_id)
        )
        return found.scalar_one_or_none()


# ------------------------------------------------------------------ access


@pytest.mark.parametrize("path", ["/initiatives", "/initiatives/1", "/calls"])
async def test_anonymous_is_sent_to_sign_in(client: TestClient[object, object], path: str) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/login?next=")


async def test_anonymous_posts_are_refused(
    client: TestClient[object, object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = await snapshot(sessions)
    token = await csrf_of(client)
    status, _body = await upload(client, (HEADER + "a1,Nouvelle\n").encode(), token=token)
    assert status == 401
    response = await client.post("/initiatives/1", data={"csrf_token": token, "name": "Hacked"})
    assert response.status == 401
    assert await snapshot(sessions) == before


async def test_reviewer_reads_but_cannot_change(
    reviewer: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    before = await snapshot(sessions)
    body = await page(reviewer, "/initiatives")
    assert total_of(body) == TOTAL
    assert 'action="/initiatives/upload"' not in body
    detail = await page(reviewer, f"/initiatives/{ids['nl-7']}")
    assert "Samentuin Laken" in detail and 'name="version"' not in detail
    assert Translator("fr").gettext("Only administrators can edit the catalogue.") in detail
    token = await token_of(reviewer)
    status, body = await upload(reviewer, (HEADER + "a1,Nouvelle\n").encode(), token=token)
    assert status == 403
    assert Translator("fr").gettext("You do not have access to this page.") in body
    response = await reviewer.post(
        f"/initiatives/{ids['nl-7']}", data={"csrf_token": token, "name": "Renamed"}
    )
    assert response.status == 403
    assert await snapshot(sessions) == before
    assert (await page(reviewer, "/calls")).count('data-call="') == len(all_calls())


async def test_posts_without_csrf_are_refused(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    before = await snapshot(sessions)
    for token in (None, "forged"):
        status, _body = await upload(admin, (HEADER + "a1,Nouvelle\n").encode(), token=token)
        assert status == 403
        data = {"name": "Renamed"} | ({"csrf_token": token} if token else {})
        response = await admin.post(f"/initiatives/{ids['nl-7']}", data=data)
        assert response.status == 403
    assert await snapshot(sessions) == before


async def test_no_inline_script_or_style(
    admin: TestClient[object, object], ids: dict[str, int]
) -> None:
    for path in ["/initiatives", f"/initiatives/{ids['x-1']}", "/calls", "/initiatives?q=zzz"]:
        body = await page(admin, path)
        assert (
            "<script" not in body.replace(OUR_SCRIPT, "")
            and "<style" not in body
            and " style=" not in body
        )
    assert 'href="/initiatives" aria-current="page"' in await page(admin, "/initiatives")
    assert 'href="/calls" aria-current="page"' in await page(admin, "/calls")


# ------------------------------------------------------------------ list, search, pages


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", TOTAL),
        ("q=ecole", 1),  # accents and case do not matter…
        ("q=%C3%89COLE", 1),
        ("q=moestuin", 1),  # …the description counts…
        ("q=NL-7", 1),  # …and so does the external id
        ("q=quartier+05", 1),  # every word must be found
        ("q=quartier", BULK + 1),
        ("q=nothing+like+this", 0),
        ("commune=21015", 30),
        ("commune=21013", 31),
        ("theme=food", 21),
        ("theme=youth", 1),
        ("theme=food&commune=21015", 10),
        ("q=quartier&commune=21013", 31),
    ],
)
async def test_search_and_filters(
    admin: TestClient[object, object], query: str, expected: int
) -> None:
    body = await page(admin, "/initiatives?" + query)
    assert total_of(body) == expected
    assert len(ROW_RE.findall(body)) == min(expected, 50)
    assert 'class="notice"' not in body


async def test_list_links_rows_and_escapes(
    admin: TestClient[object, object], ids: dict[str, int]
) -> None:
    body = await page(admin, "/initiatives")
    assert f'href="/initiatives/{ids["ecole-1"]}"' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Compost" in body and XSS not in body
    assert "Brussels" in body or "Bruxelles" in body  # the commune's name, in English
    assert f"{TOTAL} initiatives in the catalogue" in body
    # Filter options carry the catalogue's counts.
    assert '<option value="21013" >Saint-Gilles / Sint-Gillis (31)</option>' in body
    assert '<option value="food" >Sustainable food (21)</option>' in body
    filtered = await page(admin, "/initiatives?theme=youth")
    assert "1 initiative matches" in filtered and f"{TOTAL} in the catalogue" in filtered
    assert '<option value="youth" selected>' in filtered


async def test_order_ignores_accents_and_pages_do_not_overlap(
    admin: TestClient[object, object], ids: dict[str, int]
) -> None:
    first = await page(admin, "/initiatives")
    second = await page(admin, "/initiatives?page=2")
    first_ids, second_ids = ROW_RE.findall(first), ROW_RE.findall(second)
    assert len(first_ids) == 50 and len(second_ids) == TOTAL - 50
    assert not set(first_ids) & set(second_ids)
    # "<script>…" sorts first, "École" (as "ecole") before "Quartier", "Samentuin" last.
    assert first_ids[:3] == [str(ids["x-1"]), str(ids["ecole-1"]), str(ids["q00"])]
    assert second_ids[-1] == str(ids["nl-7"])
    assert "page 2 of 2" in second


async def test_pagination_keeps_the_search(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/initiatives?q=quartier")
    assert total_of(body) == BULK + 1
    assert 'href="/initiatives?q=quartier&amp;page=2"' in body
    second = await page(admin, "/initiatives?q=quartier&page=2")
    assert len(ROW_RE.findall(second)) == BULK + 1 - 50
    assert 'href="/initiatives?q=quartier"' in second  # back to page 1


@pytest.mark.parametrize(
    "query", ["page=abc", "page=0", "commune=99999", "theme=<b>x</b>", "page=9"]
)
async def test_bad_query_values_give_a_notice(
    admin: TestClient[object, object], query: str
) -> None:
    body = await page(admin, "/initiatives?" + query)
    assert 'class="notice"' in body
    assert "<b>x</b>" not in body
    assert total_of(body) == TOTAL
    assert ROW_RE.findall(body)


# ------------------------------------------------------------------ upload


async def test_upload_adds_and_updates(
    admin: TestClient[object, object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        stamp = await catalogue_stamp(session)
    csv = (
        HEADER + "new-1,Repair Café Ixelles,Réparer ensemble au lieu de jeter.,Ixelles,"
        "zero_waste;social,fr,https://example.org/repair\n"
        + "q00,Quartier 00 (renommé),Une initiative de voisins.,1030,food,fr,\n"
        + "q01,Quartier 01,Une initiative de voisins.,Saint-Gilles,nature,fr,\n"
    )
    status, body = await upload(admin, csv.encode("utf-8-sig"))
    assert status == 200, body
    assert 'data-count="added">1<' in body
    assert 'data-count="changed">1<' in body
    assert 'data-count="unchanged">1<' in body
    assert 'data-count="rejected">0<' in body
    assert "Upload of catalogue.csv" in body
    added = await initiative(sessions, "new-1")
    assert added is not None
    assert (added.name, added.commune_refnis, added.themes) == (
        "Repair Café Ixelles",
        "21009",
        ["zero_waste", "social"],
    )
    changed = await initiative(sessions, "q00")
    assert changed is not None and changed.name == "Quartier 00 (renommé)"
    assert changed.commune_refnis == "21015"  # 1030 is Schaerbeek
    async with sessions() as session:
        assert await catalogue_stamp(session) != stamp  # the matcher's refresh sees it
    assert total_of(body) == TOTAL + 1
    # The same file again changes nothing.
    status, body = await upload(admin, csv.encode("utf-8-sig"))
    assert 'data-count="unchanged">3<' in body


def background_vectors(client: TestClient[object, object]) -> BackgroundVectors:
    app = client.app
    assert app is not None
    return app[SENTENCE_VECTORS]


BOOK_BOX = HEADER + "v-1,Boîte à livres,Déposez un livre et prenez-en un autre,1030,culture,fr,\n"


async def test_an_upload_stores_the_sentence_vectors_of_its_initiatives(
    admin: TestClient[object, object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    status, body = await upload(admin, BOOK_BOX.encode())
    assert status == 200, body
    await background_vectors(admin).wait()
    added = await initiative(sessions, "v-1")
    assert added is not None and added.vector is not None
    assert added.vector_model == encoder_name() is not None
    seeded = await initiative(sessions, "q00")  # the rest of the catalogue too
    assert seeded is not None and seeded.vector is not None


async def test_the_upload_answers_before_the_vectors_are_computed(
    admin: TestClient[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    computing, release = asyncio.Event(), asyncio.Event()

    async def slow_vectors(sessions: async_sessionmaker[AsyncSession]) -> int:
        computing.set()
        await release.wait()
        return 0

    monkeypatch.setattr(bot.services.sentence_vectors, "ensure_vectors", slow_vectors)
    status, body = await asyncio.wait_for(upload(admin, BOOK_BOX.encode()), 10)
    assert status == 200, body
    await asyncio.wait_for(computing.wait(), 5)  # started, not finished
    release.set()
    await background_vectors(admin).wait()


async def test_without_the_encoder_an_upload_stores_no_vectors_and_succeeds(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(matching.semantic, "_default", None)  # could not be loaded
    status, body = await upload(admin, BOOK_BOX.encode())
    assert status == 200, body
    assert 'data-count="added">1<' in body
    await background_vectors(admin).wait()
    added = await initiative(sessions, "v-1")
    assert added is not None and added.vector is None


async def test_upload_lists_rejected_lines_in_the_staff_language(
    admin: TestClient[object, object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    token = await token_of(admin)
    await admin.post("/language", data={"csrf_token": token, "language": "fr"})
    csv = (
        HEADER
        + "new-2,Donnerie de la place,,Forest,zero_waste,fr,\n"
        + "new-3,Quelque part,,Atlantis,,fr,\n"
        + "new-4,,Sans nom,,,fr,\n"
        + "new-5,Thème inconnu,,,gardening,fr,\n"
    )
    status, body = await upload(admin, csv.encode())
    assert status == 200, body
    assert 'data-count="added">1<' in body and 'data-count="rejected">3<' in body
    fr = Translator("fr")
    for line in (3, 4, 5):  # the header is line 1, as in a spreadsheet
        assert fr.gettext("line %(line)d") % {"line": line} in body
    assert fr.gettext("Unknown commune “%(value)s”.") % {"value": "Atlantis"} in body
    assert fr.gettext("“%(field)s” is empty.") % {"field": "name"} in body
    assert "gardening" in body
    assert "unknown commune" not in body  # the import's English never shows
    assert await initiative(sessions, "new-2") is not None
    assert await initiative(sessions, "new-3") is None


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"id,title\nx,y\n", "bad.csv", "Missing column(s): external_id, name."),
        (
            (HEADER + "ok-1,Un bon rang\nok-2,Caf").encode() + b"\xe9\n",
            "latin1.csv",
            "The file is not UTF-8 text",
        ),
        (b"", "empty.csv", "The file is empty."),
        (b'[{"external_id": "ok-1", "name": "x"', "broken.json", "The JSON is malformed"),
        (b"[" * 100_000 + b"]" * 100_000, "deep.json", "nested too deeply to be a catalogue"),
        (
            b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
            "deep.json",
            "nested too deeply to be a catalogue",
        ),
        (
            (HEADER + "ok-1,Un bon rang\n").encode(),
            "catalogue.txt",
            "The file's name must end in .csv or .json.",
        ),
    ],
)
async def test_a_bad_file_changes_nothing(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    content: bytes,
    filename: str,
    message: str,
) -> None:
    before = await snapshot(sessions)
    status, body = await upload(admin, content, filename)
    assert status == 400
    assert message.replace("'", "&#39;") in body
    assert "Nothing was imported." in body
    assert await snapshot(sessions) == before


async def test_upload_without_a_file(admin: TestClient[object, object]) -> None:
    token = await token_of(admin)
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("file", b"", filename="", content_type="application/octet-stream")
    response = await admin.post("/initiatives/upload", data=form)
    assert response.status == 400
    assert "Choose a CSV file to upload." in await response.text()


async def test_a_file_over_the_limit_gets_a_page_and_changes_nothing(
    admin: TestClient[object, object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = await snapshot(sessions)
    rows = HEADER.encode() + b"e1,Nom\n" * (17 * 1024 * 1024 // 7)  # about 17 MB
    form = FormData()
    form.add_field("csrf_token", await token_of(admin))
    form.add_field("file", io.BytesIO(rows), filename="big.csv", content_type="text/csv")
    response = await admin.post("/initiatives/upload", data=form)
    body = await response.text()
    assert response.status == 413, response.status
    assert "16 MB at most" in body and "<html" in body
    assert await snapshot(sessions) == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"csrf_token=x"),  # no boundary
        ("multipart/form-data; boundary=xyz", b"--abc\r\nnot the boundary\r\n"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\n\r\nnameless\r\n--xyz--\r\n"),
    ],
)
async def test_a_form_that_cannot_be_read_is_a_bad_request_not_an_error(
    client: TestClient[object, object], content_type: str, body: bytes
) -> None:
    """Anonymous (the sign-in form) and signed in (the upload): a 400 page, never a 500."""
    for path in ("/login", "/initiatives/upload"):
        response = await client.post(path, data=body, headers={"Content-Type": content_type})
        assert response.status == 400, (path, response.status)
        assert "This form could not be read" in await response.text()
        if path == "/login":
            assert (await login(client, *ADMIN)).status == 303


def import_problems() -> list[Problem]:
    """Every problem the import (matching.catalogue) can report, from real bad input."""
    long_name = "x" * 301
    csv = (
        HEADER
        + ",Sans identifiant\n"
        + "e2,\n"
        + f"e3,{long_name}\n"
        + "e4,Nom,,Atlantis\n"
        + "e5,Nom,,,,de\n"
        + "e6,Nom,,,,,ftp://example.org\n"
        + "e7,Nom,,,gardening\n"
        + "e8,Nom\ne8,Nom\n"
    )
    _records, rejected = parse_catalogue(csv.encode(), "csv")
    problems = [r.problem for r in rejected]
    json = (
        b'[{"external_id": "j1", "name": ["a"]}, {"external_id": "j2", "name": "n", "themes": 5}]'
    )
    problems += [r.problem for r in parse_catalogue(json, "json")[1]]
    for content, fmt in [
        (b"\xff", "csv"),
        (b"", "csv"),
        (b"a,b\n1,2\n", "csv"),
        (b"external_id,name\n1," + b"x" * 140_000 + b"\n", "csv"),
        (b"[{", "json"),
        (b"[" * 100_000 + b"]" * 100_000, "json"),
        (b'{"a": 1}', "json"),
        (b"x", "xml"),
    ]:
        with pytest.raises(CatalogueError) as error:
            parse_catalogue(content, fmt)
        problems.append(error.value.problem)
    with pytest.raises(CatalogueError) as error:
        catalogue_format(Path("catalogue.txt"))
    problems.append(error.value.problem)
    return problems


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_every_import_problem_is_translated(language: str) -> None:
    problems = import_problems()
    assert {p.code for p in problems} == set(PROBLEMS) == set(IMPORT_MESSAGES)
    t = Translator(language)
    for found in problems:
        translated = import_message(t, found)
        assert translated != str(found), f"no translation for {found}"
        assert "%(" not in translated


# ------------------------------------------------------------------ one initiative


def edit_form(token: str, version: str, **changes: Any) -> FormData:
    values: dict[str, Any] = {
        "name": "École des devoirs du Parvis (Saint-Gilles)",
        "description": "Soutien scolaire après l'école, avec des bénévoles du quartier.",
        "commune": "21013",
        "themes": ["youth", "culture"],
        "language": "fr",
        "url": "https://example.org/ecole",
    }
    values.update(changes)
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("version", version)
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            form.add_field(name, item)
    return form


VERSION_RE = re.compile(r'name="version" value="([^"]+)"')


async def open_edit(client: TestClient[object, object], path: str) -> tuple[str, str, str]:
    body = await page(client, path)
    token, version = CSRF_RE.search(body), VERSION_RE.search(body)
    assert token and version
    return body, token.group(1), version.group(1)


async def test_edit_saves(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    path = f"/initiatives/{ids['ecole-1']}"
    body, token, version = await open_edit(admin, path)
    assert 'value="École des devoirs du Parvis"' in body
    assert 'name="themes" value="youth" checked' in body
    async with sessions() as session:
        stamp = await catalogue_stamp(session)
    response = await admin.post(path, data=edit_form(token, version), allow_redirects=False)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"{path}?saved=1"
    saved = await initiative(sessions, "ecole-1")
    assert saved is not None
    assert saved.name == "École des devoirs du Parvis (Saint-Gilles)"
    assert saved.themes == ["youth", "culture"]
    assert saved.url == "https://example.org/ecole" and saved.external_id == "ecole-1"
    async with sessions() as session:
        assert await catalogue_stamp(session) != stamp  # the bot's matcher rebuilds
    after = await page(admin, f"{path}?saved=1")
    assert "Saved. The bot uses the new values within 30 seconds." in after


async def test_edit_detects_the_language_when_asked(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    path = f"/initiatives/{ids['x-1']}"
    _body, token, version = await open_edit(admin, path)
    form = edit_form(
        token,
        version,
        name="Samentuin aan de kerk",
        description="Een moestuin met de buren en de school van de wijk.",
        language="",
        url="",
        commune="",
        themes=[],
    )
    assert (await admin.post(path, data=form, allow_redirects=False)).status == 303
    saved = await initiative(sessions, "x-1")
    assert saved is not None
    assert (saved.language, saved.url, saved.commune_refnis, saved.themes) == ("nl", None, None, [])


async def test_edit_errors_keep_what_was_typed(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    before = await snapshot(sessions)
    path = f"/initiatives/{ids['ecole-1']}"
    _body, token, version = await open_edit(admin, path)
    form = edit_form(
        token,
        version,
        name="   ",
        description="Typed <b>text</b> that must come back",
        url="ftp://example.org/x",
        commune="99999",
        themes=["youth", "gardening"],
        language="de",
    )
    response = await admin.post(path, data=form)
    body = await response.text()
    assert response.status == 400
    for message in (
        "Nothing was saved: please correct what is marked below.",
        "The name is required.",
        "The web address must start with http:// or https://.",
        "Choose a commune from the list.",
        "Choose themes from the list.",
        "Choose a language from the list.",
    ):
        assert message in body
    assert 'id="error-name"' in body and 'aria-invalid="true"' in body
    assert 'value="ftp://example.org/x"' in body
    assert "Typed &lt;b&gt;text&lt;/b&gt; that must come back</textarea>" in body
    too_long = edit_form(token, version, name="x" * 301, description="d" * 5001)
    body = await (await admin.post(path, data=too_long)).text()
    assert "The name is too long" in body and "The description is too long" in body
    assert await snapshot(sessions) == before


async def test_edit_after_someone_else_saved(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    path = f"/initiatives/{ids['ecole-1']}"
    _body, token, version = await open_edit(admin, path)
    status, _page = await upload(admin, (HEADER + "ecole-1,Renamed by an import\n").encode())
    assert status == 200
    response = await admin.post(path, data=edit_form(token, version, name="Mine"))
    body = await response.text()
    assert response.status == 409
    assert "was changed (by another administrator or by an import)" in body
    assert 'value="Mine"' in body and "Renamed by an import" in body
    current = await initiative(sessions, "ecole-1")
    assert current is not None and current.name == "Renamed by an import"
    # Saving again, knowingly, replaces it.
    new_version = VERSION_RE.search(body)
    assert new_version
    again = await admin.post(
        path, data=edit_form(token, new_version.group(1), name="Mine"), allow_redirects=False
    )
    assert again.status == 303
    current = await initiative(sessions, "ecole-1")
    assert current is not None and current.name == "Mine"


async def test_unknown_initiative(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/initiatives/999999", status=404)
    assert "There is no initiative with this number." in body
    assert (await admin.get("/initiatives/abc")).status == 404


# ------------------------------------------------------------------ calls


async def test_calls_page_counts_and_formats(
    reviewer: TestClient[object, object],
) -> None:
    body = await page(reviewer, "/calls")  # the reviewer reads French
    fr = Translator("fr")
    for call in all_calls().values():
        assert call.name("fr") in body
    assert 'data-call="inspirons_projet" data-count="3"' in body  # the test one left out
    assert 'data-call="ixelles_main_a_la_pate" data-count="2"' in body
    assert 'data-call="inspirons_grand_projet" data-count="0"' in body
    assert 'href="/proposals?call=inspirons_projet"' in body
    assert fr.gettext("up to %(high)s") % {"high": fr.money(350_000)} in body
    assert (
        fr.gettext("%(low)s to %(high)s")
        % {
            "low": fr.money(350_000),
            "high": fr.money(1_500_000),
        }
        in body
    )
    assert fr.gettext("An association (ASBL/VZW)") in body
    assert fr.gettext("Whole region") in body and "Ixelles" in body
    assert "old_call" in body  # proposals naming a call no longer in the file
    # The link gives the same number in the proposals list.
    proposals = await page(reviewer, "/proposals?call=inspirons_projet")
    assert 'data-total="3"' in proposals


# ------------------------------------------------------------------ storage, both databases


@pytest.fixture
async def any_sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_storage_search_on_both_databases(
    any_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with any_sessions() as session, session.begin():
        ids = await seed_catalogue(session)

    async def search(page: int = 1, **filters: Any) -> tuple[list[int], int, int]:
        async with any_sessions() as session:
            found = await search_initiatives(
                session, InitiativeFilters(**filters), page=page, per_page=50
            )
        return [i.id for i in found.rows], found.total, found.page

    rows, total, _page = await search()
    assert total == TOTAL and rows[:3] == [ids["x-1"], ids["ecole-1"], ids["q00"]]
    assert (await search(text="ÉCOLE"))[:2] == ([ids["ecole-1"]], 1)
    assert (await search(text="moestuin buren"))[:2] == ([ids["nl-7"]], 1)
    assert (await search(text="nl-7"))[1] == 1
    assert (await search(theme="food", commune="21015"))[1] == 10
    assert (await search(theme="food"))[1] == 21
    assert (await search(commune="21004"))[0] == [ids["nl-7"]]
    last = await search(page=7)
    assert last[2] == 2 and len(last[0]) == TOTAL - 50  # beyond the end: the last page
    async with any_sessions() as session:
        counts = await catalogue_counts(session)
        per_call = await proposals_per_call(session)
    assert counts.total == TOTAL
    assert counts.communes["21013"] == 31 and counts.communes[None] == 1
    assert counts.themes["food"] == 21 and counts.themes["compost"] == 1
    assert per_call == {}
