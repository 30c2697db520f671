"""Staff accounts (administrators only): list, add, change a role, end sessions, remove.

The rules that keep the back-office manageable live in storage (`storage.staff`):
administrators cannot demote or remove themselves, and the last administrator stays one,
even when two administrators act at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.backoffice.auth import hash_password
from bot.backoffice.common import render, require_role, translator
from bot.backoffice.keys import SESSION_IDLE, SESSIONMAKER, STAFF
from bot.text.i18n import LANGUAGE_NAMES, N_
from bot.text.parsers import ParseError, parse_email
from storage.staff import (
    ROLES,
    STAFF_LANGUAGES,
    StaffExists,
    StaffRuleError,
    add_staff,
    all_staff,
    normalise_email,
    remove_staff,
    set_staff_role,
    staff_by_id,
)
from storage.staff_sessions import end_sessions_of, live_session_counts

MIN_PASSWORD_LENGTH = 12
"""As for `intake staff add` (bot.runners.cli.MIN_PASSWORD_LENGTH)."""
MAX_PASSWORD_LENGTH = 1024

ROLE_LABELS = {"admin": N_("administrator"), "reviewer": N_("reviewer")}
DONE_MESSAGES = {
    "added": N_("The account was added. Give its password to its owner by another channel."),
    "role": N_("The role was changed. It applies from the account's next page."),
    "removed": N_("The account was removed."),
    "sessions": N_("The account's sessions were ended: its owner must sign in again."),
}
RULE_ERRORS: dict[str, tuple[int, str]] = {
    "self": (
        409,
        N_(
            "You cannot change your own role or remove your own account: ask another administrator."
        ),
    ),
    "last_admin": (409, N_("There must remain at least one administrator.")),
    "not_admin": (403, N_("You do not have access to this page.")),  # demoted meanwhile
    "not_found": (404, N_("There is no such account; it may have been removed already.")),
}


async def _staff_page(
    request: web.Request,
    *,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    t = translator(request)
    me = request[STAFF]
    async with request.app[SESSIONMAKER]() as db:
        people = await all_staff(db)
        sessions = await live_session_counts(db, idle=request.app[SESSION_IDLE])
    rows = [
        {
            "id": person.id,
            "email": person.email,
            "role": person.role,
            "role_label": t.gettext(ROLE_LABELS.get(person.role, person.role)),
            "language": LANGUAGE_NAMES.get(person.language, person.language),
            "created": t.date(person.created_at),
            "last_login": t.datetime(person.last_login_at) if person.last_login_at else "—",
            "telegram": t.datetime(person.telegram_linked_at)
            if person.telegram_linked_at
            else None,
            "is_me": person.id == me.id,
            "sessions": sessions.get(person.id, 0),
        }
        for person in people
    ]
    done = request.query.get("done", "")
    return await render(
        request,
        "staff.html",
        {
            "rows": rows,
            "done": t.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            "error": t.gettext(error) if error else None,
            "form": {"email": "", "role": "reviewer", "language": me.language, **(form or {})},
            "errors": {
                name: t.gettext(msgid) % {"min": MIN_PASSWORD_LENGTH}
                for name, msgid in (errors or {}).items()
            },
            "roles": [(role, t.gettext(ROLE_LABELS[role])) for role in ROLES],
            "languages": [(code, LANGUAGE_NAMES[code]) for code in STAFF_LANGUAGES],
            "min_password": MIN_PASSWORD_LENGTH,
        },
        status=status,
    )


@require_role("admin")
async def staff_list(request: web.Request) -> web.Response:
    return await _staff_page(request)


def read_account_form(form: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The new account's fields (never the passwords) and their errors (msgids by field)."""
    values = {
        "email": str(form.get("email", "")).strip()[:320],
        "role": str(form.get("role", "")),
        "language": str(form.get("language", "")),
    }
    password = str(form.get("password", ""))
    errors: dict[str, str] = {}
    try:
        values["email"] = normalise_email(parse_email(values["email"]))
    except ParseError:
        errors["email"] = N_("Enter a valid e-mail address.")
    if values["role"] not in ROLES:
        errors["role"] = N_("Choose a role from the list.")
    if values["language"] not in STAFF_LANGUAGES:
        errors["language"] = N_("Choose a language from the list.")
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = N_("The password needs at least %(min)d characters.")
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors["password"] = N_("The password is too long.")
    elif password != str(form.get("password_again", "")):
        errors["password_again"] = N_("The two passwords differ.")
    return values, errors


@require_role("admin")
async def add_account(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values, errors = read_account_form(form)
    if not errors:
        # argon2 is slow on purpose: off the event loop, which also serves the bot.
        password_hash = await asyncio.to_thread(hash_password, str(form["password"]))
        try:
            async with request.app[SESSIONMAKER]() as db, db.begin():
                await add_staff(
                    db, values["email"], password_hash, values["role"], values["language"]
                )
        except StaffExists:
            errors["email"] = N_("An account with this e-mail address already exists.")
    if errors:
        return await _staff_page(request, form=values, errors=errors, status=400)
    raise web.HTTPSeeOther("/staff?done=added")


def _account_id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def _refused(request: web.Request, error: StaffRuleError) -> web.Response:
    status, message = RULE_ERRORS.get(error.code, (400, N_("This change is not possible.")))
    return await _staff_page(request, error=message, status=status)


@require_role("admin")
async def change_role(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    role = str(form.get("role", ""))
    if role not in ROLES:
        return await _staff_page(request, error=N_("Choose a role from the list."), status=400)
    try:
        async with request.app[SESSIONMAKER]() as db, db.begin():
            await set_staff_role(db, _account_id(request), role, actor_id=request[STAFF].id)
    except StaffRuleError as error:
        return await _refused(request, error)
    raise web.HTTPSeeOther("/staff?done=role")


@require_role("admin")
async def remove_account(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[SESSIONMAKER]() as db, db.begin():
            await remove_staff(db, _account_id(request), actor_id=request[STAFF].id)
    except StaffRuleError as error:
        return await _refused(request, error)
    raise web.HTTPSeeOther("/staff?done=removed")


@require_role("admin")
async def end_account_sessions(request: web.Request) -> web.StreamResponse:
    """Sign an account out everywhere (a lost laptop, someone leaving the team)."""
    staff_id = _account_id(request)
    if staff_id == request[STAFF].id:  # your own: on your sessions page, keeping this one
        raise web.HTTPSeeOther("/sessions")
    async with request.app[SESSIONMAKER]() as db, db.begin():
        found = await staff_by_id(db, staff_id) is not None
        if found:
            await end_sessions_of(db, staff_id)
    if not found:  # the page reads the database: after this transaction has ended
        status, message = RULE_ERRORS["not_found"]
        return await _staff_page(request, error=message, status=status)
    raise web.HTTPSeeOther("/staff?done=sessions")


def add_account_routes(app: web.Application) -> None:
    app.router.add_get("/staff", staff_list, name="staff")
    app.router.add_post("/staff", add_account, name="staff_add")
    app.router.add_post(r"/staff/{id:\d{1,9}}/role", change_role, name="staff_role")
    app.router.add_post(r"/staff/{id:\d{1,9}}/remove", remove_account, name="staff_remove")
    app.router.add_post(
        r"/staff/{id:\d{1,9}}/sessions/end", end_account_sessions, name="staff_sessions_end"
    )
