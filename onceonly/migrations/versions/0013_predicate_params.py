"""Predicate parameters from the rule or the catalog: the values a rule lets a caller choose
(``access_rules.predicate_params``), where the catalog's statutory values come from
(``catalog_required_evidence.predicate_basis``), and the alerts raised for an owner's auditors
when one citizen is asked about with varied parameters (``policy_alerts``).

Revision ID: 0013_predicate_params
Revises: 0012_login_client_throttles
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_predicate_params"
down_revision: str | None = "0012_login_client_throttles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("access_rules", sa.Column("predicate_params", sa.JSON(), nullable=True))
    op.add_column(
        "catalog_required_evidence", sa.Column("predicate_basis", sa.JSON(), nullable=True)
    )
    op.create_table(
        "policy_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_agency", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=12), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("predicate", sa.String(length=80), nullable=False),
        sa.Column("distinct_params", sa.Integer(), nullable=False),
        sa.Column("params_seen", sa.JSON(), nullable=False),
        sa.Column("requesters", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("first_raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_alerts")),
    )
    op.create_index(
        "ix_policy_alerts_key", "policy_alerts", ["owner_agency", "subject", "predicate"]
    )
    op.create_index(op.f("ix_policy_alerts_owner_agency"), "policy_alerts", ["owner_agency"])


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_alerts_owner_agency"), "policy_alerts")
    op.drop_index("ix_policy_alerts_key", "policy_alerts")
    op.drop_table("policy_alerts")
    with op.batch_alter_table("catalog_required_evidence") as batch:
        batch.drop_column("predicate_basis")
    with op.batch_alter_table("access_rules") as batch:
        batch.drop_column("predicate_params")
