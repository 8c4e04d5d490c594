"""Notify: Idempotency-Keys of reported life events, whom to tell when one is done, and the
notices (SMS, e-mail) telling them.

Revision ID: 0015_notify_intake
Revises: 0014_survey
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_notify_intake"
down_revision: str | None = "0014_survey"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_intake_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_intake_keys_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_intake_keys")),
        sa.UniqueConstraint("caller", "key", name="uq_notify_intake_keys_caller_key"),
    )

    op.create_table(
        "notify_event_contacts",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("mobile", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_event_contacts_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_notify_event_contacts")),
    )
    op.create_table(
        "notify_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_notices_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_notices")),
        sa.UniqueConstraint("event_id", "kind", "channel", name="uq_notify_notices_event_kind"),
    )
    op.create_index("ix_notify_notices_status", "notify_notices", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notify_notices_status", table_name="notify_notices")
    op.drop_table("notify_notices")
    op.drop_table("notify_event_contacts")
    op.drop_table("notify_intake_keys")
