"""The staff back-office over HTTP (aiohttp's TestServer/TestClient, SQLite)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.backoffice.app import SECURITY_HEADERS, create_app
from bot.backoffice.auth import LoginThrottle, hash_password, safe_next, verify_password
from bot.text.i18n import Translator
from matching.calls import all_calls
from storage.clock import utcnow
from storage.database import create_sessionmaker
from storage.models import Initiative, Proposal, ProposalEvent
from storage.proposals import NewMatch
from storage.staff import StaffExists, add_staff, staff_by_email
from tests.backoffice.support import CSRF_RE, OUR_SCRIPT, SECRET, csrf_of, login, page
from tests.factories import make_citizen, make_proposal

# aiohttp-session 2.12 stores its state under string request keys, for which aiohttp 3.14
# warns (aiohttp itself ignores that warning by default; the tests turn warnings into errors).
pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

ADMIN = ("admin@example.brussels", "correct horse battery staple")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
XSS = "<script>alert(1)</script>"
BULK = 62  # "Projet 00" … "Projet 61": more than one page of 50

TOTAL_RE = re.compile(r'data-total="(\d+)"')
ROW_RE = re.compile(r'<td class="ref"><a href="/proposals/([^"?]+)[?"]')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def data(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Two staff users, 62 ordinary proposals, one with HTML in it and one test proposal."""
    refs: dict[str, str] = {}
    async with sessions() as session, session.begin():
        await add_staff(session, ADMIN[0].upper(), hash_password(ADMIN[1]), "admin", "en")
        await add_staff(session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "fr")
        citizen = await make_citizen(session, 4242, "fr")
        start = datetime(2026, 3, 1, 12, tzinfo=UTC)
        for i in range(BULK):
            proposal = await make_proposal(
                session,
                citizen,
                now=start + timedelta(days=i // 2),
                language=("fr", "nl", "en")[i % 3],
                title=f"Projet {i:02d}",
                description="Un projet pour le quartier, avec les voisins et l'école.",
                carrier="citizen_group",
                commune_refnis="21004" if i % 4 == 0 else "21013",
                themes=["food"] if i % 2 == 0 else ["compost", "nature"],
                budget_cents=(i + 1) * 10_000,
            )
            refs[f"bulk{i}"] = proposal.reference
            if i < 5:
                proposal.status = "accepted"
            elif i < 8:
                proposal.status = "in_review"
        initiative = Initiative(
            external_id="i1", name="Compost & Co Schaerbeek", themes=["compost"], url=None
        )
        session.add(initiative)
        await session.flush()
        xss = await make_proposal(
            session,
            citizen,
            now=datetime(2026, 5, 10, 8, tzinfo=UTC),
            matches=[
                NewMatch(
                    0.8123,
                    ["same_commune", "shared_concepts:compost"],
                    initiative_id=initiative.id,
                ),
                NewMatch(0.41, ["shared_themes:food"], other_proposal_id=1),
            ],
            language="fr",
            title=XSS,
            description="Un jardin <b>partagé</b> & un compost.",
            carrier="association",
            partners=["school"],
            commune_refnis="21015",
            themes=["culture"],
            budget_cents=None,
            call_id="inspirons_projet",
            contact_name="Anne <i>Dupont</i>",
            contact_email="anne@example.org",
            consent_contact=True,
            similar={
                "choice": "connect",
                "kind": "initiative",
                "id": "i1",
                "name": "Compost & Co",
            },
        )
        refs["xss"] = xss.reference
        test = await make_proposal(
            session,
            citizen,
            language="fr",
            title="Test only",
            description="Ceci est un test du personnel, à ne pas traiter.",
            carrier="other",
            is_test=True,
        )
        refs["test"] = test.reference
    return refs


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    sessions: async_sessionmaker[AsyncSession], data: dict[str, str], clock: Clock
) -> AsyncIterator[TestClient[object, object]]:
    app = create_app(
        sessions, secret_key=SECRET, default_language="en", throttle=LoginThrottle(clock=clock)
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture
async def admin(client: TestClient[object, object]) -> TestClient[object, object]:
    response = await login(client, *ADMIN)
    assert response.status == 303, await response.text()
    return client


def total_of(body: str) -> int:
    match = TOTAL_RE.search(body)
    assert match
    return int(match.group(1))


# ------------------------------------------------------------------ helpers


def test_passwords_are_argon2_and_verified() -> None:
    hashed = hash_password("s3cret phrase")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "s3cret phrase")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not a hash", "s3cret phrase")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/proposals?status=accepted", "/proposals?status=accepted"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_only_local_next_paths(target: str, expected: str) -> None:
    assert safe_next(target) == expected


async def test_staff_accounts(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        staff = await add_staff(session, " Jo@Example.org ", hash_password("x" * 12), "reviewer")
        assert staff.email == "jo@example.org" and staff.language == "fr"
        with pytest.raises(StaffExists):
            await add_staff(session, "JO@example.org", "h", "admin")
        with pytest.raises(ValueError):
            await add_staff(session, "other@example.org", "h", "boss")
        assert await staff_by_email(session, "JO@EXAMPLE.ORG") is staff


# ------------------------------------------------------------------ access


PAGES = ["/", "/proposals", "/proposals?status=accepted", "/proposals/BXL-2026-00001", "/staff"]


@pytest.mark.parametrize("path", [*PAGES, "/logout", "/nowhere"])
async def test_anonymous_pages_redirect_to_sign_in(
    client: TestClient[object, object], path: str
) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/login?next=")
    assert (await client.get(location)).status == 200
    json_response = await client.get(path, headers={"Accept": "application/json"})
    assert json_response.status == 401


async def test_anonymous_posts_are_refused(client: TestClient[object, object]) -> None:
    token = await csrf_of(client)
    for path in ("/language", "/logout"):
        response = await client.post(
            path, data={"csrf_token": token, "language": "nl"}, allow_redirects=False
        )
        assert response.status == 401


def every_route(app: web.Application) -> list[tuple[str, str]]:
    """(method, a concrete path) for every route the back-office serves."""
    samples = {
        "reference": "BXL-2026-00001",
        "id": "1",
        "message_id": "1",
        "coach_id": "1",
        "bot_id": "1",
        "update_id": "1",
    }
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method == "HEAD" or path is None or path.startswith("/static"):
            continue
        found.append((route.method, re.sub(r"\{(\w+)\}", lambda m: samples[m.group(1)], path)))
    return sorted(set(found))


async def test_every_route_needs_a_signed_in_user_or_a_token(
    client: TestClient[object, object],
) -> None:
    """Walks the router, so a route added later is covered too."""
    routes = every_route(client.server.app)  # type: ignore[attr-defined]
    assert ("GET", "/preview") in routes and ("POST", "/initiatives/upload") in routes
    token = await csrf_of(client)
    for method, path in routes:
        if path in ("/login", "/healthz", "/metrics"):
            continue  # public, or checked by its own token (test_metrics)
        if method == "GET":
            response = await client.get(path, allow_redirects=False)
            expected = {401} if path.startswith("/api/") else {303}
        else:
            # with a valid CSRF token, so that it is the missing sign-in that refuses
            response = await client.request(
                method, path, data={"csrf_token": token}, allow_redirects=False
            )
            expected = {401, 405} if path.startswith("/api/") else {401}
        assert response.status in expected, (method, path, response.status)
        if response.status == 303:
            assert response.headers["Location"].startswith("/login?next=")


async def test_a_reviewer_is_refused_every_admin_route(
    client: TestClient[object, object],
) -> None:
    """Every handler marked for administrators only, found through the router."""
    app = client.server.app  # type: ignore[attr-defined]
    admin_only = sorted(
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and "reviewer" not in getattr(route.handler, "allowed_roles", {"reviewer"})
    )
    assert ("POST", "/outbox/retry-all") in admin_only and ("GET", "/staff") in admin_only
    assert (await login(client, *REVIEWER)).status == 303
    token = await csrf_of(client, "/")
    samples = {"id": "1", "coach_id": "1"}
    for method, pattern in admin_only:
        path = re.sub(r"\{(\w+)\}", lambda m: samples[m.group(1)], pattern)
        response = await client.request(
            method, path, data={"csrf_token": token}, allow_redirects=False
        )
        assert response.status == 403, (method, path, response.status)


async def test_public_paths(client: TestClient[object, object]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    css = await client.get("/static/style.css")
    assert css.status == 200 and "text/css" in css.headers["Content-Type"]


async def test_healthz_reports_a_broken_database() -> None:
    # Nothing listens on port 1. (A SQLite file that cannot be opened would do too, but
    # aiosqlite then leaves a worker thread behind that outlives the test's event loop.)
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/intake")
    app = create_app(create_sessionmaker(engine), secret_key=SECRET)
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.get("/healthz")
        assert response.status == 503
    await engine.dispose()


# ------------------------------------------------------------------ sign-in


async def test_sign_in_and_out(client: TestClient[object, object]) -> None:
    response = await login(client, *ADMIN, next_path="/proposals?status=accepted")
    assert response.status == 303
    assert response.headers["Location"] == "/proposals?status=accepted"
    cookie = response.headers["Set-Cookie"]
    assert "intake_session=" in cookie and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower() and "Max-Age=43200" in cookie
    assert "Secure" not in cookie
    body = await page(client, "/")
    assert ADMIN[0] in body
    token = CSRF_RE.search(body)
    assert token
    out = await client.post("/logout", data={"csrf_token": token.group(1)}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_sign_in_refuses_foreign_next(client: TestClient[object, object]) -> None:
    response = await login(client, *ADMIN, next_path="https://evil.example/")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("email", "password"),
    [(ADMIN[0], "wrong password"), ("nobody@example.org", ADMIN[1]), ("", "")],
)
async def test_wrong_credentials_get_one_generic_message(
    client: TestClient[object, object], email: str, password: str
) -> None:
    response = await login(client, email, password)
    assert response.status == 401
    body = await response.text()
    assert "Wrong e-mail address or password." in body
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_throttle_after_five_failures_per_email(
    client: TestClient[object, object], clock: Clock
) -> None:
    for _ in range(5):
        assert (await login(client, ADMIN[0], "nope")).status == 401
    refused = await login(client, *ADMIN)
    assert refused.status == 429
    assert "Too many failed sign-in attempts" in await refused.text()
    clock.now += 14 * 60
    assert (await login(client, *ADMIN)).status == 429
    clock.now += 60 + 1
    assert (await login(client, *ADMIN)).status == 303


async def test_failures_spread_over_time_do_not_lock(
    client: TestClient[object, object], clock: Clock
) -> None:
    for _ in range(8):
        assert (await login(client, ADMIN[0], "nope")).status == 401
        clock.now += 4 * 60
    assert (await login(client, *ADMIN)).status == 303


# ------------------------------------------------------------------ CSRF


@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_csrf_on_login(client: TestClient[object, object], token: str | None) -> None:
    await client.get("/login")
    form = {"email": ADMIN[0], "password": ADMIN[1]}
    if token:
        form["csrf_token"] = token
    response = await client.post("/login", data=form, allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/", allow_redirects=False)).status == 303


@pytest.mark.parametrize("path", ["/logout", "/language"])
@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_csrf_when_signed_in(
    admin: TestClient[object, object], path: str, token: str | None
) -> None:
    form = {"language": "nl"}
    if token:
        form["csrf_token"] = token
    response = await admin.post(path, data=form, allow_redirects=False)
    assert response.status == 403
    body = await page(admin, "/")  # still signed in, still in English
    assert '<html lang="en">' in body


async def test_csrf_token_of_another_session_is_refused(
    admin: TestClient[object, object], client: TestClient[object, object]
) -> None:
    app = admin.server.app
    assert app is not None
    async with TestClient(TestServer(app)) as other:
        stolen = await csrf_of(other)
    response = await admin.post("/logout", data={"csrf_token": stolen}, allow_redirects=False)
    assert response.status == 403


# ------------------------------------------------------------------ headers


@pytest.mark.parametrize("path", ["/", "/login", "/proposals/BXL-1999-00001", "/static/style.css"])
async def test_security_headers(admin: TestClient[object, object], path: str) -> None:
    response = await admin.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_no_inline_script_or_style(
    admin: TestClient[object, object], data: dict[str, str]
) -> None:
    for path in ["/", "/proposals", f"/proposals/{data['xss']}", "/staff", "/login"]:
        body = await page(admin, path)
        assert (
            "<script" not in body.replace(OUR_SCRIPT, "")
            and "<style" not in body
            and " style=" not in body
        )


# ------------------------------------------------------------------ pages


async def test_dashboard_counts(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/dashboard")
    assert 'data-status="submitted">55<' in body
    assert 'data-status="accepted">5<' in body
    assert 'data-status="in_review">3<' in body
    assert 'data-status="rejected">0<' in body
    assert 'href="/proposals?status=accepted"' in body
    assert "63 proposals in all" in body
    assert 'id="charts"' in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", BULK + 1 - 5),  # open proposals only: the five accepted ones are out
        ("status=open", BULK + 1 - 5),
        ("status=all", BULK + 1),
        ("status=accepted", 5),
        ("status=in_review", 3),
        ("status=all&theme=nature", 31),
        ("status=all&theme=culture", 1),
        ("status=all&commune=21004", 16),
        ("status=all&language=nl", 21),
        ("status=all&call=inspirons_projet", 1),
        ("status=all&q=projet+05", 1),
        ("status=all&q=PROJET", BULK),
        ("status=all&from=2026-03-01&to=2026-03-02", 4),
        ("status=all&from=2026-05-10", 1),
        ("status=all&theme=food&language=fr", 11),
        ("status=all&tests=1", BULK + 2),
        ("assignee=nobody", BULK + 1 - 5),
        ("assignee=me", 0),
    ],
)
async def test_proposal_filters(
    admin: TestClient[object, object], query: str, expected: int
) -> None:
    body = await page(admin, "/proposals?" + query)
    assert total_of(body) == expected
    assert len(ROW_RE.findall(body)) == min(expected, 50)
    assert 'class="notice"' not in body


async def test_filter_form_lists_real_values(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/proposals?theme=compost")
    assert '<option value="compost" selected>' in body
    assert '<option value="21015" >Schaerbeek / Schaarbeek</option>' in body
    assert 'value="inspirons_projet"' in body
    assert 'value="in_review"' in body


async def test_pagination_keeps_filters(admin: TestClient[object, object]) -> None:
    first = await page(admin, "/proposals?status=submitted&sort=oldest")
    assert total_of(first) == 55
    first_refs = ROW_RE.findall(first)
    assert len(first_refs) == 50
    assert 'href="/proposals?status=submitted&amp;sort=oldest&amp;page=2"' in first
    second = await page(admin, "/proposals?status=submitted&sort=oldest&page=2")
    second_refs = ROW_RE.findall(second)
    assert len(second_refs) == 5
    assert not set(first_refs) & set(second_refs)
    assert "page 2 of 2" in second


async def test_sort(admin: TestClient[object, object], data: dict[str, str]) -> None:
    newest = ROW_RE.findall(await page(admin, "/proposals?status=all"))
    assert newest[0] == data["xss"]
    oldest = ROW_RE.findall(await page(admin, "/proposals?status=all&sort=oldest"))
    assert oldest[:2] == [data["bulk0"], data["bulk1"]]
    by_budget = ROW_RE.findall(await page(admin, "/proposals?status=all&sort=budget"))
    assert by_budget[:2] == [data["bulk61"], data["bulk60"]]
    by_reference = ROW_RE.findall(await page(admin, "/proposals?status=all&sort=reference"))
    assert by_reference == sorted(by_reference)


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=-3",
        "page=99999999999999999999",  # past the database's integers: no page, not a 500
        "status=bogus",
        "from=2026-13-45",
        "to=yesterday",
        "sort=random",
        "theme=<b>x</b>",
        "commune=99999",
        "language=de",
        "page=99",
    ],
)
async def test_bad_query_values_give_a_notice(
    admin: TestClient[object, object], query: str
) -> None:
    body = await page(admin, "/proposals?" + query)
    assert 'class="notice"' in body
    assert "<b>x</b>" not in body
    assert total_of(body) == BULK + 1 - 5  # the open proposals, as without the bad value


async def test_list_shows_formatted_values(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/proposals?q=projet+61")
    assert "Projet 61" in body
    assert "€6,200" in body  # English money, babel
    assert "Mar 31, 2026" in body  # submitted date in Brussels
    assert "Brussels" in body or "Bruxelles" in body


async def test_detail_page(admin: TestClient[object, object], data: dict[str, str]) -> None:
    body = await page(admin, f"/proposals/{data['xss']}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert XSS not in body
    assert "Un jardin &lt;b&gt;partagé&lt;/b&gt; &amp; un compost." in body
    assert "Anne &lt;i&gt;Dupont&lt;/i&gt;" in body
    assert "anne@example.org" in body
    assert "Schaerbeek / Schaarbeek" in body
    assert "An association (ASBL/VZW)" in body and "A school" in body
    assert "Compost &amp; Co Schaerbeek" in body  # the matched initiative
    assert "same commune" in body and "both mention" in body
    assert 'title="shared_concepts:compost"' in body
    assert f'href="/proposals/{data["bulk0"]}"' in body  # the matched earlier proposal
    # the similarity as what it means, the number on hover (and for screen readers)
    assert '<span class="strength strength-strong" title="Score: 81.2 out of 100">strong' in body
    assert '<span class="strength strength-medium" title="Score: 41 out of 100">medium' in body
    assert "put in touch with: Compost &amp; Co" in body
    assert all_calls()["inspirons_projet"].name("en") in body
    assert "Status change" in body and 'id="history"' in body
    assert "by the citizen" in body


async def test_who_took_a_proposal_in_the_staff_group_before_it_assigned_is_shown(
    admin: TestClient[object, object],
    data: dict[str, str],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Before staff accounts were linked to Telegram, the group's "take it" kept a name
    (`Proposal.taken_by`) and a "taken" event; such proposals still show them."""
    async with sessions.begin() as session:
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == data["xss"]))
        ).scalar_one()
        proposal.taken_by, proposal.taken_at = "Ana <Peeters>", utcnow()
        session.add(
            ProposalEvent(
                proposal_id=proposal.id, created_at=utcnow(), actor="Ana <Peeters>", kind="taken"
            )
        )
    body = await page(admin, f"/proposals/{data['xss']}")
    assert "Ana &lt;Peeters&gt;" in body
    assert "Taken in hand (staff group)" in body
    assert "Taken in hand in the staff group" in body  # the history's event
    other = await page(admin, f"/proposals/{data['bulk0']}")
    assert "Taken in hand (staff group)" not in other  # the assignment says who has it


async def test_unknown_reference_is_404(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/proposals/BXL-1999-00001", status=404)
    assert "There is no proposal with this reference." in body


async def test_an_unknown_address_is_a_page_in_the_staff_members_language(
    admin: TestClient[object, object], client: TestClient[object, object]
) -> None:
    body = await page(admin, "/proposals/BXL-1999-00001/nothing-here", status=404)
    assert "<h1>Not found</h1>" in body and "There is no page at this address." in body
    assert '<a href="/">Back to my queue</a>' in body
    response = await admin.get("/nothing-here", headers={"Accept": "application/json"})
    assert response.status == 404 and "<h1>" not in await response.text()
    response = await admin.get("/static/nothing-here.css")
    assert response.status == 404 and "<h1>" not in await response.text()


async def test_staff_page_is_for_admins(client: TestClient[object, object]) -> None:
    assert (await login(client, *REVIEWER)).status == 303
    body = await page(client, "/staff", status=403)
    assert Translator("fr").gettext("You do not have access to this page.") in body
    assert 'href="/staff"' not in body
    token = CSRF_RE.search(body)
    assert token
    await client.post("/logout", data={"csrf_token": token.group(1)})
    assert (await login(client, *ADMIN)).status == 303
    body = await page(client, "/staff")
    assert ADMIN[0] in body and REVIEWER[0] in body


# ------------------------------------------------------------------ languages


async def test_language_switch(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/")
    assert '<html lang="en">' in body and ">in review<" in body
    token = CSRF_RE.search(body)
    assert token
    response = await admin.post(
        "/language",
        data={"csrf_token": token.group(1), "language": "nl", "next": "/proposals?status=accepted"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/proposals?status=accepted"
    body = await page(admin, "/")
    assert '<html lang="nl">' in body
    assert ">in behandeling<" in body and ">in review<" not in body
    detail = await page(admin, "/proposals/BXL-2026-00063")
    assert "zelfde gemeente" in detail
    token = CSRF_RE.search(body)
    assert token
    await admin.post("/language", data={"csrf_token": token.group(1), "language": "fr"})
    body = await page(admin, "/")
    assert '<html lang="fr">' in body and ">en cours d’examen<" in body
    bad = await admin.post("/language", data={"csrf_token": token.group(1), "language": "de"})
    assert bad.status == 400


async def test_login_page_language(client: TestClient[object, object]) -> None:
    assert '<html lang="en">' in await page(client, "/login")
    assert '<html lang="nl">' in await page(client, "/login?lang=nl")
    response = await client.get(
        "/login", headers={"Accept-Language": "de-DE, fr-BE;q=0.8, nl;q=0.5"}
    )
    assert '<html lang="fr">' in await response.text()


async def test_concurrent_requests_keep_their_language(
    admin: TestClient[object, object], sessions: async_sessionmaker[AsyncSession]
) -> None:
    app = admin.server.app
    assert app is not None
    async with TestClient(TestServer(app)) as reviewer:
        assert (await login(reviewer, *REVIEWER)).status == 303

        async def lang_of(c: TestClient[object, object]) -> list[str]:
            texts = await asyncio.gather(*(c.get("/proposals") for _ in range(5)))
            return [re.search(r'<html lang="(\w+)">', await t.text()).group(1) for t in texts]  # type: ignore[union-attr]

        en, fr = await asyncio.gather(lang_of(admin), lang_of(reviewer))
    assert set(en) == {"en"} and set(fr) == {"fr"}


async def test_proposal_rows_are_escaped_in_the_list(admin: TestClient[object, object]) -> None:
    body = await page(admin, "/proposals?theme=culture")
    assert "&lt;script&gt;" in body and XSS not in body
