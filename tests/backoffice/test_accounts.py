"""Staff accounts in the back-office: administrators add, re-role and remove accounts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import LoginThrottle, hash_password, verify_password
from bot.backoffice.pages import accounts
from bot.runners import cli
from bot.text.i18n import Translator
from storage.database import create_engine, create_sessionmaker
from storage.staff import (
    StaffRuleError,
    add_staff,
    admin_count,
    all_staff,
    remove_staff,
    set_staff_role,
    staff_by_email,
)
from tests.backoffice.support import CSRF_RE, SECRET, csrf_of, login, page

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

ADMIN = ("admin@example.brussels", "correct horse battery staple")
OTHER_ADMIN = ("second@example.brussels", "a second admin passphrase")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
NEW = "nouvelle@example.brussels"


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session, session.begin():
        people = [
            await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en"),
            await add_staff(session, OTHER_ADMIN[0], hash_password(OTHER_ADMIN[1]), "admin", "nl"),
            await add_staff(session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "fr"),
        ]
    return {"admin": people[0].id, "other": people[1].id, "reviewer": people[2].id}


@pytest.fixture
async def app(sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]) -> object:
    return create_app(sessions, secret_key=SECRET, default_language="en", throttle=LoginThrottle())


@pytest.fixture
async def client(app: object) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(app)) as test_client:  # type: ignore[arg-type]
        yield test_client


@pytest.fixture
async def admin(client: TestClient[object, object]) -> TestClient[object, object]:
    assert (await login(client, *ADMIN)).status == 303
    return client


async def token_of(client: TestClient[object, object]) -> str:
    found = CSRF_RE.search(await page(client, "/staff"))
    assert found
    return found.group(1)


async def accounts_now(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessions() as session:
        return {person.email: person.role for person in await all_staff(session)}


def new_account(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "email": " Nouvelle@Example.Brussels ",
        "role": "reviewer",
        "language": "nl",
        "password": "a brand new passphrase",
        "password_again": "a brand new passphrase",
    }
    form.update(changes)
    return form


def test_same_minimum_password_length_as_the_command() -> None:
    assert accounts.MIN_PASSWORD_LENGTH == cli.MIN_PASSWORD_LENGTH


# ------------------------------------------------------------------ access


@pytest.mark.parametrize(
    "path", ["/staff", "/staff/1/role", "/staff/1/remove"]
)
async def test_anonymous(
    client: TestClient[object, object], sessions: async_sessionmaker[AsyncSession], path: str
) -> None:
    before = await accounts_now(sessions)
    if path == "/staff":
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"].startswith("/login?next=")
    token = await csrf_of(client)
    response = await client.post(path, data=new_account(token, role="admin"))
    assert response.status == 401
    assert await accounts_now(sessions) == before


async def test_reviewer_is_refused_everywhere(
    client: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    before = await accounts_now(sessions)
    assert (await login(client, *REVIEWER)).status == 303
    body = await page(client, "/staff", status=403)
    assert Translator("fr").gettext("You do not have access to this page.") in body
    assert 'href="/staff"' not in body
    found = CSRF_RE.search(body)
    assert found
    token = found.group(1)
    attempts = [
        ("/staff", new_account(token, role="admin")),
        (f"/staff/{ids['reviewer']}/role", {"csrf_token": token, "role": "admin"}),
        (f"/staff/{ids['admin']}/role", {"csrf_token": token, "role": "reviewer"}),
        (f"/staff/{ids['admin']}/remove", {"csrf_token": token}),
    ]
    for path, form in attempts:
        response = await client.post(path, data=form)
        assert response.status == 403, path
    assert await accounts_now(sessions) == before


@pytest.mark.parametrize("token", [None, "forged"])
async def test_csrf_is_required(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
    token: str | None,
) -> None:
    before = await accounts_now(sessions)
    for path, form in [
        ("/staff", new_account("x")),
        (f"/staff/{ids['reviewer']}/role", {"role": "admin"}),
        (f"/staff/{ids['other']}/remove", {}),
    ]:
        form.pop("csrf_token", None)
        if token:
            form["csrf_token"] = token
        assert (await admin.post(path, data=form)).status == 403, path
    assert await accounts_now(sessions) == before


# ------------------------------------------------------------------ adding


async def test_add_an_account(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    app: object,
) -> None:
    token = await token_of(admin)
    response = await admin.post("/staff", data=new_account(token), allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/staff?done=added"
    body = await page(admin, "/staff?done=added")
    assert "The account was added." in body and NEW in body
    async with sessions() as session:
        person = await staff_by_email(session, NEW)
    assert person is not None
    assert (person.role, person.language) == ("reviewer", "nl")
    assert person.password_hash.startswith("$argon2id$")
    assert verify_password(person.password_hash, "a brand new passphrase")
    # The new reviewer signs in, in Dutch.
    async with TestClient(TestServer(app)) as other:  # type: ignore[arg-type]
        assert (await login(other, NEW, "a brand new passphrase")).status == 303
        assert '<html lang="nl">' in await page(other, "/")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not an address"}, "Enter a valid e-mail address."),
        ({"email": ""}, "Enter a valid e-mail address."),
        ({"password": "tiny-pw", "password_again": "tiny-pw"}, "at least 12 characters"),
        ({"password_again": "a different passphrase"}, "The two passwords differ."),
        ({"role": "boss"}, "Choose a role from the list."),
        ({"language": "de"}, "Choose a language from the list."),
        ({"email": "REVIEWER@example.brussels"}, "already exists"),
    ],
)
async def test_add_errors_keep_what_was_typed(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    changes: dict[str, str],
    message: str,
) -> None:
    before = await accounts_now(sessions)
    token = await token_of(admin)
    form = new_account(token, **changes)
    response = await admin.post("/staff", data=form)
    body = await response.text()
    assert response.status == 400
    assert message in body
    assert "The account was not added" in body
    if changes.get("email", "x"):
        assert f'value="{form["email"].strip().lower()}"' in body.lower()
    assert form["password"] not in body  # a password is never sent back
    assert await accounts_now(sessions) == before


# ------------------------------------------------------------------ roles and removal


async def test_change_a_role(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    token = await token_of(admin)
    response = await admin.post(
        f"/staff/{ids['reviewer']}/role",
        data={"csrf_token": token, "role": "admin"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/staff?done=role"
    response = await admin.post(
        f"/staff/{ids['other']}/role", data={"csrf_token": token, "role": "reviewer"}
    )
    assert response.status == 200
    assert await accounts_now(sessions) == {
        ADMIN[0]: "admin",
        OTHER_ADMIN[0]: "reviewer",
        REVIEWER[0]: "admin",
    }
    bad = await admin.post(
        f"/staff/{ids['other']}/role", data={"csrf_token": token, "role": "boss"}
    )
    assert bad.status == 400


async def test_an_admin_cannot_demote_or_remove_themselves(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    before = await accounts_now(sessions)
    body = await page(admin, "/staff")
    assert f'action="/staff/{ids["admin"]}/remove"' not in body  # no button for oneself
    assert f'action="/staff/{ids["other"]}/remove"' in body
    token = await token_of(admin)
    for path, form in [
        (f"/staff/{ids['admin']}/role", {"csrf_token": token, "role": "reviewer"}),
        (f"/staff/{ids['admin']}/remove", {"csrf_token": token}),
    ]:
        response = await admin.post(path, data=form)
        assert response.status == 409
        assert "You cannot change your own role or remove your own account" in (
            await response.text()
        )
    assert await accounts_now(sessions) == before


async def test_remove_an_account_ends_its_sessions(
    admin: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
    app: object,
) -> None:
    async with TestClient(TestServer(app)) as reviewer:  # type: ignore[arg-type]
        assert (await login(reviewer, *REVIEWER)).status == 303
        assert (await reviewer.get("/", allow_redirects=False)).status == 200
        token = await token_of(admin)
        response = await admin.post(
            f"/staff/{ids['reviewer']}/remove", data={"csrf_token": token}, allow_redirects=False
        )
        assert response.status == 303 and response.headers["Location"] == "/staff?done=removed"
        assert (await reviewer.get("/", allow_redirects=False)).status == 303  # signed out
    assert REVIEWER[0] not in await accounts_now(sessions)
    gone = await admin.post(f"/staff/{ids['reviewer']}/remove", data={"csrf_token": token})
    assert gone.status == 404
    assert "There is no such account" in await gone.text()


async def test_a_demoted_admin_loses_the_page_at_once(
    admin: TestClient[object, object], ids: dict[str, int], app: object
) -> None:
    async with TestClient(TestServer(app)) as other:  # type: ignore[arg-type]
        assert (await login(other, *OTHER_ADMIN)).status == 303
        await page(other, "/staff")
        token = await token_of(admin)
        await admin.post(
            f"/staff/{ids['other']}/role", data={"csrf_token": token, "role": "reviewer"}
        )
        await page(other, "/staff", status=403)


# ------------------------------------------------------------------ the rules, in storage


@pytest.fixture
async def any_sessions(any_database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(any_database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _people(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session, session.begin():
        a = await add_staff(session, "a@example.org", "h", "admin")
        b = await add_staff(session, "b@example.org", "h", "admin")
        r = await add_staff(session, "r@example.org", "h", "reviewer")
    return {"a": a.id, "b": b.id, "r": r.id}


async def _code(sessions: async_sessionmaker[AsyncSession], action: object) -> str | None:
    try:
        async with sessions() as session, session.begin():
            await action(session)  # type: ignore[operator]
    except StaffRuleError as error:
        return error.code
    return None


async def test_storage_rules_on_both_databases(
    any_sessions: async_sessionmaker[AsyncSession],
) -> None:
    who = await _people(any_sessions)

    def role(target: str, value: str, actor: str) -> object:
        return lambda s: set_staff_role(s, who[target], value, actor_id=who[actor])

    def remove(target: str, actor: str) -> object:
        return lambda s: remove_staff(s, who[target], actor_id=who[actor])

    assert await _code(any_sessions, role("a", "reviewer", "r")) == "not_admin"
    assert await _code(any_sessions, remove("a", "r")) == "not_admin"
    assert await _code(any_sessions, role("a", "reviewer", "a")) == "self"
    assert await _code(any_sessions, remove("a", "a")) == "self"
    assert await _code(any_sessions, lambda s: remove_staff(s, 9999, actor_id=who["a"])) == (
        "not_found"
    )
    assert await _code(any_sessions, role("b", "reviewer", "a")) is None
    # b is no longer an admin: b cannot act, and a is the last admin.
    assert await _code(any_sessions, role("a", "reviewer", "b")) == "not_admin"
    assert await _code(any_sessions, remove("a", "b")) == "not_admin"
    assert await _code(any_sessions, role("r", "admin", "a")) is None
    assert await _code(any_sessions, remove("b", "r")) is None
    async with any_sessions() as session:
        assert await admin_count(session) == 2
        assert {p.email for p in await all_staff(session)} == {"a@example.org", "r@example.org"}


async def _demote(
    sessions: async_sessionmaker[AsyncSession], target: int, actor: int
) -> str | None:
    try:
        async with sessions() as session, session.begin():
            await set_staff_role(session, target, "reviewer", actor_id=actor)
    except StaffRuleError as error:
        return error.code
    except OperationalError:  # SQLite: "database is locked"; nothing was written
        return "busy"
    return None


async def test_two_admins_demoting_each_other_leave_one_admin(
    any_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The race the last-admin rule is about: at most one of the two changes is made."""
    for _round in range(3):
        who = await _people(any_sessions)
        outcomes = await asyncio.gather(
            _demote(any_sessions, who["a"], who["b"]), _demote(any_sessions, who["b"], who["a"])
        )
        async with any_sessions() as session:
            admins = await admin_count(session)
            assert admins == 2 - outcomes.count(None) >= 1, outcomes
            for person in await all_staff(session):
                await session.delete(person)
            await session.commit()
