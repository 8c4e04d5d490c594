"""Catalog items gain their processing time limit (處理時限) with its source, a demo-value
flag, and their application form (申請書表).

Revision ID: 0024_catalog17_item_fields
Revises: 0023_kinship_case_kin_records
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_catalog17_item_fields"
down_revision: str | None = "0023_kinship_case_kin_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_items") as batch:
        batch.add_column(sa.Column("time_limit_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("time_limit_source", sa.Text(), nullable=True))
        batch.add_column(sa.Column("time_limit_demo", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("form", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_items") as batch:
        batch.drop_column("form")
        batch.drop_column("time_limit_demo")
        batch.drop_column("time_limit_source")
        batch.drop_column("time_limit_days")
