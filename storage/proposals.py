"""Proposals: submission with a per-year sequential reference, listing, erasure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.clock import BRUSSELS, utcnow
from storage.database import dialect_insert
from storage.inbox import forget_chat
from storage.models import (
    Citizen,
    Conversation,
    Initiative,
    Proposal,
    ProposalEvaluation,
    ProposalEvent,
    ProposalMatch,
    ReferenceCounter,
)
from storage.outbox import forget_messages
from storage.redaction import Identity, identity_of, redact


@dataclass(frozen=True)
class NewProposal:
    """Everything the citizen reviewed, ready to store."""

    submission_key: str
    language: str
    title: str
    description: str
    carrier: str
    commune_refnis: str | None = None
    region_wide: bool = False
    latitude: float | None = None
    longitude: float | None = None
    partners: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    carrier_other: str | None = None
    partners_other: str | None = None
    similar: dict[str, Any] | None = None
    budget_cents: int | None = None
    call_id: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    consent_contact: bool = False
    consent_share: bool = False
    is_test: bool = False
    vector: bytes | None = None
    vector_model: str | None = None


@dataclass(frozen=True)
class NewMatch:
    """An initiative (or earlier proposal) found close to a proposal being submitted."""

    score: float
    reasons: list[str]
    initiative_id: int | None = None
    other_proposal_id: int | None = None


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:05d}"


async def get_or_create_citizen(
    session: AsyncSession, telegram_user_id: int, language: str
) -> Citizen:
    citizen = (
        await session.execute(select(Citizen).where(Citizen.telegram_user_id == telegram_user_id))
    ).scalar_one_or_none()
    if citizen is None:
        citizen = Citizen(telegram_user_id=telegram_user_id, language=language)
        session.add(citizen)
        await session.flush()
    elif citizen.language != language:
        citizen.language = language
    return citizen


async def _next_number(session: AsyncSession, year: int) -> int:
    insert = dialect_insert(session)
    await session.execute(
        insert(ReferenceCounter).values(year=year, last_number=0).on_conflict_do_nothing()
    )
    result = await session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last_number=ReferenceCounter.last_number + 1)
        .returning(ReferenceCounter.last_number)
    )
    return int(result.scalar_one())


async def submit_proposal(
    session: AsyncSession,
    citizen: Citizen,
    new: NewProposal,
    reference_prefix: str,
    now: datetime | None = None,
    matches: Sequence[NewMatch] = (),
) -> tuple[Proposal, bool]:
    """Store the proposal once per submission key; returns it and whether it is new.

    The assignment rules are the caller's to apply (`bot.services.assignment.assign_by_rules`,
    which tells the assignee)."""
    existing = (
        await session.execute(select(Proposal).where(Proposal.submission_key == new.submission_key))
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    now = now or utcnow()
    # The reference carries the year of the submission's Brussels date: a proposal sent at
    # 00:30 on 1 January, Brussels time, belongs to the new year.
    year = now.astimezone(BRUSSELS).year
    number = await _next_number(session, year)
    proposal = Proposal(
        reference=format_reference(reference_prefix, year, number),
        citizen_id=citizen.id,
        status="submitted",
        submitted_at=now,
        updated_at=now,
        waiting_since=now,
        **new.__dict__,
    )
    session.add(proposal)
    await session.flush()
    for rank, match in enumerate(matches, start=1):
        session.add(
            ProposalMatch(
                proposal_id=proposal.id,
                rank=rank,
                score=match.score,
                reasons=match.reasons,
                initiative_id=match.initiative_id,
                other_proposal_id=match.other_proposal_id,
            )
        )
    session.add(
        ProposalEvent(
            proposal_id=proposal.id,
            created_at=now,
            actor="citizen",
            kind="status",
            from_status=None,
            to_status="submitted",
        )
    )
    return proposal, True


async def matched_initiative_names(session: AsyncSession, proposal_id: int) -> list[str]:
    """Names of the initiatives the proposal matched when submitted, best first."""
    await session.flush()
    result = await session.execute(
        select(Initiative.name)
        .join(ProposalMatch, ProposalMatch.initiative_id == Initiative.id)
        .where(ProposalMatch.proposal_id == proposal_id)
        .order_by(ProposalMatch.rank)
    )
    return list(result.scalars())


async def proposals_of(session: AsyncSession, telegram_user_id: int) -> list[Proposal]:
    """The citizen's own proposals, newest first, with their history."""
    result = await session.execute(
        select(Proposal)
        .join(Citizen, Proposal.citizen_id == Citizen.id)
        .where(Citizen.telegram_user_id == telegram_user_id)
        .options(selectinload(Proposal.events))
        .order_by(Proposal.submitted_at.desc(), Proposal.id.desc())
    )
    return list(result.scalars())


async def anonymise_proposal(
    session: AsyncSession, proposal: Proposal, identity: Identity, *, now: datetime, actor: str
) -> None:
    """Take out of the proposal (its events loaded) what identifies its citizen: contact
    fields, location, consents, the link to the citizen and the key that held their
    Telegram id; their replies are deleted, the staff's answers and notes and the free
    texts of their evaluation lose their name, e-mail, phone and Telegram id
    (`storage.redaction`). The content stays. Does not commit.
    """
    pattern = identity.pattern()
    proposal.contact_name = None
    proposal.contact_email = None
    proposal.contact_phone = None
    proposal.consent_contact = False
    proposal.consent_share = False
    proposal.latitude = None
    proposal.longitude = None
    proposal.citizen_id = None
    proposal.submission_key = f"erased-{proposal.id}"
    proposal.anonymised_at = now
    for event in proposal.events:
        event.text = None if event.kind == "reply" else redact(event.text, pattern)
    evaluation = await session.get(ProposalEvaluation, proposal.id)
    if evaluation is not None:
        evaluation.explanation = redact(evaluation.explanation, pattern)
        evaluation.services_consulted = redact(evaluation.services_consulted, pattern)
    session.add(
        ProposalEvent(proposal_id=proposal.id, created_at=now, actor=actor, kind="anonymised")
    )


def identity_of_proposals(telegram_user_id: int | None, proposals: Sequence[Proposal]) -> Identity:
    """Who the citizen is, from their contact fields and what they wrote to the staff."""
    return identity_of(
        telegram_user_id,
        [(p.contact_name, p.contact_email, p.contact_phone) for p in proposals],
        [e.text for p in proposals for e in p.events if e.kind == "reply"],
    )


async def erase_citizen(session: AsyncSession, telegram_user_id: int) -> list[Proposal]:
    """Erase a citizen's personal data and anonymise their proposals; those proposals.

    Deleted: the citizen's row with their Telegram id, the conversation (with its draft),
    the messages the bot set aside unhandled (parked in the inbox), and every stored
    outgoing message to them or that names them (`storage.outbox.forget_messages`:
    answers, contact details given to a coach, webhook pushes); finished inbox rows lose
    the chat. Each proposal is anonymised (`anonymise_proposal`): it stays, for the calls it
    was sent to, without anything that points to the person.
    """
    citizen = (
        await session.execute(select(Citizen).where(Citizen.telegram_user_id == telegram_user_id))
    ).scalar_one_or_none()
    now = utcnow()
    proposals = await proposals_of(session, telegram_user_id) if citizen is not None else []
    identity = identity_of_proposals(telegram_user_id, proposals)
    for proposal in proposals:
        await anonymise_proposal(session, proposal, identity, now=now, actor="citizen")
    await session.flush()
    if citizen is not None:
        await session.delete(citizen)
    conversation = await session.get(Conversation, telegram_user_id)
    if conversation is not None:
        await session.delete(conversation)
    await forget_chat(session, telegram_user_id)
    await forget_messages(session, chat_id=telegram_user_id, identity=identity)
    return proposals


async def proposals_for_matching(session: AsyncSession, after_id: int = 0) -> list[Proposal]:
    """Real submitted proposals (no tests, none withdrawn) newer than `after_id`."""
    result = await session.execute(
        select(Proposal)
        .where(Proposal.id > after_id, Proposal.is_test.is_(False))
        .where(Proposal.status != "withdrawn")
        .order_by(Proposal.id)
    )
    return list(result.scalars())
