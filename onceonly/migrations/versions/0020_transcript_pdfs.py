"""Exchange: PDF transcripts this node signed, for the public verification page.

Revision ID: 0020_transcript_pdfs
Revises: 0019_notify_move_relays
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_transcript_pdfs"
down_revision: str | None = "0019_notify_move_relays"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcript_pdfs",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("jws_sha256", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=120), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("transcript_kid", sa.String(length=64), nullable=False),
        sa.Column("pdf_kid", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_made_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_transcript_pdfs")),
    )
    op.create_index(op.f("ix_transcript_pdfs_issuer"), "transcript_pdfs", ["issuer"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_transcript_pdfs_issuer"), table_name="transcript_pdfs")
    op.drop_table("transcript_pdfs")
