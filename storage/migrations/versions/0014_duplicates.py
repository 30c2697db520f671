"""duplicates: a proposal may be marked as a duplicate of another one

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_proposals_duplicate_of_id_proposals"),
            "proposals",
            ["duplicate_of_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(
            batch.f("ix_proposals_duplicate_of_id"), ["duplicate_of_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_index(batch.f("ix_proposals_duplicate_of_id"))
        batch.drop_constraint(batch.f("fk_proposals_duplicate_of_id_proposals"), type_="foreignkey")
        batch.drop_column("duplicate_of_id")
