"""Access rules and consents.

Revision ID: 0004_policy
Revises: 0003_audit_keys
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_policy"
down_revision: str | None = "0003_audit_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_agency", sa.String(length=80), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("application_item", sa.String(length=120), nullable=False),
        sa.Column("requesting_agency", sa.String(length=80), nullable=True),
        sa.Column("requesting_agency_kind", sa.String(length=40), nullable=True),
        sa.Column("requesting_jurisdiction", sa.String(length=60), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("predicates", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("consent_required", sa.Boolean(), nullable=False),
        sa.Column("preview_required", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.String(length=80), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_rules")),
    )
    for column in ("owner_agency", "dataset", "application_item", "requesting_agency", "status"):
        op.create_index(op.f(f"ix_access_rules_{column}"), "access_rules", [column])
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=12), nullable=False),
        sa.Column("application_item", sa.String(length=120), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("dataset", sa.String(length=80), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_subject"), "consents", ["subject"])


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_table("access_rules")
