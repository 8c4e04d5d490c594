"""Tell-us-once: life events, subscriptions, the delivery outbox, dead letters, citizen messages.

Revision ID: 0006_notify
Revises: 0005_cases
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_notify"
down_revision: str | None = "0005_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notify_citizen_sequences",
        sa.Column("national_id", sa.String(length=12), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("national_id", name=op.f("pk_notify_citizen_sequences")),
    )
    op.create_table(
        "notify_agency_feeds",
        sa.Column("agency_code", sa.String(length=120), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", name=op.f("pk_notify_agency_feeds")),
    )
    op.create_table(
        "notify_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("national_id", sa.String(length=12), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("jurisdiction", sa.String(length=120), nullable=True),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_events")),
        sa.UniqueConstraint("national_id", "seq", name="uq_notify_events_subject_seq"),
    )
    op.create_index(op.f("ix_notify_events_national_id"), "notify_events", ["national_id"])
    op.create_index(op.f("ix_notify_events_kind"), "notify_events", ["kind"])
    op.create_table(
        "notify_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=120), nullable=False),
        sa.Column("event_kinds", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=120), nullable=True),
        sa.Column("legal_basis", sa.String(length=120), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.String(length=120), nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_subscriptions")),
    )
    op.create_index(
        op.f("ix_notify_subscriptions_agency_code"), "notify_subscriptions", ["agency_code"]
    )
    op.create_index(op.f("ix_notify_subscriptions_status"), "notify_subscriptions", ["status"])
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=120), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("national_id", sa.String(length=12), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("feed_position", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("processed_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_deliveries_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notify_subscriptions.id"],
            name=op.f("fk_notify_deliveries_subscription_id_notify_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_deliveries")),
        sa.UniqueConstraint("event_id", "subscription_id", name="uq_notify_deliveries_event_sub"),
    )
    op.create_index(op.f("ix_notify_deliveries_event_id"), "notify_deliveries", ["event_id"])
    op.create_index("ix_notify_deliveries_due", "notify_deliveries", ["status", "next_attempt_at"])
    op.create_index(
        "ix_notify_deliveries_order",
        "notify_deliveries",
        ["subscription_id", "national_id", "seq"],
    )
    op.create_index(
        "ix_notify_deliveries_feed", "notify_deliveries", ["agency_code", "feed_position"]
    )
    op.create_table(
        "notify_dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("dead_at", TZ, nullable=False),
        sa.Column("replayed_at", TZ, nullable=True),
        sa.Column("replayed_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notify_deliveries.id"],
            name=op.f("fk_notify_dead_letters_delivery_id_notify_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_dead_letters")),
    )
    op.create_index(
        op.f("ix_notify_dead_letters_delivery_id"), "notify_dead_letters", ["delivery_id"]
    )
    op.create_table(
        "citizen_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("national_id", sa.String(length=12), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("body_zh", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("read_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_citizen_messages_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_messages")),
        sa.UniqueConstraint("event_id", "kind", name="uq_citizen_messages_event_kind"),
    )
    op.create_index(op.f("ix_citizen_messages_national_id"), "citizen_messages", ["national_id"])


def downgrade() -> None:
    op.drop_table("citizen_messages")
    op.drop_table("notify_dead_letters")
    op.drop_table("notify_deliveries")
    op.drop_table("notify_subscriptions")
    op.drop_table("notify_events")
    op.drop_table("notify_agency_feeds")
    op.drop_table("notify_citizen_sequences")
