"""Coaches in the back-office: the list, invitations, revoking, removing, and their feedback.

Every staff member sees the list and may invite a coach (the one-time Telegram link is
shown once, right after, from the session); only administrators revoke an invitation or
remove a coach. The bot's username for the link comes from a function given to
`add_coach_routes` (the process asks Telegram's getMe): the back-office never imports the
Telegram side.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from bot.backoffice.common import error_page, render, require_role, translator
from bot.backoffice.keys import BOT_USERNAME, SESSIONMAKER, STAFF, BotUsername
from bot.services.coach_alerts import DEEP_LINK_PREFIX, invite_link
from bot.text.i18n import LANGUAGE_NAMES, N_, Translator
from matching.communes import commune_by_refnis
from matching.themes import theme_label
from storage.clock import utcnow
from storage.coaches import (
    COACH_LANGUAGES,
    COMMUNE,
    DIGEST,
    DIGEST_PENDING,
    INITIATIVE,
    INVITE_DAYS,
    QUEUED,
    SENT,
    TAKEN_BY_OTHER,
    THEME,
    alerts_of_proposal,
    all_coaches,
    coach_by_id,
    create_invite,
    invite_coach,
    recent_feedback,
    remove_coach,
    revoke_invite,
    take_of,
)
from storage.models import Coach
from storage.models.coaches import NAME_LENGTH

FLASH = "coach_invite"
ALERT_STATUS_LABELS = {
    QUEUED: N_("being sent"),
    DIGEST_PENDING: N_("waiting for the daily digest"),
    SENT: N_("sent"),
    TAKEN_BY_OTHER: N_("taken by another coach"),
}
DONE_MESSAGES = {
    "revoked": N_("The invitation was revoked: its link no longer works."),
    "removed": N_("The coach was removed: they receive nothing more and their link is undone."),
}


async def _unknown_username() -> str | None:
    return None


def _theme(t: Translator, theme: str) -> str:
    try:
        return theme_label(theme, t.language)
    except KeyError:
        return theme


def _commune(t: Translator, refnis: str) -> str:
    try:
        return commune_by_refnis(refnis).name(t.language)
    except KeyError:
        return refnis


def _row(t: Translator, coach: Coach, now: Any) -> dict[str, Any]:
    initiatives = [
        f.initiative.name for f in coach.follows if f.kind == INITIATIVE and f.initiative
    ]
    invites = [
        {
            "id": invite.id,
            "expires": t.datetime(invite.expires_at),
            "created_by": invite.created_by,
        }
        for invite in coach.invites
        if invite.usable(now)
    ]
    return {
        "id": coach.id,
        "name": coach.name,
        "language": LANGUAGE_NAMES.get(coach.language, coach.language),
        "linked": t.datetime(coach.linked_at) if coach.linked_at and coach.linked else None,
        "invites": invites,
        "initiatives": initiatives,
        "themes": [_theme(t, v) for v in coach.followed(THEME)],
        "communes": [_commune(t, v) for v in coach.followed(COMMUNE)],
        "delivery": (
            t.gettext("daily digest at %(time)s") % {"time": t.time(coach.digest_time)}
            if coach.mode == DIGEST
            else t.gettext("as they come")
        ),
        "paused": coach.paused,
    }


async def coaches_page(request: web.Request) -> web.Response:
    t = translator(request)
    session = await get_session(request)
    flash = session.pop(FLASH, None)
    now = utcnow()
    async with request.app[SESSIONMAKER]() as db:
        coaches = await all_coaches(db)
        feedback = await recent_feedback(db)
    done = request.query.get("done", "")
    return await render(
        request,
        "coaches.html",
        {
            "rows": [_row(t, coach, now) for coach in coaches],
            "feedback": [
                {
                    "when": t.datetime(alert.feedback_at) if alert.feedback_at else "—",
                    "coach": alert.coach.name,
                    "reference": alert.proposal.reference,
                    "title": alert.proposal.title,
                }
                for alert in feedback
            ],
            "invited": flash if isinstance(flash, dict) else None,
            "done": t.gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in COACH_LANGUAGES],
            "default_language": t.language,
            "invite_days": INVITE_DAYS,
            "name_length": NAME_LENGTH,
        },
    )


async def _remember_link(request: web.Request, name: str, token: str) -> None:
    username = await request.app[BOT_USERNAME]()
    session = await get_session(request)
    session[FLASH] = {
        "name": name,
        "link": invite_link(username, token),
        "start": f"/start {DEEP_LINK_PREFIX}{token}",
        "username_known": username is not None,
    }


@require_role("admin", "reviewer")
async def invite(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", ""))
    language = str(form.get("language", ""))
    async with request.app[SESSIONMAKER]() as db, db.begin():
        try:
            coach, token = await invite_coach(db, name, language, request[STAFF].email)
        except ValueError:
            return await error_page(
                request, 400, N_("Give the coach's name and choose their language.")
            )
        coach_name = coach.name
    await _remember_link(request, coach_name, token)
    raise web.HTTPSeeOther("/coaches#invited")


@require_role("admin", "reviewer")
async def new_link(request: web.Request) -> web.StreamResponse:
    """A new invitation for a coach not linked yet (the first one expired or was lost)."""
    async with request.app[SESSIONMAKER]() as db, db.begin():
        coach = await coach_by_id(db, _id(request))
        if coach is None or coach.removed_at is not None or coach.linked:
            return await error_page(request, 404, N_("There is no such coach to invite."))
        token = await create_invite(db, coach, request[STAFF].email)
        coach_name = coach.name
    await _remember_link(request, coach_name, token)
    raise web.HTTPSeeOther("/coaches#invited")


@require_role("admin")
async def revoke(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        if not await revoke_invite(db, _id(request)):
            return await error_page(
                request, 404, N_("This invitation was already used or revoked.")
            )
    raise web.HTTPSeeOther("/coaches?done=revoked")


@require_role("admin")
async def remove(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        if not await remove_coach(db, _id(request)):
            return await error_page(request, 404, N_("There is no such coach to remove."))
    raise web.HTTPSeeOther("/coaches?done=removed")


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def coach_feedback(request: web.Request, proposal_id: int) -> dict[str, Any]:
    """For the proposal page: the coaches alerted, their feedback, and who took it."""
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        alerts = await alerts_of_proposal(db, proposal_id)
        take = await take_of(db, proposal_id)
    return {
        "taken_by": take.coach.name if take else None,
        "taken_at": t.datetime(take.taken_at) if take else None,
        "alerts": [
            {
                "coach": alert.coach.name,
                "when": t.datetime(alert.created_at),
                "status": t.gettext(ALERT_STATUS_LABELS.get(alert.status, alert.status)),
                "not_relevant": t.datetime(alert.feedback_at)
                if alert.feedback and alert.feedback_at
                else None,
                "took": take is not None and take.coach_id == alert.coach_id,
            }
            for alert in alerts
        ],
    }


def add_coach_routes(app: web.Application, bot_username: BotUsername | None = None) -> None:
    app[BOT_USERNAME] = bot_username or _unknown_username
    app.router.add_get("/coaches", coaches_page, name="coaches")
    app.router.add_post("/coaches/invite", invite, name="coach_invite")
    # Ids of at most nine digits, as on the other pages: a longer number would overflow the
    # database's integers (a 500), and the router answers 404 for anything else.
    app.router.add_post(r"/coaches/{id:\d{1,9}}/invite", new_link, name="coach_new_link")
    app.router.add_post(r"/coaches/{id:\d{1,9}}/remove", remove, name="coach_remove")
    app.router.add_post(r"/coaches/invites/{id:\d{1,9}}/revoke", revoke, name="coach_invite_revoke")
