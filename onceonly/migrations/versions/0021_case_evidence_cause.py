"""Cases: why a piece could not be fetched, as a code the counter turns into advice in words
(a partner node's revoked certificate is not "try again in a minute").

Revision ID: 0021_case_evidence_cause
Revises: 0020_transcript_pdfs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_case_evidence_cause"
down_revision: str | None = "0020_transcript_pdfs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_evidence") as batch:
        batch.add_column(sa.Column("cause", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_evidence") as batch:
        batch.drop_column("cause")
