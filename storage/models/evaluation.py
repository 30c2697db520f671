"""Staff's evaluation of a proposal (storage.evaluation): internal, never shown to the citizen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime


class ProposalEvaluation(Base):
    """One row per evaluated proposal: feasibility, cost, services consulted, scores."""

    __tablename__ = "proposal_evaluations"

    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    feasibility: Mapped[str | None] = mapped_column(String(16))
    """One of storage.evaluation.FEASIBILITIES, or None: not assessed yet."""
    explanation: Mapped[str | None] = mapped_column(Text)
    """Why: required when the project is not feasible."""
    estimated_cost_cents: Mapped[int | None] = mapped_column(BigInteger)
    services_consulted: Mapped[str | None] = mapped_column(Text)
    """Free text: the services or people staff asked (one per line, as staff wrote it)."""
    scores: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict)
    """{criterion id of the proposal's call: score}; a criterion not scored is absent."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320))
    """The staff member's e-mail address."""
