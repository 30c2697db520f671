"""Duplicates (issue 14 §6): a proposal marked as a duplicate of another one, its original.

Why a link and not a status: the statuses (storage.workflow STATUSES, TRANSITIONS) say
where the staff's decision on a proposal stands, and the citizen reads them in /status.
Being a duplicate is another matter: a duplicate keeps its status (staff may still answer
it, the citizen may still withdraw it), and unmarking it gives it back exactly as it was,
with no earlier status to remember. A "duplicate" status would have to be reachable from
every open status and lead back to the one it came from, and it would show in every status
count, chart and export. So a duplicate is `Proposal.duplicate_of_id`, and the open views
(storage.review: the queue, the list's default "open" filter, the team's load) ask for
`NOT_A_DUPLICATE` beside OPEN_STATUSES: a duplicate leaves them as a decided or withdrawn
proposal does, and comes back when it is unmarked.

The links stay one level deep: an original is never itself a duplicate (staff are told
which proposal it duplicates, to pick that one instead), and a proposal that has duplicates
does not become one. So there are no chains, hence no cycles. Marking locks both proposals
(FOR UPDATE, in id order, on PostgreSQL) so that two staff members marking A as a duplicate
of B and B of A at the same moment cannot both succeed.

Every change is an event on both proposals, whose text is the other one's reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.models import Citizen, Proposal, ProposalEvent

NOT_A_DUPLICATE: ColumnElement[bool] = Proposal.duplicate_of_id.is_(None)
"""The condition the open views add to OPEN_STATUSES (see the module's docstring)."""

MARKED = "duplicate"
"""On the duplicate: it was marked as a duplicate of the original (the event's text)."""
HAS_DUPLICATE = "has_duplicate"
"""On the original: the proposal named in the text was marked as a duplicate of it."""
UNMARKED = "not_duplicate"
"""On the former duplicate: it is no longer a duplicate of the proposal named in the text."""
DUPLICATE_GONE = "duplicate_gone"
"""On the former original: the proposal named in the text is no longer its duplicate."""
ASKED_TO_JOIN = "asked_to_join"
"""On the duplicate: its citizen asked to join the original named in the text."""
JOIN_REQUESTED = "join_requested"
"""On the original: the citizen of the duplicate named in the text asked to join it."""
EVENT_KINDS = (MARKED, HAS_DUPLICATE, UNMARKED, DUPLICATE_GONE, ASKED_TO_JOIN, JOIN_REQUESTED)


class DuplicateError(ValueError):
    """The proposal cannot be marked (or unmarked) so; nothing was changed.

    `code` says why: "itself", "unknown" (no proposal has the reference), "already" (the
    proposal is already a duplicate, of `reference`), "cycle" (the original is a duplicate
    of this very proposal), "original_is_duplicate" (the original duplicates `reference`:
    choose that one), "has_duplicates" (the proposal is the original of `references`),
    "not_duplicate" (nothing to unmark).
    """

    def __init__(self, code: str, *references: str) -> None:
        super().__init__(code, *references)
        self.code = code
        self.references = references

    @property
    def reference(self) -> str | None:
        return self.references[0] if self.references else None


async def by_reference(session: AsyncSession, reference: str) -> Proposal | None:
    """The proposal with this reference, as staff type it (spaces around, any case)."""
    wanted = reference.strip()
    if not wanted:
        return None
    return (
        await session.execute(
            select(Proposal)
            .where(
                or_(Proposal.reference == wanted, func.upper(Proposal.reference) == wanted.upper())
            )
            .limit(1)
        )
    ).scalar_one_or_none()


async def _locked(session: AsyncSession, *ids: int) -> dict[int, Proposal]:
    """The proposals, locked in id order (so that two markings never wait for each other
    in a circle), read afresh."""
    rows = await session.execute(
        select(Proposal)
        .where(Proposal.id.in_(ids))
        .order_by(Proposal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {proposal.id: proposal for proposal in rows.scalars()}


async def duplicates_of(session: AsyncSession, original_id: int) -> list[Proposal]:
    """The proposals marked as duplicates of this one, oldest first."""
    rows = await session.execute(
        select(Proposal)
        .where(Proposal.duplicate_of_id == original_id)
        .order_by(Proposal.submitted_at, Proposal.id)
    )
    return list(rows.scalars())


async def original_of(session: AsyncSession, proposal: Proposal) -> Proposal | None:
    """The proposal this one duplicates, or None."""
    if proposal.duplicate_of_id is None:
        return None
    return await session.get(Proposal, proposal.duplicate_of_id)


async def _add_events(
    session: AsyncSession,
    now: datetime,
    actor: str,
    *pairs: tuple[Proposal, str, Proposal],
) -> list[ProposalEvent]:
    """One event per (proposal, kind, the other proposal named in its text)."""
    events = [
        ProposalEvent(
            proposal_id=proposal.id, created_at=now, actor=actor, kind=kind, text=other.reference
        )
        for proposal, kind, other in pairs
    ]
    session.add_all(events)
    await session.flush()
    return events


async def mark_duplicate(
    session: AsyncSession,
    proposal: Proposal,
    original_reference: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> tuple[Proposal, ProposalEvent]:
    """Mark `proposal` as a duplicate of the proposal with `original_reference`; the
    original and the duplicate's event. Raises DuplicateError (nothing changed) when it
    cannot be."""
    target = await by_reference(session, original_reference)
    if target is None:
        raise DuplicateError("unknown", original_reference.strip())
    if target.id == proposal.id:
        raise DuplicateError("itself")
    locked = await _locked(session, proposal.id, target.id)
    proposal, original = locked[proposal.id], locked[target.id]
    if proposal.duplicate_of_id is not None:
        current = await session.get(Proposal, proposal.duplicate_of_id)
        raise DuplicateError("already", current.reference if current else "?")
    if original.duplicate_of_id == proposal.id:
        raise DuplicateError("cycle", original.reference)
    if original.duplicate_of_id is not None:
        first = await session.get(Proposal, original.duplicate_of_id)
        raise DuplicateError("original_is_duplicate", first.reference if first else "?")
    own = await duplicates_of(session, proposal.id)
    if own:
        raise DuplicateError("has_duplicates", *(d.reference for d in own))
    now = now or utcnow()
    proposal.duplicate_of_id = original.id
    marked, _ = await _add_events(
        session, now, actor, (proposal, MARKED, original), (original, HAS_DUPLICATE, proposal)
    )
    return original, marked


async def unmark_duplicate(
    session: AsyncSession, proposal: Proposal, *, actor: str, now: datetime | None = None
) -> Proposal:
    """`proposal` is no longer a duplicate; its former original. Raises DuplicateError
    ("not_duplicate") when it was not one (any more)."""
    proposal = (await _locked(session, proposal.id))[proposal.id]
    original = await original_of(session, proposal)
    if original is None:
        raise DuplicateError("not_duplicate")
    proposal.duplicate_of_id = None
    await _add_events(
        session,
        now or utcnow(),
        actor,
        (proposal, UNMARKED, original),
        (original, DUPLICATE_GONE, proposal),
    )
    return original


@dataclass(frozen=True)
class JoinRequest:
    """What became of a citizen's request to join the original of their duplicate.

    `outcome`: "requested" (recorded now), "already" (recorded before: nothing more),
    "not_duplicate" (the proposal is no longer a duplicate of that original), "unknown"
    (not a proposal of this citizen, or its personal data was erased)."""

    outcome: str
    original: Proposal | None = None


async def request_join(
    session: AsyncSession,
    telegram_user_id: int,
    duplicate_id: int,
    original_id: int,
    now: datetime | None = None,
) -> JoinRequest:
    """The citizen of the duplicate asks to join its original: an event on both, once."""
    duplicate = (
        await session.execute(
            select(Proposal)
            .join(Citizen, Proposal.citizen_id == Citizen.id)
            .where(Citizen.telegram_user_id == telegram_user_id)
            .where(Proposal.id == duplicate_id)
            .with_for_update(of=Proposal)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if duplicate is None:
        return JoinRequest("unknown")
    if duplicate.duplicate_of_id != original_id:
        return JoinRequest("not_duplicate")
    original = await session.get(Proposal, original_id)
    assert original is not None  # the foreign key
    asked = await session.execute(
        select(
            exists()
            .where(ProposalEvent.proposal_id == duplicate.id)
            .where(ProposalEvent.kind == ASKED_TO_JOIN)
            .where(ProposalEvent.text == original.reference)
        )
    )
    if asked.scalar_one():
        return JoinRequest("already", original)
    await _add_events(
        session,
        now or utcnow(),
        "citizen",
        (duplicate, ASKED_TO_JOIN, original),
        (original, JOIN_REQUESTED, duplicate),
    )
    return JoinRequest("requested", original)
