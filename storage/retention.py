"""Keeping personal data only as long as the privacy notice says (GDPR storage limitation).

Two periods, both settings: a conversation unused for `drafts` is deleted with its draft
(an abandoned proposal), and `decided` after a proposal's last decision (accepted,
rejected, or withdrawn by the citizen) its personal data is erased the way the citizen's
own erasure does it (`storage.proposals.anonymise_proposal`). A citizen left with neither
a conversation nor a proposal is forgotten too. `bot.services.retention` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Citizen, Conversation, Proposal, ProposalEvent

CLOSED = frozenset({"accepted", "rejected", "withdrawn"})
"""Statuses after which nothing more is expected of the citizen (staff may reopen)."""


@dataclass(frozen=True)
class RetentionPolicy:
    drafts: timedelta
    """A conversation unused this long is deleted, with its draft."""
    decided: timedelta
    """A proposal's personal data is erased this long after its last decision."""

    def erasure_date(self, decided_at: datetime) -> datetime:
        return decided_at + self.decided


DEFAULT_RETENTION = RetentionPolicy(drafts=timedelta(days=90), decided=timedelta(days=365))


def decided_at(proposal: Proposal) -> datetime | None:
    """When a closed proposal (its events loaded) got its current status; None if open."""
    if proposal.status not in CLOSED:
        return None
    changes = [e.created_at for e in proposal.events if e.kind == "status"]
    return max(changes, default=proposal.submitted_at)


async def delete_idle_conversations(session: AsyncSession, *, before: datetime) -> int:
    """Delete the conversations (and drafts) unused since `before`; how many."""
    result = await session.execute(
        delete(Conversation).where(Conversation.updated_at < before).returning(Conversation.chat_id)
    )
    return len(result.all())


async def proposals_to_anonymise(
    session: AsyncSession, *, decided_before: datetime, limit: int
) -> list[tuple[Proposal, int | None]]:
    """Closed proposals decided before `decided_before` that still hold personal data, with
    their citizen's Telegram id (and their events loaded), oldest first."""
    decided = (
        select(func.max(ProposalEvent.created_at))
        .where(ProposalEvent.proposal_id == Proposal.id, ProposalEvent.kind == "status")
        .correlate(Proposal)
        .scalar_subquery()
    )
    result = await session.execute(
        select(Proposal, Citizen.telegram_user_id)
        .outerjoin(Citizen, Citizen.id == Proposal.citizen_id)
        .where(
            Proposal.status.in_(CLOSED),
            Proposal.anonymised_at.is_(None),
            func.coalesce(decided, Proposal.submitted_at) < decided_before,
        )
        .options(selectinload(Proposal.events))
        .order_by(Proposal.id)
        .limit(limit)
    )
    return [(proposal, telegram_id) for proposal, telegram_id in result]


async def delete_forgotten_citizens(session: AsyncSession) -> int:
    """Delete citizens left with no conversation and no proposal; how many."""
    has_proposal = exists().where(Proposal.citizen_id == Citizen.id)
    has_conversation = exists().where(Conversation.chat_id == Citizen.telegram_user_id)
    result = await session.execute(
        delete(Citizen).where(~has_proposal, ~has_conversation).returning(Citizen.id)
    )
    return len(result.all())
