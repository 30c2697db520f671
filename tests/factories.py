"""Factories for the tests: citizens and submitted proposals with valid defaults.

Every field of a proposal has a default that the intake would accept, so that a test only
spells the fields its assertions depend on. The defaults are plain text (no HTML, no
`%` or `_`, none of the words the search tests look for), so they never match a search
or an escaping check by accident. No date is invented here: a proposal is submitted at
`now` when given, else at the time of the tests' fixed clock (`tests/clock.py`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.services.assignment import assign_by_rules
from storage.models import Citizen, Proposal
from storage.proposals import NewMatch, NewProposal, get_or_create_citizen, submit_proposal

TITLE = "Des bancs sur la place"
DESCRIPTION = "Installer des bancs sur la place pour que les voisins puissent se rencontrer."

_submission_keys = (f"factory-{n}" for n in itertools.count(1))
_telegram_user_ids = itertools.count(800_000_001)


def new_proposal(**fields: Any) -> NewProposal:
    """A valid `NewProposal`: a French proposal by a citizen group, with a submission key
    no other call returns; `fields` override any of its fields."""
    values: dict[str, Any] = {
        "submission_key": next(_submission_keys),
        "language": "fr",
        "title": TITLE,
        "description": DESCRIPTION,
        "carrier": "citizen_group",
    }
    values.update(fields)
    return NewProposal(**values)


async def make_citizen(
    session: AsyncSession, telegram_user_id: int | None = None, language: str = "fr"
) -> Citizen:
    """The citizen with this Telegram id (created if need be, its language set to
    `language`); without an id, a new citizen whose id no other call returns."""
    if telegram_user_id is None:
        telegram_user_id = next(_telegram_user_ids)
    return await get_or_create_citizen(session, telegram_user_id, language)


async def make_proposal(
    session: AsyncSession,
    citizen: Citizen | None = None,
    *,
    now: datetime | None = None,
    prefix: str = "BXL",
    matches: Sequence[NewMatch] = (),
    announcer: Announcer | None = None,
    **fields: Any,
) -> Proposal:
    """Submit `new_proposal(**fields)` for `citizen` (a new citizen, speaking the
    proposal's language, when none is given) and return the stored proposal.

    `now` is the submission time (by default the clock's), `prefix` the reference's
    prefix, `matches` the initiatives and proposals found close to it, best first,
    `announcer` what tells the assignee of a rule (by default: no staff group)."""
    new = new_proposal(**fields)
    if citizen is None:
        citizen = await make_citizen(session, language=new.language)
    proposal, created = await submit_proposal(
        session, citizen, new, prefix, now=now, matches=matches
    )
    if created:  # as the bot does: the assignment rules apply at once
        await assign_by_rules(session, proposal, announcer or Announcer(), now)
    return proposal
