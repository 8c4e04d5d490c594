"""The Merkle tree of the audit log, kept in the database next to the entries.

:func:`add_leaf` runs inside every append (same transaction as the entry), storing the complete
subtrees the new leaf completes: on average one row per append, and a read only when a
subtree of level >= 2 closes (one append in four). Batched appends (:func:`add_leaves`) read
the peaks they extend only when another process appended since this one last did. Proofs
then read the ~2·log2(n) subtree hashes their plan names in two queries, whatever the size
of the log.

Level-0 hashes are never stored: a leaf is ``SHA-256(0x00 || entry_hash)`` of its entry, and
the one a new leaf needs first is its predecessor's, which the append already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from onceonly.audit import merkle
from onceonly.audit.models import AuditEntry, AuditTreeNode
from onceonly.audit.verify import entry_document
from onceonly.prepared import Prepared, run

REBUILD_BATCH = 5000

_INSERT_NODES = Prepared(insert(cast(Table, AuditTreeNode.__table__)))
"""Every append runs it (:mod:`onceonly.prepared`)."""


class TreeIncomplete(LookupError):
    """A subtree the proof needs is missing: the tree is behind the log (see
    :func:`rebuild_tree`), or the size asked for is past the end of the log."""


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    leaf_index: int
    tree_size: int
    entry_hash: str
    leaf_hash: bytes
    path: list[bytes]
    root: bytes

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "entry_hash": self.entry_hash,
            "leaf_hash": self.leaf_hash.hex(),
            "audit_path": [h.hex() for h in self.path],
            "root_hash": self.root.hex(),
        }


def tree_size(session: Session) -> int:
    """How many leaves the tree has: every committed entry (nodes commit with their entry)."""
    return session.scalar(select(func.max(AuditEntry.seq))) or 0


def _stored(session: Session, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    by_level: dict[int, list[int]] = {}
    for level, position in nodes:
        if level >= 1:
            by_level.setdefault(level, []).append(position)
    if not by_level:
        return {}
    # One primary-key lookup per level (a row-value IN would scan the table on SQLite). The
    # SQL is written out from integers and handed to the driver as it is: building it as an
    # expression, or even as text(), cost more than the reads.
    condition = " OR ".join(
        f"(level = {int(level)} AND position IN ({', '.join(str(int(p)) for p in positions)}))"
        for level, positions in sorted(by_level.items())
    )
    rows = run(
        session.connection(),
        f"SELECT level, position, hash FROM audit_tree_nodes WHERE {condition}",
    )
    return {(level, position): bytes(value) for level, position, value in rows}


def _entry_hashes(session: Session, positions: Iterable[int]) -> dict[int, str]:
    """Leaf position -> entry hash."""
    seqs = [p + 1 for p in positions]
    if not seqs:
        return {}
    listed = ", ".join(str(int(seq)) for seq in seqs)
    rows = session.execute(
        text(f"SELECT seq, entry_hash FROM audit_entries WHERE seq IN ({listed})")
    )
    return {seq - 1: entry_hash for seq, entry_hash in rows}


def _subtrees(
    session: Session, nodes: Iterable[merkle.Node]
) -> tuple[dict[merkle.Node, bytes], dict[int, str]]:
    wanted = set(nodes)
    entry_hashes = _entry_hashes(session, {position for level, position in wanted if level == 0})
    found = _stored(session, wanted)
    found.update({(0, p): merkle.entry_leaf(h) for p, h in entry_hashes.items()})
    missing = wanted - found.keys()
    if missing:
        raise TreeIncomplete(f"audit tree lacks subtrees {sorted(missing)[:5]}")
    return found, entry_hashes


def subtree_hashes(session: Session, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The hashes of ``nodes`` (two queries); raises :class:`TreeIncomplete` if any is absent."""
    return _subtrees(session, nodes)[0]


def add_leaf(session: Session, seq: int, entry_hash: str, prev_hash: str) -> None:
    """Store the subtrees that the entry ``seq`` completes (call right after inserting it)."""
    index = seq - 1
    needed = merkle.left_siblings(index)
    if not needed:
        return
    known = {(0, index - 1): merkle.entry_leaf(prev_hash)}
    known.update(_stored(session, needed[1:]))
    if len(known) < len(needed):
        rebuild_tree(session, upto=seq - 1)
        known.update(_stored(session, needed[1:]))
    made = merkle.new_nodes(index, merkle.entry_leaf(entry_hash), known.__getitem__)
    _INSERT_NODES.many(
        session,
        [
            {"level": level, "position": position, "hash": value}
            for (level, position), value in made
        ],
    )


def _peaks(session: Session, size: int, last_leaf_entry_hash: str) -> list[bytes]:
    """The complete subtrees of the first ``size`` leaves that no later leaf is inside yet
    (left to right), which appending the next leaves combines with."""
    nodes = merkle.root_nodes(size)
    found = _stored(session, nodes)
    if size & 1:
        found[(0, size - 1)] = merkle.entry_leaf(last_leaf_entry_hash)
    if len(found) < len(nodes):
        return []
    return [found[node] for node in nodes]


@dataclass(frozen=True)
class _Peaks:
    size: int
    last_entry_hash: str
    hashes: tuple[bytes, ...]


_appended = _Peaks(-1, "", ())
"""The peaks this process's newest append left, with the size and the entry hash they end
at. The peaks of the first ``n`` leaves are a function of those entries, and the entry hash
of the ``n``-th commits to every entry before it: whenever the next append finds the log at
the same size and hash, these are its peaks, whichever database or worker it writes to (an
append that rolled back left a hash no committed log will have). The next append of a busy
node does, so it reads nothing; one that finds another worker wrote meanwhile reads them."""


def appended_end() -> tuple[int, str] | None:
    """(seq, entry hash) of the last entry this process's newest batched append wrote, or
    ``None`` before its first: where the next append expects to find the log's head."""
    known = _appended
    return (known.size, known.last_entry_hash) if known.size >= 0 else None


def forget_appended_peaks() -> None:
    """Read the head and the peaks from the database on the next append, as a process that
    has not appended yet does (for a database whose tree was emptied under this process)."""
    global _appended
    _appended = _Peaks(-1, "", ())


def add_leaves(session: Session, first_seq: int, entry_hashes: list[str], prev_hash: str) -> None:
    """:func:`add_leaf` for consecutive entries from ``first_seq`` (``prev_hash``: the entry
    hash before them), with at most one read of the current peaks and one INSERT."""
    global _appended
    size = first_seq - 1
    known = _appended
    if known.size == size and known.last_entry_hash == prev_hash:
        stack = list(known.hashes)
    else:
        stack = _peaks(session, size, prev_hash)
        if len(stack) != len(merkle.root_nodes(size)):
            rebuild_tree(session, upto=size)
            stack = _peaks(session, size, prev_hash)
    leaves = (merkle.entry_leaf(h) for h in entry_hashes)
    rows = [_row(node, value) for node, value in merkle.extend(stack, size, leaves)]
    _INSERT_NODES.many(session, rows)
    if entry_hashes:
        _appended = _Peaks(size + len(entry_hashes), entry_hashes[-1], tuple(stack))


def root_hash(session: Session, size: int) -> bytes:
    """MTH of the first ``size`` entries."""
    if size > tree_size(session):
        raise TreeIncomplete(f"the log has fewer than {size} entries")
    return merkle.root_from(size, subtree_hashes(session, merkle.root_nodes(size)))


def inclusion_proof(session: Session, seq: int, size: int) -> InclusionProof:
    """The audit path of entry ``seq`` in the tree of the first ``size`` entries."""
    if size > tree_size(session):
        raise TreeIncomplete(f"the log has fewer than {size} entries")
    plan = merkle.inclusion_plan(seq - 1, size)
    hashes, entry_hashes = _subtrees(
        session, plan.nodes | set(merkle.root_nodes(size)) | {(0, seq - 1)}
    )
    return InclusionProof(
        seq=seq,
        leaf_index=seq - 1,
        tree_size=size,
        entry_hash=entry_hashes[seq - 1],
        leaf_hash=hashes[(0, seq - 1)],
        path=merkle.assemble(plan, hashes),
        root=merkle.root_from(size, hashes),
    )


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]): the tree of ``first`` entries is a prefix of ``second``'s."""
    if second > tree_size(session):
        raise TreeIncomplete(f"the log has fewer than {second} entries")
    plan = merkle.consistency_plan(first, second)
    return merkle.assemble(plan, subtree_hashes(session, plan.nodes))


def _insert_ignoring_existing(session: Session, rows: list[dict[str, object]]) -> None:
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AuditTreeNode)
    session.execute(statement.on_conflict_do_nothing(index_elements=["level", "position"]), rows)


def _row(node: merkle.Node, value: bytes) -> dict[str, object]:
    return {"level": node[0], "position": node[1], "hash": value}


def _all_subtrees(session: Session, upto: int | None) -> Iterator[tuple[merkle.Node, bytes]]:
    """Every complete subtree (level >= 1) of the first ``upto`` entries, from the entries."""
    query = select(AuditEntry.entry_hash).order_by(AuditEntry.seq)
    if upto is not None:
        query = query.where(AuditEntry.seq <= upto)
    hashes = session.scalars(query.execution_options(yield_per=REBUILD_BATCH))
    yield from merkle.extend([], 0, (merkle.entry_leaf(h) for h in hashes))


def rebuild_tree(session: Session, upto: int | None = None) -> int:
    """Store every missing complete subtree of the first ``upto`` entries (all by default),
    e.g. for a log written before the tree existed; returns how many subtrees were looked at.
    Existing rows are left alone (:func:`check_tree` compares them)."""
    rows: list[dict[str, object]] = []
    seen = 0
    for node, value in _all_subtrees(session, upto):
        rows.append(_row(node, value))
        if len(rows) >= REBUILD_BATCH:
            seen += len(rows)
            _insert_ignoring_existing(session, rows)
            rows = []
    if rows:
        seen += len(rows)
        _insert_ignoring_existing(session, rows)
    return seen


def check_tree(session: Session) -> list[merkle.Node]:
    """Stored subtrees whose hash differs from the one the entries give (normally none)."""
    wrong: list[merkle.Node] = []
    expected: dict[merkle.Node, bytes] = {}

    def compare() -> None:
        stored = _stored(session, expected)
        wrong.extend(n for n, value in expected.items() if stored.get(n) != value)
        expected.clear()

    for node, value in _all_subtrees(session, None):
        expected[node] = value
        if len(expected) >= 500:
            compare()
    compare()
    return wrong


def proof_entry(session: Session, seq: int, *, redact: bool = False) -> dict[str, Any] | None:
    """The entry ``seq`` as exported (the document its hash covers), or None; ``redact``: as a
    citizen may have it (see :func:`onceonly.audit.verify.entry_document`)."""
    row = session.get(AuditEntry, seq)
    return entry_document(row, redact=redact) if row is not None else None
