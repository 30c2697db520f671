"""assignment: who handles each proposal, since when the citizen waits, and the rules that
assign new proposals by call, theme or commune

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("assignee_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_proposals_assignee_id_staff_users"),
            "staff_users",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(batch.f("ix_proposals_assignee_id"), ["assignee_id"], unique=False)
        batch.create_index(batch.f("ix_proposals_waiting_since"), ["waiting_since"], unique=False)
    # The citizen waits since their latest reply, or since they submitted.
    op.execute(
        """
        UPDATE proposals SET waiting_since = COALESCE(
            (SELECT MAX(e.created_at) FROM proposal_events e
             WHERE e.proposal_id = proposals.id AND e.kind = 'reply'),
            submitted_at)
        """
    )
    with op.batch_alter_table("proposals") as batch:
        batch.alter_column(
            "waiting_since", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    op.create_table(
        "assignment_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_assignment_rules_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_rules")),
        sa.UniqueConstraint("field", "value", name=op.f("uq_assignment_rules_field")),
    )
    with op.batch_alter_table("assignment_rules") as batch:
        batch.create_index(batch.f("ix_assignment_rules_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assignment_rules") as batch:
        batch.drop_index(batch.f("ix_assignment_rules_staff_id"))
    op.drop_table("assignment_rules")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_index(batch.f("ix_proposals_waiting_since"))
        batch.drop_index(batch.f("ix_proposals_assignee_id"))
        batch.drop_constraint(batch.f("fk_proposals_assignee_id_staff_users"), type_="foreignkey")
        batch.drop_column("waiting_since")
        batch.drop_column("assignee_seen_at")
        batch.drop_column("assigned_at")
        batch.drop_column("assignee_id")
