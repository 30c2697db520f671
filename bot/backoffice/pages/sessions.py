"""Your sessions: where you are signed in, and ending the others (a lost or shared device).

Administrators end every session of another account from the staff page (accounts.py).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.backoffice.common import render, translator
from bot.backoffice.keys import SESSION_IDLE, SESSIONMAKER, STAFF, STAFF_SESSION
from bot.text.i18n import N_
from storage.staff_sessions import end_sessions_of, live_sessions_of

DONE_MESSAGES = {
    "ended": N_("The session was ended: whoever used it must sign in again."),
    "others": N_("Your other sessions were ended."),
    "gone": N_("This session had already ended."),
}


async def sessions_page(request: web.Request) -> web.Response:
    t = translator(request)
    current = request[STAFF_SESSION]
    async with request.app[SESSIONMAKER]() as db:
        sessions = await live_sessions_of(db, request[STAFF].id, idle=request.app[SESSION_IDLE])
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


def add_session_routes(app: web.Application) -> None:
    app.router.add_get("/sessions", sessions_page, name="sessions")
    app.router.add_post(r"/sessions/{id:\d{1,9}}/end", end_one, name="session_end")
    app.router.add_post("/sessions/end-others", end_others, name="sessions_end_others")
