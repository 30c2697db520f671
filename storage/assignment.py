"""Who handles each proposal: assignment by hand (the back-office, the staff group's "take
it") and by rules (a call, a theme or a commune goes to a staff member).

An assignment is a conditional update: it happens only if the proposal is still assigned
to whoever the staff member saw (nobody, for "take it"), so that when two people assign or
take the same proposal at once, one wins and the other is told who has it. Every change is
an event in the proposal's history. `bot.services.assignment` wraps `assign` with what a
change tells others (the staff group's message, the assignee on Telegram).

The assignee is the only notion of who has a proposal. `Proposal.taken_by` (free text,
from the staff group's "take it" before staff accounts were linked to Telegram) is kept
for the proposals taken that way, until their assignment first changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.duplicates import NOT_A_DUPLICATE
from storage.models import AssignmentRule, Proposal, ProposalEvent, StaffUser
from storage.workflow import OPEN_STATUSES

RULE_FIELDS: tuple[str, ...] = ("call", "theme", "commune")
"""What a rule looks at, in the order rules are tried: the call first, then each theme in
the citizen's order, then the commune."""

RULES_ACTOR = "rules"
"""The events' actor when a rule assigned the proposal."""


@dataclass(frozen=True)
class Assignment:
    """The outcome of an assignment: whether it was made, and who has the proposal now."""

    done: bool
    assignee: StaffUser | None
    event: ProposalEvent | None = None
    """The history's new event, when the assignment changed."""


async def assign(
    session: AsyncSession,
    proposal: Proposal,
    assignee: StaffUser | None,
    *,
    actor: str,
    expected: int | None,
    now: datetime | None = None,
) -> Assignment:
    """Give `proposal` to `assignee` (None: to nobody) if it is still assigned to the staff
    id `expected` (None: to nobody); otherwise nothing changes and the outcome says who
    has it. Assigning to the current assignee changes nothing and is done.

    A proposal given to someone else than the `actor` (an e-mail address) is new for them
    until they open it (`mark_seen`)."""
    now = now or utcnow()
    target = assignee.id if assignee is not None else None
    changed = False
    if target != expected:
        current = Proposal.assignee_id
        result = await session.execute(
            update(Proposal)
            .where(Proposal.id == proposal.id)
            .where(current.is_(None) if expected is None else current == expected)
            .values(
                assignee_id=target,
                assigned_at=now if assignee is not None else None,
                assignee_seen_at=now if assignee is not None and assignee.email == actor else None,
                taken_by=None,
                taken_at=None,
            )
            .returning(Proposal.id)
            .execution_options(synchronize_session=False)
        )
        changed = result.scalar_one_or_none() is not None
    await session.refresh(
        proposal, ["assignee_id", "assigned_at", "assignee_seen_at", "taken_by", "taken_at"]
    )
    if not changed:
        holder = None
        if proposal.assignee_id is not None:
            holder = await session.get(StaffUser, proposal.assignee_id)
        return Assignment(proposal.assignee_id == target and target == expected, holder)
    event = ProposalEvent(
        proposal_id=proposal.id,
        created_at=now,
        actor=actor,
        kind="assigned" if assignee is not None else "unassigned",
        text=assignee.email if assignee is not None else None,
    )
    session.add(event)
    await session.flush()
    return Assignment(True, assignee, event)


async def mark_seen(
    session: AsyncSession, proposal: Proposal, staff_id: int, now: datetime | None = None
) -> None:
    """The assignee opened the proposal: it is no longer new for them."""
    if proposal.assignee_id == staff_id and proposal.assignee_seen_at is None:
        proposal.assignee_seen_at = now or utcnow()
        await session.flush()


async def new_for(session: AsyncSession, staff_id: int) -> int:
    """How many open proposals were given to this staff member and not opened yet (those
    the queue shows: not a duplicate, handled with its original)."""
    query = (
        select(func.count())
        .select_from(Proposal)
        .where(Proposal.assignee_id == staff_id)
        .where(Proposal.assignee_seen_at.is_(None))
        .where(Proposal.status.in_(OPEN_STATUSES), NOT_A_DUPLICATE)
    )
    return int((await session.execute(query)).scalar_one())


# ------------------------------------------------------------------ rules


async def assignment_rules(session: AsyncSession) -> list[tuple[AssignmentRule, StaffUser]]:
    """Every rule with its staff member, by field (in RULE_FIELDS order) and value."""
    rows = (
        await session.execute(
            select(AssignmentRule, StaffUser).join(
                StaffUser, StaffUser.id == AssignmentRule.staff_id
            )
        )
    ).all()
    pairs = [(rule, staff) for rule, staff in rows]
    pairs.sort(key=lambda pair: (RULE_FIELDS.index(pair[0].field), pair[0].value))
    return pairs


async def set_assignment_rule(
    session: AsyncSession, field: str, value: str, staff: StaffUser, *, created_by: str
) -> AssignmentRule:
    """New proposals whose `field` is `value` go to `staff` (replacing the rule for that
    value, if any)."""
    if field not in RULE_FIELDS:
        raise ValueError(f"unknown rule field {field!r}")
    await session.execute(
        delete(AssignmentRule)
        .where(AssignmentRule.field == field)
        .where(AssignmentRule.value == value)
    )
    rule = AssignmentRule(
        field=field, value=value, staff_id=staff.id, created_by=created_by, created_at=utcnow()
    )
    session.add(rule)
    await session.flush()
    return rule


async def delete_assignment_rule(session: AsyncSession, rule_id: int) -> bool:
    """Remove a rule; False if it was already gone."""
    result = await session.execute(delete(AssignmentRule).where(AssignmentRule.id == rule_id))
    return bool(getattr(result, "rowcount", 0))


def _candidates(proposal: Proposal) -> Sequence[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if proposal.call_id:
        found.append(("call", proposal.call_id))
    found.extend(("theme", theme) for theme in proposal.themes)
    if proposal.commune_refnis:
        found.append(("commune", proposal.commune_refnis))
    return found


async def rule_assignee(session: AsyncSession, proposal: Proposal) -> StaffUser | None:
    """The staff member of the first rule that fits a new proposal, or None
    (`bot.services.assignment.assign_by_rules` gives it to them)."""
    candidates = _candidates(proposal)
    if not candidates:
        return None
    rules = (
        await session.execute(
            select(AssignmentRule, StaffUser)
            .join(StaffUser, StaffUser.id == AssignmentRule.staff_id)
            .where(AssignmentRule.field.in_({field for field, _ in candidates}))
            .where(AssignmentRule.value.in_({value for _, value in candidates}))
        )
    ).all()
    by_key = {(rule.field, rule.value): staff for rule, staff in rules}
    for key in candidates:
        staff = by_key.get(key)
        if staff is not None:
            return staff
    return None
