"""Accounts: who chose each password, and whether its holder must change it first.

A tenant's administrator made clerk accounts with passwords of their choosing, and a clerk
could not change theirs: the administrator could sign in as any clerk, and the audit log
named the clerk. Now a password set by someone else (an administrator on the web, the
operator's ``onceonly users create`` or ``set-password``) is temporary: signing in with it
opens only the change-password page until the holder sets their own.

``users.password_set_by``: ``self``, ``operator`` or the administrator's username.
``users.must_change_password``: whether the next sign-in must change it first.
``users.handed_over_at``: the last time someone else set the password or re-enabled the
account (the staff survey refuses answers from an account handed over shortly before or
during a wave). Accounts made
before this revision are not forced (``false``), and who chose their password is not known
(``NULL``): nothing recorded it.

Revision ID: 0029_password_set_by
Revises: 0028_survey_invited
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_password_set_by"
down_revision: str | None = "0028_survey_invited"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN on both backends: SQLite's table copy (batch mode) would drop the
    # users table's cache-version triggers
    op.add_column("users", sa.Column("password_set_by", sa.String(length=64), nullable=True))
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("users", sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35 (the triggers name neither column)
    op.drop_column("users", "handed_over_at")
    op.drop_column("users", "must_change_password")
    op.drop_column("users", "password_set_by")
