"""The review workflow: status changes, official answers, internal notes, citizen replies.

submitted → in_review → accepted | rejected | needs_info; needs_info goes back to in_review
when the citizen answers; a decision can be reopened (back to in_review). Every change is
an event in the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.models import Citizen, Proposal, ProposalEvent

TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"in_review", "accepted", "rejected", "needs_info"}),
    "in_review": frozenset({"accepted", "rejected", "needs_info"}),
    "needs_info": frozenset({"in_review", "accepted", "rejected"}),
    "accepted": frozenset({"in_review"}),
    "rejected": frozenset({"in_review"}),
    "withdrawn": frozenset(),
}


WITHDRAWABLE = frozenset({"submitted", "in_review", "needs_info"})
"""The citizen may withdraw a proposal until the staff decided on it."""

OPEN_STATUSES: tuple[str, ...] = ("submitted", "in_review", "needs_info")
"""Proposals still to handle; decided (closed) and withdrawn ones are out of the default
views of the back-office."""
STAFF_TURN: tuple[str, ...] = ("submitted", "in_review")
"""Open proposals waiting for staff (one that needs information waits for the citizen):
only these can be overdue."""


class TransitionError(ValueError):
    """The change is not allowed from the proposal's current status."""


def _event(
    proposal: Proposal,
    now: datetime,
    actor: str,
    kind: str,
    text: str | None = None,
    to_status: str | None = None,
) -> ProposalEvent:
    return ProposalEvent(
        proposal_id=proposal.id,
        created_at=now,
        actor=actor,
        kind=kind,
        from_status=proposal.status if to_status else None,
        to_status=to_status,
        text=text,
    )


async def review(
    session: AsyncSession,
    proposal: Proposal,
    *,
    actor: str,
    to_status: str | None = None,
    answer: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> list[ProposalEvent]:
    """Record a staff decision: status change, answer and note events, in that order."""
    now = now or utcnow()
    events = []
    if to_status is not None and to_status != proposal.status:
        if to_status not in TRANSITIONS.get(proposal.status, frozenset()):
            raise TransitionError(f"{proposal.status} → {to_status} is not allowed")
        events.append(_event(proposal, now, actor, "status", to_status=to_status))
        proposal.status = to_status
        proposal.updated_at = now
    if answer:
        events.append(_event(proposal, now, actor, "answer", answer))
    if note:
        events.append(_event(proposal, now, actor, "note", note))
    session.add_all(events)
    await session.flush()
    return events


async def citizen_chat(session: AsyncSession, proposal: Proposal) -> int | None:
    """Where to send the citizen a message; None once they erased their data."""
    if proposal.citizen_id is None:
        return None
    citizen = await session.get(Citizen, proposal.citizen_id)
    return citizen.telegram_user_id if citizen else None


async def attach_citizen_reply(
    session: AsyncSession, telegram_user_id: int, text: str, now: datetime | None = None
) -> Proposal | None:
    """The citizen's message becomes their reply to the newest proposal waiting for one."""
    proposal = (
        await session.execute(
            select(Proposal)
            .join(Citizen, Proposal.citizen_id == Citizen.id)
            .where(Citizen.telegram_user_id == telegram_user_id)
            .where(Proposal.status == "needs_info")
            .order_by(Proposal.updated_at.desc(), Proposal.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if proposal is None:
        return None
    now = now or utcnow()
    session.add(_event(proposal, now, "citizen", "reply", text))
    session.add(_event(proposal, now, "citizen", "status", to_status="in_review"))
    proposal.status = "in_review"
    proposal.updated_at = now
    proposal.waiting_since = now
    await session.flush()
    return proposal


async def withdraw_proposal(
    session: AsyncSession, telegram_user_id: int, reference: str, now: datetime | None = None
) -> tuple[Proposal, ProposalEvent] | None:
    """The citizen withdraws one of their own proposals not decided yet.

    Returns the proposal and the status event, or None when it is not theirs or no longer
    withdrawable.
    """
    proposal = (
        await session.execute(
            select(Proposal)
            .join(Citizen, Proposal.citizen_id == Citizen.id)
            .where(Citizen.telegram_user_id == telegram_user_id)
            .where(Proposal.reference == reference)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if proposal is None or proposal.status not in WITHDRAWABLE:
        return None
    now = now or utcnow()
    event = _event(proposal, now, "citizen", "status", to_status="withdrawn")
    session.add(event)
    proposal.status = "withdrawn"
    proposal.updated_at = now
    await session.flush()
    return proposal, event
