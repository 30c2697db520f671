"""answer templates: official answers staff reuse, per call and status, in fr, nl and en

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("text_fr", sa.Text(), nullable=True),
        sa.Column("text_nl", sa.Text(), nullable=True),
        sa.Column("text_en", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_templates")),
    )
    with op.batch_alter_table("answer_templates") as batch:
        batch.create_index(batch.f("ix_answer_templates_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("answer_templates") as batch:
        batch.drop_index(batch.f("ix_answer_templates_call_id"))
    op.drop_table("answer_templates")
