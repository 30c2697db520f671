"""Automatic assignment: which staff member gets the new proposals of a call, a theme or a
commune (storage.assignment applies them at submission)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, UTCDateTime


class AssignmentRule(Base):
    """New proposals whose `field` (call, theme or commune) is `value` go to `staff_id`."""

    __tablename__ = "assignment_rules"
    __table_args__ = (UniqueConstraint("field", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    field: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    """A call id, a theme id or a commune's REFNIS code."""
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
