"""Bulk actions on the back-office's lists, kept so that each can be undone for a while
(storage.bulk): what was asked, and what happened to each proposal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.clock import utcnow
from storage.models.base import Base, JsonType, UTCDateTime


class BulkAction(Base):
    """One bulk change made by a staff member (`actor`, their e-mail address) on many
    proposals at once; `kind` and `params` say which (bot.services.bulk)."""

    __tablename__ = "bulk_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[BulkActionItem]] = relationship(
        back_populates="bulk", order_by="BulkActionItem.id", cascade="all, delete-orphan"
    )


class BulkActionItem(Base):
    """What a bulk action did to one proposal, and what it was before.

    `outcome` is "done" or why the proposal was skipped (bot.services.bulk: "not_allowed":
    the status change is not possible from its status; "already": it already was so;
    "conflict": someone else changed its assignment since the page was shown; an answer
    template's "other_call", "no_text", "unreachable"). For a done item, `new_status` is the
    status it was given (None: unchanged) and `reassigned` whether its assignee changed
    (to `new_assignee_id`); `last_event_id` is the newest event of its history right after
    the change (a later one means it was changed again); `held_outbox_ids` are the messages
    to the citizen that wait for the end of the undo window; `answer_event_id` is the
    answer it wrote (a template's), which an undo marks as never sent. `undo` is what the
    undo did: "undone", or "changed" (it was changed again since: left as it is)."""

    __tablename__ = "bulk_action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bulk_id: Mapped[int] = mapped_column(
        ForeignKey("bulk_actions.id", ondelete="CASCADE"), index=True
    )
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str] = mapped_column(String(16))
    previous_assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    new_status: Mapped[str | None] = mapped_column(String(16))
    reassigned: Mapped[bool] = mapped_column(Boolean, default=False)
    new_assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    last_event_id: Mapped[int | None] = mapped_column(Integer)
    held_outbox_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    answer_event_id: Mapped[int | None] = mapped_column(Integer)
    """The answer to the citizen the action wrote (an answer template), if any."""
    undo: Mapped[str | None] = mapped_column(String(16))

    bulk: Mapped[BulkAction] = relationship(back_populates="items")
