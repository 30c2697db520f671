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

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.text.staff_summary import assigned_to_you
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
) -> Assignment:
    """Give `proposal` to `assignee` (None: to nobody) if it is still with the staff id
    `expected` (see `storage.assignment.assign`), and tell the staff group and the new
    assignee. `actor`: the e-mail address of whoever acts, or `RULES_ACTOR`."""
    outcome = await assign(session, proposal, assignee, actor=actor, expected=expected, now=now)
    if not outcome.done or outcome.event is None or proposal.is_test:
        return outcome
    await announcer.assignment_changed(session, proposal, outcome.event)
    if assignee is not None and assignee.email != actor and assignee.telegram_user_id is not None:
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
