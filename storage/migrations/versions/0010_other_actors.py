"""what "other" means when a citizen says the project is carried by, or made with, someone
the list does not name

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("carrier_other", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("partners_other", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("partners_other")
        batch.drop_column("carrier_other")
