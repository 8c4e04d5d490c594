"""Survey: who ended a wave's collection early.

Revision ID: 0018_survey_closed_by
Revises: 0017_stats_assumptions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_survey_closed_by"
down_revision: str | None = "0017_stats_assumptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("survey_waves") as batch:
        batch.add_column(sa.Column("closed_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("survey_waves") as batch:
        batch.drop_column("closed_by")
