"""Notify: moves between cities on different federation nodes, relayed to the old city's node.

Revision ID: 0019_notify_move_relays
Revises: 0018_survey_closed_by
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_notify_move_relays"
down_revision: str | None = "0018_survey_closed_by"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_move_relays",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("from_jurisdiction", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("node_id", sa.String(length=120), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("remote_reference", sa.String(length=20), nullable=True),
        sa.Column("remote_recipients", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_statuses", sa.JSON(), nullable=False),
        sa.Column("remote_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_move_relays_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_notify_move_relays")),
    )
    op.create_index(
        "ix_notify_move_relays_due", "notify_move_relays", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_notify_move_relays_due", table_name="notify_move_relays")
    op.drop_table("notify_move_relays")
