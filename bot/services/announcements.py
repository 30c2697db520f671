"""What a submission, a status change or an assignment tells others, written to the outbox
in the same transaction: the staff Telegram group, the external back-office (webhook) and the
coaches.

Test proposals (made from the back-office's preview page) announce nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.coach_alerts import enqueue_coach_alerts, withdraw_alerts
from bot.text.proposal_data import proposal_record
from bot.text.staff_summary import staff_summary, take_buttons
from storage.models import Proposal, ProposalEvent, StaffUser
from storage.outbox import enqueue, outbox_row
from storage.proposals import matched_initiative_names


@dataclass(frozen=True)
class Announcer:
    staff_chat_id: int | None = None
    staff_language: str = "fr"
    back_office_url: str = "http://127.0.0.1:8080"
    webhook: bool = False
    """Push to BACKOFFICE_WEBHOOK_URL (the dispatcher knows the address and the secret)."""
    coach_threshold: float = 0.35
    """Coaches following an initiative matched at this score or more are alerted."""

    async def proposal_submitted(self, session: AsyncSession, proposal: Proposal) -> None:
        if proposal.is_test:
            return
        if self.staff_chat_id is not None:
            await enqueue(
                session,
                kind="telegram",
                chat_id=self.staff_chat_id,
                payload={
                    "text": await self._staff_text(session, proposal),
                    "buttons": take_buttons(
                        proposal, self.staff_language, await _assignee_email(session, proposal)
                    ),
                },
                dedupe_key=f"staff:new:{proposal.id}",
            )
        if self.webhook:
            await self._push(session, proposal, "proposal.submitted", f"submitted:{proposal.id}")
        await enqueue_coach_alerts(session, proposal, threshold=self.coach_threshold)

    async def status_changed(
        self, session: AsyncSession, proposal: Proposal, event: ProposalEvent
    ) -> None:
        if proposal.is_test:
            return
        if event.to_status == "withdrawn":
            await self._withdrawn(session, proposal)
        if self.webhook:
            change = {
                "from": event.from_status,
                "to": event.to_status,
                "at": event.created_at.isoformat(timespec="seconds"),
                "by": event.actor,
            }
            await self._push(
                session, proposal, "proposal.status_changed", f"event:{event.id}", change
            )

    async def assignment_changed(
        self, session: AsyncSession, proposal: Proposal, event: ProposalEvent
    ) -> None:
        """The staff group's message says who has the proposal now, with the "take it"
        button again when nobody has it (`event`: the assignment's, for the dedupe key)."""
        if proposal.is_test:
            return
        staff_message = await outbox_row(session, f"staff:new:{proposal.id}")
        if staff_message is None or staff_message.chat_id is None:
            return  # no staff group, or not announced yet (rules apply before)
        await enqueue(
            session,
            kind="telegram_edit",
            chat_id=staff_message.chat_id,
            payload={
                "edit_of": staff_message.id,
                "text": await self._staff_text(session, proposal),
                "buttons": take_buttons(
                    proposal, self.staff_language, await _assignee_email(session, proposal)
                ),
            },
            dedupe_key=f"staff:assignment:{event.id}",
        )

    async def anonymised(self, session: AsyncSession, proposal: Proposal) -> None:
        """The citizen erased their data: the external back-office, which received their
        contact details with the proposal, is told to erase them too (GDPR art. 19)."""
        if self.webhook and not proposal.is_test:
            await self._push(session, proposal, "proposal.anonymised", f"anonymised:{proposal.id}")

    async def _withdrawn(self, session: AsyncSession, proposal: Proposal) -> None:
        """The staff group's message and the coaches' alerts say so, without buttons."""
        await withdraw_alerts(session, proposal)
        staff_message = await outbox_row(session, f"staff:new:{proposal.id}")
        if staff_message is not None and staff_message.chat_id is not None:
            await enqueue(
                session,
                kind="telegram_edit",
                chat_id=staff_message.chat_id,
                payload={
                    "edit_of": staff_message.id,
                    "text": await self._staff_text(session, proposal),
                },
                dedupe_key=f"staff:withdrawn:{proposal.id}",
            )

    async def _staff_text(self, session: AsyncSession, proposal: Proposal) -> str:
        matched = await matched_initiative_names(session, proposal.id)
        return staff_summary(
            proposal,
            self.staff_language,
            self.back_office_url,
            matched,
            await _assignee_email(session, proposal),
        )

    async def _push(
        self,
        session: AsyncSession,
        proposal: Proposal,
        event: str,
        key: str,
        change: dict[str, Any] | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "event": event,
            "proposal": proposal_record(proposal, self.staff_language),
        }
        if change is not None:
            body["change"] = change
        await enqueue(
            session,
            kind="webhook",
            chat_id=None,
            payload={"event": event, "body": body},
            dedupe_key=f"webhook:{key}",
        )


async def _assignee_email(session: AsyncSession, proposal: Proposal) -> str | None:
    if proposal.assignee_id is None:
        return None
    staff = await session.get(StaffUser, proposal.assignee_id)
    return staff.email if staff is not None else None
