"""Notify: Idempotency-Keys of reported life events.

Revision ID: 0013_notify_intake_keys
Revises: 0012_login_client_throttles
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_notify_intake_keys"
down_revision: str | None = "0012_login_client_throttles"
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


def downgrade() -> None:
    op.drop_table("notify_intake_keys")
