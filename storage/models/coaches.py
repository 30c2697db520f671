"""Coaches, their invitations, what they follow, their alerts and the proposals they took."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime
from storage.models.initiatives import Initiative
from storage.models.proposals import Proposal

IMMEDIATE = "immediate"


DEFAULT_DIGEST_TIME = time(8, 0)


NAME_LENGTH = 200


class Coach(Base):
    __tablename__ = "coaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    language: Mapped[str] = mapped_column(String(2))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(16), default=IMMEDIATE)
    digest_time: Mapped[time] = mapped_column(Time, default=DEFAULT_DIGEST_TIME)
    """Time of day, Europe/Brussels, of the daily digest."""
    menu: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    """Where the coach is in the /coach menu (kept here, not in process memory)."""
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    follows: Mapped[list[CoachFollow]] = relationship(
        back_populates="coach", cascade="all, delete-orphan", order_by="CoachFollow.id"
    )
    invites: Mapped[list[CoachInvite]] = relationship(
        back_populates="coach", cascade="all, delete-orphan", order_by="CoachInvite.id"
    )

    @property
    def linked(self) -> bool:
        return self.telegram_user_id is not None

    def followed(self, kind: str) -> list[str]:
        """The values followed of one kind (initiative ids as text, theme ids, REFNIS codes).

        Needs `follows` loaded (every query of this module loads them)."""
        return [f.value for f in self.follows if f.kind == kind]


class CoachInvite(Base):
    __tablename__ = "coach_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    coach: Mapped[Coach] = relationship(back_populates="invites")

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at


class CoachFollow(Base):
    """One thing a coach follows: an initiative (value = its id), a theme or a commune."""

    __tablename__ = "coach_follows"
    __table_args__ = (UniqueConstraint("coach_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(100))
    initiative_id: Mapped[int | None] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    coach: Mapped[Coach] = relationship(back_populates="follows")
    initiative: Mapped[Initiative | None] = relationship()


class CoachAlert(Base):
    __tablename__ = "coach_alerts"
    __table_args__ = (UniqueConstraint("coach_id", "proposal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id", ondelete="CASCADE"))
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    why: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    """What the coach follows that the proposal matched, and the matches shown."""
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    digest_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    feedback: Mapped[str | None] = mapped_column(String(16))
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    coach: Mapped[Coach] = relationship()
    proposal: Mapped[Proposal] = relationship()


class CoachTake(Base):
    """The coach who took a proposal in hand: the first "I'll take it" wins."""

    __tablename__ = "coach_takes"

    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    coach: Mapped[Coach] = relationship()
