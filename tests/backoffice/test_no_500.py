"""No request makes the back-office answer 500 (issue 11 §4): a walk of every route.

The walk reads the router, so a route added later is walked too. It fills each route's
path parameters with an existing value and absurd ones (0, -1, 20 digits, letters, 4000
characters, escapes that are not UTF-8, NUL) and sends, as anonymous, a reviewer and an
administrator, and to the API and /metrics also as a client with bearer tokens:

* to a GET route, absurd query strings (negative, huge and non-numeric pages, empty and
  repeated keys, percent escapes that are not UTF-8, NUL, a 6000-character value);
* to a POST route, bodies that are missing, of the wrong type, unreadable (multipart
  without its boundary or with another one, an unknown charset, bytes that are not UTF-8)
  or hostile (1 MB fields, empty fields, NUL bytes, files where text is expected), each
  with the session's CSRF token so that it reaches the handler, then without the token;
* PUT and DELETE, which no route has;
* requests written by hand with bytes that are not UTF-8 in headers (CSRF token, bearer
  token, cookie, Accept-Language, Content-Type), which HTTP client libraries refuse to send.

Every answer must be below 500. Run it with `-s` to read how many requests it made and how
long it took:

    .venv/bin/pytest tests/backoffice/test_no_500.py -s
"""

from __future__ import annotations

import asyncio
import functools
import io
import itertools
import json
import logging
import re
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.backoffice.api.proposals import API_PREFIX
from bot.backoffice.app import PUBLIC_PATHS, create_app
from bot.backoffice.auth import CSRF_FIELD, LoginThrottle, hash_password
from storage.api_tokens import create_api_token
from storage.coaches import invite_coach
from storage.database import create_sessionmaker
from storage.models import Initiative
from storage.outbox import enqueue
from storage.staff import add_staff
from tests.backoffice.support import SECRET, csrf_of, login
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

ADMIN = ("admin@example.brussels", "correct horse battery staple")
REVIEWER = ("reviewer@example.brussels", "another long passphrase")
METRICS_TOKEN = "metrics-token-0123456789"
TEMPLATES = Path(__file__).parents[2] / "bot" / "backoffice" / "templates"

MIN_REQUESTS = 4000
"""The walk makes more requests than this, or it has stopped walking something."""


FIELDS = sorted(
    set(re.findall(r'name="([a-z_]+)"', "".join(p.read_text() for p in TEMPLATES.glob("*.html"))))
    - {CSRF_FIELD, "viewport"}
)
"""Every field name of the back-office's forms (read from its templates): each hostile body
carries them all, so that it reaches whatever field a handler reads."""

QUERY_KEYS = sorted(
    {*FIELDS, "page", "per_page", "sort", "tests", "lang", "next", "saved", "done"}
    | {"retried", "reviewed"}
)
"""The query parameters the pages and the API read (and the form fields again)."""

ABSURD_PATH_VALUES = ("0", "-1", "99999999999999999999", "abc", "x" * 4000, "%FF%FE", "%00")

URLENCODED = "application/x-www-form-urlencoded"
MEGABYTE = 1024 * 1024
FIELDS_PER_LARGE_BODY = 12
"""1 MB fields per body: twelve stay under the 16 MB upload limit, so that they reach the
handler (the limit has its own test in test_catalogue.py)."""


# ------------------------------------------------------------------ malformed input


def queries() -> list[tuple[str, str]]:
    """(what, query string) for a GET route."""
    each = "&".join
    return [
        ("plain", ""),
        ("page -1", "page=-1&per_page=-1"),
        ("page 0", "page=0&per_page=0"),
        ("page 1e9", "page=1e9&per_page=1e9"),
        ("page of 20 digits", "page=99999999999999999999&per_page=99999999999999999999"),
        ("page not a number", "page=abc&per_page=%20"),
        ("repeated keys", each(f"{key}=a&{key}=b" for key in QUERY_KEYS)),
        ("empty values", each(f"{key}=" for key in QUERY_KEYS)),
        ("bare keys", each(QUERY_KEYS) + "&&=&="),
        ("escapes not UTF-8", each(f"{key}=%FF%FE" for key in QUERY_KEYS) + "&%FF=1"),
        ("NUL", each(f"{key}=a%00b" for key in QUERY_KEYS)),
        ("6000 characters", "q=" + "x" * 6000),  # under aiohttp's 8 KB request line
        ("absurd values", "from=2026-02-30&to=99999-01-01&status=nope&sort=nope&tests=2"),
        ("numbers of 20 digits", each(f"{key}=99999999999999999999" for key in QUERY_KEYS)),
        ("next elsewhere", "next=//evil.example/&next=https://evil.example/&lang=zz"),
    ]


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "walk") -> bytes:
    """A multipart/form-data body: (name, content, file name or None) per part."""
    out = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def form(token: str, names: list[str], value: str, **extra: str) -> bytes:
    """A urlencoded form: the CSRF token, then `value` in each field of `names`."""
    return urlencode({CSRF_FIELD: token, **dict.fromkeys(names, value), **extra}).encode()


@dataclass(frozen=True)
class Body:
    what: str
    content_type: str | None
    data: bytes | None
    token_in_header: bool = False
    """The CSRF token goes in X-CSRF-Token: the middleware reads no form from this body."""


@functools.lru_cache(maxsize=4)
def bodies(token: str) -> list[Body]:
    """Malformed bodies for a POST route, each with `token` where the app reads it. Cached:
    the 1 MB bodies take a while to build, and a role's token seldom changes."""
    large = [
        Body(
            f"1 MB fields from {FIELDS[start]}",
            URLENCODED,
            form(token, FIELDS[start : start + FIELDS_PER_LARGE_BODY], "x" * MEGABYTE),
        )
        for start in range(0, len(FIELDS), FIELDS_PER_LARGE_BODY)
    ]
    escapes = "&".join(f"{name}=%FF%FE" for name in FIELDS).encode()
    return [
        Body("no body", None, None, token_in_header=True),
        Body("text/plain", "text/plain", form(token, FIELDS, "a"), token_in_header=True),
        Body(
            "JSON to a form",
            "application/json",
            json.dumps({CSRF_FIELD: token, **dict.fromkeys(FIELDS, "a")}).encode(),
            token_in_header=True,
        ),
        Body(
            "JSON nested 100 000 deep",
            "application/json",
            b"[" * 100_000 + b"]" * 100_000,
            token_in_header=True,
        ),
        Body("multipart without boundary", "multipart/form-data", form(token, FIELDS, "a")),
        Body(
            "multipart, another boundary",
            "multipart/form-data; boundary=xyz",
            multipart([(CSRF_FIELD, token.encode(), None)], boundary="abc"),
        ),
        Body(
            "multipart, nameless part",
            "multipart/form-data; boundary=walk",
            b"--walk\r\n\r\nnameless\r\n--walk--\r\n",
        ),
        Body(
            "multipart, files for every field",
            "multipart/form-data; boundary=walk",
            multipart(
                [(CSRF_FIELD, token.encode(), None)]
                + [(name, b"\x00\xff" * 100, "f.bin") for name in FIELDS]
            ),
        ),
        Body(
            "multipart, text not UTF-8",
            "multipart/form-data; boundary=walk",
            multipart(
                [(CSRF_FIELD, token.encode(), None)]
                + [(name, b"caf\xe9\xff", None) for name in FIELDS]
            ),
        ),
        Body("empty fields", URLENCODED, form(token, FIELDS, "")),
        Body("NUL bytes", URLENCODED, form(token, FIELDS, "a\x00b")),
        Body("escapes not UTF-8", URLENCODED, form(token, [], "") + b"&" + escapes),
        Body("bytes not UTF-8", URLENCODED, form(token, [], "") + b"&name=caf\xe9&text=\xff"),
        Body("unknown charset", URLENCODED + "; charset=nope", form(token, FIELDS, "a")),
        Body(
            "repeated keys",
            URLENCODED,
            b"&".join(form(token, FIELDS, value) for value in ("a", "b", "")),
        ),
        Body(
            "numbers of 20 digits",
            URLENCODED,
            form(token, FIELDS, "99999999999999999999", version="-1", message_id="1e9"),
        ),
        Body("spaces and controls", URLENCODED, form(token, FIELDS, " \t\r\n\x0b\x1f\u2028 ")),
        *large,
    ]


def bodies_without_token() -> list[Body]:
    """A readable form without the CSRF token, then with tokens no session has."""
    return [
        Body("no CSRF token", URLENCODED, urlencode(dict.fromkeys(FIELDS, "a")).encode()),
        Body("CSRF token with NUL", URLENCODED, form("a\x00b", FIELDS, "a")),
        Body("CSRF token not UTF-8", URLENCODED, b"csrf_token=%FF%FE&name=a"),
        Body("CSRF token of 1 MB", URLENCODED, form("x" * MEGABYTE, [], "")),
    ]


RAW_HEADERS: tuple[tuple[str, bytes], ...] = (
    ("X-CSRF-Token not UTF-8", b"X-CSRF-Token: \xff\xfe"),
    ("Authorization not UTF-8", b"Authorization: Bearer \xff\xfe"),
    ("cookie not UTF-8", b"Cookie: intake_session=\xff\xfe"),
    ("Accept-Language not UTF-8", b"Accept-Language: \xff\xfe;q=\xff"),
    ("Content-Type not UTF-8", b"Content-Type: multipart/form-data; boundary=\xff"),
)
"""Header lines with bytes that are not UTF-8: aiohttp keeps them as surrogates, on which
any `.encode()` fails."""


# ------------------------------------------------------------------ the app and its callers


@dataclass
class Seeded:
    """What the walk finds in the database: an existing value for each path parameter."""

    ids: dict[str, str]
    """By parameter name, or for `id` by the path's first segment ("staff", "coaches")."""
    reference: str
    api_token: str

    def existing(self, pattern: str, parameter: str) -> str:
        if parameter == "reference":
            return self.reference
        if parameter == "id":
            return self.ids.get(pattern.strip("/").split("/")[0], "1")
        return self.ids.get(parameter, "1")


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def seeded(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    """The two staff members who walk, a third one for them to change, a proposal, an
    initiative, a coach invited, an outbox message and an API token."""
    async with sessions() as session, session.begin():
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
        await add_staff(session, REVIEWER[0], hash_password(REVIEWER[1]), "reviewer", "fr")
        other = await add_staff(session, "other@example.brussels", hash_password("x" * 12), "admin")
        proposal = await make_proposal(session, await make_citizen(session, 4242, "fr"))
        initiative = Initiative(external_id="i1", name="Compost", themes=["compost"])
        session.add(initiative)
        coach, _token = await invite_coach(session, "Coach", "fr", ADMIN[0])
        await enqueue(
            session, kind="message", chat_id=4242, payload={"text": "x"}, dedupe_key="walk"
        )
        api_token = await create_api_token(session, "walk")
        await session.flush()
        ids = {"staff": str(other.id), "initiatives": str(initiative.id), "coaches": str(coach.id)}
        return Seeded(ids, proposal.reference, api_token)


def an_hour_each_time() -> Callable[[], float]:
    """A clock for the sign-in throttle on which each reading is an hour after the last: the
    walk's many sign-ins with nonsense never lock the walkers out."""
    return itertools.count(start=0, step=3600).__next__


@dataclass
class Caller:
    """One role's client: its own app (sharing the database), cookies and CSRF token."""

    role: str
    client: TestClient[object, object]
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    sign_ins: int = 0

    @property
    def signs_in(self) -> bool:
        return self.role in ("admin", "reviewer")

    def walks(self, pattern: str) -> bool:
        """The API client walks the routes that read bearer tokens; the others walk all."""
        return self.role != "api" or pattern.startswith((API_PREFIX, "/metrics"))

    def reaches_handlers(self, pattern: str) -> bool:
        """Whether the handler of a form route gets this caller's requests: not anonymous,
        who is refused before it, whatever the body, but on the public routes."""
        return self.role != "anonymous" or pattern in PUBLIC_PATHS

    async def sign_in(self) -> None:
        if self.signs_in:
            account = ADMIN if self.role == "admin" else REVIEWER
            response = await login(self.client, *account)
            assert response.status == 303, await response.text()
            self.sign_ins += 1
        self.token = await csrf_of(self.client, "/login")

    async def still_signed_in(self) -> None:
        """Sign in again after a request that signed out (POST /logout with the token)."""
        if self.signs_in:
            response = await self.client.get("/logout", allow_redirects=False)
            if response.status != 200:
                await self.sign_in()


async def start_caller(
    sessions: async_sessionmaker[AsyncSession], seeded: Seeded, role: str
) -> Caller:
    app = create_app(
        sessions,
        secret_key=SECRET,
        default_language="en",
        throttle=LoginThrottle(clock=an_hour_each_time()),
        metrics_token=METRICS_TOKEN,
    )
    client: TestClient[object, object] = TestClient(TestServer(app))
    await client.start_server()
    caller = Caller(role, client)
    if role == "api":
        caller.headers = {"Authorization": f"Bearer {seeded.api_token}"}
    await caller.sign_in()
    return caller


@pytest.fixture
async def callers(
    sessions: async_sessionmaker[AsyncSession], seeded: Seeded
) -> AsyncIterator[list[Caller]]:
    started = []
    try:
        for role in ("anonymous", "reviewer", "admin", "api"):
            started.append(await start_caller(sessions, seeded, role))
        yield started
    finally:
        for caller in started:
            await caller.client.close()


# ------------------------------------------------------------------ the walk


@dataclass
class Route:
    method: str
    pattern: str
    parameters: list[str]

    def paths(self, seeded: Seeded) -> Iterator[tuple[str, bool]]:
        """(path, whether every parameter has its existing value), that path first."""
        existing = {name: seeded.existing(self.pattern, name) for name in self.parameters}
        yield self.fill(existing), True
        for name in self.parameters:
            for value in ABSURD_PATH_VALUES:
                yield self.fill({**existing, name: value}), False

    def fill(self, values: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe="%"), self.pattern)


def routes_of(app: web.Application) -> list[Route]:
    """Every route but HEAD (GET's twin) and the static files; /logout last."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        pattern = info.get("path") or info.get("formatter")  # static files have a prefix
        if route.method != "HEAD" and pattern is not None:
            found.append(Route(route.method, pattern, re.findall(r"\{(\w+)\}", pattern)))
    return sorted(found, key=lambda r: (r.pattern == "/logout", r.pattern, r.method))


class TracebackCollector(logging.Handler):
    """The tracebacks aiohttp logs for the requests it answered 500, to name the cause."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            self.tracebacks.append("".join(traceback.format_exception(*record.exc_info)))


PROJECT_FRAME = re.compile(r'File "[^"]*/(?:bot|storage|matching)/[^"]*", line \d+, in \w+')


def cause_of(logged: str) -> str:
    """The exception of a logged traceback, and the project's deepest line in it."""
    frames = PROJECT_FRAME.findall(logged)
    where = frames[-1].removeprefix("File ") if frames else "outside the project"
    return f"{logged.rstrip().splitlines()[-1][:200]} (at {where})"


@dataclass
class Walk:
    seeded: Seeded
    tracebacks: list[str]
    requests: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)
    """Requests answered 500 or more, by cause (the exception and the project's line)."""
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(role, status) → how many: shows that the walk got past the sign-in and CSRF checks."""
    other_methods_swept: set[tuple[str, bool]] = field(default_factory=set)

    def check(
        self, caller: Caller, method: str, path: str, what: str, status: int, logged: int
    ) -> None:
        """Count a request, and record it if it failed. `logged`: tracebacks before it."""
        self.requests += 1
        self.answers[caller.role, status] += 1
        if status < 500:
            return
        new = self.tracebacks[logged:]
        cause = cause_of(new[-1]) if new else f"{status} without a traceback"
        self.failures.setdefault(cause, []).append(f"{caller.role} {method} {path[:100]} [{what}]")

    async def send(
        self, caller: Caller, method: str, path: str, what: str, body: Body | None = None
    ) -> bool:
        """Send one request; True when it set a cookie (so it may have signed out)."""
        headers = dict(caller.headers)
        if caller.role == "api" and path.startswith("/metrics"):
            headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
        data = None
        if body is not None:
            if body.content_type is not None:
                headers["Content-Type"] = body.content_type
            if body.token_in_header:
                headers["X-CSRF-Token"] = caller.token
            if body.data is not None:
                data = io.BytesIO(body.data)  # bytes over 1 MB make aiohttp warn
        logged = len(self.tracebacks)
        async with caller.client.request(
            method, path, headers=headers, data=data, allow_redirects=False
        ) as response:
            await response.read()
        self.check(caller, method, path, what, response.status, logged)
        return "Set-Cookie" in response.headers

    async def raw(self, caller: Caller, method: str, path: str, what: str, header: bytes) -> int:
        """A request written by hand with `header`, and the role's cookies and token; its
        status."""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: walk", b"Connection: close"]
        cookies = "; ".join(f"{c.key}={c.value}" for c in caller.client.session.cookie_jar)
        if cookies and not header.startswith(b"Cookie:"):
            lines.append(f"Cookie: {cookies}".encode())
        if not header.startswith(b"X-CSRF-Token:"):
            lines.append(f"X-CSRF-Token: {caller.token}".encode())
        if not header.startswith(b"Content-Type:"):
            lines.append(f"Content-Type: {URLENCODED}".encode())
        body = form(caller.token, ["name"], "a")
        lines += [header, f"Content-Length: {len(body)}".encode(), b"", body]
        logged = len(self.tracebacks)
        server = caller.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(b"\r\n".join(lines))
            status_line = await reader.readline()
            await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
        status = int(status_line.split()[1])
        self.check(caller, method, path, what, status, logged)
        return status

    async def route(self, caller: Caller, route: Route) -> None:
        for path, existing in route.paths(self.seeded):
            if route.method == "GET":
                for what, query in queries() if existing else queries()[:1]:
                    await self.send(caller, "GET", f"{path}?{query}" if query else path, what)
                await self.send(caller, "HEAD", path, "HEAD")
            else:
                every = existing and caller.reaches_handlers(route.pattern)
                chosen = bodies(caller.token) if every else bodies(caller.token)[:3]
                for body in [*chosen, *(bodies_without_token() if existing else [])]:
                    if await self.send(caller, route.method, path, body.what, body):
                        await caller.still_signed_in()
            await self.other_methods(caller, route, path)
            if existing:
                for what, header in RAW_HEADERS:
                    await self.raw(caller, route.method, path, what, header)
                await caller.still_signed_in()

    async def other_methods(self, caller: Caller, route: Route, path: str) -> None:
        """PUT and DELETE, which no route has: every body once per role, on the API and
        off it (the middlewares treat them alike on every other path), then no body."""
        sweep = (caller.role, path.startswith(API_PREFIX))
        chosen = bodies(caller.token) if sweep not in self.other_methods_swept else []
        self.other_methods_swept.add(sweep)
        for method in ("PUT", "DELETE"):
            for body in [Body("no body", None, None, token_in_header=True), *chosen]:
                await self.send(caller, method, path, body.what, body)


@pytest.fixture
def tracebacks() -> Iterator[list[str]]:
    collector = TracebackCollector()
    logger = logging.getLogger("aiohttp.server")
    logger.addHandler(collector)
    try:
        yield collector.tracebacks
    finally:
        logger.removeHandler(collector)


@pytest.mark.slow
async def test_no_request_gets_a_500(
    callers: list[Caller], seeded: Seeded, tracebacks: list[str]
) -> None:
    walk = Walk(seeded, tracebacks)
    app = callers[0].client.server.app
    assert app is not None
    routes = routes_of(app)
    started = time.perf_counter()
    for caller in callers:
        for route in routes:
            if caller.walks(route.pattern):
                await walk.route(caller, route)
    seconds = time.perf_counter() - started
    again = ", ".join(f"{c.role} signed in again {c.sign_ins - 1}×" for c in callers if c.signs_in)
    print(
        f"\nthe walk: {walk.requests} requests on {len(routes)} routes in {seconds:.1f} s ({again})"
    )
    for caller in callers:
        answers = sorted(
            (status, n) for (role, status), n in walk.answers.items() if role == caller.role
        )
        print(f"  {caller.role}: " + ", ".join(f"{n} × {status}" for status, n in answers))
    assert walk.requests > MIN_REQUESTS
    assert not walk.failures, "\n".join(
        f"{len(requests)} × {cause}\n    " + "\n    ".join(requests[:5])
        for cause, requests in walk.failures.items()
    )


ALONE = {
    "X-CSRF-Token not UTF-8": dict(RAW_HEADERS)["X-CSRF-Token not UTF-8"],
    "cookie not UTF-8": dict(RAW_HEADERS)["cookie not UTF-8"],
    "unknown charset": f"Content-Type: {URLENCODED}; charset=nope".encode(),
}
"""Inputs that once answered 500 (aiohttp-session and the CSRF check encoded bytes that are
not UTF-8; an unknown charset raised LookupError), each sent alone."""


@pytest.mark.parametrize("what", sorted(ALONE))
async def test_malformed_headers_alone(
    sessions: async_sessionmaker[AsyncSession],
    seeded: Seeded,
    tracebacks: list[str],
    what: str,
) -> None:
    caller = await start_caller(sessions, seeded, "anonymous")
    try:
        status = await Walk(seeded, tracebacks).raw(caller, "POST", "/login", what, ALONE[what])
    finally:
        await caller.client.close()
    assert 400 <= status < 500


async def test_ending_the_sessions_of_an_unknown_account_answers_at_once(
    database_url: str, seeded: Seeded
) -> None:
    """The staff page is read after the transaction: with one connection (as on SQLite) and
    the pool's wait cut to one second, it does not wait for the connection it holds."""
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=1)
    caller = await start_caller(create_sessionmaker(engine), seeded, "admin")
    try:
        response = await caller.client.post(
            "/staff/999999/sessions/end", data={CSRF_FIELD: caller.token}, allow_redirects=False
        )
        body = await response.text()
    finally:
        await caller.client.close()
        await engine.dispose()
    assert response.status == 404 and "There is no such account" in body
