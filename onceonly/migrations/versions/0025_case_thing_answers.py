"""Answers about a parcel, building or house number kept on the case (case_thing_answers).

Revision ID: 0025_case_thing_answers
Revises: 0024_catalog17_item_fields
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_case_thing_answers"
down_revision: str | None = "0024_catalog17_item_fields"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_thing_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("about", sa.String(length=300), nullable=False),
        sa.Column("evidence_type", sa.String(length=80), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=True),
        sa.Column("reason_en", sa.Text(), nullable=True),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("withheld_fields", sa.JSON(), nullable=False),
        sa.Column("transcripts", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("fetched_by", sa.String(length=64), nullable=False),
        sa.Column("fetched_agency", sa.String(length=120), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_thing_answers_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_thing_answers")),
        sa.UniqueConstraint(
            "case_id", "about", "evidence_type", name=op.f("uq_case_thing_answers_case_id")
        ),
    )
    with op.batch_alter_table("case_thing_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_thing_answers_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("case_thing_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_thing_answers_case_id"))
    op.drop_table("case_thing_answers")
