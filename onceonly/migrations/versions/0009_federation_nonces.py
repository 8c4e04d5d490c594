"""Federation: the nonces of signed requests from other nodes, durable across restarts.

Revision ID: 0009_federation_nonces
Revises: 0008_consolidate
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_federation_nonces"
down_revision: str | None = "0008_consolidate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federation_nonces",
        sa.Column("peer", sa.String(length=120), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("peer", "nonce", name=op.f("pk_federation_nonces")),
    )
    op.create_index(op.f("ix_federation_nonces_expires_at"), "federation_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_federation_nonces_expires_at"), "federation_nonces")
    op.drop_table("federation_nonces")
