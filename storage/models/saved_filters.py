"""A staff member's saved filters of the proposal list, personal or shared with the team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, UTCDateTime


class SavedFilter(Base):
    """A named query string of `/proposals` (its filters and sort, never its page)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000))
    """The list's query string, already checked (`parse_list_request`'s parameters)."""
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    """Shown to every staff member, not only its owner."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
