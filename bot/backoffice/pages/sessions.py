"""Your sessions: where you are signed in, and ending the others (a lost or shared device);
and your Telegram account, linked with a one-time link so that the staff group's "take it"
assigns to you and the bot tells you privately of the proposals given to you.

Administrators end every session of another account from the staff page (accounts.py). The
link is shown once, right after it is made (from the session, as coach invitations are);
the bot's username comes from the function `add_coach_routes` keeps (`BOT_USERNAME`).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from aiohttp_session import get_session

from bot.backoffice.common import render, translator
from bot.backoffice.keys import BOT_USERNAME, SESSION_IDLE, SESSIONMAKER, STAFF, STAFF_SESSION
from bot.services.staff_take import LINK_PREFIX, staff_link_url
from bot.text.i18n import N_
from storage.staff import (
    LINK_HOURS,
    create_link_token,
    pending_link_until,
    staff_by_id,
    unlink_staff,
)
from storage.staff_sessions import end_sessions_of, live_sessions_of

FLASH = "staff_telegram_link"

DONE_MESSAGES = {
    "ended": N_("The session was ended: whoever used it must sign in again."),
    "others": N_("Your other sessions were ended."),
    "gone": N_("This session had already ended."),
    "unlinked": N_("Your Telegram account is no longer linked."),
}


async def sessions_page(request: web.Request) -> web.Response:
    t = translator(request)
    current = request[STAFF_SESSION]
    me = request[STAFF].id
    async with request.app[SESSIONMAKER]() as db:
        sessions = await live_sessions_of(db, me, idle=request.app[SESSION_IDLE])
        staff = await staff_by_id(db, me)
        pending = await pending_link_until(db, me)
    flash = (await get_session(request)).pop(FLASH, None)
    rows = [
        {
            "id": session.id,
            "created": t.datetime(session.created_at),
            "last_seen": t.datetime(session.last_seen_at),
            "address": session.address,
            "browser": session.user_agent or "—",
            "is_current": session.id == current,
        }
        for session in sessions
    ]
    done = request.query.get("done", "")
    return await render(
        request,
        "sessions.html",
        {
            "rows": rows,
            "others": sum(not row["is_current"] for row in rows),
            "done": t.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            "idle_minutes": request.app[SESSION_IDLE] // timedelta(minutes=1),
            "telegram": {
                "linked": t.datetime(staff.telegram_linked_at)
                if staff is not None and staff.telegram_linked_at is not None
                else None,
                "pending": t.datetime(pending) if pending is not None else None,
                "new_link": flash if isinstance(flash, dict) else None,
                "hours": LINK_HOURS,
            },
        },
    )


async def end_one(request: web.Request) -> web.StreamResponse:
    """End one of your other sessions (your current one ends by signing out)."""
    session_id = int(request.match_info["id"])
    ended = 0
    if session_id != request[STAFF_SESSION]:
        async with request.app[SESSIONMAKER]() as db, db.begin():
            ended = await end_sessions_of(db, request[STAFF].id, session_id=session_id)
    raise web.HTTPSeeOther("/sessions?done=" + ("ended" if ended else "gone"))


async def end_others(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        await end_sessions_of(db, request[STAFF].id, keep_id=request[STAFF_SESSION])
    raise web.HTTPSeeOther("/sessions?done=others")


async def link_telegram(request: web.Request) -> web.StreamResponse:
    """A new one-time link for your Telegram account (earlier unused ones stop working)."""
    async with request.app[SESSIONMAKER]() as db, db.begin():
        staff = await staff_by_id(db, request[STAFF].id)
        if staff is None:  # pragma: no cover - the sign-in check ends removed accounts' sessions
            raise web.HTTPSeeOther("/login")
        token = await create_link_token(db, staff)
    username = await request.app[BOT_USERNAME]()
    session = await get_session(request)
    session[FLASH] = {
        "link": staff_link_url(username, token),
        "start": f"/start {LINK_PREFIX}{token}",
        "username_known": username is not None,
    }
    raise web.HTTPSeeOther("/sessions#telegram")


async def unlink_telegram(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        await unlink_staff(db, request[STAFF].id)
    raise web.HTTPSeeOther("/sessions?done=unlinked#telegram")


def add_session_routes(app: web.Application) -> None:
    app.router.add_get("/sessions", sessions_page, name="sessions")
    app.router.add_post(r"/sessions/{id:\d{1,9}}/end", end_one, name="session_end")
    app.router.add_post("/sessions/end-others", end_others, name="sessions_end_others")
    app.router.add_post("/sessions/telegram/link", link_telegram, name="telegram_link")
    app.router.add_post("/sessions/telegram/unlink", unlink_telegram, name="telegram_unlink")
