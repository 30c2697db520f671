"""saved filters: named queries of the proposal list, personal or shared with the team

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["staff_users.id"],
            name=op.f("fk_saved_filters_owner_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filters")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_saved_filters_owner_id")),
    )
    with op.batch_alter_table("saved_filters") as batch:
        batch.create_index(batch.f("ix_saved_filters_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("saved_filters") as batch:
        batch.drop_index(batch.f("ix_saved_filters_owner_id"))
    op.drop_table("saved_filters")
