"""Stats: the assumptions behind citizen trips and waiting time saved, editable.

Revision ID: 0017_stats_assumptions
Revises: 0016_cache_versions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_stats_assumptions"
down_revision: str | None = "0016_cache_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_assumptions",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stats_assumptions")),
    )


def downgrade() -> None:
    op.drop_table("stats_assumptions")
