"""Coaches: accounts linked to Telegram by one-time invites, what they follow, their alerts.

A coach is created by the staff with an invite: a random token whose SHA-256 alone is
stored, valid for `INVITE_DAYS` days and usable once. Opening the bot's deep link
(`/start coach-<token>`) links the Telegram account that opened it. A removed coach keeps
their row (so that the alerts they received and their feedback stay on the proposals'
history) but loses the link to Telegram and receives nothing more.

Alerts: one row per coach and proposal at most (unique), whatever the number of reasons.
Status life cycle::

    queued ──(its outbox row is sent)──> sent
    digest_pending ──(the coach's daily digest is written)──> queued ──> sent
    any of them ──(another coach takes the proposal)──> taken_by_other

`outbox_id` is the outbox row of the message that carries the alert: the alert itself
(immediate mode) or the day's digest (`digest_date` set). The first coach who presses
"I'll take it" wins (`coach_takes`, one row per proposal). "Not relevant" is feedback on
the match, kept on the alert with its time for the staff.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.clock import utcnow
from storage.database import dialect_insert
from storage.models import SENT as OUTBOX_SENT
from storage.models import (
    Coach,
    CoachAlert,
    CoachFollow,
    CoachInvite,
    CoachTake,
    Initiative,
    OutboxMessage,
    Proposal,
)
from storage.models.coaches import DEFAULT_DIGEST_TIME, IMMEDIATE, NAME_LENGTH

COACH_LANGUAGES: tuple[str, ...] = ("fr", "nl", "en")
DIGEST = "digest"
MODES: tuple[str, ...] = (IMMEDIATE, DIGEST)

INITIATIVE = "initiative"
THEME = "theme"
COMMUNE = "commune"
FOLLOW_KINDS: tuple[str, ...] = (INITIATIVE, THEME, COMMUNE)

QUEUED = "queued"
DIGEST_PENDING = "digest_pending"
SENT = "sent"
TAKEN_BY_OTHER = "taken_by_other"
ALERT_STATUSES: tuple[str, ...] = (QUEUED, DIGEST_PENDING, SENT, TAKEN_BY_OTHER)
NOT_RELEVANT = "not_relevant"

INVITE_DAYS = 7
TOKEN_BYTES = 18
"""24 URL-safe characters: with "coach-" well under Telegram's 64 for a start parameter."""


# ------------------------------------------------------------------ coaches and invites


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check(name: str, language: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValueError("a coach needs a name")
    if len(cleaned) > NAME_LENGTH:
        raise ValueError(f"the name is longer than {NAME_LENGTH} characters")
    if language not in COACH_LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected fr, nl or en")
    return cleaned


async def create_invite(
    session: AsyncSession, coach: Coach, created_by: str, now: datetime | None = None
) -> str:
    """A new one-time token for `coach`; only its hash is stored. Returns the token."""
    moment = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        CoachInvite(
            coach_id=coach.id,
            token_hash=hash_token(token),
            created_by=created_by,
            created_at=moment,
            expires_at=moment + timedelta(days=INVITE_DAYS),
        )
    )
    await session.flush()
    return token


async def invite_coach(
    session: AsyncSession,
    name: str,
    language: str,
    created_by: str,
    now: datetime | None = None,
) -> tuple[Coach, str]:
    """A new coach (not linked yet) and the token of their invite. ValueError if invalid."""
    moment = now or utcnow()
    coach = Coach(
        name=_check(name, language),
        language=language,
        paused=False,
        mode=IMMEDIATE,
        digest_time=DEFAULT_DIGEST_TIME,
        menu={},
        created_by=created_by,
        created_at=moment,
    )
    session.add(coach)
    await session.flush()
    return coach, await create_invite(session, coach, created_by, moment)


@dataclass(frozen=True)
class LinkOutcome:
    status: str
    """linked, unknown, expired, used, revoked, or other_coach (this Telegram account is
    already linked to another coach)."""
    coach: Coach | None = None


def _with_follows() -> Any:
    return selectinload(Coach.follows)


async def link_coach(
    session: AsyncSession,
    token: str,
    telegram_user_id: int,
    chat_id: int,
    now: datetime | None = None,
) -> LinkOutcome:
    """Use an invite: link the Telegram account to its coach. Does not commit."""
    moment = now or utcnow()
    invite = (
        await session.execute(
            select(CoachInvite).where(CoachInvite.token_hash == hash_token(token)).with_for_update()
        )
    ).scalar_one_or_none()
    if invite is None:
        return LinkOutcome("unknown")
    coach = (
        await session.execute(
            select(Coach).where(Coach.id == invite.coach_id).options(_with_follows())
        )
    ).scalar_one()
    if invite.used_at is not None:
        same = coach.telegram_user_id == telegram_user_id and coach.removed_at is None
        return LinkOutcome("linked" if same else "used", coach if same else None)
    if invite.revoked_at is not None or coach.removed_at is not None:
        return LinkOutcome("revoked")
    if moment >= invite.expires_at:
        return LinkOutcome("expired")
    current = await coach_by_telegram(session, telegram_user_id)
    if current is not None and current.id != coach.id:
        return LinkOutcome("other_coach", current)
    invite.used_at = moment
    coach.telegram_user_id = telegram_user_id
    coach.chat_id = chat_id
    coach.linked_at = moment
    await session.flush()
    return LinkOutcome("linked", coach)


async def coach_by_telegram(
    session: AsyncSession, telegram_user_id: int, *, lock: bool = False
) -> Coach | None:
    """The active coach linked to this Telegram account, with what they follow."""
    statement = (
        select(Coach)
        .where(Coach.telegram_user_id == telegram_user_id, Coach.removed_at.is_(None))
        .options(_with_follows())
    )
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def coach_by_id(session: AsyncSession, coach_id: int) -> Coach | None:
    return (
        await session.execute(select(Coach).where(Coach.id == coach_id).options(_with_follows()))
    ).scalar_one_or_none()


async def all_coaches(session: AsyncSession) -> list[Coach]:
    """Every coach not removed, by name, with follows and invites loaded."""
    result = await session.execute(
        select(Coach)
        .where(Coach.removed_at.is_(None))
        .options(
            selectinload(Coach.follows).selectinload(CoachFollow.initiative),
            selectinload(Coach.invites),
        )
        .order_by(Coach.name, Coach.id)
    )
    return list(result.scalars())


async def alertable_coaches(session: AsyncSession) -> list[Coach]:
    """Coaches who may receive alerts now: linked, not paused, not removed."""
    result = await session.execute(
        select(Coach)
        .where(
            Coach.removed_at.is_(None),
            Coach.telegram_user_id.is_not(None),
            Coach.chat_id.is_not(None),
            Coach.paused.is_(False),
        )
        .options(_with_follows())
        .order_by(Coach.id)
    )
    return list(result.scalars())


async def revoke_invite(session: AsyncSession, invite_id: int, now: datetime | None = None) -> bool:
    """Make an unused invite unusable; False when there is none to revoke."""
    invite = await session.get(CoachInvite, invite_id, with_for_update=True)
    if invite is None or invite.used_at is not None or invite.revoked_at is not None:
        return False
    invite.revoked_at = now or utcnow()
    await session.flush()
    return True


async def remove_coach(session: AsyncSession, coach_id: int, now: datetime | None = None) -> bool:
    """Unlink the coach from Telegram, revoke their invites, stop their alerts.

    The row stays so that their past alerts and feedback keep a name."""
    moment = now or utcnow()
    coach = await coach_by_id(session, coach_id)
    if coach is None or coach.removed_at is not None:
        return False
    coach.removed_at = moment
    coach.telegram_user_id = None
    coach.chat_id = None
    coach.menu = {}
    await session.execute(
        update(CoachInvite)
        .where(
            CoachInvite.coach_id == coach_id,
            CoachInvite.used_at.is_(None),
            CoachInvite.revoked_at.is_(None),
        )
        .values(revoked_at=moment)
    )
    await session.flush()
    return True


# ------------------------------------------------------------------ follows


async def set_follow(
    session: AsyncSession, coach: Coach, kind: str, value: str, follow: bool
) -> bool:
    """Follow (or stop following) one thing; True when something changed.

    `coach.follows` must be loaded; it is kept up to date."""
    if kind not in FOLLOW_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    existing = next((f for f in coach.follows if f.kind == kind and f.value == value), None)
    if follow == (existing is not None):
        return False
    if existing is not None:
        coach.follows.remove(existing)
    else:
        initiative_id = None
        if kind == INITIATIVE:
            initiative_id = int(value)
            if await session.get(Initiative, initiative_id) is None:
                raise ValueError(f"no initiative {value}")
        coach.follows.append(
            CoachFollow(kind=kind, value=value, initiative_id=initiative_id, created_at=utcnow())
        )
    await session.flush()
    return True


async def initiative_names(session: AsyncSession) -> list[tuple[int, str]]:
    """(id, name) of every initiative, by name: the coach searches them by name."""
    result = await session.execute(
        select(Initiative.id, Initiative.name).order_by(Initiative.name, Initiative.id)
    )
    return [(int(row[0]), str(row[1])) for row in result]


async def initiatives_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Initiative]:
    if not ids:
        return {}
    result = await session.execute(select(Initiative).where(Initiative.id.in_(list(ids))))
    return {i.id: i for i in result.scalars()}


# ------------------------------------------------------------------ alerts


async def add_alert(
    session: AsyncSession,
    coach: Coach,
    proposal: Proposal,
    *,
    status: str,
    why: dict[str, Any],
    now: datetime | None = None,
) -> CoachAlert | None:
    """Record the coach's alert for the proposal; None if they already have one."""
    insert = dialect_insert(session)
    result = await session.execute(
        insert(CoachAlert)
        .values(
            coach_id=coach.id,
            proposal_id=proposal.id,
            status=status,
            why=why,
            created_at=now or utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["coach_id", "proposal_id"])
        .returning(CoachAlert.id)
    )
    alert_id = result.scalar_one_or_none()
    if alert_id is None:
        return None
    return await session.get(CoachAlert, alert_id)


async def alert_by_id(session: AsyncSession, alert_id: int) -> CoachAlert | None:
    result = await session.execute(
        select(CoachAlert)
        .where(CoachAlert.id == alert_id)
        .options(selectinload(CoachAlert.proposal), selectinload(CoachAlert.coach))
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def alerts_of_proposal(session: AsyncSession, proposal_id: int) -> list[CoachAlert]:
    """Every alert about the proposal, oldest first, with its coach."""
    result = await session.execute(
        select(CoachAlert)
        .where(CoachAlert.proposal_id == proposal_id)
        .options(selectinload(CoachAlert.coach))
        .order_by(CoachAlert.id)
    )
    return list(result.scalars())


async def alerts_in_message(session: AsyncSession, outbox_id: int) -> list[CoachAlert]:
    """The alerts one outbox message carries (several for a digest), in order."""
    result = await session.execute(
        select(CoachAlert)
        .where(CoachAlert.outbox_id == outbox_id)
        .options(selectinload(CoachAlert.proposal))
        .order_by(CoachAlert.id)
    )
    return list(result.scalars())


async def pending_digest_alerts(
    session: AsyncSession, coach_id: int, created_until: datetime, limit: int
) -> list[CoachAlert]:
    result = await session.execute(
        select(CoachAlert)
        .where(
            CoachAlert.coach_id == coach_id,
            CoachAlert.status == DIGEST_PENDING,
            CoachAlert.created_at <= created_until,
        )
        .options(selectinload(CoachAlert.proposal))
        .order_by(CoachAlert.id)
        .limit(limit)
    )
    return list(result.scalars())


async def coaches_with_pending_digest(session: AsyncSession) -> list[Coach]:
    """Active, linked, unpaused coaches with alerts waiting for a digest (rows locked where
    the database can, so that two digest jobs do not write the same coach's digest)."""
    waiting = select(CoachAlert.coach_id).where(CoachAlert.status == DIGEST_PENDING)
    result = await session.execute(
        select(Coach)
        .where(
            Coach.id.in_(waiting),
            Coach.removed_at.is_(None),
            Coach.chat_id.is_not(None),
            Coach.paused.is_(False),
        )
        .order_by(Coach.id)
        .with_for_update(skip_locked=True)
    )
    return list(result.scalars())


async def mark_delivered_alerts(session: AsyncSession) -> int:
    """queued → sent for alerts whose outbox message was sent; how many changed."""
    sent = select(OutboxMessage.id).where(OutboxMessage.status == OUTBOX_SENT)
    result = await session.execute(
        update(CoachAlert)
        .where(CoachAlert.status == QUEUED, CoachAlert.outbox_id.in_(sent))
        .values(status=SENT)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def record_not_relevant(alert: CoachAlert, now: datetime | None = None) -> bool:
    """Feedback "not relevant" on the match; False when it was given already."""
    if alert.feedback == NOT_RELEVANT:
        return False
    alert.feedback = NOT_RELEVANT
    alert.feedback_at = now or utcnow()
    return True


async def take_proposal(
    session: AsyncSession, proposal_id: int, coach_id: int, now: datetime | None = None
) -> tuple[CoachTake, bool]:
    """The take of the proposal and whether this coach just won it (first press wins)."""
    insert = dialect_insert(session)
    result = await session.execute(
        insert(CoachTake)
        .values(proposal_id=proposal_id, coach_id=coach_id, taken_at=now or utcnow())
        .on_conflict_do_nothing(index_elements=["proposal_id"])
        .returning(CoachTake.proposal_id)
    )
    won = result.scalar_one_or_none() is not None
    take = (
        await session.execute(
            select(CoachTake)
            .where(CoachTake.proposal_id == proposal_id)
            .options(selectinload(CoachTake.coach))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return take, won


async def take_of(session: AsyncSession, proposal_id: int) -> CoachTake | None:
    return (
        await session.execute(
            select(CoachTake)
            .where(CoachTake.proposal_id == proposal_id)
            .options(selectinload(CoachTake.coach))
        )
    ).scalar_one_or_none()


async def recent_feedback(session: AsyncSession, limit: int = 50) -> list[CoachAlert]:
    """The newest "not relevant" feedback, with coach and proposal."""
    result = await session.execute(
        select(CoachAlert)
        .where(CoachAlert.feedback.is_not(None))
        .options(selectinload(CoachAlert.coach), selectinload(CoachAlert.proposal))
        .order_by(CoachAlert.feedback_at.desc(), CoachAlert.id.desc())
        .limit(limit)
    )
    return list(result.scalars())
