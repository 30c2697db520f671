"""Everything stored about one citizen, for their copy of it (GDPR right of access)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Citizen, Coach, CoachAlert, Conversation, Proposal
from storage.proposals import proposals_of


@dataclass(frozen=True)
class CoachShare:
    """A coach was alerted about a proposal (and could read it)."""

    coach_name: str
    at: datetime


@dataclass
class CitizenRecord:
    telegram_user_id: int
    citizen: Citizen | None
    conversation: Conversation | None
    proposals: list[Proposal]
    """With their events, newest first."""
    coach_shares: dict[int, list[CoachShare]] = field(default_factory=dict)
    """By proposal id."""


async def citizen_record(session: AsyncSession, telegram_user_id: int) -> CitizenRecord:
    """The citizen's row, conversation (with the draft), proposals with their history, and
    which coaches were alerted about each proposal."""
    citizen = (
        await session.execute(select(Citizen).where(Citizen.telegram_user_id == telegram_user_id))
    ).scalar_one_or_none()
    proposals = await proposals_of(session, telegram_user_id)
    record = CitizenRecord(
        telegram_user_id=telegram_user_id,
        citizen=citizen,
        conversation=await session.get(Conversation, telegram_user_id),
        proposals=proposals,
    )
    if proposals:
        alerts = await session.execute(
            select(CoachAlert.proposal_id, Coach.name, CoachAlert.created_at)
            .join(Coach, Coach.id == CoachAlert.coach_id)
            .where(CoachAlert.proposal_id.in_([p.id for p in proposals]))
            .order_by(CoachAlert.created_at, CoachAlert.id)
        )
        for proposal_id, name, at in alerts:
            record.coach_shares.setdefault(proposal_id, []).append(CoachShare(name, at))
    return record
