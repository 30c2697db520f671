"""The proposal page's "Duplicate" section (issue 14 §6): mark the proposal as a duplicate
of another one, or unmark it; on an original, its duplicates and the requests to join it.

Marking goes through bot.services.duplicates (the citizen of the duplicate is told);
storage.duplicates says why a marking is refused, and the page says it in the staff
member's language, after a redirect to the proposal page (as the assignment's conflict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.common import error_page, translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.services.duplicates import mark_as_duplicate
from bot.text.i18n import N_, Translator
from storage.duplicates import (
    ASKED_TO_JOIN,
    DUPLICATE_GONE,
    HAS_DUPLICATE,
    JOIN_REQUESTED,
    MARKED,
    UNMARKED,
    DuplicateError,
    duplicates_of,
    original_of,
    unmark_duplicate,
)
from storage.models import Proposal
from storage.review import proposal_detail

EVENT_KINDS = {
    MARKED: N_("Marked as a duplicate of another proposal"),
    HAS_DUPLICATE: N_("Another proposal was marked as a duplicate of this one"),
    UNMARKED: N_("No longer marked as a duplicate"),
    DUPLICATE_GONE: N_("A proposal is no longer marked as a duplicate of this one"),
    ASKED_TO_JOIN: N_("The citizen asked to join the original proposal"),
    JOIN_REQUESTED: N_("The citizen of a duplicate asked to join this proposal"),
}
"""The history's labels of the duplicates' events (their text is the other reference)."""
ERRORS = {
    "empty": N_("Type the reference of the original proposal, or choose a similar proposal."),
    "itself": N_("A proposal cannot be a duplicate of itself."),
    "unknown": N_("There is no proposal with the reference “%(reference)s”."),
    "already": N_("This proposal is already a duplicate of %(reference)s."),
    "cycle": N_(
        "%(reference)s is itself marked as a duplicate of this proposal: nothing was changed."
    ),
    "original_is_duplicate": N_(
        "That proposal is itself a duplicate of %(reference)s: mark this one as a duplicate "
        "of %(reference)s instead."
    ),
    "has_duplicates": N_(
        "Other proposals are marked as duplicates of this one (%(reference)s): it cannot "
        "become a duplicate itself. Unmark them first."
    ),
    "not_duplicate": N_("This proposal is no longer marked as a duplicate."),
}
"""What each refusal (storage.duplicates.DuplicateError's code) says to staff."""
DONE = {
    "marked": N_("Marked as a duplicate. The citizen is told on Telegram, in their language."),
    "marked_unreachable": N_(
        "Marked as a duplicate. The citizen's personal data was erased: nobody was told."
    ),
    "unmarked": N_("No longer marked as a duplicate: the proposal is back with the open ones."),
}
REFERENCE_LENGTH = 40


def _link(proposal: Proposal) -> dict[str, str]:
    return {
        "reference": proposal.reference,
        "title": proposal.title,
        "url": "/proposals/" + proposal.reference,
    }


def _feedback(t: Translator, query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The error or the confirmation the redirect after a form names (`?duplicate=`)."""
    code = query.get("duplicate", "")
    if code in DONE:
        return None, t.gettext(DONE[code])
    if code in ERRORS:
        other = query.get("other", "")[: REFERENCE_LENGTH * 4]
        return t.gettext(ERRORS[code]) % {"reference": other}, None
    return None, None


def _when_asked(t: Translator, proposal: Proposal, kind: str) -> dict[str, str]:
    """When each proposal named by `kind` events (by reference) asked to join, first time."""
    asked: dict[str, str] = {}
    for event in proposal.events:
        if event.kind == kind and event.text and event.text not in asked:
            asked[event.text] = t.datetime(event.created_at)
    return asked


async def duplicate_context(
    request: web.Request, db: AsyncSession, proposal: Proposal
) -> dict[str, Any]:
    """What the proposal page needs to show the "Duplicate" section; `proposal` comes
    with its events and matches (storage.review.proposal_detail)."""
    t = translator(request)
    error, done = _feedback(t, request.query)
    original = await original_of(db, proposal)
    duplicates = await duplicates_of(db, proposal.id) if original is None else []
    requested = _when_asked(t, proposal, JOIN_REQUESTED)
    choices = [
        _link(match.other_proposal)
        for match in proposal.matches
        if match.other_proposal is not None and match.other_proposal.id != proposal.id
    ]
    return {
        "duplicate": {
            "error": error,
            "done": done,
            "original": _link(original) if original else None,
            "asked": (
                _when_asked(t, proposal, ASKED_TO_JOIN).get(original.reference)
                if original
                else None
            ),
            "duplicates": [{**_link(d), "asked": requested.get(d.reference)} for d in duplicates],
            "join_requests": bool(requested),
            "choices": choices,
            "reference_length": REFERENCE_LENGTH,
        }
    }


def _back(reference: str, outcome: str, *others: str) -> web.HTTPSeeOther:
    query = f"?duplicate={outcome}"
    if others:
        query += "&" + urlencode({"other": ", ".join(others)})
    return web.HTTPSeeOther(f"/proposals/{reference}{query}#duplicate")


async def mark(request: web.Request) -> web.StreamResponse:
    """Mark the proposal as a duplicate of the one typed (`reference`) or chosen among
    its similar proposals (`choice`), and tell its citizen."""
    reference = request.match_info["reference"]
    form = await request.post()
    wanted = str(form.get("choice") or form.get("reference") or "").strip()[:REFERENCE_LENGTH]
    if not wanted:
        raise _back(reference, "empty")
    async with request.app[SESSIONMAKER]() as db, db.begin():
        proposal = await proposal_detail(db, reference)
        if proposal is None:
            return await error_page(request, 404, N_("There is no proposal with this reference."))
        try:
            await mark_as_duplicate(db, proposal, wanted, actor=request[STAFF].email)
        except DuplicateError as error:
            refused: DuplicateError | None = error
        else:
            refused = None
        reachable = proposal.citizen_id is not None
    # Redirect once the transaction is over (an exception inside would roll it back).
    if refused is not None:
        raise _back(reference, refused.code, *refused.references)
    raise _back(reference, "marked" if reachable else "marked_unreachable")


async def unmark(request: web.Request) -> web.StreamResponse:
    """The proposal is not a duplicate after all: it goes back to the open ones."""
    reference = request.match_info["reference"]
    async with request.app[SESSIONMAKER]() as db, db.begin():
        proposal = await proposal_detail(db, reference)
        if proposal is None:
            return await error_page(request, 404, N_("There is no proposal with this reference."))
        try:
            await unmark_duplicate(db, proposal, actor=request[STAFF].email)
        except DuplicateError as error:
            refused: DuplicateError | None = error
        else:
            refused = None
    if refused is not None:
        raise _back(reference, refused.code)
    raise _back(reference, "unmarked")


def add_duplicate_routes(app: web.Application) -> None:
    app.router.add_post("/proposals/{reference}/duplicate", mark, name="duplicate")
    app.router.add_post("/proposals/{reference}/duplicate/unmark", unmark, name="unmark_duplicate")
