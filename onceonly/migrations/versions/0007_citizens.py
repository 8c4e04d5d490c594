"""Merkle tree of the audit log (complete subtrees, signed tree heads) and the citizen portal
(sign-in challenges, revoked cards, flags and their queues, evidence held for preview).

An existing log gets its tree here: every complete subtree of the entries already written is
computed and stored, so proofs work for old entries as well as new ones.

Revision ID: 0007_citizens
Revises: 0006_notify
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_citizens"
down_revision: str | None = "0006_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
BATCH = 5000


def _backfill_tree() -> None:
    """Frozen copy of onceonly.audit.tree_store.rebuild_tree: leaf = SHA-256(0x00 || entry
    hash), node = SHA-256(0x01 || left || right), every complete subtree of level >= 1."""
    bind = op.get_bind()
    nodes = sa.table(
        "audit_tree_nodes",
        sa.column("level", sa.SmallInteger()),
        sa.column("position", sa.Integer()),
        sa.column("hash", sa.LargeBinary()),
    )
    stack: list[bytes] = []
    rows: list[dict[str, object]] = []
    entries = bind.execute(sa.text("SELECT seq, entry_hash FROM audit_entries ORDER BY seq"))
    for seq, entry_hash in entries.fetchall():
        current = hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash)).digest()
        level, position = 0, seq - 1
        while position & 1:
            current = hashlib.sha256(b"\x01" + stack.pop() + current).digest()
            level, position = level + 1, position >> 1
            rows.append({"level": level, "position": position, "hash": current})
        stack.append(current)
        if len(rows) >= BATCH:
            op.bulk_insert(nodes, rows)
            rows = []
    if rows:
        op.bulk_insert(nodes, rows)


def upgrade() -> None:
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("level >= 1", name=op.f("ck_audit_tree_nodes_level_positive")),
        sa.PrimaryKeyConstraint("level", "position", name=op.f("pk_audit_tree_nodes")),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", TZ, nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.CheckConstraint("tree_size >= 0", name=op.f("ck_audit_tree_heads_size_not_negative")),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_tree_heads")),
    )
    op.create_index(op.f("ix_audit_tree_heads_signed_at"), "audit_tree_heads", ["signed_at"])

    op.create_table(
        "citizen_challenges",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_challenges")),
    )
    op.create_index(op.f("ix_citizen_challenges_expires_at"), "citizen_challenges", ["expires_at"])
    op.create_table(
        "citizen_card_revocations",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("national_id", sa.String(length=12), nullable=False),
        sa.Column("revoked_at", TZ, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_citizen_card_revocations")),
    )
    op.create_index(
        op.f("ix_citizen_card_revocations_national_id"),
        "citizen_card_revocations",
        ["national_id"],
    )
    op.create_table(
        "citizen_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_seq", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_by_badge", sa.String(length=16), nullable=True),
        sa.Column("replied_by_agency", sa.String(length=120), nullable=True),
        sa.Column("replied_at", TZ, nullable=True),
        sa.CheckConstraint("status IN ('open', 'answered')", name=op.f("ck_citizen_flags_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_flags")),
    )
    op.create_index(op.f("ix_citizen_flags_entry_seq"), "citizen_flags", ["entry_seq"])
    op.create_index(op.f("ix_citizen_flags_subject"), "citizen_flags", ["subject"])
    op.create_table(
        "citizen_flag_queues",
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["citizen_flags.id"],
            name=op.f("fk_citizen_flag_queues_flag_id_citizen_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flag_id", "jurisdiction", name=op.f("pk_citizen_flag_queues")),
    )
    op.create_index(
        op.f("ix_citizen_flag_queues_jurisdiction"), "citizen_flag_queues", ["jurisdiction"]
    )
    op.create_table(
        "citizen_previews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=12), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("application_item", sa.String(length=120), nullable=False),
        sa.Column("evidence_type", sa.String(length=80), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("requester_agency", sa.String(length=120), nullable=False),
        sa.Column("requester_badge", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("held", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("released_at", TZ, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'declined', 'released')",
            name=op.f("ck_citizen_previews_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_previews")),
    )
    op.create_index(
        "ix_citizen_previews_lookup",
        "citizen_previews",
        ["subject", "case_id", "application_item", "evidence_type", "requester_agency"],
    )
    _backfill_tree()


def downgrade() -> None:
    op.drop_index("ix_citizen_previews_lookup", table_name="citizen_previews")
    op.drop_table("citizen_previews")
    op.drop_index(op.f("ix_citizen_flag_queues_jurisdiction"), table_name="citizen_flag_queues")
    op.drop_table("citizen_flag_queues")
    op.drop_index(op.f("ix_citizen_flags_subject"), table_name="citizen_flags")
    op.drop_index(op.f("ix_citizen_flags_entry_seq"), table_name="citizen_flags")
    op.drop_table("citizen_flags")
    op.drop_index(
        op.f("ix_citizen_card_revocations_national_id"), table_name="citizen_card_revocations"
    )
    op.drop_table("citizen_card_revocations")
    op.drop_index(op.f("ix_citizen_challenges_expires_at"), table_name="citizen_challenges")
    op.drop_table("citizen_challenges")
    op.drop_index(op.f("ix_audit_tree_heads_signed_at"), table_name="audit_tree_heads")
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_tree_nodes")
