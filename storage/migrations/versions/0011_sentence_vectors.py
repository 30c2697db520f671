"""sentence vectors of initiatives and proposals, with the encoder that made them

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("initiatives", "proposals"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("vector", sa.LargeBinary(), nullable=True))
            batch.add_column(sa.Column("vector_model", sa.String(length=40), nullable=True))


def downgrade() -> None:
    for table in ("proposals", "initiatives"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("vector_model")
            batch.drop_column("vector")
