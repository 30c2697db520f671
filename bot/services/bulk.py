"""Bulk actions: one change (assign, change the status, answer with a template) made to
many proposals at once, and its undo within `storage.bulk.UNDO_WINDOW`.

Each proposal is changed through the use case of a single change (`bot.services.
assignment.change_assignment`, `bot.services.review.apply_review`), so that its events,
outbox messages (the staff group's message, the private note to a new assignee) and
announcements are exactly those of the same change made on its page; a proposal for which
the change is not possible is skipped and the record says why.

The citizens' messages wait: `apply_review` queues the citizen's message due at once; in
the same transaction, before any dispatcher can see it, the bulk action holds it until the
undo window is over (`storage.outbox.hold`). While a held message waits, the later
messages of the same chat wait behind it (the outbox keeps each chat's order). The other
announcements (the external back-office's webhook) leave at once, as for a single change:
an undo is announced to them as the change back.

An undo, only by the staff member who made the action and only within the window, puts
back each proposal not changed again since: its assignee through `change_assignment`
(expected: the one the action gave), its status with a status event back
(`storage.bulk.restore_status`) announced like any status change. The held messages are
deleted; the citizen is not told about the status back either, since they never saw the
change, and an answer they never received stays in the history as cancelled
(`storage.bulk.cancel_answer`). Only when a held message already went out (the window is
over for the dispatcher, a clock apart) does the citizen get the message about the status
back, as for any status change they were told about.

A new kind of bulk change is a `Change`: `apply` changes one (locked) proposal and says
what it did (`AssignTo`, `SetStatus`, `AnswerWith`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.announcements import Announcer
from bot.services.assignment import change_assignment, tell_assigned
from bot.services.review import TOLD_TO_THE_CITIZEN, apply_review, review_key
from bot.text.answer_templates import answer_from_template
from bot.text.notices import review_message
from storage.bulk import (
    CHANGED_SINCE,
    DONE,
    UNDONE,
    UndoRefusal,
    action_items,
    add_item,
    cancel_answer,
    changed_since,
    claim_undo,
    last_event_id,
    locked_proposals,
    restore_status,
    start_bulk_action,
    undo_deadline,
)
from storage.clock import utcnow
from storage.models import AnswerTemplate, BulkAction, Proposal, ProposalEvent, StaffUser
from storage.outbox import cancel_unsent, enqueue, hold
from storage.staff import staff_by_id
from storage.workflow import TRANSITIONS, citizen_chat

MAX_PROPOSALS = 1000
"""The most proposals one bulk action changes (one transaction)."""

SETTABLE_STATUSES: tuple[str, ...] = ("in_review", "needs_info", "accepted", "rejected")
"""The statuses a staff member can give (no proposal is put back to "submitted", and only
the citizen withdraws one)."""

NOT_ALLOWED = "not_allowed"
ALREADY = "already"
CONFLICT = "conflict"
OTHER_CALL = "other_call"
NO_TEXT = "no_text"
UNREACHABLE = "unreachable"
"""Why a proposal was skipped: the status change is not possible from its status; it
already was so; its assignee is no longer the one the page showed; the answer template is
for another call; it has no text in the citizen's language; the citizen's data was erased
(nothing can reach them)."""


@dataclass(frozen=True)
class Target:
    """A proposal to change. `shown` when the staff member saw it in a list, with the
    assignee the list showed (`shown_assignee`): a different one now is a conflict. A
    proposal taken by a whole filter is changed from whatever it is now."""

    proposal_id: int
    shown: bool = False
    shown_assignee: int | None = None


@dataclass(frozen=True)
class Applied:
    """What a change did to one proposal: DONE or why it was skipped; for DONE, the status
    it gave (None: unchanged), whether it changed the assignee, and the review events whose
    message to the citizen must wait for the end of the undo window."""

    outcome: str
    new_status: str | None = None
    reassigned: bool = False
    events: Sequence[ProposalEvent] = field(default_factory=tuple)

    @property
    def answer_event(self) -> int | None:
        return next((event.id for event in self.events if event.kind == "answer"), None)


class Change(Protocol):
    @property
    def kind(self) -> str:
        """Its name in the record ("assign", "status")."""
        ...

    def params(self) -> dict[str, Any]:
        """What to record of the change (JSON), for its result page."""
        ...

    async def apply(
        self,
        session: AsyncSession,
        announcer: Announcer,
        proposal: Proposal,
        *,
        actor: str,
        expected_assignee: int | None,
        now: datetime,
    ) -> Applied: ...

    async def finish(
        self,
        session: AsyncSession,
        announcer: Announcer,
        action: BulkAction,
        changed: list[str],
        *,
        actor: str,
    ) -> None:
        """Once every proposal was changed: what the whole action tells others once
        (`changed`: the references it changed)."""
        ...


@dataclass(frozen=True)
class AssignTo:
    """Give the proposals to `assignee` (None: to nobody)."""

    assignee: StaffUser | None
    kind: str = "assign"

    def params(self) -> dict[str, Any]:
        if self.assignee is None:
            return {"assignee": None, "assignee_email": None}
        return {"assignee": self.assignee.id, "assignee_email": self.assignee.email}

    async def apply(
        self,
        session: AsyncSession,
        announcer: Announcer,
        proposal: Proposal,
        *,
        actor: str,
        expected_assignee: int | None,
        now: datetime,
    ) -> Applied:
        target = self.assignee.id if self.assignee is not None else None
        if proposal.assignee_id == target:
            return Applied(ALREADY)
        outcome = await change_assignment(
            session,
            proposal,
            self.assignee,
            actor=actor,
            expected=expected_assignee,
            announcer=announcer,
            now=now,
            tell_assignee=False,
        )
        return Applied(DONE, reassigned=True) if outcome.done else Applied(CONFLICT)

    async def finish(
        self,
        session: AsyncSession,
        announcer: Announcer,
        action: BulkAction,
        changed: list[str],
        *,
        actor: str,
    ) -> None:
        """The new assignee hears of all of them in one message, not one per proposal."""
        await tell_assigned(
            session,
            self.assignee,
            changed,
            actor=actor,
            announcer=announcer,
            key=f"staff:bulk-assigned:{action.id}",
        )


class _EachToldByItsReview:
    """A change whose every proposal's review already told its citizen: nothing to tell
    once at the end."""

    async def finish(
        self,
        session: AsyncSession,
        announcer: Announcer,
        action: BulkAction,
        changed: list[str],
        *,
        actor: str,
    ) -> None:
        return None


@dataclass(frozen=True)
class SetStatus(_EachToldByItsReview):
    """Change the proposals' status to `status` where the workflow allows it."""

    status: str
    kind: str = "status"

    def params(self) -> dict[str, Any]:
        return {"status": self.status}

    async def apply(
        self,
        session: AsyncSession,
        announcer: Announcer,
        proposal: Proposal,
        *,
        actor: str,
        expected_assignee: int | None,
        now: datetime,
    ) -> Applied:
        if proposal.status == self.status:
            return Applied(ALREADY)
        if self.status not in TRANSITIONS.get(proposal.status, frozenset()):
            return Applied(NOT_ALLOWED)
        events = await apply_review(
            session, announcer, proposal, actor=actor, to_status=self.status
        )
        return Applied(DONE, new_status=self.status, events=events)


@dataclass(frozen=True)
class AnswerWith(_EachToldByItsReview):
    """Answer each citizen with `template`, filled for their proposal in their language,
    and give the template's status where the workflow allows it (a template that goes
    with a status the proposal cannot take is not sent: its words are about that status)."""

    template: AnswerTemplate
    kind: str = "answer"

    def params(self) -> dict[str, Any]:
        return {
            "template": self.template.id,
            "template_name": self.template.name,
            "status": self.template.status,
        }

    async def apply(
        self,
        session: AsyncSession,
        announcer: Announcer,
        proposal: Proposal,
        *,
        actor: str,
        expected_assignee: int | None,
        now: datetime,
    ) -> Applied:
        template = self.template
        if template.call_id is not None and template.call_id != proposal.call_id:
            return Applied(OTHER_CALL)
        if proposal.citizen_id is None:
            return Applied(UNREACHABLE)
        answer = answer_from_template(template, proposal)
        if answer is None:
            return Applied(NO_TEXT)
        to_status = template.status if template.status != proposal.status else None
        if to_status is not None and to_status not in TRANSITIONS.get(proposal.status, ()):
            return Applied(NOT_ALLOWED)
        events = await apply_review(
            session, announcer, proposal, actor=actor, to_status=to_status, answer=answer
        )
        return Applied(DONE, new_status=to_status, events=events)


async def _hold_citizen_messages(
    session: AsyncSession, events: Sequence[ProposalEvent], until: datetime
) -> list[int]:
    """Hold the message `apply_review` queued for the citizen about `events` (one per
    review, under the key of its first told event) until `until`; the held ids."""
    told = [event for event in events if event.kind in TOLD_TO_THE_CITIZEN]
    if not told:
        return []
    held = await hold(session, review_key(told[0].id), until)
    return [held] if held is not None else []


async def run_bulk(
    session: AsyncSession,
    announcer: Announcer,
    change: Change,
    targets: Sequence[Target],
    *,
    actor: str,
    context: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> BulkAction:
    """Make `change` to each of `targets` (at most MAX_PROPOSALS), in their order, and
    record it; `context` (the list's filter, the scope) is kept with it. The caller owns
    the transaction."""
    if len(targets) > MAX_PROPOSALS:
        raise ValueError(f"{len(targets)} proposals; a bulk action changes {MAX_PROPOSALS}")
    now = now or utcnow()
    action = await start_bulk_action(
        session,
        actor=actor,
        kind=change.kind,
        params={**change.params(), **(context or {})},
        now=now,
    )
    until = undo_deadline(action)
    proposals = {p.id: p for p in await locked_proposals(session, [t.proposal_id for t in targets])}
    changed: list[str] = []
    for target in targets:
        proposal = proposals.get(target.proposal_id)
        if proposal is None:
            continue
        previous_status, previous_assignee = proposal.status, proposal.assignee_id
        expected = target.shown_assignee if target.shown else proposal.assignee_id
        applied = await change.apply(
            session, announcer, proposal, actor=actor, expected_assignee=expected, now=now
        )
        done = applied.outcome == DONE
        if done:
            changed.append(proposal.reference)
        add_item(
            session,
            action,
            proposal,
            outcome=applied.outcome,
            previous_status=previous_status,
            previous_assignee_id=previous_assignee,
            new_status=applied.new_status,
            reassigned=applied.reassigned,
            last_event=await last_event_id(session, proposal.id) if done else None,
            held_outbox_ids=await _hold_citizen_messages(session, applied.events, until),
            answer_event=applied.answer_event,
        )
    await change.finish(session, announcer, action, changed, actor=actor)
    await session.flush()
    return action


async def undo_bulk(
    session: AsyncSession,
    announcer: Announcer,
    action_id: int,
    *,
    actor: str,
    now: datetime | None = None,
) -> UndoRefusal | None:
    """Undo the bulk action (see the module's docstring); None when it was undone (each
    item then says whether it was put back, or left because it changed since), otherwise
    why it cannot be. The caller owns the transaction."""
    now = now or utcnow()
    refusal = await claim_undo(session, action_id, actor, now)
    if refusal is not None:
        return refusal
    items = [
        (item, p) for item, p in await action_items(session, action_id) if item.outcome == DONE
    ]
    await locked_proposals(session, [proposal.id for _item, proposal in items])  # refreshed
    for item, proposal in items:
        if await changed_since(session, item, proposal):
            item.undo = CHANGED_SINCE
            continue
        if item.reassigned:
            previous = None
            if item.previous_assignee_id is not None:
                previous = await staff_by_id(session, item.previous_assignee_id)
            outcome = await change_assignment(
                session,
                proposal,
                previous,
                actor=actor,
                expected=item.new_assignee_id,
                announcer=announcer,
                now=now,
            )
            if not outcome.done:
                item.undo = CHANGED_SINCE
                continue
        gone_out = await cancel_unsent(session, item.held_outbox_ids)
        if item.answer_event_id is not None and not gone_out:
            await cancel_answer(session, item.answer_event_id)
        if item.new_status is not None:
            event = await restore_status(
                session, proposal, item.previous_status, actor=actor, now=now
            )
            await announcer.status_changed(session, proposal, event)
            if gone_out:
                await _tell_citizen(session, proposal, event)
        item.undo = UNDONE
    await session.flush()
    return None


async def _tell_citizen(session: AsyncSession, proposal: Proposal, event: ProposalEvent) -> None:
    """The citizen saw the change (its message went out): tell them about the status back,
    as `apply_review` tells them about a status change."""
    chat_id = await citizen_chat(session, proposal)
    if chat_id is None:
        return
    await enqueue(
        session,
        kind="telegram",
        chat_id=chat_id,
        payload={
            "text": review_message(
                proposal.language, proposal.reference, proposal.title, proposal.status, None
            )
        },
        dedupe_key=review_key(event.id),
    )
