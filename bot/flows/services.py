"""What conversation steps may ask of storage and matching, for one chat and one update.

The runner builds one per update, inside the transaction that holds the chat's
conversation row, so whatever a step stores commits together with the new step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Proposal
from storage.proposals import (
    NewProposal,
    erase_citizen,
    get_or_create_citizen,
    proposals_of,
    submit_proposal,
)


@dataclass
class ChatServices:
    session: AsyncSession
    chat_id: int
    user_id: int
    reference_prefix: str
    erased: bool = False

    async def submit(self, new: NewProposal) -> str:
        citizen = await get_or_create_citizen(self.session, self.user_id, new.language)
        proposal, _created = await submit_proposal(
            self.session, citizen, new, self.reference_prefix
        )
        return proposal.reference

    async def my_proposals(self) -> list[Proposal]:
        return await proposals_of(self.session, self.user_id)

    async def erase_me(self) -> int:
        self.erased = True
        return await erase_citizen(self.session, self.user_id)

    def similar_initiatives(self, draft: dict[str, Any]) -> list[dict[str, Any]]:
        """Existing initiatives close to the draft. Empty until the matching index lands."""
        return []
