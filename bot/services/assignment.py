"""Assigning a proposal, from every entry point: the back-office (assign, take, unassign,
reassign), the staff group's "take it" and the assignment rules at submission.

One use case wraps `storage.assignment.assign` (a conditional update) with what a change
tells others, in the same transaction: the staff group's message is edited to say who has
the proposal now (`Announcer.assignment_changed`), and a staff member who linked Telegram
and was given the proposal by someone else, or by a rule, gets a private message in their
language. Taking a proposal oneself tells nobody privately. Takes a session, never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeGuard

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.text.staff_summary import assigned_several_to_you, assigned_to_you
from storage.assignment import RULES_ACTOR, Assignment, assign, rule_assignee
from storage.models import Proposal, StaffUser
from storage.outbox import enqueue


async def change_assignment(
    session: AsyncSession,
    proposal: Proposal,
    assignee: StaffUser | None,
    *,
    actor: str,
    expected: int | None,
    announcer: Announcer,
    now: datetime | None = None,
    tell_assignee: bool = True,
) -> Assignment:
    """Give `proposal` to `assignee` (None: to nobody) if it is still with the staff id
    `expected` (see `storage.assignment.assign`), and tell the staff group and (unless
    `tell_assignee` is False: a bulk assignment tells them once, `tell_assigned`) the new
    assignee. `actor`: the e-mail address of whoever acts, or `RULES_ACTOR`."""
    outcome = await assign(session, proposal, assignee, actor=actor, expected=expected, now=now)
    if not outcome.done or outcome.event is None or proposal.is_test:
        return outcome
    await announcer.assignment_changed(session, proposal, outcome.event)
    if tell_assignee and _told(assignee, actor):
        await enqueue(
            session,
            kind="telegram",
            chat_id=assignee.telegram_user_id,  # a private chat's id is its user's id
            payload={
                "text": assigned_to_you(
                    proposal, assignee.language, announcer.back_office_url, actor
                )
            },
            dedupe_key=f"staff:assigned-to-you:{outcome.event.id}",
        )
    return outcome


def _told(assignee: StaffUser | None, actor: str) -> TypeGuard[StaffUser]:
    """Whether `assignee` hears of an assignment on Telegram: linked, and given it by
    someone else (or a rule)."""
    return (
        assignee is not None and assignee.email != actor and assignee.telegram_user_id is not None
    )


async def tell_assigned(
    session: AsyncSession,
    assignee: StaffUser | None,
    references: list[str],
    *,
    actor: str,
    announcer: Announcer,
    key: str,
) -> None:
    """One private message to `assignee` about the proposals `actor` gave them at once (a
    bulk assignment; `key`, the outbox key, names it), if they hear of assignments."""
    if not references or not _told(assignee, actor):
        return
    await enqueue(
        session,
        kind="telegram",
        chat_id=assignee.telegram_user_id,
        payload={
            "text": assigned_several_to_you(
                references, assignee.language, announcer.back_office_url, actor
            )
        },
        dedupe_key=key,
    )


async def assign_by_rules(
    session: AsyncSession, proposal: Proposal, announcer: Announcer, now: datetime | None = None
) -> StaffUser | None:
    """Give a new proposal to the staff member of the first rule that fits it; them, or
    None. Called right after `storage.proposals.submit_proposal`, before the submission is
    announced (so the staff group's first message already says who has it)."""
    staff = await rule_assignee(session, proposal)
    if staff is None:
        return None
    outcome = await change_assignment(
        session, proposal, staff, actor=RULES_ACTOR, expected=None, announcer=announcer, now=now
    )
    return outcome.assignee if outcome.done else None
