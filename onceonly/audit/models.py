"""Tables of the audit log: the entries themselves and a one-row head that serialises appends.

The head row is what makes concurrent appends safe on both backends: every append first
updates it, which takes a row lock on PostgreSQL and the write lock on SQLite, so two
transactions can never read the same head and fork the chain. It also remembers the newest
hash, so cutting entries off the end of the log is noticed.

Triggers reject UPDATE and DELETE on ``audit_entries`` (and TRUNCATE on PostgreSQL). They are
installed by migration ``0003_audit_keys`` and, for databases made with ``create_all``, by the
DDL events below. They stop mistakes and casual edits; someone who owns the database can drop
them, which is why the hash chain, not the triggers, is the evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onceonly.db import Base, UTCDateTime, make_append_only

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""

DECISIONS = ("allowed", "denied", "failed")


class AuditEntry(Base):
    """One access, decision or rule change, chained to the entry before it."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("decision IN ('allowed', 'denied', 'failed')", name="decision"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_entries_subject_seq", "subject", "seq"),
        Index("ix_audit_entries_dataset_seq", "dataset", "seq"),
        Index("ix_audit_entries_recorded_at", "recorded_at"),
        # the owner's alert on varied predicate parameters reads this on every predicate ask
        Index("ix_audit_entries_predicate_asks", "subject", "dataset", "predicate", "recorded_at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(64))
    actor_username: Mapped[str] = mapped_column(String(150))
    actor_badge: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_agency: Mapped[str | None] = mapped_column(String(120), index=True)
    application_item: Mapped[str | None] = mapped_column(String(120))
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(String(80))
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    predicate: Mapped[str | None] = mapped_column(String(80))
    predicate_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    owner_agency: Mapped[str | None] = mapped_column(String(255), index=True)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(16))
    reason_zh: Mapped[str] = mapped_column(Text, default="")
    reason_en: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Last, in the order migration 0010 adds them, so the columns stand in the same order
    # in a migrated database and in one made from the models (copies by ``SELECT *`` agree).
    actor_salt: Mapped[str | None] = mapped_column(String(64))
    """Format 2: the random salt of the entry's ``actor_commitment`` (never shown to citizens);
    NULL for format 1."""
    entry_format: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    """How the entry is hashed (``onceonly.audit.verify``): 1 covers the actor's username,
    2 a salted commitment to it. Rows from before migration 0010 are 1 and stay so."""


class AuditHead(Base):
    """The single row (``id = 1``) naming the newest entry; see the module docstring.

    The first append creates the row from the newest entry there is, so a database whose rows
    were copied in from elsewhere (a backup, a test template) carries on where the copy ends.
    """

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditTreeNode(Base):
    """A complete subtree of the Merkle tree over the log (``onceonly.audit.merkle``): the
    hash of leaves [position·2^level, (position+1)·2^level). Level 0 is not stored (a leaf is its
    entry's hash); each append adds the nodes it completes, in the same transaction."""

    __tablename__ = "audit_tree_nodes"
    __table_args__ = (CheckConstraint("level >= 1", name="level_positive"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(Base):
    """A signed tree head: the root of the first ``tree_size`` entries, signed by the
    platform's audit key (a compact JWS, ``onceonly.audit.tree_heads``)."""

    __tablename__ = "audit_tree_heads"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="size_not_negative"),)

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    """The compact JWS whose payload states tree size, root hash and time."""


class AuditCheckpoint(Base):
    """The C2SP checkpoint (signed note) of a signed tree head, as the log signed it
    (``onceonly.audit.checkpoint``); witnesses' cosignatures are kept beside it."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="size_not_negative"),)

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditCosignature(Base):
    """A witness's ``cosignature/v1`` line on one of the log's checkpoints, checked against
    the witness's key before it was kept."""

    __tablename__ = "audit_cosignatures"
    __table_args__ = (UniqueConstraint("tree_size", "line", name="uq_audit_cosignatures_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    witness: Mapped[str] = mapped_column(String(255))
    line: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditWitness(Base):
    """A witness this log pushes its checkpoints to (tlog-witness ``add-checkpoint``)."""

    __tablename__ = "audit_witnesses"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    """The witness's submission prefix; ``/add-checkpoint`` is appended."""
    vkey: Mapped[str] = mapped_column(Text)
    last_size: Mapped[int] = mapped_column(BigInteger, default=0)
    """The size the witness last cosigned for this log (what the next request sends as old)."""
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WitnessedLog(Base):
    """A log this node witnesses: its key, and the newest checkpoint this node cosigned.

    The witness moves ``tree_size`` forward only by a compare-and-set on the size it read, so
    two racing requests can never roll it back (tlog-witness, "add-checkpoint")."""

    __tablename__ = "witness_logs"

    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    vkey: Mapped[str] = mapped_column(Text)
    tree_size: Mapped[int] = mapped_column(BigInteger, default=0)
    root_hash: Mapped[str | None] = mapped_column(String(64))
    checkpoint: Mapped[str | None] = mapped_column(Text)
    """The newest cosigned checkpoint: the log's signature and this node's cosignature."""
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


make_append_only(AuditEntry, truncate=True)  # migration 0003 has its own frozen copy
make_append_only(AuditTreeNode, truncate=True)  # migration 0027 has its own frozen copy
