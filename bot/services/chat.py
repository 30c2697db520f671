"""What conversation steps may ask of storage and matching, for one chat and one update.

The runner builds one per update, inside the transaction that holds the chat's
conversation row, so whatever a step stores commits together with the new step.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.services.assignment import assign_by_rules
from bot.services.matcher import Matcher, Similar
from bot.services.retention import NO_POLICY, DataPolicy
from bot.text.my_data import Sharing, data_copy
from matching.similar import Query
from storage.access import citizen_record
from storage.clock import utcnow
from storage.models import Proposal
from storage.proposals import (
    NewMatch,
    NewProposal,
    erase_citizen,
    get_or_create_citizen,
    proposals_of,
    submit_proposal,
)
from storage.workflow import WITHDRAWABLE, attach_citizen_reply, withdraw_proposal


def similarity_query(draft: dict[str, Any], language: str) -> Query:
    return Query(
        text=f"{draft.get('title', '')}\n{draft.get('description', '')}",
        language=language,
        commune=draft.get("commune"),
        themes=tuple(draft.get("themes", [])),
    )


@dataclass
class ChatServices:
    session: AsyncSession
    chat_id: int
    user_id: int
    reference_prefix: str
    matcher: Matcher
    announcer: Announcer
    test_proposals: bool = False
    data_policy: DataPolicy = NO_POLICY
    erased: bool = False

    async def similar(self, draft: dict[str, Any], language: str) -> list[Similar]:
        """Initiatives and earlier proposals close to the draft, best first."""
        await self.matcher.refresh(self.session)
        return await self.matcher.search(similarity_query(draft, language))

    async def submit(self, new: NewProposal, draft: dict[str, Any]) -> str:
        """Store the proposal with what it matches now, in its final wording."""
        citizen = await get_or_create_citizen(self.session, self.user_id, new.language)
        matches = [
            NewMatch(
                score=found.score,
                reasons=list(found.reasons),
                initiative_id=found.database_id if found.kind == "initiative" else None,
                other_proposal_id=found.database_id if found.kind == "proposal" else None,
            )
            for found in await self.similar(draft, new.language)
        ]
        if self.test_proposals:
            new = replace(new, is_test=True)
        vector = await asyncio.to_thread(self.matcher.vector_of, new.title, new.description)
        if vector is not None:
            new = replace(new, vector=vector[0], vector_model=vector[1])
        proposal, created = await submit_proposal(
            self.session, citizen, new, self.reference_prefix, matches=matches
        )
        if created:
            await assign_by_rules(self.session, proposal, self.announcer)
            await self.announcer.proposal_submitted(self.session, proposal)
        self.matcher.invalidate()
        return proposal.reference

    async def my_proposals(self) -> list[Proposal]:
        return await proposals_of(self.session, self.user_id)

    async def withdrawable(self) -> list[Proposal]:
        """The citizen's proposals the staff have not decided on yet."""
        return [p for p in await self.my_proposals() if p.status in WITHDRAWABLE]

    async def withdraw(self, reference: str) -> bool:
        withdrawn = await withdraw_proposal(self.session, self.user_id, reference)
        if withdrawn is None:
            return False
        proposal, event = withdrawn
        await self.announcer.status_changed(self.session, proposal, event)
        await self.matcher.forget_proposal(proposal.id)
        return True

    async def attach_reply(self, text: str) -> str | None:
        """Attach the message to the proposal the staff asked more about; its reference."""
        proposal = await attach_citizen_reply(self.session, self.user_id, text)
        return proposal.reference if proposal else None

    async def my_data(self) -> tuple[dict[str, Any], list[Proposal]]:
        record = await citizen_record(self.session, self.user_id)
        sharing = Sharing(
            staff_group=self.announcer.staff_chat_id is not None, webhook=self.announcer.webhook
        )
        return data_copy(record, sharing, now=utcnow()), record.proposals

    async def erase_me(self) -> int:
        self.erased = True
        proposals = await erase_citizen(self.session, self.user_id)
        for proposal in proposals:
            await self.announcer.anonymised(self.session, proposal)
        return len(proposals)
