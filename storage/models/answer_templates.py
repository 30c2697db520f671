"""Answer templates: the official answers staff reuse, per call and status (issue 14 §4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, UTCDateTime


class AnswerTemplate(Base):
    """An answer staff start from, in French, Dutch and English (at least one of them).

    The text may hold the placeholders of bot.text.answer_templates ({first_name}, …),
    filled for each proposal; staff still edit the answer before it goes."""

    __tablename__ = "answer_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    """What staff call it; never shown to the citizen."""
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """A call id of matching/data/calls.toml; None: fits any call (and proposals without one)."""
    status: Mapped[str | None] = mapped_column(String(16))
    """The status it goes with (storage.review.STATUSES); None: any status, or none."""
    text_fr: Mapped[str | None] = mapped_column(Text)
    text_nl: Mapped[str | None] = mapped_column(Text)
    text_en: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320))
    """The e-mail address of the staff member who changed it last."""

    def text(self, language: str) -> str | None:
        """The text in `language` (fr, nl or en); None when the template has none in it."""
        value = {"fr": self.text_fr, "nl": self.text_nl, "en": self.text_en}.get(language)
        return value or None
