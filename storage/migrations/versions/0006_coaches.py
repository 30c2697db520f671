"""coaches, their invites, follows and alerts, and who took a proposal

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "coaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("digest_time", sa.Time(), nullable=False),
        sa.Column("menu", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coaches")),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_coaches_telegram_user_id")),
    )
    op.create_table(
        "coach_follows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coach_id"],
            ["coaches.id"],
            name=op.f("fk_coach_follows_coach_id_coaches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiatives.id"],
            name=op.f("fk_coach_follows_initiative_id_initiatives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coach_follows")),
        sa.UniqueConstraint("coach_id", "kind", "value", name=op.f("uq_coach_follows_coach_id")),
    )
    with op.batch_alter_table("coach_follows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coach_follows_coach_id"), ["coach_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_coach_follows_initiative_id"), ["initiative_id"], unique=False
        )
    op.create_table(
        "coach_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coach_id"],
            ["coaches.id"],
            name=op.f("fk_coach_invites_coach_id_coaches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coach_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_coach_invites_token_hash")),
    )
    with op.batch_alter_table("coach_invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coach_invites_coach_id"), ["coach_id"], unique=False)
    op.create_table(
        "coach_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("why", JSON, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("digest_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feedback", sa.String(length=16), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coach_id"],
            ["coaches.id"],
            name=op.f("fk_coach_alerts_coach_id_coaches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_coach_alerts_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coach_alerts")),
        sa.UniqueConstraint("coach_id", "proposal_id", name=op.f("uq_coach_alerts_coach_id")),
    )
    with op.batch_alter_table("coach_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coach_alerts_proposal_id"), ["proposal_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_coach_alerts_status"), ["status"], unique=False)
    op.create_table(
        "coach_takes",
        sa.Column("proposal_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coach_id"],
            ["coaches.id"],
            name=op.f("fk_coach_takes_coach_id_coaches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_coach_takes_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("proposal_id", name=op.f("pk_coach_takes")),
    )


def downgrade() -> None:
    op.drop_table("coach_takes")
    with op.batch_alter_table("coach_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coach_alerts_status"))
        batch_op.drop_index(batch_op.f("ix_coach_alerts_proposal_id"))
    op.drop_table("coach_alerts")
    with op.batch_alter_table("coach_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coach_invites_coach_id"))
    op.drop_table("coach_invites")
    with op.batch_alter_table("coach_follows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coach_follows_initiative_id"))
        batch_op.drop_index(batch_op.f("ix_coach_follows_coach_id"))
    op.drop_table("coach_follows")
    op.drop_table("coaches")
