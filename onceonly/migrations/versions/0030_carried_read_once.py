"""Cases: a carried piece's read is written once per agency, however many clerks read it at once.

The first read of a piece another agency fetched (or scanned) was written to the audit log
after checking the case's timeline for an earlier one: two clerks of the agency opening the
case at the same moment both found none and both wrote. ``case_events`` gets the read's key
in columns of its own, ``piece_kind``, ``piece_key`` and ``piece_fetched_at``, and a unique
index over them with the case and the agency, for the rows that have one; the read is
inserted with ``ON CONFLICT DO NOTHING`` and only the request whose row went in writes the
audit entry.

Reads written before this revision keep their key in their details only (``case_events``
is append-only: no row is changed), so the new columns are null for them and the index,
which leaves nulls out, never meets a duplicate two racing clerks may have left there. The
code still reads their details before inserting, so none of them is written again.

Revision ID: 0030_carried_read_once
Revises: 0029_password_set_by
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_carried_read_once"
down_revision: str | None = "0029_password_set_by"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("piece_kind IS NOT NULL")


def upgrade() -> None:
    # plain ADD COLUMN on both backends: SQLite's table copy (batch mode) would drop the
    # append-only triggers of case_events
    op.add_column("case_events", sa.Column("piece_kind", sa.String(length=16), nullable=True))
    op.add_column("case_events", sa.Column("piece_key", sa.String(length=120), nullable=True))
    op.add_column(
        "case_events", sa.Column("piece_fetched_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "uq_case_events_carried_read",
        "case_events",
        ["case_id", "agency", "piece_kind", "piece_key", "piece_fetched_at"],
        unique=True,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_case_events_carried_read", table_name="case_events")
    # SQLite drops a column in place since 3.35 (the triggers name none of them)
    op.drop_column("case_events", "piece_fetched_at")
    op.drop_column("case_events", "piece_key")
    op.drop_column("case_events", "piece_kind")
