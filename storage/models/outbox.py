"""The outbox table: one row per outgoing message (see `storage.outbox` for its life cycle)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
STATUSES: tuple[str, ...] = (PENDING, SENDING, SENT, DEAD)


class OutboxMessage(Base):
    """One outgoing message. For kind ``telegram`` the payload is ``{"text": <HTML>}``."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_chat_id_status_sent_at", "chat_id", "status", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)
    """Telegram's message id once sent, so that a later outbox row can edit the message."""
    last_error: Mapped[str | None] = mapped_column(Text)
