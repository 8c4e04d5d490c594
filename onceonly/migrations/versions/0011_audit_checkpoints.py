"""C2SP checkpoints of the audit log, witnesses' cosignatures, and witnessing other logs.

``audit_checkpoints`` keeps the signed note of each signed tree head, ``audit_cosignatures``
the witnesses' cosignature lines on them, ``audit_witnesses`` the witnesses this log pushes to,
``witness_logs`` the logs this node witnesses (the newest size and root it cosigned for each).

Revision ID: 0011_audit_checkpoints
Revises: 0010_audit_actor_commitment
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_audit_checkpoints"
down_revision: str | None = "0010_audit_actor_commitment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tree_size >= 0", name=op.f("ck_audit_checkpoints_size_not_negative")),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_cosignatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cosignatures")),
        sa.UniqueConstraint("tree_size", "line", name="uq_audit_cosignatures_line"),
    )
    op.create_index(
        op.f("ix_audit_cosignatures_tree_size"), "audit_cosignatures", ["tree_size"], unique=False
    )
    op.create_table(
        "audit_witnesses",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("vkey", sa.Text(), nullable=False),
        sa.Column("last_size", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_witnesses")),
    )
    op.create_table(
        "witness_logs",
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("vkey", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=True),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_witness_logs")),
    )


def downgrade() -> None:
    op.drop_table("witness_logs")
    op.drop_table("audit_witnesses")
    op.drop_index(op.f("ix_audit_cosignatures_tree_size"), table_name="audit_cosignatures")
    op.drop_table("audit_cosignatures")
    op.drop_table("audit_checkpoints")
