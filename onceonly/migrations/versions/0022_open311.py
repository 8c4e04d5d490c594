"""Open311 GeoReport v2: the catalog's service types, service requests, their id counter, API
keys with daily usage; cases gain the request they handle and may have no subject.

Revision ID: 0022_open311
Revises: 0021_case_evidence_cause
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_open311"
down_revision: str | None = "0021_case_evidence_cause"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_services",
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=60), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("agency_kind", sa.String(length=60), nullable=False),
        sa.Column("jurisdictions", sa.JSON(), nullable=True),
        sa.Column("expected_days", sa.Integer(), nullable=False),
        sa.Column("answer_zh", sa.Text(), nullable=False),
        sa.Column("answer_en", sa.Text(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("extensions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_services")),
    )
    op.create_table(
        "open311_api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("app_name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=254), nullable=True),
        sa.Column("jurisdiction", sa.String(length=120), nullable=False),
        sa.Column("daily_writes", sa.Integer(), nullable=False),
        sa.Column("daily_reads", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_api_keys_key_hash")),
    )
    with op.batch_alter_table("open311_api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_open311_api_keys_jurisdiction"), ["jurisdiction"], unique=False
        )

    op.create_table(
        "open311_counters",
        sa.Column("prefix", sa.String(length=24), nullable=False),
        sa.Column("roc_year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "roc_year", name=op.f("pk_open311_counters")),
    )
    op.create_table(
        "open311_key_usage",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("writes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["open311_api_keys.id"],
            name=op.f("fk_open311_key_usage_api_key_id_open311_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "day", name=op.f("pk_open311_key_usage")),
    )
    op.create_table(
        "open311_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_request_id", sa.String(length=40), nullable=False),
        sa.Column("jurisdiction", sa.String(length=120), nullable=False),
        sa.Column("service_code", sa.String(length=60), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=True),
        sa.Column("held_by_node", sa.String(length=120), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("filed_by", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("address_string", sa.String(length=500), nullable=True),
        sa.Column("address_id", sa.String(length=120), nullable=True),
        sa.Column("zipcode", sa.String(length=10), nullable=True),
        sa.Column("media_url", sa.String(length=2000), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("device_id", sa.String(length=200), nullable=True),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("filed_in", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["open311_api_keys.id"],
            name=op.f("fk_open311_requests_api_key_id_open311_api_keys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_requests")),
        sa.UniqueConstraint(
            "service_request_id", name=op.f("uq_open311_requests_service_request_id")
        ),
        sa.UniqueConstraint("token", name=op.f("uq_open311_requests_token")),
    )
    with op.batch_alter_table("open311_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_open311_requests_api_key_id"), ["api_key_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_open311_requests_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_open311_requests_jurisdiction"), ["jurisdiction"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_open311_requests_phone"), ["phone"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_open311_requests_filed_in"), ["filed_in"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_open311_requests_requested_at"), ["requested_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_open311_requests_service_code"), ["service_code"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_request_id", sa.String(length=40), nullable=True))
        batch_op.alter_column("subject", existing_type=sa.VARCHAR(length=12), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_cases_service_request_id"), ["service_request_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_cases_service_request_id"), type_="unique")
        batch_op.alter_column("subject", existing_type=sa.VARCHAR(length=12), nullable=False)
        batch_op.drop_column("service_request_id")

    with op.batch_alter_table("open311_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open311_requests_service_code"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_requested_at"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_phone"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_filed_in"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_jurisdiction"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_email"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_api_key_id"))

    op.drop_table("open311_requests")
    op.drop_table("open311_key_usage")
    op.drop_table("open311_counters")
    with op.batch_alter_table("open311_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open311_api_keys_jurisdiction"))

    op.drop_table("open311_api_keys")
    op.drop_table("catalog_services")
