"""An index for the predicate asks about one citizen (the alert on varied parameters).

Every predicate request reads the earlier asks of that predicate about its citizen. Without
this index SQLite chose the dataset index and read every entry of the dataset: the cost of a
request grew with the whole audit log.

Revision ID: 0026_audit_predicate_asks_index
Revises: 0025_case_thing_answers
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_audit_predicate_asks_index"
down_revision: str | None = "0025_case_thing_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_entries_predicate_asks",
        "audit_entries",
        ["subject", "dataset", "predicate", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_entries_predicate_asks", table_name="audit_entries")
