"""Bulk actions from the lists: assign, change the status, answer with a template or export
the ticked proposals, those of the page, or every proposal matching the list's filter; the
result page, with the undo button while the undo window lasts (bot.services.bulk).

The list's form works without JavaScript: each row's checkbox belongs to the form (HTML's
`form` attribute), and the form carries each shown row's reference with the assignee the
page showed (`shown`, "BXL-2026-00042=3"), so that an assignment made meanwhile by someone
else is a conflict, not overwritten. A change to a whole filter of more than
CONFIRM_ABOVE proposals asks for a confirmation first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.auth import safe_next
from bot.backoffice.common import error_page, render, translator
from bot.backoffice.keys import ANNOUNCER, SESSIONMAKER, STAFF
from bot.backoffice.pages.exports import export_selection
from bot.backoffice.pages.proposals import (
    ASSIGNEE_ME,
    ASSIGNEE_NOBODY,
    parse_list_request,
    status_label,
)
from bot.services.bulk import (
    ALREADY,
    CONFLICT,
    MAX_PROPOSALS,
    NO_TEXT,
    NOT_ALLOWED,
    OTHER_CALL,
    SETTABLE_STATUSES,
    UNREACHABLE,
    AnswerWith,
    AssignTo,
    Change,
    SetStatus,
    Target,
    run_bulk,
    undo_bulk,
)
from bot.text.i18n import N_, Translator
from storage.answer_templates import template_by_id
from storage.bulk import (
    CHANGED_SINCE,
    DONE,
    UNDONE,
    action_items,
    bulk_action,
    proposals_by_reference,
    undo_deadline,
)
from storage.clock import utcnow
from storage.models import BulkAction, BulkActionItem, Proposal, StaffUser
from storage.review import search_proposals
from storage.staff import all_staff, staff_by_id

CONFIRM_ABOVE = 5
"""A change to a whole filter of more proposals than this asks for a confirmation."""
CHANGES = ("assign", "status", "answer")
EXPORTS = {"export_csv": "csv", "export_xlsx": "xlsx"}
SCOPES = ("selected", "page", "filter")
FIELDS = ("action", "scope", "assignee", "status", "template", "filter", "back")
"""The form's single fields, carried over by the confirmation page."""

REFUSALS = {
    "too_late": N_("This change can no longer be undone: the minute to undo it is over."),
    "already": N_("This change was already undone."),
    "not_yours": N_("Only the staff member who made this change can undo it."),
    "gone": N_("There is no such change."),
}


class FormError(Exception):
    """The form cannot be applied; `message` (an English msgid, with its `values`) says why."""

    def __init__(self, message: str, values: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.values = values

    def text(self, t: Translator) -> str:
        # error_page translates its message again: a translated text stays as it is.
        return t.gettext(self.message) % self.values if self.values else self.message


def _shown(form: MultiDictProxy[Any]) -> dict[str, int | None]:
    """The rows the page showed: reference → the assignee's staff id (None: nobody)."""
    shown: dict[str, int | None] = {}
    for value in form.getall("shown", []):
        reference, _sep, assignee = str(value).partition("=")
        if assignee and not (assignee.isascii() and assignee.isdigit() and len(assignee) <= 9):
            raise FormError(
                N_("This form could not be read. Go back to the page and send it again.")
            )
        shown[reference[:32]] = int(assignee) if assignee else None
    return shown


async def _change(db: AsyncSession, form: MultiDictProxy[Any], me: StaffUser) -> Change:
    action = str(form.get("action", ""))
    if action == "assign":
        wanted = str(form.get("assignee", ""))
        if wanted == ASSIGNEE_ME:
            return AssignTo(me)
        if wanted == ASSIGNEE_NOBODY:
            return AssignTo(None)
        if wanted.isascii() and wanted.isdigit() and len(wanted) <= 9:
            staff = await staff_by_id(db, int(wanted))
            if staff is not None:
                return AssignTo(staff)
            raise FormError(N_("This staff account no longer exists."))
        raise FormError(N_("Choose a staff member from the list."))
    if action == "answer":
        wanted = str(form.get("template", ""))
        template = None
        if wanted.isascii() and wanted.isdigit() and len(wanted) <= 9:
            template = await template_by_id(db, int(wanted))
        if template is None:
            raise FormError(N_("Choose an answer template from the list."))
        return AnswerWith(template)
    status = str(form.get("status", ""))
    if status not in SETTABLE_STATUSES:
        raise FormError(N_("Choose a status from the list."))
    return SetStatus(status)


async def _proposals(
    db: AsyncSession, form: MultiDictProxy[Any], t: Translator, me: int
) -> tuple[list[Proposal], dict[str, int | None], bool]:
    """The proposals the form names, in the list's order; the assignees the page showed;
    and whether they are a whole filter's."""
    shown = _shown(form)
    scope = str(form.get("scope", "selected"))
    if scope not in SCOPES:
        raise FormError(N_("This form could not be read. Go back to the page and send it again."))
    if scope == "filter":
        query = dict(parse_qsl(str(form.get("filter", ""))))
        wanted = parse_list_request(query, t, me=me, open_by_default=True)
        found, total = await search_proposals(
            db, wanted.filters, sort=wanted.sort, page=1, per_page=MAX_PROPOSALS
        )
        if total > MAX_PROPOSALS:
            raise FormError(
                N_(
                    "A bulk change applies to %(num)s proposals at most, and this filter has "
                    "%(total)s: narrow it."
                ),
                {"num": t.number(MAX_PROPOSALS), "total": t.number(total)},
            )
        return found, {}, True
    references = list(shown) if scope == "page" else [str(r) for r in form.getall("ref", [])]
    if not references:
        raise FormError(N_("Tick at least one proposal, or choose all those of the page."))
    by_reference = {p.reference: p for p in await proposals_by_reference(db, references)}
    ordered = [by_reference[r] for r in dict.fromkeys(references) if r in by_reference]
    return ordered, shown, False


async def bulk_submit(request: web.Request) -> web.StreamResponse:
    """Apply the list's bulk form (or ask to confirm it first), then show the result."""
    t = translator(request)
    me = request[STAFF]
    form = await request.post()
    action = str(form.get("action", ""))
    if action not in CHANGES and action not in EXPORTS:
        return await error_page(request, 400, N_("Choose what to do with the proposals."))
    back = safe_next(str(form.get("back", "")), "/proposals")
    async with request.app[SESSIONMAKER]() as db, db.begin():
        try:
            proposals, shown, whole_filter = await _proposals(db, form, t, me.id)
            if action in EXPORTS:
                if whole_filter:
                    path = f"/proposals/export.{EXPORTS[action]}"
                    raise web.HTTPSeeOther(f"{path}?{form.get('filter', '')}")
                return await export_selection(request, proposals, EXPORTS[action])
            change = await _change(db, form, me)
        except FormError as error:
            return await error_page(request, 400, error.text(t))
        if not proposals:
            return await error_page(request, 400, N_("No proposal matches these filters."))
        if whole_filter and len(proposals) > CONFIRM_ABOVE and form.get("confirmed") != "1":
            return await render(
                request,
                "bulk_confirm.html",
                {
                    "count": len(proposals),
                    "summary": _asked(t, change.kind, change.params()),
                    "fields": [(name, str(form.get(name, ""))) for name in FIELDS],
                    "back": back,
                },
            )
        targets = [Target(p.id, p.reference in shown, shown.get(p.reference)) for p in proposals]
        done = await run_bulk(
            db,
            request.app[ANNOUNCER],
            change,
            targets,
            actor=me.email,
            context={"back": back, "scope": str(form.get("scope", "selected"))},
        )
    raise web.HTTPSeeOther(f"/proposals/bulk/{done.id}")


def _asked(t: Translator, kind: str, params: Mapping[str, Any]) -> str:
    """What the action does, in a few words: "Assign to x", "Change the status to y"."""
    if kind == "assign":
        email = params.get("assignee_email")
        if email is None:
            return t.gettext("Assign to nobody")
        return t.gettext("Assign to %(who)s") % {"who": email}
    if kind == "answer":
        return t.gettext("Answer with the template “%(name)s”") % {
            "name": params.get("template_name")
        }
    return t.gettext("Change the status to “%(status)s”") % {
        "status": status_label(t, params.get("status"))
    }


def _done_line(t: Translator, action: BulkAction, count: int) -> str:
    if action.kind == "assign":
        email = action.params.get("assignee_email")
        if email is None:
            return t.ngettext(
                "%(num)d proposal is now assigned to nobody.",
                "%(num)d proposals are now assigned to nobody.",
                count,
            ) % {"num": count}
        return t.ngettext(
            "%(num)d proposal assigned to %(who)s.",
            "%(num)d proposals assigned to %(who)s.",
            count,
        ) % {"num": count, "who": email}
    if action.kind == "answer":
        return t.ngettext(
            "%(num)d citizen answered with “%(name)s”.",
            "%(num)d citizens answered with “%(name)s”.",
            count,
        ) % {"num": count, "name": action.params.get("template_name")}
    return t.ngettext(
        "%(num)d proposal changed to the status “%(status)s”.",
        "%(num)d proposals changed to the status “%(status)s”.",
        count,
    ) % {"num": count, "status": status_label(t, action.params.get("status"))}


def _why_skipped(
    t: Translator, item: BulkActionItem, proposal: Proposal, emails: Mapping[int, str]
) -> str:
    if item.outcome == NOT_ALLOWED:
        return t.gettext("this change is not possible from the status “%(status)s”") % {
            "status": status_label(t, item.previous_status)
        }
    if item.outcome == ALREADY:
        return t.gettext("nothing to change: it already was so")
    if item.outcome == CONFLICT:
        holder = proposal.assignee_id
        return t.gettext("someone else changed its assignment in the meantime (now: %(who)s)") % {
            "who": emails.get(holder, "?") if holder is not None else t.gettext("nobody")
        }
    if item.outcome in SKIP_REASONS:
        return t.gettext(SKIP_REASONS[item.outcome])
    return item.outcome


SKIP_REASONS = {
    OTHER_CALL: N_("the template is for another call"),
    NO_TEXT: N_("the template has no text in the citizen's language"),
    UNREACHABLE: N_("the citizen's personal data was erased: no answer can reach them"),
}


async def bulk_result(request: web.Request) -> web.Response:
    """What a bulk action did, what it skipped and why; its undo while the window lasts."""
    t = translator(request)
    action_id = _action_id(request)
    async with request.app[SESSIONMAKER]() as db:
        action = await bulk_action(db, action_id) if action_id is not None else None
        if action is None:
            return await error_page(request, 404, N_("There is no such change."))
        items = await action_items(db, action.id)
        emails = {member.id: member.email for member in await all_staff(db)}
    now = utcnow()
    deadline = undo_deadline(action)
    done = [(item, p) for item, p in items if item.outcome == DONE]
    skipped = [
        {"reference": p.reference, "why": _why_skipped(t, item, p, emails)}
        for item, p in items
        if item.outcome != DONE
    ]
    held = sum(len(item.held_outbox_ids) for item, _p in done)
    seconds_left = int((deadline - now).total_seconds())
    refused = request.query.get("refused", "")
    return await render(
        request,
        "bulk_result.html",
        {
            "action": action,
            "asked": _asked(t, action.kind, action.params),
            "when": t.datetime(action.created_at),
            "done_line": _done_line(t, action, len(done)),
            "done": [p.reference for _item, p in done],
            "skipped": skipped,
            "held": held if action.undone_at is None and seconds_left > 0 else 0,
            "can_undo": action.undone_at is None
            and seconds_left > 0
            and action.actor == request[STAFF].email,
            "seconds_left": max(seconds_left, 0),
            "window_over": action.undone_at is None and seconds_left <= 0,
            "undone": t.datetime(action.undone_at) if action.undone_at else None,
            "put_back": [p.reference for item, p in done if item.undo == UNDONE],
            "left": [p.reference for item, p in done if item.undo == CHANGED_SINCE],
            "refusal": REFUSALS.get(refused),
            "back": safe_next(str(action.params.get("back", "")), "/proposals"),
        },
    )


async def bulk_undo(request: web.Request) -> web.StreamResponse:
    """Undo the bulk action, or say why it cannot be."""
    action_id = _action_id(request)
    if action_id is None:
        return await error_page(request, 404, N_("There is no such change."))
    async with request.app[SESSIONMAKER]() as db, db.begin():
        refusal = await undo_bulk(db, request.app[ANNOUNCER], action_id, actor=request[STAFF].email)
    if refusal is not None:
        if refusal.reason == "gone":
            return await error_page(request, 404, N_("There is no such change."))
        query = urlencode({"refused": refusal.reason})
        raise web.HTTPSeeOther(f"/proposals/bulk/{action_id}?{query}#result")
    raise web.HTTPSeeOther(f"/proposals/bulk/{action_id}#result")


def _action_id(request: web.Request) -> int | None:
    text = request.match_info["id"]
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def add_bulk_routes(app: web.Application) -> None:
    """Before `/proposals/{reference}`, which would otherwise take these paths."""
    app.router.add_post("/proposals/bulk", bulk_submit, name="bulk")
    app.router.add_get("/proposals/bulk/{id}", bulk_result, name="bulk_result")
    app.router.add_post("/proposals/bulk/{id}/undo", bulk_undo, name="bulk_undo")
