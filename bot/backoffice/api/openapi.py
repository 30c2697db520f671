"""The OpenAPI 3.1 document of the JSON API (served at /api/v1/openapi.json).

It is built from the values the API itself checks (statuses, themes, communes, calls,
languages, sorts) and the export columns, so it follows the data files staff edit. It is
documentation for developers, in English, and so not translated.
"""

from __future__ import annotations

from typing import Any

from bot.text.i18n import LANGUAGES
from matching.calls import all_calls
from matching.communes import all_communes
from matching.themes import theme_ids
from storage.review import SORTS, STATUSES

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50
QUERY_LIMIT = 200
"""The proposals page keeps the first 200 characters of `q`; the API refuses longer."""


def parameter_choices() -> dict[str, tuple[str, ...]]:
    """The accepted values of each list parameter that takes one of a few values."""
    return {
        "status": STATUSES,
        "theme": theme_ids(),
        "commune": tuple(c.refnis for c in all_communes()),
        "call": tuple(sorted(all_calls())),
        "language": tuple(LANGUAGES),
        "sort": SORTS,
        "tests": ("0", "1"),
    }


def _nullable(kind: str, description: str = "", **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [kind, "null"], **extra}
    if description:
        schema["description"] = description
    return schema


_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_TIME = {"type": "string", "format": "date-time"}
_ONLY_SHARED = "null unless the citizen agreed to share their contact details (consent_share)."


def _proposal_properties() -> dict[str, Any]:
    """The export record (`bot.text.proposal_data.proposal_record`): a schema per column, in
    order."""
    properties: dict[str, Any] = {
        "reference": {**_STRING, "examples": ["BXL-2026-00042"]},
        "status": {"type": "string", "enum": list(STATUSES)},
        "submitted_at": {**_TIME, "description": "Europe/Brussels time, with its offset."},
        "language": {
            "type": "string",
            "enum": list(LANGUAGES),
            "description": "The language the citizen spoke with the bot.",
        },
        "title": _STRING,
        "description": _STRING,
        "commune_refnis": _nullable("string", "REFNIS code of the commune."),
        "commune": _nullable(
            "string", "Name of the commune, in the language of Accept-Language (else French)."
        ),
        "region_wide": {"type": "boolean"},
        "carrier": {**_STRING, "description": "Who carries the project (an actor kind)."},
        "carrier_other": _nullable("string", "The citizen's words when the carrier is other."),
        "partners": _STRINGS,
        "partners_other": _nullable("string", "The citizen's words when other is a partner."),
        "themes": {"type": "array", "items": {"type": "string", "enum": list(theme_ids())}},
        "budget_eur": _nullable("number", minimum=0),
        "call_id": _nullable("string"),
        "similar_choice": _nullable(
            "string",
            "connect (put me in touch), no_contact (close, but no contact wanted) or "
            "different, when similar ones were shown.",
        ),
        "similar_initiative": _nullable("string"),
        "contact_name": _nullable("string", _ONLY_SHARED),
        "contact_email": _nullable("string", _ONLY_SHARED),
        "contact_phone": _nullable("string", _ONLY_SHARED),
        "latitude": _nullable("number", _ONLY_SHARED),
        "longitude": _nullable("number", _ONLY_SHARED),
        "consent_contact": {"type": "boolean"},
        "consent_share": {"type": "boolean"},
        "is_test": {
            "type": "boolean",
            "description": "Made on the preview page by staff; listed only with tests=1.",
        },
    }
    return properties


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _schemas() -> dict[str, Any]:
    proposal = _proposal_properties()
    match = _object(
        {
            "rank": {"type": "integer", "minimum": 1},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "kind": {"type": "string", "enum": ["initiative", "proposal", "gone"]},
            "name": _nullable("string", "The initiative's name or the other proposal's title."),
            "initiative_id": _nullable("string", "The initiative's external id."),
            "reference": _nullable("string", "The other proposal's reference."),
            "url": _nullable("string", "The initiative's web address."),
            "reasons": {
                **_STRINGS,
                "description": "Codes such as same_commune or shared_concepts:compost.",
            },
            "reasons_text": {
                **_STRINGS,
                "description": "The same reasons in words, in the language of Accept-Language.",
            },
        },
        "A similar initiative or earlier proposal the matcher found.",
    )
    event = _object(
        {
            "at": _TIME,
            "actor": {**_STRING, "description": "A staff e-mail address, or citizen."},
            "kind": {
                **_STRING,
                "description": "status, answer (sent to the citizen), answer_cancelled (a bulk "
                "answer undone before it was sent), note (internal, never sent), reply (the "
                "citizen's), anonymised, or a later kind.",
            },
            "internal": {
                "type": "boolean",
                "description": "True for internal notes, evaluations and cancelled answers: "
                "staff-only, never shown to citizens.",
            },
            "from_status": _nullable("string"),
            "to_status": _nullable("string"),
            "text": _nullable("string"),
        },
        "One entry of the audit trail.",
    )
    detail = {
        **proposal,
        "updated_at": _TIME,
        "taken_by": _nullable(
            "string",
            "Who has the proposal: the e-mail address of the staff member it is assigned to "
            "(from the back-office, the staff group's “take it” or a rule). For a proposal "
            "taken in the staff group before staff accounts were linked to Telegram and not "
            "assigned since: the Telegram name kept then.",
        ),
        "taken_at": _nullable(
            "string", "When it was assigned (or taken, as above).", format="date-time"
        ),
        "anonymised_at": _nullable(
            "string", "When the citizen's data was erased.", format="date-time"
        ),
        "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
        "events": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Event"},
            "description": "The full history, oldest first, internal notes included.",
        },
    }
    return {
        "Proposal": _object(proposal, "A proposal, with the JSON export's fields."),
        "ProposalDetail": _object(detail, "A proposal with its matches and history."),
        "Match": match,
        "Event": event,
        "ProposalPage": _object(
            {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Proposal"}},
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "pages": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            },
            "One page of proposals; items is empty past the last page.",
        ),
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    **_STRING,
                    "description": "A code: unauthorized, invalid_token, bad_parameter, "
                    "not_found, method_not_allowed…",
                },
                "message": {**_STRING, "description": "In the language of Accept-Language."},
                "parameter": {**_STRING, "description": "The query parameter at fault."},
            },
            "required": ["error", "message"],
            "additionalProperties": False,
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _list_parameters() -> list[dict[str, Any]]:
    choices = parameter_choices()

    def one_of(name: str) -> dict[str, Any]:
        return {"type": "string", "enum": list(choices[name])}

    return [
        _query("status", one_of("status"), "Only proposals in this status."),
        _query("theme", one_of("theme"), "Only proposals with this theme."),
        _query("commune", one_of("commune"), "Only proposals in this commune (REFNIS code)."),
        _query("call", one_of("call"), "Only proposals aimed at this call."),
        _query("language", one_of("language"), "Only proposals made in this language."),
        _query(
            "from",
            {"type": "string", "format": "date"},
            "Submitted on or after this day (Europe/Brussels).",
        ),
        _query(
            "to",
            {"type": "string", "format": "date"},
            "Submitted on or before this day (Europe/Brussels).",
        ),
        _query(
            "q",
            {"type": "string", "minLength": 1, "maxLength": QUERY_LIMIT},
            "Words found in the title, the description or the reference (any case).",
        ),
        _query("tests", one_of("tests"), "1 also lists the proposals made on the preview page."),
        _query("sort", {**one_of("sort"), "default": "newest"}, "Order of the items."),
        _query("page", {"type": "integer", "minimum": 1, "default": 1}, "Page number."),
        _query(
            "per_page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
            "Items per page.",
        ),
    ]


def openapi_document() -> dict[str, Any]:
    unauthorized = {
        **_error("No token, an unknown token or a revoked one."),
        "headers": {
            "WWW-Authenticate": {
                "required": True,
                "schema": {"type": "string"},
                "description": 'Bearer, with error="invalid_token" for a wrong token.',
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Citizen intake back-office API",
            "version": "1.0.0",
            "description": (
                "Read-only access, for staff tools, to the proposals citizens made through the "
                "bot. Create a token with `intake api-token add NAME` and send it as "
                "`Authorization: Bearer <token>`; `intake api-token revoke NAME` stops it. "
                "Contact details and the location appear only for proposals whose citizen "
                "agreed to share them. A proposal's history includes internal notes "
                "(`internal: true`): they are staff-only, as everything here is. Any query "
                "parameter that is unknown, repeated, empty or has a bad value is refused "
                "with a 400 naming it. Only GET (and HEAD) is allowed."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v1/proposals": {
                "get": {
                    "operationId": "listProposals",
                    "summary": "Proposals, with the filters of the back-office list",
                    "description": "Proposals made on the preview page are left out unless "
                    "tests=1.",
                    "parameters": _list_parameters(),
                    "responses": {
                        "200": {
                            "description": "One page of proposals.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ProposalPage"}
                                }
                            },
                        },
                        "400": _error("A query parameter is unknown, repeated, empty or bad."),
                        "401": unauthorized,
                    },
                }
            },
            "/api/v1/proposals/{reference}": {
                "get": {
                    "operationId": "getProposal",
                    "summary": "One proposal, with its matches and its history",
                    "parameters": [
                        {
                            "name": "reference",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "example": "BXL-2026-00042",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The proposal.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ProposalDetail"}
                                }
                            },
                        },
                        "401": unauthorized,
                        "404": _error("There is no proposal with this reference."),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApiDocument",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "401": unauthorized,
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `intake api-token add NAME`.",
                }
            },
        },
    }
