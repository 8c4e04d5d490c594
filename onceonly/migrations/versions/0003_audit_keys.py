"""Audit log (append-only hash chain and its head) and the owners' signing keys.

Revision ID: 0003_audit_keys
Revises: 0002_accounts
Create Date: 2025-01-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_audit_keys"
down_revision: str | None = "0002_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of onceonly.audit.models' trigger statements: a migration keeps meaning what
# it meant when it was written.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
)
POSTGRESQL_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'audit_entries is append-only'; "
    "END $$",
    "CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
    "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("actor_username", sa.String(length=150), nullable=False),
        sa.Column("actor_badge", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("actor_agency", sa.String(length=120), nullable=True),
        sa.Column("application_item", sa.String(length=120), nullable=True),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=16), nullable=True),
        sa.Column("dataset", sa.String(length=80), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("predicate", sa.String(length=80), nullable=True),
        sa.Column("predicate_params", sa.JSON(), nullable=True),
        sa.Column("owner_agency", sa.String(length=255), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "decision IN ('allowed', 'denied', 'failed')", name=op.f("ck_audit_entries_decision")
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_entries_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_audit_entries_entry_hash")),
    )
    with op.batch_alter_table("audit_entries") as batch:
        batch.create_index("ix_audit_entries_subject_seq", ["subject", "seq"])
        batch.create_index("ix_audit_entries_dataset_seq", ["dataset", "seq"])
        batch.create_index("ix_audit_entries_recorded_at", ["recorded_at"])
        batch.create_index(op.f("ix_audit_entries_request_id"), ["request_id"])
        batch.create_index(op.f("ix_audit_entries_actor_agency"), ["actor_agency"])
        batch.create_index(op.f("ix_audit_entries_case_id"), ["case_id"])
        batch.create_index(op.f("ix_audit_entries_owner_agency"), ["owner_agency"])

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )

    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=120), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_signing_keys_status")),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    with op.batch_alter_table("signing_keys") as batch:
        batch.create_index(op.f("ix_signing_keys_agency_code"), ["agency_code"])
        batch.create_index(
            "uq_signing_keys_one_active",
            ["agency_code"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}.get(
        dialect, ()
    ):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_table("audit_head")
    op.drop_table("audit_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
