"""staff_telegram: staff accounts linked to Telegram (one-time link tokens), so that the
staff group's "take it" assigns the proposal to the presser's account

`proposals.taken_by` and `taken_at` stay for the proposals taken in the staff group before
this revision: the assignee is now the only notion of who has a proposal.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("telegram_linked_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(
            batch.f("uq_staff_users_telegram_user_id"), ["telegram_user_id"]
        )
    op.create_table(
        "staff_link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_link_tokens_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_link_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_link_tokens_token_hash")),
    )
    with op.batch_alter_table("staff_link_tokens") as batch:
        batch.create_index(batch.f("ix_staff_link_tokens_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_link_tokens") as batch:
        batch.drop_index(batch.f("ix_staff_link_tokens_staff_id"))
    op.drop_table("staff_link_tokens")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(batch.f("uq_staff_users_telegram_user_id"), type_="unique")
        batch.drop_column("telegram_linked_at")
        batch.drop_column("telegram_user_id")
