"""The staff review of a proposal, as one use case whoever asks for it (the back-office's
proposal page today; a bulk action or the API tomorrow).

A review changes the status, adds an official answer and/or an internal note; every change
is an event. The citizen is told (status and answer, never the note) through the outbox in
their own language, and the announcer tells the staff group, the coaches and the external
back-office of a status change. The caller owns the transaction: all of it commits, or none.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.text.notices import review_message
from storage.models import Proposal, ProposalEvent
from storage.outbox import enqueue
from storage.workflow import citizen_chat, review

TOLD_TO_THE_CITIZEN = ("status", "answer")


def review_key(event_id: int) -> str:
    """The outbox key of the message that tells the citizen about a review event."""
    return f"review:{event_id}"


async def apply_review(
    session: AsyncSession,
    announcer: Announcer,
    proposal: Proposal,
    *,
    actor: str,
    to_status: str | None = None,
    answer: str | None = None,
    note: str | None = None,
) -> list[ProposalEvent]:
    """Apply the review and queue what it tells others; the events it wrote.

    Raises `storage.workflow.TransitionError` when the status change is not allowed from
    the proposal's current status (nothing is written then).
    """
    events = await review(
        session, proposal, actor=actor, to_status=to_status, answer=answer, note=note
    )
    for event in events:
        if event.kind == "status":
            await announcer.status_changed(session, proposal, event)
    told = [event for event in events if event.kind in TOLD_TO_THE_CITIZEN]
    chat_id = await citizen_chat(session, proposal) if told else None
    if chat_id is not None:
        await enqueue(
            session,
            kind="telegram",
            chat_id=chat_id,
            payload={
                "text": review_message(
                    proposal.language, proposal.reference, proposal.title, proposal.status, answer
                )
            },
            dedupe_key=review_key(told[0].id),
        )
    return events
