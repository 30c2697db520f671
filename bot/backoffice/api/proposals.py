"""The read-only JSON API for staff tools, under /api/v1/ (described by openapi.py).

Every request carries `Authorization: Bearer <token>` (tokens from `intake api-token add`).
The session cookie plays no part here: nothing a browser sends on its own opens the API,
so it needs no CSRF token. Proposals are the JSON export's records (`bot.text.proposal_data`,
which keeps the rule on contact details); one proposal adds its matches and its whole
history, internal notes included and flagged (`internal`), since every reader is staff.
Errors are JSON too: `{"error": code, "message": ..., "parameter": ...}`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

from aiohttp import hdrs, web
from multidict import MultiMapping

from bot.backoffice.api.openapi import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    QUERY_LIMIT,
    openapi_document,
    parameter_choices,
)
from bot.backoffice.common import translator
from bot.backoffice.keys import SESSIONMAKER
from bot.backoffice.pages.proposals import Handler, parse_list_request
from bot.text.i18n import N_, Translator
from bot.text.proposal_data import proposal_record
from bot.text.wording import reason_text
from storage.api_tokens import authenticate_api_token
from storage.clock import BRUSSELS
from storage.models import Proposal, ProposalMatch
from storage.review import ProposalFilters, proposal_detail, search_proposals
from storage.staff import staff_by_id

API_PREFIX = "/api/v1/"
LIST_PARAMETERS = frozenset(
    {"status", "theme", "commune", "call", "language", "from", "to", "q", "tests", "sort"}
    | {"page", "per_page"}
)
REALM = 'Bearer realm="intake"'
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_HTTP_ERRORS = {
    404: ("not_found", N_("There is no such API route.")),
    405: ("method_not_allowed", N_("The API is read-only: only GET is allowed.")),
}


class ApiError(Exception):
    """An answer other than 200: a status, a code, and an English msgid with %(name)s."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        parameter: str | None = None,
        **values: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        self.values = values


_dumps = partial(json.dumps, ensure_ascii=False)


INTERNAL_EVENTS = ("note", "evaluated", "answer_cancelled")
"""Events staff-only by nature: internal notes, evaluations and answers cancelled before
they were sent (never shown to citizens)."""


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _error_response(
    request: web.Request, error: ApiError, headers: Mapping[str, str] | None = None
) -> web.Response:
    t = translator(request)
    body = {"error": error.code, "message": t.gettext(error.message) % error.values}
    if error.parameter is not None:
        body["parameter"] = error.parameter
    return _json(body, error.status, headers)


async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the bearer token, then answer; every error as JSON (the router's 404 and 405
    too). The back-office's auth middleware hands every /api/v1/ request to this."""
    scheme, _sep, supplied = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    supplied = supplied.strip()
    if scheme.lower() != "bearer" or not supplied:
        error = ApiError(
            401, "unauthorized", N_("An API token is needed: Authorization: Bearer <token>.")
        )
        return _error_response(request, error, {hdrs.WWW_AUTHENTICATE: REALM})
    token = None
    # Tokens are ASCII. Other bytes in the header (aiohttp keeps them as surrogates, which
    # cannot be encoded back for the hash) name no token.
    if supplied.isascii():
        async with request.app[SESSIONMAKER]() as db, db.begin():
            token = await authenticate_api_token(db, supplied)
    if token is None:
        error = ApiError(401, "invalid_token", N_("This API token is unknown or revoked."))
        challenge = REALM + ', error="invalid_token"'
        return _error_response(request, error, {hdrs.WWW_AUTHENTICATE: challenge})
    try:
        return await handler(request)
    except ApiError as error:
        return _error_response(request, error)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        code, message = _HTTP_ERRORS.get(http_error.status, ("error", http_error.reason))
        allow = {k: v for k, v in http_error.headers.items() if k == hdrs.ALLOW}
        return _error_response(request, ApiError(http_error.status, code, message), allow)


# ------------------------------------------------------------------ the list


def _bad(name: str, value: str, expected: str) -> ApiError:
    return ApiError(
        400,
        "bad_parameter",
        N_("“%(value)s” is not a valid value of “%(name)s”: %(expected)s."),
        name,
        value=value[:60],
        name=name,
        expected=expected,
    )


def _check_value(name: str, value: str, t: Translator) -> None:
    choices = parameter_choices()
    if name in choices:
        if value not in choices[name]:
            raise _bad(
                name, value, t.gettext("one of %(values)s") % {"values": ", ".join(choices[name])}
            )
    elif name in ("from", "to"):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _bad(name, value, t.gettext("a date written YYYY-MM-DD")) from None
    elif name == "q" and len(value) > QUERY_LIMIT:
        raise _bad(name, value, t.gettext("at most %(count)d characters") % {"count": QUERY_LIMIT})


def _whole_number(query: MultiMapping[str], name: str, default: int, highest: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if _WHOLE_NUMBER.fullmatch(value) and 1 <= int(value) <= highest:
        return int(value)
    raise ApiError(
        400,
        "bad_parameter",
        N_("“%(value)s” is not a valid value of “%(name)s”: a whole number from 1 to %(highest)s."),
        name,
        value=value[:60],
        name=name,
        highest=str(highest),
    )


def parse_api_query(
    query: MultiMapping[str], t: Translator
) -> tuple[ProposalFilters, str, int, int]:
    """Filters, sort, page and page size; ApiError (400) names the first bad parameter.

    The values are checked strictly here, then read by the proposals page's own parser,
    so the API filters exactly as the page does.
    """
    for name in query:
        if name not in LIST_PARAMETERS:
            raise ApiError(
                400, "bad_parameter", N_("There is no parameter “%(name)s”."), name, name=name
            )
        if len(query.getall(name)) > 1:
            raise ApiError(
                400, "bad_parameter", N_("“%(name)s” is given more than once."), name, name=name
            )
        if not query[name].strip():
            raise ApiError(400, "bad_parameter", N_("“%(name)s” is empty."), name, name=name)
        _check_value(name, query[name], t)
    page = _whole_number(query, "page", 1, 10**9)
    per_page = _whole_number(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    wanted = parse_list_request(query, t)
    return wanted.filters, wanted.sort, page, per_page


async def list_proposals(request: web.Request) -> web.Response:
    t = translator(request)
    filters, sort, page, per_page = parse_api_query(request.query, t)
    async with request.app[SESSIONMAKER]() as db:
        proposals, total = await search_proposals(
            db, filters, sort=sort, page=page, per_page=per_page
        )
    return _json(
        {
            "items": [proposal_record(p, t.language) for p in proposals],
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / per_page)),
            "per_page": per_page,
        }
    )


# ------------------------------------------------------------------ one proposal


def _time(moment: datetime | None) -> str | None:
    """As the exports write times: Europe/Brussels, with the offset."""
    return moment.astimezone(BRUSSELS).isoformat(timespec="seconds") if moment else None


def _match(match: ProposalMatch, t: Translator) -> dict[str, Any]:
    initiative, other = match.initiative, match.other_proposal
    if initiative is not None:
        kind, name = "initiative", initiative.name
    elif other is not None:
        kind, name = "proposal", other.title
    else:
        kind, name = "gone", None
    return {
        "rank": match.rank,
        "score": match.score,
        "kind": kind,
        "name": name,
        "initiative_id": initiative.external_id if initiative else None,
        "reference": other.reference if other else None,
        "url": initiative.url if initiative else None,
        "reasons": list(match.reasons),
        "reasons_text": [reason_text(t, code) for code in match.reasons],
    }


def proposal_json(proposal: Proposal, t: Translator, assignee: str | None = None) -> dict[str, Any]:
    """The export record, then what only one proposal's page shows (from `proposal_detail`).

    `taken_by` and `taken_at` (kept for the API's clients) say who has the proposal and
    since when: the assignee's e-mail address (`assignee`) and when it was assigned; for a
    proposal taken in the staff group before staff accounts were linked to Telegram and not
    assigned since, the name and time kept then."""
    return {
        **proposal_record(proposal, t.language),
        "updated_at": _time(proposal.updated_at),
        "taken_by": assignee or proposal.taken_by,
        "taken_at": _time(proposal.assigned_at if assignee else proposal.taken_at),
        "anonymised_at": _time(proposal.anonymised_at),
        "matches": [_match(match, t) for match in proposal.matches],
        "events": [
            {
                "at": _time(event.created_at),
                "actor": event.actor,
                "kind": event.kind,
                "internal": event.kind in INTERNAL_EVENTS,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "text": event.text,
            }
            for event in proposal.events
        ],
    }


async def get_proposal(request: web.Request) -> web.Response:
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        proposal = await proposal_detail(db, request.match_info["reference"])
        if proposal is None:
            raise ApiError(404, "not_found", N_("There is no proposal with this reference."))
        assignee = None
        if proposal.assignee_id is not None:
            staff = await staff_by_id(db, proposal.assignee_id)
            assignee = staff.email if staff is not None else None
        return _json(proposal_json(proposal, t, assignee))


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def add_api_routes(app: web.Application) -> None:
    """GET (and HEAD) only: the router answers 405 to anything else."""
    app.router.add_get(API_PREFIX + "proposals", list_proposals, name="api_proposals")
    app.router.add_get(API_PREFIX + "proposals/{reference}", get_proposal, name="api_proposal")
    app.router.add_get(API_PREFIX + "openapi.json", openapi, name="api_openapi")
