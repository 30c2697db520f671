"""The read-only JSON API: bearer tokens, filters, pages, errors, and the OpenAPI document.

Every response the tests receive from a documented route is validated against the
document the API serves (openapi-core), and so is every request answered 200.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import InvalidData, MissingRequiredHeader
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.api.openapi import openapi_document
from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from bot.text.proposal_data import COLUMNS
from storage.api_tokens import (
    ApiTokenExists,
    authenticate_api_token,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from storage.assignment import assign
from storage.database import create_sessionmaker
from storage.models import Initiative, Proposal
from storage.proposals import NewMatch
from storage.staff import add_staff, staff_by_email
from storage.workflow import review
from tests.factories import make_citizen, make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

SECRET = b"a" * 32
STAFF = ("api@example.brussels", "a long enough passphrase")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DOCUMENT = openapi_document()
SPEC = OpenAPI.from_dict(DOCUMENT)
P1, P2, P3, TEST = (f"BXL-2026-0000{n}" for n in range(1, 5))


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """A test client that checks each answer of a documented route against the document."""

    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client = client
        self.token = token

    async def call(
        self,
        path: str,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        *,
        method: str = "GET",
        token: str | None = "",
        headers: dict[str, str] | None = None,
        documented: bool = True,
    ) -> Answer:
        """`token` "" uses the fixture's token, None sends no Authorization header."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token or self.token}"
        response = await self.client.request(method, path, params=params, headers=sent)
        data = await response.read()
        answer = Answer(response.status, json.loads(data), dict(response.headers))
        assert response.content_type == "application/json"
        request = MockRequest(
            "http://localhost", method, path, args=dict(params or []), headers=sent
        )
        if documented:
            SPEC.validate_response(
                request,
                MockResponse(
                    data,
                    status_code=response.status,
                    headers=answer.headers,
                    content_type=response.content_type,
                ),
            )
            if response.status == 200:
                SPEC.validate_request(request)
        else:
            OAS31Validator(DOCUMENT["components"]["schemas"]["Error"]).validate(answer.body)
        return answer

    async def references(self, params: dict[str, str] | None = None) -> list[str]:
        answer = await self.call("/api/v1/proposals", params)
        assert answer.status == 200, answer.body
        return [item["reference"] for item in answer.body["items"]]


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def _fill(sessions: async_sessionmaker[AsyncSession]) -> None:
    """P1 (fr, Ixelles, shares contacts), P2 (nl, Schaerbeek, keeps them; reviewed, with
    matches), P3 (en, whole region, accepted; after midnight in Brussels), a test one."""
    async with sessions() as session, session.begin():
        await add_staff(session, STAFF[0], hash_password(STAFF[1]), "reviewer", "fr")
        citizen = await make_citizen(session, 7001, "fr")
        contact: dict[str, Any] = {
            "contact_name": "Zoé Peeters",
            "contact_email": "zoe@example.be",
            "contact_phone": "+32470123456",
            "latitude": 50.83,
            "longitude": 4.37,
            "consent_contact": True,
        }
        p1 = await make_proposal(
            session,
            citizen,
            now=datetime(2026, 3, 1, 10, tzinfo=UTC),
            language="fr",
            title="Potager collectif « Été »",
            description="Un potager partagé derrière l'école.",
            carrier="association",
            commune_refnis="21009",
            themes=["food"],
            budget_cents=100_000,
            call_id="ixelles_main_a_la_pate",
            consent_share=True,
            **contact,
        )
        initiative = Initiative(
            external_id="i-compost", name="Compost & Co", themes=["food"], url="https://x.be"
        )
        session.add(initiative)
        await session.flush()
        p2 = await make_proposal(
            session,
            citizen,
            now=datetime(2026, 3, 10, 9, tzinfo=UTC),
            matches=[
                NewMatch(0.8123, ["same_commune", "shared_themes:food"], initiative.id),
                NewMatch(0.41, ["similar_words:tuin"], other_proposal_id=p1.id),
            ],
            language="nl",
            title="Samentuin in de wijk",
            description="Een gedeelde moestuin met compost.",
            carrier="citizen_group",
            partners=["school"],
            commune_refnis="21015",
            themes=["food", "nature"],
            budget_cents=250_050,
            call_id="inspirons_projet",
            similar={"choice": "connect", "kind": "initiative", "name": "Compost & Co"},
            consent_share=False,
            **contact,
        )
        await review(
            session,
            p2,
            actor=STAFF[0],
            to_status="in_review",
            answer="Bedankt, we bekijken het.",
            note="Voir avec la commune",
            now=datetime(2026, 3, 11, 9, tzinfo=UTC),
        )
        p2.taken_by = "Ana"
        p2.taken_at = datetime(2026, 3, 11, 8, tzinfo=UTC)
        p3 = await make_proposal(
            session,
            citizen,
            # 01:30 on 3 April in Brussels.
            now=datetime(2026, 4, 2, 23, 30, tzinfo=UTC),
            language="en",
            title="Repair café",
            description="Fix things together, every month.",
            carrier="other",
            region_wide=True,
            themes=["zero_waste"],
        )
        p3.status = "accepted"
        await make_proposal(
            session,
            citizen,
            now=datetime(2026, 4, 5, 12, tzinfo=UTC),
            language="fr",
            title="Essai du personnel",
            description="Un test.",
            carrier="other",
            is_test=True,
        )


@pytest.fixture
async def client(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[TestClient[Any, Any]]:
    await _fill(sessions)
    app = create_app(sessions, secret_key=SECRET, default_language="fr")
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture
async def api(client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession]) -> Api:
    async with sessions() as session, session.begin():
        token = await create_api_token(session, "dashboard")
    return Api(client, token)


ROUTES = ["/api/v1/proposals", f"/api/v1/proposals/{P1}", "/api/v1/openapi.json"]


# ------------------------------------------------------------------ the document


async def test_the_document_is_valid_and_describes_exactly_the_api_routes(
    api: Api, client: TestClient[Any, Any]
) -> None:
    answer = await api.call("/api/v1/openapi.json")
    assert answer.status == 200
    validate_spec(answer.body)
    assert answer.body == DOCUMENT
    routes = {
        resource.canonical
        for resource in client.app.router.resources()
        if resource.canonical.startswith("/api/")
    }
    assert routes == set(DOCUMENT["paths"])
    for path_item in DOCUMENT["paths"].values():
        assert set(path_item) <= {"get", "parameters"}
    schemas = DOCUMENT["components"]["schemas"]
    assert list(schemas["Proposal"]["properties"]) == list(COLUMNS)


WRONG_RESPONSES: dict[str, Any] = {
    "missing field": lambda body: body.pop("reference"),
    "undocumented field": lambda body: body.update(secret="x"),
    "unknown status": lambda body: body.update(status="lost"),
    "wrong type": lambda body: body.update(budget_eur="2500"),
    "nested field": lambda body: body["events"][0].pop("internal"),
    "out of range": lambda body: body["matches"][0].update(score=7),
}


async def test_the_validator_rejects_a_wrong_response(api: Api) -> None:
    answer = await api.call(f"/api/v1/proposals/{P2}")
    request = MockRequest("http://localhost", "GET", f"/api/v1/proposals/{P2}")

    def check(body: Any) -> None:
        SPEC.validate_response(request, MockResponse(json.dumps(body).encode()))

    check(answer.body)  # the real one passes
    for case, mutate in WRONG_RESPONSES.items():
        wrong = copy.deepcopy(answer.body)
        mutate(wrong)
        with pytest.raises(InvalidData):
            check(wrong)
            pytest.fail(f"{case}: accepted")


def test_the_validator_rejects_undocumented_statuses_and_missing_headers() -> None:
    request = MockRequest("http://localhost", "GET", "/api/v1/proposals")
    error = json.dumps({"error": "x", "message": "y"}).encode()
    SPEC.validate_response(request, MockResponse(error, 401, headers={"WWW-Authenticate": "B"}))
    with pytest.raises(MissingRequiredHeader):
        SPEC.validate_response(request, MockResponse(error, 401))
    with pytest.raises(ResponseNotFound):
        SPEC.validate_response(request, MockResponse(error, 418))


# ------------------------------------------------------------------ tokens


async def test_a_missing_token_is_refused(api: Api) -> None:
    for path in ROUTES:
        for authorization in (None, "", "Bearer", "Bearer   ", "Basic ZGFzaDpib2FyZA==", "x"):
            headers: dict[str, str] = {}
            if authorization is not None:
                headers["Authorization"] = authorization
            answer = await api.call(path, token=None, headers=headers)
            assert answer.status == 401, (path, authorization)
            assert answer.body["error"] == "unauthorized"
            assert answer.headers["WWW-Authenticate"] == 'Bearer realm="intake"'


async def test_a_wrong_or_revoked_token_is_refused(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    wrong_token = api.token[:-1] + ("A" if api.token[-1] != "A" else "B")
    for path in ROUTES:
        wrong = await api.call(path, token=wrong_token)
        assert wrong.status == 401 and wrong.body["error"] == "invalid_token", path
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert (await api.call(path)).status == 200
    async with sessions() as session, session.begin():
        await revoke_api_token(session, "dashboard")
    for path in ROUTES:
        revoked = await api.call(path)
        assert revoked.status == 401 and revoked.body["error"] == "invalid_token", path


async def test_a_signed_in_session_is_not_a_token(api: Api, client: TestClient[Any, Any]) -> None:
    login = await (await client.get("/login")).text()
    csrf = CSRF_RE.search(login)
    assert csrf
    signed_in = await client.post(
        "/login",
        data={"email": STAFF[0], "password": STAFF[1], "csrf_token": csrf.group(1)},
        allow_redirects=False,
    )
    assert signed_in.status == 303
    assert (await client.get("/proposals")).status == 200
    answer = await api.call("/api/v1/proposals", token=None)
    assert answer.status == 401


async def test_the_api_is_read_only(api: Api) -> None:
    for path, method in itertools.product(ROUTES, ("POST", "PUT", "PATCH", "DELETE")):
        refused = await api.call(path, method=method, documented=False)
        assert refused.status == 405, (path, method, refused.body)
        assert refused.body["error"] == "method_not_allowed"
        assert "GET" in refused.headers["Allow"]
        anonymous = await api.call(path, method=method, token=None, documented=False)
        assert anonymous.status == 401


async def test_an_unknown_api_route_is_a_json_404(api: Api) -> None:
    answer = await api.call("/api/v1/nowhere", documented=False)
    assert answer.status == 404 and answer.body["error"] == "not_found"


async def test_token_storage(pg_or_sqlite: AsyncEngine) -> None:
    sessions = create_sessionmaker(pg_or_sqlite)
    start = datetime(2026, 5, 1, 12, tzinfo=UTC)
    async with sessions() as session, session.begin():
        token = await create_api_token(session, " metabase ")
        with pytest.raises(ApiTokenExists):
            await create_api_token(session, "metabase")
        with pytest.raises(ValueError):
            await create_api_token(session, "  ")
        assert len(token) >= 43 and token != await create_api_token(session, "other")
    async with sessions() as session, session.begin():
        stored = {t.name: t for t in await list_api_tokens(session)}
        assert list(stored) == ["metabase", "other"]
        assert token not in stored["metabase"].token_hash
        assert await authenticate_api_token(session, "not a token", now=start) is None
        used = await authenticate_api_token(session, token, now=start)
        assert used is not None and used.last_used_at == start
        # Not written again within the minute, then written.
        await authenticate_api_token(session, token, now=start + timedelta(seconds=59))
        assert used.last_used_at == start
        await authenticate_api_token(session, token, now=start + timedelta(seconds=61))
        assert used.last_used_at == start + timedelta(seconds=61)
        assert await revoke_api_token(session, "nobody") is None
        revoked = await revoke_api_token(session, "metabase", now=start)
        assert revoked is not None and revoked.revoked_at == start
        again = await revoke_api_token(session, "metabase", now=start + timedelta(days=1))
        assert again is not None and again.revoked_at == start
        assert await authenticate_api_token(session, token) is None
        with pytest.raises(ApiTokenExists):
            await create_api_token(session, "metabase")


# ------------------------------------------------------------------ the list


FILTERS: list[tuple[dict[str, str], list[str]]] = [
    ({}, [P3, P2, P1]),
    ({"tests": "1"}, [TEST, P3, P2, P1]),
    ({"tests": "0"}, [P3, P2, P1]),
    ({"status": "in_review"}, [P2]),
    ({"theme": "food"}, [P2, P1]),
    ({"commune": "21009"}, [P1]),
    ({"call": "inspirons_projet"}, [P2]),
    ({"language": "en"}, [P3]),
    ({"from": "2026-04-03"}, [P3]),
    ({"to": "2026-04-02"}, [P2, P1]),
    ({"from": "2026-03-02", "to": "2026-03-31"}, [P2]),
    ({"q": "SAMENTUIN"}, [P2]),
    ({"q": P1}, [P1]),
    ({"theme": "food", "commune": "21015"}, [P2]),
    ({"status": "rejected"}, []),
    ({"sort": "oldest"}, [P1, P2, P3]),
    ({"sort": "budget"}, [P2, P1, P3]),
    ({"sort": "reference", "tests": "1"}, [P1, P2, P3, TEST]),
]


async def test_filters_and_sort(api: Api) -> None:
    for params, expected in FILTERS:
        assert await api.references(params) == expected, params


async def test_pages(api: Api) -> None:
    first = await api.call("/api/v1/proposals", {"per_page": "2", "sort": "oldest"})
    assert first.status == 200
    assert {k: v for k, v in first.body.items() if k != "items"} == {
        "total": 3,
        "page": 1,
        "pages": 2,
        "per_page": 2,
    }
    assert [i["reference"] for i in first.body["items"]] == [P1, P2]
    second = await api.call("/api/v1/proposals", {"per_page": "2", "sort": "oldest", "page": "2"})
    assert [i["reference"] for i in second.body["items"]] == [P3]
    beyond = await api.call("/api/v1/proposals", {"per_page": "2", "page": "3"})
    assert beyond.status == 200 and beyond.body["items"] == [] and beyond.body["total"] == 3
    largest = await api.call("/api/v1/proposals", {"per_page": "200"})
    assert largest.body["per_page"] == 200 and largest.body["pages"] == 1
    empty = await api.call("/api/v1/proposals", {"status": "withdrawn"})
    assert empty.body == {"items": [], "total": 0, "page": 1, "pages": 1, "per_page": 50}


BAD_PARAMETERS: list[tuple[dict[str, str] | list[tuple[str, str]], str]] = [
    ({"status": "lost"}, "status"),
    ({"theme": "gardening"}, "theme"),
    ({"commune": "1050"}, "commune"),
    ({"call": "nope"}, "call"),
    ({"language": "de"}, "language"),
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"q": "x" * 201}, "q"),
    ({"tests": "yes"}, "tests"),
    ({"sort": "random"}, "sort"),
    ({"page": "0"}, "page"),
    ({"page": "two"}, "page"),
    ({"page": "+2"}, "page"),
    ({"per_page": "201"}, "per_page"),
    ({"per_page": "0"}, "per_page"),
    ({"statut": "accepted"}, "statut"),
    ({"status": ""}, "status"),
    ({"theme": "food", "lang": "nl"}, "lang"),
    ([("status", "accepted"), ("status", "rejected")], "status"),
]


async def test_a_bad_parameter_is_a_400_naming_it(api: Api) -> None:
    for params, parameter in BAD_PARAMETERS:
        answer = await api.call("/api/v1/proposals", params)
        assert answer.status == 400, (params, answer.body)
        assert answer.body["error"] == "bad_parameter"
        assert answer.body["parameter"] == parameter, params
        assert parameter in answer.body["message"]


# ------------------------------------------------------------------ the data


async def test_list_items_are_the_export_records_with_contacts_only_when_shared(
    api: Api,
) -> None:
    answer = await api.call("/api/v1/proposals", {"sort": "reference"})
    first, second, third = answer.body["items"]
    assert list(first) == list(COLUMNS)
    assert first["title"] == "Potager collectif « Été »"
    assert first["commune"] == "Ixelles" and first["budget_eur"] == 1000.0
    assert first["submitted_at"] == "2026-03-01T11:00:00+01:00"
    assert (first["contact_name"], first["contact_email"], first["contact_phone"]) == (
        "Zoé Peeters",
        "zoe@example.be",
        "+32470123456",
    )
    assert (first["latitude"], first["longitude"]) == (50.83, 4.37)
    assert second["consent_contact"] is True and second["consent_share"] is False
    for field in ("contact_name", "contact_email", "contact_phone", "latitude", "longitude"):
        assert second[field] is None
    assert third["region_wide"] is True and third["commune"] is None
    assert third["budget_eur"] is None


async def test_one_proposal_with_its_matches_and_history(api: Api) -> None:
    answer = await api.call(f"/api/v1/proposals/{P2}")
    assert answer.status == 200
    body = answer.body
    assert body["reference"] == P2 and body["status"] == "in_review"
    assert body["contact_email"] is None and body["consent_share"] is False
    assert body["similar_choice"] == "connect" and body["partners"] == ["school"]
    assert body["taken_by"] == "Ana" and body["taken_at"] == "2026-03-11T09:00:00+01:00"
    initiative, other = body["matches"]
    assert initiative["kind"] == "initiative" and initiative["rank"] == 1
    assert initiative["score"] == pytest.approx(0.8123)
    assert (initiative["initiative_id"], initiative["url"]) == ("i-compost", "https://x.be")
    assert initiative["reasons"] == ["same_commune", "shared_themes:food"]
    assert initiative["reasons_text"][0] == "même commune"
    assert other == {
        "rank": 2,
        "score": pytest.approx(0.41),
        "kind": "proposal",
        "name": "Potager collectif « Été »",
        "initiative_id": None,
        "reference": P1,
        "url": None,
        "reasons": ["similar_words:tuin"],
        "reasons_text": [other["reasons_text"][0]],
    }
    assert [(e["kind"], e["to_status"], e["internal"]) for e in body["events"]] == [
        ("status", "submitted", False),
        ("status", "in_review", False),
        ("answer", None, False),
        ("note", None, True),
    ]
    _submitted, status, answered, note = body["events"]
    assert (status["from_status"], status["to_status"]) == ("submitted", "in_review")
    assert answered["text"] == "Bedankt, we bekijken het." and answered["actor"] == STAFF[0]
    assert note["text"] == "Voir avec la commune"
    assert note["at"] == "2026-03-11T10:00:00+01:00"
    shared = await api.call(f"/api/v1/proposals/{P1}")
    assert shared.body["contact_email"] == "zoe@example.be"
    assert [e["to_status"] for e in shared.body["events"]] == ["submitted"]
    assert shared.body["matches"] == []
    test = await api.call(f"/api/v1/proposals/{TEST}")
    assert test.status == 200 and test.body["is_test"] is True


async def test_names_follow_accept_language(api: Api) -> None:
    answer = await api.call(f"/api/v1/proposals/{P1}", headers={"Accept-Language": "nl-BE"})
    assert answer.body["commune"] == "Elsene"


async def test_an_unknown_reference_is_a_json_404(api: Api) -> None:
    answer = await api.call("/api/v1/proposals/BXL-2026-99999")
    assert answer.status == 404 and answer.body["error"] == "not_found"


async def test_a_change_in_the_database_shows_at_once(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        proposal = await session.get(Proposal, 1)
        assert proposal is not None
        proposal.status = "rejected"
    assert await api.references({"status": "rejected"}) == [P1]


async def test_taken_by_reports_the_assignee(
    api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """`taken_by` is kept for the API's clients: it names whoever the proposal is assigned
    to (the legacy name of the staff group's "take it" only until an assignment)."""
    async with sessions() as session, session.begin():
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == P2))
        ).scalar_one()
        me = await staff_by_email(session, STAFF[0])
        moment = datetime(2026, 3, 12, 9, tzinfo=UTC)
        await assign(session, proposal, me, actor=STAFF[0], expected=None, now=moment)
    body = (await api.call(f"/api/v1/proposals/{P2}")).body
    assert body["taken_by"] == STAFF[0] and body["taken_at"] == "2026-03-12T10:00:00+01:00"
