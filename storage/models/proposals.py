"""Citizens, their conversations, and their proposals with events and matches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime
from storage.models.initiatives import Initiative


class Citizen(Base):
    """A Telegram user who talked to the bot. Erasure clears the Telegram id."""

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    proposals: Mapped[list[Proposal]] = relationship(back_populates="citizen")


class Conversation(Base):
    """One row per private chat: where the citizen is and the draft so far."""

    __tablename__ = "conversations"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    flow: Mapped[str] = mapped_column(String(32), default="intake")
    step: Mapped[str] = mapped_column(String(64), default="start")
    draft: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    language: Mapped[str | None] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReferenceCounter(Base):
    """The last reference number given in a year (references are sequential per year)."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Proposal(Base):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    language: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    commune_refnis: Mapped[str | None] = mapped_column(String(5), index=True)
    region_wide: Mapped[bool] = mapped_column(Boolean, default=False)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    carrier: Mapped[str] = mapped_column(String(32))
    carrier_other: Mapped[str | None] = mapped_column(String(200))
    """The citizen's words when the carrier is "other"."""
    partners: Mapped[list[str]] = mapped_column(JsonType, default=list)
    partners_other: Mapped[str | None] = mapped_column(String(200))
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Sentence vector of title + description (matching.semantic.to_bytes), or None."""
    vector_model: Mapped[str | None] = mapped_column(String(40))
    """The encoder that made ``vector``: another one makes it stale."""
    """The citizen's words when "other" is among the partners."""
    themes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    similar: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    budget_cents: Mapped[int | None] = mapped_column(BigInteger)
    call_id: Mapped[str | None] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    consent_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_share: Mapped[bool] = mapped_column(Boolean, default=False)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    """The staff member who handles the proposal (storage.assignment), or nobody."""
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the assignee first opened it since it was given to them; None: new for them."""
    waiting_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    """When the citizen last wrote: the submission, or their latest reply."""
    taken_by: Mapped[str | None] = mapped_column(String(200))
    """Legacy: the Telegram name of who took the proposal with the staff group's "take it"
    before it assigned (revision 0017). Kept for those proposals until their assignment
    changes (storage.assignment clears it); the assignee is who has a proposal."""
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="SET NULL"), index=True
    )
    """The proposal this one duplicates (storage.duplicates), or None."""
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    citizen: Mapped[Citizen | None] = relationship(back_populates="proposals")
    events: Mapped[list[ProposalEvent]] = relationship(
        back_populates="proposal", order_by="ProposalEvent.id", cascade="all, delete-orphan"
    )
    matches: Mapped[list[ProposalMatch]] = relationship(
        back_populates="proposal",
        foreign_keys="ProposalMatch.proposal_id",
        order_by="ProposalMatch.rank",
        cascade="all, delete-orphan",
    )


class ProposalEvent(Base):
    """Audit trail: every status change, answer and note on a proposal."""

    __tablename__ = "proposal_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)

    proposal: Mapped[Proposal] = relationship(back_populates="events")


class ProposalMatch(Base):
    """An initiative or earlier proposal found close to a proposal when it was submitted."""

    __tablename__ = "proposal_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    initiative_id: Mapped[int | None] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    other_proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE")
    )
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float]
    reasons: Mapped[list[str]] = mapped_column(JsonType, default=list)

    proposal: Mapped[Proposal] = relationship(foreign_keys=[proposal_id], back_populates="matches")
    initiative: Mapped[Initiative | None] = relationship()
    other_proposal: Mapped[Proposal | None] = relationship(foreign_keys=[other_proposal_id])
