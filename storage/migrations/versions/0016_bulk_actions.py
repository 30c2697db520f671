"""bulk actions: what a staff member changed on many proposals at once, and each
proposal's state before, so that the change can be undone for a minute

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bulk_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_actions")),
    )
    with op.batch_alter_table("bulk_actions") as batch:
        batch.create_index(batch.f("ix_bulk_actions_created_at"), ["created_at"], unique=False)
    op.create_table(
        "bulk_action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bulk_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=False),
        sa.Column("previous_assignee_id", sa.Integer(), nullable=True),
        sa.Column("new_status", sa.String(length=16), nullable=True),
        sa.Column("reassigned", sa.Boolean(), nullable=False),
        sa.Column("new_assignee_id", sa.Integer(), nullable=True),
        sa.Column("last_event_id", sa.Integer(), nullable=True),
        sa.Column("held_outbox_ids", JSON, nullable=False),
        sa.Column("answer_event_id", sa.Integer(), nullable=True),
        sa.Column("undo", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["bulk_id"],
            ["bulk_actions.id"],
            name=op.f("fk_bulk_action_items_bulk_id_bulk_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_bulk_action_items_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["previous_assignee_id"],
            ["staff_users.id"],
            name=op.f("fk_bulk_action_items_previous_assignee_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["new_assignee_id"],
            ["staff_users.id"],
            name=op.f("fk_bulk_action_items_new_assignee_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_action_items")),
    )
    with op.batch_alter_table("bulk_action_items") as batch:
        batch.create_index(batch.f("ix_bulk_action_items_bulk_id"), ["bulk_id"], unique=False)
        batch.create_index(
            batch.f("ix_bulk_action_items_proposal_id"), ["proposal_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bulk_action_items") as batch:
        batch.drop_index(batch.f("ix_bulk_action_items_proposal_id"))
        batch.drop_index(batch.f("ix_bulk_action_items_bulk_id"))
    op.drop_table("bulk_action_items")
    with op.batch_alter_table("bulk_actions") as batch:
        batch.drop_index(batch.f("ix_bulk_actions_created_at"))
    op.drop_table("bulk_actions")
