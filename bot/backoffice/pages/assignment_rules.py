"""The assignment rules (administrators): new proposals of a call, a theme or a commune go
to a staff member as soon as they are submitted (storage.assignment.assign_by_rules)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.backoffice.common import error_page, render, require_role, translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.text.i18n import N_, Translator
from matching.calls import all_calls
from matching.communes import commune_by_refnis, sorted_for_language
from matching.themes import theme_ids, theme_label
from storage.assignment import (
    RULE_FIELDS,
    assignment_rules,
    delete_assignment_rule,
    set_assignment_rule,
)
from storage.staff import all_staff, staff_by_id

FIELD_LABELS = {
    "call": N_("Call"),
    "theme": N_("Theme"),
    "commune": N_("Commune"),
}


def _values(t: Translator) -> dict[str, list[tuple[str, str]]]:
    """What each field of a rule can be, by name in the staff member's language."""
    language = t.language
    return {
        "call": sorted(
            ((cid, call.name(language)) for cid, call in all_calls().items()),
            key=lambda item: item[1].lower(),
        ),
        "theme": sorted(
            ((theme, theme_label(theme, language)) for theme in theme_ids()),
            key=lambda item: item[1].lower(),
        ),
        "commune": [(c.refnis, c.name(language)) for c in sorted_for_language(language)],
    }


def value_label(t: Translator, field: str, value: str) -> str:
    """A rule's value as staff read it (the raw value when the data no longer has it)."""
    if field == "call":
        call = all_calls().get(value)
        return call.name(t.language) if call else value
    if field == "theme":
        return theme_label(value, t.language) if value in theme_ids() else value
    try:
        return commune_by_refnis(value).name(t.language)
    except KeyError:
        return value


@require_role("admin")
async def rules_page(request: web.Request) -> web.Response:
    return await _page(request)


async def _page(
    request: web.Request, *, error: str | None = None, status: int = 200
) -> web.Response:
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        rules = await assignment_rules(db)
        staff = await all_staff(db)
    rows: list[dict[str, Any]] = [
        {
            "id": rule.id,
            "field": t.gettext(FIELD_LABELS[rule.field]),
            "value": value_label(t, rule.field, rule.value),
            "staff": member.email,
        }
        for rule, member in rules
    ]
    values = _values(t)
    return await render(
        request,
        "assignment_rules.html",
        {
            "rows": rows,
            "groups": [(t.gettext(FIELD_LABELS[f]), f, values[f]) for f in RULE_FIELDS],
            "staff_options": [(member.id, member.email) for member in staff],
            "error": error,
            "saved": request.query.get("saved") == "1",
        },
        status=status,
    )


@require_role("admin")
async def add_rule(request: web.Request) -> web.StreamResponse:
    """Form field `rule` is "field:value" (e.g. "theme:compost"), `staff` a staff id."""
    form = await request.post()
    field, _, value = str(form.get("rule", "")).partition(":")
    staff_text = str(form.get("staff", ""))
    t = translator(request)
    if field not in RULE_FIELDS or value not in dict(_values(t)[field]):
        return await _page(
            request, error=t.gettext("Choose a call, a theme or a commune."), status=400
        )
    if not (staff_text.isascii() and staff_text.isdigit() and len(staff_text) <= 9):
        return await error_page(request, 400, N_("Choose a staff member from the list."))
    async with request.app[SESSIONMAKER]() as db, db.begin():
        member = await staff_by_id(db, int(staff_text))
        if member is None:
            return await error_page(request, 400, N_("This staff account no longer exists."))
        await set_assignment_rule(db, field, value, member, created_by=request[STAFF].email)
    raise web.HTTPSeeOther("/assignment-rules?saved=1")


@require_role("admin")
async def remove_rule(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        await delete_assignment_rule(db, int(request.match_info["id"]))
    raise web.HTTPSeeOther("/assignment-rules")


def add_assignment_rule_routes(app: web.Application) -> None:
    app.router.add_get("/assignment-rules", rules_page, name="assignment_rules")
    app.router.add_post("/assignment-rules", add_rule, name="assignment_rule_add")
    app.router.add_post(
        r"/assignment-rules/{id:\d{1,9}}/remove", remove_rule, name="assignment_rule_remove"
    )
