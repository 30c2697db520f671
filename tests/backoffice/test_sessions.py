"""Back-office sessions kept on the server: signing out, ending sessions, idling, the
cookie, and the sign-in throttle per account and per address (behind trusted proxies). And
the same page's Telegram link, with the private message it brings on assignment."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from ipaddress import ip_network

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import LoginThrottle, client_address, hash_password
from bot.runners.settings import load_settings
from bot.services.announcements import Announcer
from storage.database import create_sessionmaker
from storage.models import OutboxMessage, StaffSession, StaffUser
from storage.staff import add_staff, create_link_token, link_staff, staff_by_telegram
from storage.staff_sessions import end_sessions_of, live_sessions_of, open_staff_session
from tests.backoffice.support import CSRF_RE, SECRET, login, page
from tests.clock import TEST_NOW, MovingClock
from tests.factories import make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

ADMIN = ("admin@example.brussels", "correct horse battery staple")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
IDLE = timedelta(minutes=30)
PROXY = "127.0.0.1"  # the test client connects from here: it plays the reverse proxy


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session, session.begin():
        admin = await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
        reviewer = await add_staff(
            session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "en"
        )
    return {"admin": admin.id, "reviewer": reviewer.id}


def make_app(sessions: async_sessionmaker[AsyncSession], **options: object) -> web.Application:
    return create_app(
        sessions,
        secret_key=SECRET,
        default_language="en",
        throttle=LoginThrottle(),
        session_idle=IDLE,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def app(sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]) -> web.Application:
    return make_app(sessions)


@pytest.fixture
async def browser(app: web.Application) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(app)) as client:
        yield client


async def another_browser(app: web.Application) -> TestClient[object, object]:
    """A second client of the same server (another device); the caller closes it."""
    client: TestClient[object, object] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def csrf(client: TestClient[object, object], path: str = "/sessions") -> str:
    found = CSRF_RE.search(await page(client, path))
    assert found
    return found.group(1)


async def is_signed_in(client: TestClient[object, object]) -> bool:
    response = await client.get("/", allow_redirects=False)
    assert response.status in (200, 303)
    return response.status == 200


async def test_a_copied_cookie_no_longer_works_after_sign_out(
    browser: TestClient[object, object], app: web.Application
) -> None:
    assert (await login(browser, *ADMIN)).status == 303
    cookie = browser.session.cookie_jar.filter_cookies(browser.make_url("/"))["intake_session"]
    thief = await another_browser(app)
    try:
        thief.session.cookie_jar.update_cookies({"intake_session": cookie.value})
        assert await is_signed_in(thief)  # the copy works while the session lives…
        out = await browser.post(
            "/logout", data={"csrf_token": await csrf(browser, "/")}, allow_redirects=False
        )
        assert out.status == 303
        assert not await is_signed_in(thief)  # …and not after signing out
        assert not await is_signed_in(browser)
    finally:
        await thief.close()


async def test_staff_see_and_end_their_other_sessions(
    browser: TestClient[object, object],
    app: web.Application,
    sessions: async_sessionmaker[AsyncSession],
    ids: dict[str, int],
) -> None:
    laptop, phone = browser, await another_browser(app)
    try:
        assert (await login(laptop, *ADMIN)).status == 303
        assert (await login(phone, *ADMIN)).status == 303
        body = await page(laptop, "/sessions")
        assert body.count('<tr id="session-') == 2
        assert body.count('<span class="tag">this session</span>') == 1
        assert "End your other session" in body
        async with sessions() as db:
            live = await live_sessions_of(db, ids["admin"], idle=IDLE)
        other = next(s.id for s in live if f'id="session-{s.id}"' in body)
        token = await csrf(laptop)
        # A session of another account cannot be ended from here.
        async with sessions() as db, db.begin():
            await open_staff_session(db, ids["reviewer"], address="192.0.2.7", user_agent="x")
        reviewers = await live_sessions_of_account(sessions, ids["reviewer"])
        response = await laptop.post(
            f"/sessions/{reviewers[0]}/end", data={"csrf_token": token}, allow_redirects=False
        )
        assert response.headers["Location"] == "/sessions?done=gone"
        assert await live_sessions_of_account(sessions, ids["reviewer"]) == reviewers
        response = await laptop.post(
            f"/sessions/{other}/end", data={"csrf_token": token}, allow_redirects=False
        )
        assert response.headers["Location"] == "/sessions?done=ended"
        assert not await is_signed_in(phone)
        assert await is_signed_in(laptop)
        assert "The session was ended" in await page(laptop, "/sessions?done=ended")
    finally:
        await phone.close()


async def live_sessions_of_account(
    sessions: async_sessionmaker[AsyncSession], staff_id: int
) -> list[int]:
    async with sessions() as db:
        return [s.id for s in await live_sessions_of(db, staff_id, idle=IDLE)]


async def test_end_all_other_sessions_keeps_this_one(
    browser: TestClient[object, object], app: web.Application
) -> None:
    others = [await another_browser(app) for _ in range(2)]
    try:
        for client in [browser, *others]:
            assert (await login(client, *REVIEWER)).status == 303
        assert "End your 2 other sessions" in await page(browser, "/sessions")
        response = await browser.post(
            "/sessions/end-others", data={"csrf_token": await csrf(browser)}
        )
        assert "Your other sessions were ended." in await response.text()
        assert await is_signed_in(browser)
        for client in others:
            assert not await is_signed_in(client)
    finally:
        for client in others:
            await client.close()


async def test_an_admin_signs_an_account_out_everywhere(
    browser: TestClient[object, object], app: web.Application, ids: dict[str, int]
) -> None:
    reviewer = await another_browser(app)
    try:
        assert (await login(reviewer, *REVIEWER)).status == 303
        assert (await login(browser, *ADMIN)).status == 303
        staff_page = await page(browser, "/staff")
        assert f'action="/staff/{ids["reviewer"]}/sessions/end"' in staff_page
        assert f'action="/staff/{ids["admin"]}/sessions/end"' not in staff_page  # yours: /sessions
        token = await csrf(browser, "/staff")
        response = await browser.post(
            f"/staff/{ids['reviewer']}/sessions/end", data={"csrf_token": token}
        )
        assert "sessions were ended: its owner must sign in again" in await response.text()
        assert not await is_signed_in(reviewer)
        assert await is_signed_in(browser)
        # A reviewer cannot do the same to an administrator.
        assert (await login(reviewer, *REVIEWER)).status == 303
        refused = await reviewer.post(
            f"/staff/{ids['admin']}/sessions/end",
            data={"csrf_token": await csrf(reviewer)},
        )
        assert refused.status == 403
        assert await is_signed_in(browser)
    finally:
        await reviewer.close()


async def test_an_idle_session_expires_and_a_used_one_lives_until_twelve_hours(
    browser: TestClient[object, object], fixed_clock: MovingClock
) -> None:
    assert (await login(browser, *ADMIN)).status == 303
    for minutes in range(25, 12 * 60, 25):  # used every 25 minutes: alive until 12 hours
        fixed_clock.set(TEST_NOW + timedelta(minutes=minutes))
        assert await is_signed_in(browser), minutes
    fixed_clock.set(TEST_NOW + timedelta(hours=12, minutes=1))
    assert not await is_signed_in(browser)
    fixed_clock.set(TEST_NOW + timedelta(hours=13))
    assert (await login(browser, *ADMIN)).status == 303
    fixed_clock.set(TEST_NOW + timedelta(hours=13) + IDLE + timedelta(seconds=1))
    assert not await is_signed_in(browser)


async def test_expired_sessions_are_deleted_at_the_next_sign_in(
    browser: TestClient[object, object],
    sessions: async_sessionmaker[AsyncSession],
    fixed_clock: MovingClock,
) -> None:
    assert (await login(browser, *ADMIN)).status == 303
    fixed_clock.set(TEST_NOW + timedelta(days=1))
    assert (await login(browser, *REVIEWER)).status == 303
    async with sessions() as db:
        count = (await db.execute(select(func.count()).select_from(StaffSession))).scalar_one()
    assert count == 1


async def test_end_sessions_of_touches_only_that_account(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]
) -> None:
    async with sessions() as db, db.begin():
        for staff_id in (ids["admin"], ids["admin"], ids["reviewer"]):
            await open_staff_session(db, staff_id, address="192.0.2.1", user_agent="test")
    admins = await live_sessions_of_account(sessions, ids["admin"])
    async with sessions() as db, db.begin():
        assert await end_sessions_of(db, ids["reviewer"], session_id=admins[0]) == 0
        assert await end_sessions_of(db, ids["admin"], keep_id=admins[0]) == 1
    assert await live_sessions_of_account(sessions, ids["admin"]) == admins[:1]
    assert len(await live_sessions_of_account(sessions, ids["reviewer"])) == 1


@pytest.mark.parametrize(("secure", "expected"), [(False, False), (True, True)])
async def test_the_cookie_is_secure_when_served_by_https(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int], secure: bool, expected: bool
) -> None:
    async with TestClient(TestServer(make_app(sessions, secure_cookie=secure))) as client:
        response = await login(client, *ADMIN)
        assert ("Secure" in response.headers["Set-Cookie"]) is expected


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [(None, False), ("http://intake.example", False), ("https://intake.example.brussels", True)],
)
def test_public_url_decides_the_secure_cookie(public_url: str | None, secure: bool) -> None:
    assert load_settings(public_url=public_url).secure_cookie is secure


# ------------------------------------------------------------------ throttle


async def test_five_wrong_passwords_lock_that_account_only(
    browser: TestClient[object, object],
) -> None:
    for _ in range(5):
        assert (await login(browser, ADMIN[0], "wrong")).status == 401
    assert (await login(browser, *ADMIN)).status == 429
    assert (await login(browser, *REVIEWER)).status == 303  # same address, other account


async def test_many_failures_from_one_address_lock_it(browser: TestClient[object, object]) -> None:
    for n in range(30):
        assert (await login(browser, f"guess{n}@example.org", "nope")).status == 401
    assert (await login(browser, *REVIEWER)).status == 429


async def test_behind_a_trusted_proxy_each_client_address_is_counted(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]
) -> None:
    app = make_app(sessions, trusted_proxies=[ip_network(PROXY)])
    async with TestClient(TestServer(app)) as client:
        sprayer = {"X-Forwarded-For": "198.51.100.9"}
        for n in range(30):
            client.session.headers.update(sprayer)
            assert (await login(client, f"guess{n}@example.org", "nope")).status == 401
        assert (await login(client, *REVIEWER)).status == 429
        client.session.headers.update({"X-Forwarded-For": "203.0.113.5"})  # a colleague
        assert (await login(client, *REVIEWER)).status == 303
        body = await page(client, "/sessions")
        assert "203.0.113.5" in body


async def test_an_untrusted_forwarded_for_is_ignored(
    browser: TestClient[object, object],
) -> None:
    for n in range(30):
        browser.session.headers.update({"X-Forwarded-For": f"198.51.100.{n}"})
        assert (await login(browser, f"guess{n}@example.org", "nope")).status == 401
    assert (await login(browser, *REVIEWER)).status == 429  # a forged header changes nothing


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("192.0.2.1", None, "192.0.2.1"),
        ("192.0.2.1", "198.51.100.1", "192.0.2.1"),  # not a proxy: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # left part written by client
        ("10.0.0.2", "198.51.100.1, 10.0.0.3", "198.51.100.1"),  # two proxies
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),  # only proxies: the farthest
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "6.6.6.6, garbage, 10.0.0.3", "10.0.0.3"),
        ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
        (None, None, "-"),
    ],
)
def test_client_address(remote: str | None, forwarded: str | None, expected: str) -> None:
    assert client_address(remote, forwarded, [ip_network("10.0.0.0/8")]) == expected


# ------------------------------------------------------------------ the Telegram link


async def bot_username() -> str:
    return "intake_test_bot"


async def test_staff_link_their_telegram_account_from_their_sessions_page(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]
) -> None:
    app = make_app(sessions, bot_username=bot_username)
    async with TestClient(TestServer(app)) as client:
        assert (await login(client, *REVIEWER)).status == 303
        body = await page(client, "/sessions")
        assert 'id="telegram"' in body and "not linked" in body
        assert "Link my Telegram account" in body and "Unlink" not in body
        made = await client.post(
            "/sessions/telegram/link",
            data={"csrf_token": await csrf(client)},
            allow_redirects=False,
        )
        assert made.status == 303 and made.headers["Location"] == "/sessions#telegram"
        body = await page(client, "/sessions")
        found = re.search(r"https://t\.me/intake_test_bot\?start=staff-([\w-]+)", body)
        assert found is not None and f"/start staff-{found.group(1)}" in body
        # shown once: afterwards, only until when the link works
        body = await page(client, "/sessions")
        assert found.group(1) not in body and "A link made earlier works until" in body

        async with sessions() as db, db.begin():  # the bot, when the link is opened
            assert (await link_staff(db, found.group(1), 901)).status == "linked"
        body = await page(client, "/sessions")
        assert "Your Telegram account is linked (since" in body and "Unlink" in body

        # the administrators' staff page says who linked
        async with TestClient(TestServer(make_app(sessions))) as admin:
            assert (await login(admin, *ADMIN)).status == 303
            staff_page = await page(admin, "/staff")
            row = staff_page[staff_page.index(REVIEWER[0]) :]
            assert "linked on" in row[: row.index("</tr>")]

        gone = await client.post(
            "/sessions/telegram/unlink",
            data={"csrf_token": await csrf(client)},
            allow_redirects=False,
        )
        assert gone.headers["Location"] == "/sessions?done=unlinked#telegram"
        body = await page(client, "/sessions?done=unlinked")
        assert "Your Telegram account is no longer linked." in body
        async with sessions() as db:
            assert await staff_by_telegram(db, 901) is None
            reviewer = await db.get(StaffUser, ids["reviewer"])
            assert reviewer is not None and reviewer.telegram_user_id is None


async def test_without_the_bot_s_username_the_link_has_a_placeholder(
    browser: TestClient[object, object],
) -> None:
    assert (await login(browser, *REVIEWER)).status == 303
    made = await browser.post("/sessions/telegram/link", data={"csrf_token": await csrf(browser)})
    body = await made.text()  # the page it leads to
    assert "https://t.me/&lt;bot username&gt;?start=staff-" in body
    assert "The bot's username is not known right now" in body


async def test_an_assignment_in_the_back_office_tells_the_linked_assignee_privately(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int]
) -> None:
    async with sessions() as db, db.begin():
        proposal = await make_proposal(db)
        reference = proposal.reference
        for name, telegram_id in (("admin", 901), ("reviewer", 902)):
            account = await db.get(StaffUser, ids[name])
            assert account is not None
            await link_staff(db, await create_link_token(db, account), telegram_id)
    announcer = Announcer(back_office_url="https://intake.example.brussels")
    app = make_app(sessions, announcer=announcer)
    async with TestClient(TestServer(app)) as client:
        assert (await login(client, *ADMIN)).status == 303
        token = await csrf(client, f"/proposals/{reference}")
        # the admin gives it to the reviewer, then takes it themselves
        for wanted, expected in ((str(ids["reviewer"]), ""), ("me", str(ids["reviewer"]))):
            done = await client.post(
                f"/proposals/{reference}/assign",
                data={"csrf_token": token, "assignee": wanted, "expected": expected},
                allow_redirects=False,
            )
            assert done.status == 303 and "conflict" not in done.headers["Location"]
    async with sessions() as db:
        rows = list((await db.execute(select(OutboxMessage))).scalars())
    [private] = rows  # none for the admin who took it: nobody else did it
    assert private.chat_id == 902
    assert "Assigned to you by admin@example.brussels." in private.payload["text"]
    assert (
        f'href="https://intake.example.brussels/proposals/{reference}"' in private.payload["text"]
    )
