"""The Merkle tree over the audit log (RFC 9162): proofs verify, tampering breaks them, and the
database answers a proof with a handful of reads whatever the size of the log."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit import merkle
from onceonly.audit.log import AuditEntryView, append_durably, append_many_durably
from onceonly.audit.models import AuditEntry, AuditHead, AuditTreeNode
from onceonly.audit.tree_store import (
    TreeIncomplete,
    check_tree,
    consistency_proof,
    forget_appended_peaks,
    inclusion_proof,
    rebuild_tree,
    root_hash,
)
from onceonly.audit.verify import verify_database
from onceonly.db import make_engine, make_session_factory
from onceonly.models import Base
from tests.audit.conftest import drop_triggers, record


def leaves_of(count: int, salt: int = 0) -> list[bytes]:
    return [merkle.leaf_hash(f"{salt}:{i}".encode()) for i in range(count)]


# --- the tree itself -------------------------------------------------------------------------


def test_known_answers_from_the_definition() -> None:
    a, b, c = (merkle.leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle.mth([]) == hashlib.sha256(b"").digest()
    assert merkle.mth([a]) == hashlib.sha256(b"\x00a").digest()
    assert merkle.mth([a, b, c]) == merkle.node_hash(merkle.node_hash(a, b), c)
    assert merkle.SubtreeHashes([a, b, c]).root() == merkle.mth([a, b, c])
    # A leaf never passes for a node: the two hash with different prefixes.
    assert merkle.leaf_hash(a + b) != merkle.node_hash(a, b)


sizes = st.integers(min_value=1, max_value=300)


@given(size=sizes, data=st.data())
def test_every_inclusion_proof_verifies(size: int, data: st.DataObject) -> None:
    leaves = leaves_of(size)
    tree = merkle.SubtreeHashes(leaves)
    root = tree.root()
    assert root == merkle.mth(leaves)
    index = data.draw(st.integers(0, size - 1))
    path = tree.inclusion(index)
    assert len(path) <= math.ceil(math.log2(size)) if size > 1 else path == []
    assert merkle.verify_inclusion(leaves[index], index, size, path, root)
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index)) if size > 1 else None
    if other is not None:
        assert not merkle.verify_inclusion(leaves[other], index, size, path, root)
        assert not merkle.verify_inclusion(leaves[index], other, size, path, root)


@given(second=sizes, data=st.data())
def test_every_consistency_proof_verifies(second: int, data: st.DataObject) -> None:
    leaves = leaves_of(second)
    tree = merkle.SubtreeHashes(leaves)
    first = data.draw(st.integers(0, second))
    proof = tree.consistency(first)
    first_root = merkle.mth(leaves[:first])
    assert merkle.verify_consistency(first, second, first_root, tree.root(), proof)
    if 0 < first < second:
        forged = merkle.mth(leaves_of(first, salt=1))
        assert not merkle.verify_consistency(first, second, forged, tree.root(), proof)
        assert not merkle.verify_consistency(first, second, first_root, forged, proof)
        assert not merkle.verify_consistency(first, second, first_root, tree.root(), proof[:-1])


@pytest.mark.parametrize("size", [1 << 16, (1 << 16) + 1, 100_003])
def test_large_trees(size: int) -> None:
    leaves = leaves_of(size)
    tree = merkle.SubtreeHashes(leaves)
    root = tree.root()
    for index in (0, size // 3, size - 1):
        assert merkle.verify_inclusion(leaves[index], index, size, tree.inclusion(index), root)
    for first in (1, 1000, size // 2 + 7, size - 1):
        proof = tree.consistency(first)
        assert merkle.verify_consistency(first, size, tree.root(first), root, proof)


Mutation = Callable[[list[bytes]], list[bytes]]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[list[bytes], list[bytes], str]:
    size = draw(st.integers(2, 300))
    leaves = leaves_of(size)
    kind = draw(st.sampled_from(["changed", "removed", "reordered"]))
    i = draw(st.integers(0, size - 1))
    changed = list(leaves)
    if kind == "changed":
        changed[i] = merkle.leaf_hash(b"altered")
    elif kind == "removed":
        del changed[i]
    else:
        j = draw(st.integers(0, size - 1).filter(lambda j: j != i))
        changed[i], changed[j] = changed[j], changed[i]
    return leaves, changed, kind


@given(case=mutated(), data=st.data())
def test_any_changed_removed_or_reordered_entry_breaks_verification(
    case: tuple[list[bytes], list[bytes], str], data: st.DataObject
) -> None:
    original, changed, _kind = case
    signed_root = merkle.mth(original)
    tampered = merkle.SubtreeHashes(changed)
    assert tampered.root() != signed_root
    # Whatever proof the tampered log offers, it does not lead to the signed root.
    index = data.draw(st.integers(0, len(changed) - 1))
    path = tampered.inclusion(index)
    assert not merkle.verify_inclusion(changed[index], index, len(original), path, signed_root)
    # Nor does the tampered log pass for a continuation of the signed one.
    grown = [*changed, merkle.leaf_hash(b"new")]
    proof = merkle.SubtreeHashes(grown).consistency(len(original))
    assert not merkle.verify_consistency(
        len(original), len(grown), signed_root, merkle.mth(grown), proof
    )


# --- the tree in the database ----------------------------------------------------------------


@pytest.fixture
def log(sessions: sessionmaker[Session]) -> Callable[[int], list[AuditEntryView]]:
    def fill(count: int) -> list[AuditEntryView]:
        return append_many_durably(sessions, [record(n) for n in range(1, count + 1)])

    return fill


def test_appends_store_each_complete_subtree_once(
    sessions: sessionmaker[Session], log: Callable[[int], list[AuditEntryView]]
) -> None:
    entries = log(77)
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(AuditTreeNode))
        assert stored == 77 - bin(77).count("1")
        leaves = [merkle.entry_leaf(e.entry_hash) for e in entries]
        assert root_hash(session, 77) == merkle.mth(leaves)
        assert root_hash(session, 40) == merkle.mth(leaves[:40])
        assert check_tree(session) == []


def test_database_proofs_match_the_offline_ones(
    sessions: sessionmaker[Session], log: Callable[[int], list[AuditEntryView]]
) -> None:
    entries = log(45)
    leaves = [merkle.entry_leaf(e.entry_hash) for e in entries]
    offline = merkle.SubtreeHashes(leaves)
    with sessions() as session:
        for seq, size in ((1, 1), (1, 45), (17, 33), (45, 45), (32, 32)):
            proof = inclusion_proof(session, seq, size)
            assert proof.path == offline.inclusion(seq - 1, size)
            assert merkle.verify_inclusion(leaves[seq - 1], seq - 1, size, proof.path, proof.root)
        for first, second in ((0, 45), (1, 45), (16, 45), (31, 40), (45, 45)):
            path = consistency_proof(session, first, second)
            assert path == offline.consistency(first, second)
        with pytest.raises(TreeIncomplete):
            inclusion_proof(session, 3, 46)


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def count(*args: Any) -> None:
        seen.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_a_proof_costs_a_few_queries_of_log_n_rows(
    sessions: sessionmaker[Session],
    log: Callable[[int], list[AuditEntryView]],
    statements: list[tuple[str, Any]],
    engine: Engine,
) -> None:
    log(300)
    with sessions() as session:
        statements.clear()
        inclusion_proof(session, 123, 300)
    # the size, the leaves' entry hashes, the stored subtrees: whatever the log's length
    assert len(statements) == 3
    plan = merkle.inclusion_plan(122, 300)
    wanted = plan.nodes | set(merkle.root_nodes(300))
    assert len(wanted) <= 2 * math.ceil(math.log2(300))
    if engine.dialect.name == "sqlite":
        # ... each answered from an index, never by reading the whole table
        raw = engine.raw_connection()
        try:
            for statement, parameters in statements:
                plan_rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                details = [row[3] for row in plan_rows]
                assert not any(d.startswith("SCAN audit_") for d in details), details
        finally:
            raw.close()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_tree_nodes SET hash = :hash", "DELETE FROM audit_tree_nodes"],
)
def test_database_refuses_to_change_or_delete_subtree_hashes(
    engine: Engine, log: Callable[[int], list[AuditEntryView]], statement: str
) -> None:
    """Proofs are read from these rows: a changed one would make every proof through it fail
    to verify, with nothing on the node saying why."""
    log(8)
    with engine.connect() as connection:
        before = connection.execute(text("SELECT level, position, hash FROM audit_tree_nodes"))
        stored = sorted(before)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement), {"hash": bytes(32)})
    with engine.connect() as connection:
        after = connection.execute(text("SELECT level, position, hash FROM audit_tree_nodes"))
        assert sorted(after) == stored


def test_a_log_written_before_the_tree_is_caught_up(
    engine: Engine,
    sessions: sessionmaker[Session],
    log: Callable[[int], list[AuditEntryView]],
) -> None:
    entries = log(20)
    drop_triggers(engine)  # a database from before the tree: its table empty, not emptied
    with engine.begin() as connection:
        connection.execute(AuditTreeNode.__table__.delete())
    forget_appended_peaks()  # as the process that opens such a database, new to it
    more = append_many_durably(sessions, [record(n) for n in range(21, 25)])
    leaves = [merkle.entry_leaf(e.entry_hash) for e in [*entries, *more]]
    with sessions() as session:
        assert root_hash(session, 24) == merkle.mth(leaves)
        assert rebuild_tree(session) == 24 - bin(24).count("1")
        assert check_tree(session) == []


def test_two_logs_appended_in_turn_by_one_process_each_keep_their_own_tree(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A batched append continues from the head and the peaks the process's last append
    left, without reading them, only when the log is still there: the same size is not
    enough (a node's log and another log this process writes, or another worker's appends),
    nor is it after another kind of append moved the head."""
    other_engine = make_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    Base.metadata.create_all(
        other_engine, tables=[AuditEntry.__table__, AuditHead.__table__, AuditTreeNode.__table__]
    )
    other = make_session_factory(other_engine)
    written: dict[int, list[AuditEntryView]] = {0: [], 1: []}
    try:
        for batch in range(12):
            for which, factory in enumerate((sessions, other)):
                records = [record(100 * which + 10 * batch + n) for n in range(3)]
                written[which] += append_many_durably(factory, records)
                if batch % 5 == 4:  # an append of another kind moves the head meanwhile
                    written[which].append(append_durably(factory, record(1000 + batch)))
        for which, factory in enumerate((sessions, other)):
            leaves = [merkle.entry_leaf(e.entry_hash) for e in written[which]]
            assert [e.seq for e in written[which]] == list(range(1, len(leaves) + 1))
            with factory() as session:
                assert verify_database(session).ok
                assert check_tree(session) == []
                assert root_hash(session, len(leaves)) == merkle.mth(leaves)
    finally:
        other_engine.dispose()


def test_single_and_batched_appends_build_the_same_tree(sessions: sessionmaker[Session]) -> None:
    entries = [append_durably(sessions, record(n)) for n in range(1, 14)]
    entries += append_many_durably(sessions, [record(n) for n in range(14, 41)])
    entries += [append_durably(sessions, record(n)) for n in range(41, 46)]
    leaves = [merkle.entry_leaf(e.entry_hash) for e in entries]
    assert [e.seq for e in entries] == list(range(1, 46))
    with sessions() as session:
        assert verify_database(session).ok
        assert check_tree(session) == []
        for size in (13, 14, 40, 45):
            assert root_hash(session, size) == merkle.mth(leaves[:size])
