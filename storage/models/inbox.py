"""The inbox table: one row per Telegram update received (see `storage.inbox` for its life
cycle)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime

UPDATE_PENDING = "pending"
UPDATE_PROCESSING = "processing"
UPDATE_DONE = "done"
UPDATE_PARKED = "parked"
UPDATE_STATUSES: tuple[str, ...] = (
    UPDATE_PENDING,
    UPDATE_PROCESSING,
    UPDATE_DONE,
    UPDATE_PARKED,
)
UNFINISHED: tuple[str, ...] = (UPDATE_PENDING, UPDATE_PROCESSING)


class InboxUpdate(Base):
    """One update as Telegram sent it, until it has been applied and answered.

    Keyed by the bot and Telegram's `update_id` (the preview bot shares the database), which
    is what makes a redelivered update a no-op. `payload` (the citizen's words) is dropped
    once the update is done; parked updates keep it for staff to look at.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_bot_id_chat_id_update_id", "bot_id", "chat_id", "update_id"),
        Index("ix_inbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    language: Mapped[str | None] = mapped_column(String(2))
    """The chat's language when the update arrived: the citizen can be told about a failure
    without asking the database that failed."""
    status: Mapped[str] = mapped_column(String(16), default=UPDATE_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    """The answer, written in the transaction that applied the update: a process that dies
    before sending it leaves it for the next one to send, and the update is not applied
    twice."""
    last_error: Mapped[str | None] = mapped_column(Text)
