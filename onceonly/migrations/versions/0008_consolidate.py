"""Consolidation: the clerical review queue of record linkage.

Revision ID: 0008_consolidate
Revises: 0007_citizens
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_consolidate"
down_revision: str | None = "0007_citizens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consolidate_review_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan", sa.String(length=60), nullable=False),
        sa.Column("jurisdiction", sa.String(length=120), nullable=False),
        sa.Column("left_id", sa.String(length=200), nullable=False),
        sa.Column("right_id", sa.String(length=200), nullable=False),
        sa.Column("match_probability", sa.Float(), nullable=False),
        sa.Column("left", sa.JSON(), nullable=False),
        sa.Column("right", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consolidate_review_items")),
        sa.UniqueConstraint("plan", "left_id", "right_id", name="uq_consolidate_review_pair"),
    )
    op.create_index(op.f("ix_consolidate_review_items_plan"), "consolidate_review_items", ["plan"])
    op.create_index(
        op.f("ix_consolidate_review_items_status"), "consolidate_review_items", ["status"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consolidate_review_items_status"), "consolidate_review_items")
    op.drop_index(op.f("ix_consolidate_review_items_plan"), "consolidate_review_items")
    op.drop_table("consolidate_review_items")
