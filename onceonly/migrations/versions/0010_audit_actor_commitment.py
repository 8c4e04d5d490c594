"""Audit entry format 2: the hash commits to the actor instead of containing the username.

Adds ``audit_entries.entry_format`` (existing rows become 1, which they are, and are never
rewritten: adding a column with a default fires no row trigger on either backend) and
``audit_entries.actor_salt`` (NULL for format 1). Columns are added in place, never by
rebuilding the table, so the append-only triggers of 0003 stay installed and cover the new
columns too (they refuse any UPDATE, whatever column it names).

Revision ID: 0010_audit_actor_commitment
Revises: 0009_federation_nonces
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_audit_actor_commitment"
down_revision: str | None = "0009_federation_nonces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_entries",
        sa.Column("actor_salt", sa.String(length=64), nullable=True),
    )
    op.add_column(
        "audit_entries",
        sa.Column("entry_format", sa.SmallInteger(), server_default="1", nullable=False),
    )


def downgrade() -> None:
    """Only while no format-2 entry exists: without its format and salt such an entry could
    never be verified again, and the log cannot be rewritten."""
    newer = op.get_bind().execute(
        sa.text("SELECT count(*) FROM audit_entries WHERE entry_format <> 1")
    )
    if newer.scalar_one():
        raise RuntimeError(
            "audit_entries holds format-2 entries: downgrading past 0010 would make them "
            "unverifiable, so it is refused"
        )
    op.execute("ALTER TABLE audit_entries DROP COLUMN entry_format")
    op.execute("ALTER TABLE audit_entries DROP COLUMN actor_salt")
