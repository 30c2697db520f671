"""The back-office pages: sign-in, the proposal list and detail (staff accounts: accounts.py)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_session import get_session, new_session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.auth import (
    SESSION_TOKEN,
    csrf_token,
    hash_password,
    needs_rehash,
    safe_next,
    verify_dummy,
    verify_password,
)
from bot.backoffice.common import (
    QueryReader,
    error_page,
    pagination,
    render,
    request_address,
    translator,
)
from bot.backoffice.keys import (
    ANNOUNCER,
    NEW_ASSIGNMENTS,
    RETENTION,
    SESSION_IDLE,
    SESSIONMAKER,
    STAFF,
    THROTTLE,
)
from bot.backoffice.pages.coaches import coach_feedback
from bot.backoffice.pages.duplicates import EVENT_KINDS as DUPLICATE_EVENT_KINDS
from bot.backoffice.pages.duplicates import duplicate_context
from bot.backoffice.pages.evaluation import evaluation_context
from bot.backoffice.pages.review_templates import review_templates_context
from bot.backoffice.waiting import Waits
from bot.services.assignment import change_assignment
from bot.services.bulk import SETTABLE_STATUSES
from bot.services.review import apply_review
from bot.text.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator
from bot.text.labels import ACTOR_KINDS
from bot.text.labels import STATUS_LABELS as CITIZEN_STATUS_LABELS
from bot.text.parsers import display_phone
from bot.text.wording import call_name, commune_name, money, reason_text, themes_text
from matching.calls import all_calls
from matching.communes import sorted_for_language
from matching.similar import strength
from matching.themes import theme_ids, theme_label
from storage.answer_templates import all_templates
from storage.assignment import RULES_ACTOR, mark_seen, new_for
from storage.models import AnswerTemplate, Proposal, StaffUser
from storage.retention import RetentionPolicy, decided_at
from storage.review import (
    SORTS,
    STATUSES,
    ProposalFilters,
    neighbours,
    proposal_detail,
    search_proposals,
)
from storage.saved_filters import filters_for
from storage.staff import (
    all_staff,
    normalise_email,
    record_login,
    staff_by_email,
    staff_by_id,
)
from storage.staff_sessions import delete_expired_sessions, end_session, open_staff_session
from storage.workflow import TRANSITIONS, TransitionError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PER_PAGE = 50

STATUS_LABELS: dict[str, str] = {
    **CITIZEN_STATUS_LABELS,
    # The citizen reads "waiting for your answer"; staff wait for the citizen.
    "needs_info": N_("waiting for the citizen's answer"),
}
SORT_LABELS = {
    "waiting": N_("Longest wait first"),
    "newest": N_("Newest first"),
    "oldest": N_("Oldest first"),
    "reference": N_("Reference"),
    "status": N_("Status"),
    "budget": N_("Largest budget first"),
}
EVENT_KINDS = {
    "status": N_("Status change"),
    "anonymised": N_("Personal data erased"),
    "answer": N_("Answer to the citizen"),
    "answer_cancelled": N_("Answer cancelled before it was sent (bulk change undone)"),
    "note": N_("Internal note"),
    "reply": N_("The citizen's reply"),
    "taken": N_("Taken in hand in the staff group"),
    "assigned": N_("Assigned"),
    "unassigned": N_("No longer assigned"),
    "evaluated": N_("Evaluation"),
    **DUPLICATE_EVENT_KINDS,
}
ANSWER_LIMIT = 3000
ACTORS = {
    "citizen": N_("the citizen"),
    "retention": N_("the retention period"),
    RULES_ACTOR: N_("an assignment rule"),
}
"""Who wrote an event when it was not a staff member (whose e-mail address is shown)."""


# ------------------------------------------------------------------ labels


def status_label(t: Translator, status: str | None) -> str:
    if status is None:
        return "—"
    return t.gettext(STATUS_LABELS.get(status, status))


# ------------------------------------------------------------------ health, sign-in


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[SESSIONMAKER]() as db:
            await db.execute(text("SELECT 1"))
    except Exception:
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get(STAFF) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return await _login_page(request, next_path=safe_next(request.query.get("next")))


async def _login_page(
    request: web.Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    return await render(
        request,
        "login.html",
        {"next": next_path, "email": email, "error": error, "languages": LANGUAGE_NAMES},
        status=status,
    )


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email = normalise_email(str(form.get("email", "")))[:320]
    password = str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "")))
    t = translator(request)
    throttle = request.app[THROTTLE]
    address = request_address(request)
    wait = throttle.retry_after(email, address)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        message = t.ngettext(
            "Too many failed sign-in attempts. Please try again in %(minutes)d minute.",
            "Too many failed sign-in attempts. Please try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
        return await _login_page(
            request, next_path=next_path, email=email, error=message, status=429
        )
    async with request.app[SESSIONMAKER]() as db, db.begin():
        staff = await staff_by_email(db, email) if email else None
        # argon2 is slow on purpose: hash off the event loop, which also serves the bot.
        if staff is None:
            await asyncio.to_thread(verify_dummy, password)
            ok = False
        else:
            ok = await asyncio.to_thread(verify_password, staff.password_hash, password)
        if ok and staff is not None:
            if needs_rehash(staff.password_hash):
                staff.password_hash = await asyncio.to_thread(hash_password, password)
            await record_login(db, staff)
            await delete_expired_sessions(db, idle=request.app[SESSION_IDLE])
            token = await open_staff_session(
                db,
                staff.id,
                address=address,
                user_agent=request.headers.get("User-Agent", ""),
            )
    if not ok:
        throttle.failure(email, address)
        return await _login_page(
            request,
            next_path=next_path,
            email=email,
            error=t.gettext("Wrong e-mail address or password."),
            status=401,
        )
    throttle.success(email)
    session = await new_session(request)  # a fresh session: no fixation
    session[SESSION_TOKEN] = token
    csrf_token(session)
    raise web.HTTPSeeOther(next_path)


async def logout_form(request: web.Request) -> web.Response:
    return await render(request, "logout.html", {})


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session on the server too: a copy of the cookie no longer signs anyone in."""
    session = await get_session(request)
    token = session.get(SESSION_TOKEN)
    if isinstance(token, str):
        async with request.app[SESSIONMAKER]() as db, db.begin():
            await end_session(db, token)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


async def set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    language = str(form.get("language", ""))
    if language not in LANGUAGES:
        return await error_page(request, 400, N_("Unknown language."))
    async with request.app[SESSIONMAKER]() as db, db.begin():
        staff = await staff_by_id(db, request[STAFF].id)
        if staff is not None:
            staff.language = language
    raise web.HTTPSeeOther(safe_next(str(form.get("next", ""))))


# ------------------------------------------------------------------ proposal list


@dataclass(frozen=True)
class _AssigneeValues:
    """What the `assignee` filter accepts: a staff id, "nobody", and "me" when signed in."""

    signed_in: bool

    def __contains__(self, value: object) -> bool:
        if value == ASSIGNEE_ME:
            return self.signed_in
        return value == ASSIGNEE_NOBODY or (
            isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9
        )


@dataclass
class ListRequest:
    filters: ProposalFilters
    sort: str
    page: int
    params: dict[str, str]
    """The valid filters and sort, to keep in page links."""
    notices: list[str]


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


IN_LIST = "list"
IN_QUEUE = "queue"
"""A proposal page opened from the list or the queue (`?in=`) links to its neighbours there."""
STATUS_ALL = "all"
STATUS_OPEN = "open"
ASSIGNEE_ME = "me"
ASSIGNEE_NOBODY = "nobody"


def parse_list_request(
    query: Mapping[str, str], t: Translator, *, me: int | None = None, open_by_default: bool = False
) -> ListRequest:
    """Filters, sort and page from the query string; bad values are dropped with a notice.

    `status` is a status, "open" or "all"; without it the list shows the open proposals
    when `open_by_default` (the pages), all of them otherwise (the API). `assignee` is a
    staff id, "nobody", or "me" (the signed-in staff member `me`)."""
    reader = QueryReader(query, t)
    notices, params = reader.notices, reader.params
    status = reader.choice("status", (*STATUSES, STATUS_OPEN, STATUS_ALL))
    open_only = status == STATUS_OPEN or (status is None and open_by_default)
    if status in (STATUS_OPEN, STATUS_ALL):
        status = None
    assignee_value = reader.choice(
        "assignee",
        _AssigneeValues(me is not None),
    )
    assignee: int | None = None
    if assignee_value == ASSIGNEE_ME:
        assignee = me
    elif assignee_value is not None and assignee_value != ASSIGNEE_NOBODY:
        assignee = int(assignee_value)
    theme = reader.choice("theme", theme_ids())
    commune = reader.choice("commune", {c.refnis for c in sorted_for_language("fr")})
    call = reader.choice("call", all_calls())
    language = reader.choice("language", LANGUAGES)
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        value = query.get(name, "").strip()
        dates[name] = _parse_date(value) if value else None
        if value and dates[name] is None:
            notices.append(
                t.gettext("“%(value)s” is not a date (expected YYYY-MM-DD); ignored.")
                % {"value": value[:60]}
            )
        elif value:
            params[name] = value
    q = query.get("q", "").strip()[:200]
    if q:
        params["q"] = q
    include_tests = query.get("tests") == "1"
    if include_tests:
        params["tests"] = "1"
    sort = query.get("sort", "newest") or "newest"
    if sort not in SORTS:
        notices.append(
            t.gettext("Unknown sort order “%(value)s”; newest first is used.")
            % {"value": sort[:60]}
        )
        sort = "newest"
    if sort != "newest":
        params["sort"] = sort
    page = reader.page()
    filters = ProposalFilters(
        status=status,
        open_only=open_only,
        assignee=assignee,
        unassigned=assignee_value == ASSIGNEE_NOBODY,
        theme=theme,
        commune=commune,
        call=call,
        language=language,
        date_from=dates["from"],
        date_to=dates["to"],
        text=q or None,
        include_tests=include_tests,
    )
    return ListRequest(filters, sort, page, params, notices)


def proposal_row(
    t: Translator,
    proposal: Proposal,
    waits: Waits,
    emails: Mapping[int, str],
    me: int | None = None,
) -> dict[str, Any]:
    """A proposal as the lists show it; `emails` by staff id names the assignee."""
    assignee = proposal.assignee_id
    return {
        "reference": proposal.reference,
        "url": "/proposals/" + proposal.reference,
        "title": proposal.title,
        "commune": commune_name(t, proposal),
        "themes": themes_text(t, proposal.themes),
        "budget": money(t, proposal.budget_cents),
        "status": proposal.status,
        "status_label": status_label(t, proposal.status),
        "submitted": t.date(proposal.submitted_at),
        "submitted_full": t.datetime(proposal.submitted_at),
        "language": proposal.language,
        "is_test": proposal.is_test,
        "duplicate": proposal.duplicate_of_id is not None,
        "wait": waits.of_proposal(t, proposal),
        "assignee": emails.get(assignee, "?") if assignee is not None else None,
        "assignee_id": assignee,
        "mine": assignee is not None and assignee == me,
        "new": assignee is not None and assignee == me and proposal.assignee_seen_at is None,
    }


COLUMN_SORTS: dict[str, tuple[tuple[str, str], ...]] = {
    "reference": (("reference", "ascending"),),
    "budget": (("budget", "descending"),),
    "status": (("status", "ascending"),),
    "waiting": (("waiting", "descending"),),
    "submitted": (("newest", "descending"), ("oldest", "ascending")),
}
"""The list's sortable columns: the sorts each one offers, with the `aria-sort` it shows;
a second click on a column with two sorts gives the other one."""


def column_headers(params: Mapping[str, str], sort: str) -> dict[str, dict[str, str | None]]:
    """Each sortable column's link and, for the column the list is sorted by, its
    direction."""
    kept = {name: value for name, value in params.items() if name not in ("sort", "page")}
    headers: dict[str, dict[str, str | None]] = {}
    for column, sorts in COLUMN_SORTS.items():
        current = [n for n, (key, _direction) in enumerate(sorts) if key == sort]
        target = sorts[(current[0] + 1) % len(sorts)][0] if current else sorts[0][0]
        headers[column] = {
            "url": "/proposals?" + urlencode({**kept, "sort": target}),
            "direction": sorts[current[0]][1] if current else None,
        }
    return headers


def bulk_choices(
    t: Translator, staff: list[StaffUser], templates: list[AnswerTemplate]
) -> dict[str, list[tuple[str, str]]]:
    """What the lists' bulk form (macros.html) offers: the assignees, the statuses staff
    give, and the answer templates ("name — call (status)")."""
    return {
        "bulk_assignees": assignee_options(t, staff),
        "bulk_statuses": [(status, status_label(t, status)) for status in SETTABLE_STATUSES],
        "bulk_templates": [
            (
                str(template.id),
                " — ".join(
                    [
                        template.name,
                        call_name(t, template.call_id)
                        if template.call_id
                        else t.gettext("Any call"),
                    ]
                )
                + (f" ({status_label(t, template.status)})" if template.status else ""),
            )
            for template in templates
        ],
    }


def status_options(t: Translator) -> list[tuple[str, str]]:
    """The status filter: open proposals (the default), each status in workflow order, all."""
    return [
        (STATUS_OPEN, t.gettext("Open (to handle)")),
        *((status, status_label(t, status)) for status in STATUSES),
        (STATUS_ALL, t.gettext("Any status")),
    ]


def assignee_options(t: Translator, staff: list[StaffUser]) -> list[tuple[str, str]]:
    return [
        (ASSIGNEE_ME, t.gettext("Me")),
        (ASSIGNEE_NOBODY, t.gettext("Nobody")),
        *((str(member.id), member.email) for member in staff),
    ]


def list_query(params: dict[str, str]) -> str:
    """The list's filters and sort as one query string, the same whatever their order, so
    the list can tell which saved filter it shows."""
    return urlencode(sorted(params.items()))


async def saved_filter_links(
    db: AsyncSession, me: StaffUser, params: dict[str, str]
) -> list[dict[str, Any]]:
    """The filters the list page offers: each one's link, whether the list shows it now,
    and whether `me` may delete it."""
    current = list_query(params)
    return [
        {
            "id": saved.id,
            "name": saved.name,
            "url": "/proposals?" + saved.query if saved.query else "/proposals",
            "current": saved.query == current,
            "shared": saved.shared,
            "deletable": saved.owner_id == me.id or (saved.shared and me.role == "admin"),
        }
        for saved in await filters_for(db, me.id)
    ]


async def proposal_list(request: web.Request) -> web.Response:
    t = translator(request)
    me = request[STAFF].id
    wanted = parse_list_request(request.query, t, me=me, open_by_default=True)
    async with request.app[SESSIONMAKER]() as db:
        staff = await all_staff(db)
        saved_filters = await saved_filter_links(db, request[STAFF], wanted.params)
        templates = await all_templates(db)
        proposals, total = await search_proposals(
            db, wanted.filters, sort=wanted.sort, page=wanted.page, per_page=PER_PAGE
        )
        pages = max(1, math.ceil(total / PER_PAGE))
        page = wanted.page
        if page > pages:
            wanted.notices.append(
                t.gettext("There is no page %(page)d; the last page is shown.") % {"page": page}
            )
            page = pages
            proposals, total = await search_proposals(
                db, wanted.filters, sort=wanted.sort, page=page, per_page=PER_PAGE
            )
    emails = {member.id: member.email for member in staff}
    waits = Waits.of(request)
    options = {
        "statuses": status_options(t),
        "assignees": assignee_options(t, staff),
        "themes": sorted(
            ((th, theme_label(th, t.language)) for th in theme_ids()), key=lambda x: x[1].lower()
        ),
        "communes": [(c.refnis, c.name(t.language)) for c in sorted_for_language(t.language)],
        "calls": sorted(
            ((cid, call.name(t.language)) for cid, call in all_calls().items()),
            key=lambda x: x[1].lower(),
        ),
        "languages": list(LANGUAGE_NAMES.items()),
        "sorts": [(key, t.gettext(label)) for key, label in SORT_LABELS.items()],
    }
    first = (page - 1) * PER_PAGE + 1 if total else 0
    return await render(
        request,
        "proposals.html",
        {
            "rows": [proposal_row(t, p, waits, emails, me) for p in proposals],
            "total": total,
            **pagination("/proposals", wanted.params, page, pages),
            "first": first,
            "last": first + len(proposals) - 1 if total else 0,
            "selected": {"status": STATUS_OPEN, **wanted.params, "sort": wanted.sort},
            "headers": column_headers(wanted.params, wanted.sort),
            "detail_query": "?" + urlencode({**wanted.params, "sort": wanted.sort, "in": IN_LIST}),
            # The exports list every status by default: say which ones this list shows.
            "export_query": "?"
            + urlencode({"status": STATUS_OPEN, **wanted.params, "sort": wanted.sort}),
            "options": options,
            "notices": wanted.notices,
            "saved_filters": saved_filters,
            "list_query": list_query(wanted.params),
            **bulk_choices(t, staff, templates),
        },
    )


# ------------------------------------------------------------------ proposal detail


STRENGTH_LABELS = {
    "strong": N_("strong"),
    "medium": N_("medium"),
    "weak": N_("weak"),
}
"""A similar initiative's or proposal's score as staff read it (matching.similar.strength);
the number out of 100 is in the label's tooltip."""


def _similar_choice(t: Translator, similar: dict[str, Any] | None) -> str:
    if not similar:
        return t.gettext("No similar initiative was shown, or none was chosen.")
    if similar.get("choice") == "different":
        return t.gettext("The citizen says the idea is different from those shown.")
    name = similar.get("name") or similar.get("id") or "?"
    if similar.get("choice") == "connect":
        return t.gettext("The citizen would like to be put in touch with: {name}").format(name=name)
    if similar.get("choice") == "no_contact":
        return t.gettext(
            "The citizen finds the idea close to {name}, but does not want to be put in touch."
        ).format(name=name)
    return str(similar)


def _actor(t: Translator, kind: str, other: str | None) -> str:
    """An actor kind's label; "Other" followed by the citizen's words."""
    label = t.gettext(ACTOR_KINDS.get(kind, kind))
    return f"{label} ({other})" if kind == "other" and other else label


def _contact_conflict(t: Translator, proposal: Proposal) -> str | None:
    """A wish to be put in touch without the consent that allows it (proposals sent before
    the bot asked about it): staff must not pass the contact details on."""
    wish = (proposal.similar or {}).get("choice") == "connect"
    if not wish or proposal.consent_share:
        return None
    return t.gettext(
        "The citizen asked to be put in touch, but did not agree to share their contact "
        "details: do not pass them on. Ask the citizen first, through an answer."
    )


def _retention_notice(t: Translator, proposal: Proposal, policy: RetentionPolicy) -> str | None:
    """When the proposal's personal data goes (None once it is gone)."""
    if proposal.anonymised_at is not None:
        return None
    days = policy.decided.days
    decided = decided_at(proposal)
    if decided is None:
        return t.ngettext(
            "Personal data kept while the proposal is open, then %(num)d day after the decision.",
            "Personal data kept while the proposal is open, then %(num)d days after the decision.",
            days,
        ) % {"num": days}
    return t.ngettext(
        "Personal data erased on %(date)s (%(num)d day after the decision).",
        "Personal data erased on %(date)s (%(num)d days after the decision).",
        days,
    ) % {"date": t.date(policy.erasure_date(decided)), "num": days}


def queue_filters(me: int) -> ProposalFilters:
    """My queue: the open proposals assigned to me or to nobody (sorted by "waiting")."""
    return ProposalFilters(open_only=True, assignee=me, unassigned=True)


async def _neighbourhood(
    request: web.Request, db: AsyncSession, t: Translator, me: int, reference: str
) -> dict[str, Any] | None:
    """Previous/next links within the list or queue the page was opened from, if any."""
    where = request.query.get("in")
    if where == IN_QUEUE:
        filters, sort, back, query = queue_filters(me), "waiting", "/", {"in": IN_QUEUE}
    elif where == IN_LIST:
        wanted = parse_list_request(request.query, t, me=me, open_by_default=True)
        filters, sort = wanted.filters, wanted.sort
        params = {**wanted.params, "sort": wanted.sort}
        back, query = "/proposals?" + urlencode(params), {**params, "in": IN_LIST}
    else:
        return None
    found = await neighbours(db, filters, sort, reference)
    suffix = "?" + urlencode(query)
    return {
        "previous": f"/proposals/{found.previous}{suffix}" if found.previous else None,
        "next": f"/proposals/{found.next}{suffix}" if found.next else None,
        "position": found.position,
        "total": found.total,
        "back": back,
        "queue": where == IN_QUEUE,
    }


async def proposal_page(request: web.Request) -> web.Response:
    t = translator(request)
    reference = request.match_info["reference"]
    me = request[STAFF].id
    async with request.app[SESSIONMAKER]() as db, db.begin():
        proposal = await proposal_detail(db, reference)
        if proposal is None:
            return await error_page(request, 404, N_("There is no proposal with this reference."))
        staff = await all_staff(db)
        row = proposal_row(t, proposal, Waits.of(request), {m.id: m.email for m in staff}, me)
        await mark_seen(db, proposal, me)
        request[NEW_ASSIGNMENTS] = await new_for(db, me)
        around = await _neighbourhood(request, db, t, me, reference)
        evaluation = await evaluation_context(request, db, proposal)
        answer_templates = await review_templates_context(
            request, db, proposal, lambda status: status_label(t, status)
        )
        duplicate = await duplicate_context(request, db, proposal)
    matches = []
    for match in proposal.matches:
        if match.initiative is not None:
            name, url, kind = match.initiative.name, match.initiative.url, "initiative"
        elif match.other_proposal is not None:
            name = match.other_proposal.title
            url = "/proposals/" + match.other_proposal.reference
            kind = "proposal"
        else:
            name, url, kind = "—", None, "gone"
        matches.append(
            {
                "rank": match.rank,
                "name": name,
                "url": url,
                "kind": kind,
                "reference": match.other_proposal.reference if match.other_proposal else None,
                "score": t.number(round(match.score * 100, 1)),
                "strength": strength(match.score),
                "strength_label": t.gettext(STRENGTH_LABELS[strength(match.score)]),
                "reasons": [(code, reason_text(t, code)) for code in match.reasons],
            }
        )
    events = [
        {
            "when": t.datetime(event.created_at),
            "actor": t.gettext(ACTORS[event.actor]) if event.actor in ACTORS else event.actor,
            "kind": t.gettext(EVENT_KINDS[event.kind]) if event.kind in EVENT_KINDS else event.kind,
            "from": status_label(t, event.from_status) if event.from_status else None,
            "to": status_label(t, event.to_status) if event.to_status else None,
            "text": event.text,
        }
        for event in proposal.events
    ]
    return await render(
        request,
        "proposal.html",
        {
            "retention": _retention_notice(t, proposal, request.app[RETENTION]),
            "erased_by_retention": any(
                e.kind == "anonymised" and e.actor == "retention" for e in proposal.events
            ),
            "p": proposal,
            "row": row,
            "staff_options": [(member.id, member.email) for member in staff],
            "around": around,
            "assign_conflict": request.query.get("assign") == "conflict",
            "assigned": request.query.get("assign") == "done",
            "carrier": _actor(t, proposal.carrier, proposal.carrier_other),
            "partners": [_actor(t, k, proposal.partners_other) for k in proposal.partners],
            "call": call_name(t, proposal.call_id),
            "language_name": LANGUAGE_NAMES.get(proposal.language, proposal.language),
            "similar_choice": _similar_choice(t, proposal.similar),
            "contact_conflict": _contact_conflict(t, proposal),
            "phone": display_phone(proposal.contact_phone) if proposal.contact_phone else None,
            "matches": matches,
            "coaches": await coach_feedback(request, proposal.id),
            "events": events,
            "updated": t.datetime(proposal.updated_at),
            "taken": t.datetime(proposal.taken_at) if proposal.taken_at else None,
            "anonymised": t.datetime(proposal.anonymised_at) if proposal.anonymised_at else None,
            "next_statuses": [
                (status, status_label(t, status))
                for status in STATUSES
                if status in TRANSITIONS.get(proposal.status, frozenset())
            ],
            "reviewed": request.query.get("reviewed") == "1",
            "reachable": proposal.citizen_id is not None,
            **evaluation,
            **answer_templates,
            **duplicate,
        },
    )


async def review_proposal(request: web.Request) -> web.StreamResponse:
    """Change the status, answer the citizen (through the outbox) and/or add a note."""
    reference = request.match_info["reference"]
    form = await request.post()
    to_status = str(form.get("status") or "") or None
    answer = str(form.get("answer") or "").strip() or None
    note = str(form.get("note") or "").strip() or None
    if not (to_status or answer or note):
        return await error_page(
            request, 400, N_("Choose a new status, or write an answer or a note.")
        )
    if len(answer or "") > ANSWER_LIMIT or len(note or "") > ANSWER_LIMIT:
        return await error_page(request, 400, N_("The text is too long (3000 characters at most)."))
    staff = request[STAFF]
    async with request.app[SESSIONMAKER]() as db, db.begin():
        proposal = await proposal_detail(db, reference)
        if proposal is None:
            return await error_page(request, 404, N_("There is no proposal with this reference."))
        if answer and proposal.citizen_id is None:
            return await error_page(
                request,
                409,
                N_(
                    "The personal data of this proposal was erased: an answer cannot reach the "
                    "citizen. Change the status or write an internal note instead."
                ),
            )
        try:
            await apply_review(
                db,
                request.app[ANNOUNCER],
                proposal,
                actor=staff.email,
                to_status=to_status,
                answer=answer,
                note=note,
            )
        except TransitionError:
            return await error_page(
                request, 400, N_("This status change is not possible from the current status.")
            )
    raise web.HTTPSeeOther(f"/proposals/{reference}?reviewed=1#review")


async def assign_proposal(request: web.Request) -> web.StreamResponse:
    """Give the proposal to a staff member, to oneself ("take it") or to nobody, if it is
    still with whom the page showed (`expected`); otherwise say who has it now."""
    reference = request.match_info["reference"]
    form = await request.post()
    me = request[STAFF]
    wanted, expected = str(form.get("assignee", "")), str(form.get("expected", ""))
    if not _is_staff_choice(wanted, allow_me=True) or not _is_staff_choice(expected):
        return await error_page(request, 400, N_("Choose a staff member from the list."))
    back = safe_next(str(form.get("next", "")) or f"/proposals/{reference}")
    async with request.app[SESSIONMAKER]() as db, db.begin():
        proposal = await proposal_detail(db, reference)
        if proposal is None:
            return await error_page(request, 404, N_("There is no proposal with this reference."))
        assignee: StaffUser | None = None
        if wanted == ASSIGNEE_ME:
            assignee = me
        elif wanted:
            assignee = await staff_by_id(db, int(wanted))
            if assignee is None:
                return await error_page(request, 400, N_("This staff account no longer exists."))
        outcome = await change_assignment(
            db,
            proposal,
            assignee,
            actor=me.email,
            expected=int(expected) if expected else None,
            announcer=request.app[ANNOUNCER],
        )
    if not outcome.done:
        raise web.HTTPSeeOther(f"/proposals/{reference}?assign=conflict#assignment")
    raise web.HTTPSeeOther(back)


def _is_staff_choice(value: str, *, allow_me: bool = False) -> bool:
    """A form's staff member: "" (nobody), a staff id, or "me"."""
    if value == ASSIGNEE_ME:
        return allow_me
    return value == "" or (value.isascii() and value.isdigit() and len(value) <= 9)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/login", login_form, name="login")
    app.router.add_post("/login", login)
    app.router.add_get("/logout", logout_form, name="logout")
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", set_language, name="language")
    app.router.add_get("/proposals", proposal_list, name="proposals")
    app.router.add_get("/proposals/{reference}", proposal_page, name="proposal")
    app.router.add_post("/proposals/{reference}/review", review_proposal, name="review")
    app.router.add_post("/proposals/{reference}/assign", assign_proposal, name="assign")
