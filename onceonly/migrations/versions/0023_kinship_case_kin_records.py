"""Kinship charts: the relatives' kinship records fetched for a case (case_kin_records).

Revision ID: 0023_kinship_case_kin_records
Revises: 0022_open311
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_kinship_case_kin_records"
down_revision: str | None = "0022_open311"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_kin_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("national_id", sa.String(length=12), nullable=False),
        sa.Column("named_by", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=True),
        sa.Column("reason_en", sa.Text(), nullable=True),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("transcripts", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("fetched_by", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_kin_records_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_kin_records")),
        sa.UniqueConstraint("case_id", "national_id", name=op.f("uq_case_kin_records_case_id")),
    )
    with op.batch_alter_table("case_kin_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_kin_records_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_kin_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_kin_records_case_id"))
    op.drop_table("case_kin_records")
