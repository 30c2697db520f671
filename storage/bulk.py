"""Bulk actions: the record of a change made to many proposals at once, kept so that it
can be undone within `UNDO_WINDOW`.

The use cases (bot.services.bulk) change each proposal as a single change would and write
here what it was before and what was done; an undo reads it back. A proposal changed
again since the bulk action (a newer event of the same kind in its history, or another
value than the bulk action gave it) is not undone: the newer change wins.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.models import BulkAction, BulkActionItem, Proposal, ProposalEvent

UNDO_WINDOW = timedelta(seconds=60)
"""How long a bulk change can be undone; the citizens' messages it queued wait as long."""

DONE = "done"
UNDONE = "undone"
CHANGED_SINCE = "changed"

STATUS_KINDS = ("status",)
ASSIGNMENT_KINDS = ("assigned", "unassigned")
"""The events that change a proposal's status, and its assignee."""


def undo_deadline(action: BulkAction) -> datetime:
    """Until when `action` can be undone (and its citizens' messages wait)."""
    return action.created_at + UNDO_WINDOW


async def start_bulk_action(
    session: AsyncSession,
    *,
    actor: str,
    kind: str,
    params: dict[str, Any],
    now: datetime | None = None,
) -> BulkAction:
    """Record a new bulk action (its items are added as each proposal is changed)."""
    action = BulkAction(actor=actor, kind=kind, params=params, created_at=now or utcnow())
    session.add(action)
    await session.flush()
    return action


async def locked_proposals(session: AsyncSession, ids: Collection[int]) -> list[Proposal]:
    """The proposals, by id, locked for update where the database can (a single change at
    the same moment waits for the bulk action, or the other way round)."""
    if not ids:
        return []
    rows = await session.execute(
        select(Proposal)
        .where(Proposal.id.in_(list(ids)))
        .order_by(Proposal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def proposals_by_reference(
    session: AsyncSession, references: Collection[str]
) -> list[Proposal]:
    """The proposals with these references (unknown ones are left out), in no order."""
    if not references:
        return []
    rows = await session.execute(select(Proposal).where(Proposal.reference.in_(list(references))))
    return list(rows.scalars())


async def last_event_id(session: AsyncSession, proposal_id: int) -> int | None:
    """The newest event of the proposal's history."""
    query = select(func.max(ProposalEvent.id)).where(ProposalEvent.proposal_id == proposal_id)
    return (await session.execute(query)).scalar_one_or_none()


def add_item(
    session: AsyncSession,
    action: BulkAction,
    proposal: Proposal,
    *,
    outcome: str,
    previous_status: str,
    previous_assignee_id: int | None,
    new_status: str | None = None,
    reassigned: bool = False,
    last_event: int | None = None,
    held_outbox_ids: list[int] | None = None,
    answer_event: int | None = None,
) -> BulkActionItem:
    """What the bulk action did to `proposal` (see `BulkActionItem`)."""
    item = BulkActionItem(
        bulk_id=action.id,
        proposal_id=proposal.id,
        outcome=outcome,
        previous_status=previous_status,
        previous_assignee_id=previous_assignee_id,
        new_status=new_status,
        reassigned=reassigned,
        new_assignee_id=proposal.assignee_id if reassigned else None,
        last_event_id=last_event,
        held_outbox_ids=held_outbox_ids or [],
        answer_event_id=answer_event,
    )
    session.add(item)
    return item


async def bulk_action(session: AsyncSession, action_id: int) -> BulkAction | None:
    return await session.get(BulkAction, action_id)


async def action_items(
    session: AsyncSession, action_id: int
) -> list[tuple[BulkActionItem, Proposal]]:
    """The action's items with their proposals, in the order they were changed."""
    rows = await session.execute(
        select(BulkActionItem, Proposal)
        .join(Proposal, Proposal.id == BulkActionItem.proposal_id)
        .where(BulkActionItem.bulk_id == action_id)
        .order_by(BulkActionItem.id)
        .execution_options(populate_existing=True)
    )
    return [(item, proposal) for item, proposal in rows.all()]


@dataclass(frozen=True)
class UndoRefusal:
    """Why a bulk action cannot be undone: "gone" (no such action), "not_yours" (only its
    author may undo it), "already" (undone before) or "too_late" (the window is over)."""

    reason: str


async def claim_undo(
    session: AsyncSession, action_id: int, actor: str, now: datetime | None = None
) -> UndoRefusal | None:
    """Mark the action undone if `actor` made it, it is not undone yet and its window is
    not over; None when it is (the caller then undoes its items in the same transaction),
    otherwise why not. Conditional, so that two undos at once undo it once."""
    now = now or utcnow()
    result = await session.execute(
        update(BulkAction)
        .where(
            BulkAction.id == action_id,
            BulkAction.actor == actor,
            BulkAction.undone_at.is_(None),
            BulkAction.created_at > now - UNDO_WINDOW,
        )
        .values(undone_at=now)
        .returning(BulkAction.id)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is not None:
        return None
    action = await session.get(BulkAction, action_id, populate_existing=True)
    if action is None:
        return UndoRefusal("gone")
    if action.actor != actor:
        return UndoRefusal("not_yours")
    if action.undone_at is not None:
        return UndoRefusal("already")
    return UndoRefusal("too_late")


async def changed_since(session: AsyncSession, item: BulkActionItem, proposal: Proposal) -> bool:
    """Whether the proposal was changed again after the bulk action changed it: a newer
    status (or assignment) event than the action's, or another status (or assignee) than
    the one the action gave it."""
    kinds: list[str] = []
    if item.new_status is not None:
        kinds += STATUS_KINDS
        if proposal.status != item.new_status:
            return True
    if item.reassigned:
        kinds += ASSIGNMENT_KINDS
        if proposal.assignee_id != item.new_assignee_id:
            return True
    if not kinds:
        return False
    newer = exists().where(
        ProposalEvent.proposal_id == proposal.id,
        ProposalEvent.id > (item.last_event_id or 0),
        ProposalEvent.kind.in_(kinds),
    )
    return bool((await session.execute(select(newer))).scalar())


async def restore_status(
    session: AsyncSession,
    proposal: Proposal,
    status: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> ProposalEvent:
    """Put the proposal back in the status a bulk action took it from, with a status event
    in its history.

    Not `storage.workflow.review`: the way back is often no transition of the workflow
    (submitted → accepted is one, accepted → submitted is not), and undoing is not a new
    decision but the erasing of one made a moment ago."""
    now = now or utcnow()
    event = ProposalEvent(
        proposal_id=proposal.id,
        created_at=now,
        actor=actor,
        kind="status",
        from_status=proposal.status,
        to_status=status,
    )
    session.add(event)
    proposal.status = status
    proposal.updated_at = now
    await session.flush()
    return event


ANSWER_CANCELLED = "answer_cancelled"


async def cancel_answer(session: AsyncSession, event_id: int) -> None:
    """An answer a bulk action wrote, undone before its message left: it stays in the
    history, as an answer that was never sent (so the citizen's /status and data copy,
    which show the answers they received, leave it out)."""
    event = await session.get(ProposalEvent, event_id)
    if event is not None and event.kind == "answer":
        event.kind = ANSWER_CANCELLED
