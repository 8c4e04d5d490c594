"""Appending to the audit log: the chain it builds, its durability, its refusal to change, and
concurrent appends that never share a sequence number."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import (
    _PREDICATE_ASKS,  # the statement whose plan is checked
    AuditEntryView,
    EntryFilter,
    append,
    append_durably,
    append_many_durably,
    find_entries,
    head,
    latest,
    predicate_asks,
)
from onceonly.audit.models import GENESIS_HASH, AuditEntry
from onceonly.audit.verify import compute_hash, verify_database
from onceonly.db import make_engine, make_session_factory, transaction
from tests.audit.conftest import record


def test_entries_form_a_chain_from_genesis(
    sessions: sessionmaker[Session], filled: Callable[[int], list[AuditEntryView]]
) -> None:
    entries = filled(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].entry_hash
    assert entries[2].prev_hash == entries[1].entry_hash
    assert all(e.entry_hash == compute_hash(e.as_document()) for e in entries)
    with transaction(sessions) as session:
        result = verify_database(session)
        current = head(session)
    assert result.ok and result.checked == 3
    assert (current.count, current.seq, current.entry_hash) == (3, 3, entries[2].entry_hash)


def test_stored_entry_reads_back_as_written(
    sessions: sessionmaker[Session], filled: Callable[[int], list[AuditEntryView]]
) -> None:
    written = filled(1)[0]
    with transaction(sessions) as session:
        [read] = latest(session, 5)
    assert read == written
    assert read.recorded_at.tzinfo is not None
    assert read.details == {"rule_ids": [1], "note": "第 n 筆"}


def test_predicate_query_is_logged_with_its_params(sessions: sessionmaker[Session]) -> None:
    entry = append_durably(
        sessions,
        record(
            1,
            fields=None,
            dataset="income",
            predicate="avg_monthly_income_below",
            predicate_params={"threshold": 19013},
        ),
    )
    with transaction(sessions) as session:
        [read] = latest(session, 1)
        assert verify_database(session).ok
    assert read.predicate_params == {"threshold": 19013} == entry.predicate_params
    assert read.fields is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"event": ""}, "event"),
        ({"actor_username": ""}, "actor_username"),
        ({"details": {"when": datetime(2025, 1, 1)}}, "not plain JSON"),
        ({"predicate_params": {"x": float("nan")}}, "not plain JSON"),
    ],
)
def test_unloggable_records_are_refused_and_nothing_is_written(
    sessions: sessionmaker[Session], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        append_durably(sessions, record(1, **overrides))
    with transaction(sessions) as session:
        assert head(session).count == 0


def test_entry_rolled_back_with_the_callers_transaction_leaves_no_gap(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        append(session, record(1))
        raise RuntimeError("the change being recorded failed")
    entry = append_durably(sessions, record(2))
    assert (entry.seq, entry.prev_hash) == (1, GENESIS_HASH)


def test_durable_append_is_visible_to_a_fresh_connection(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    written = append_durably(sessions, record(1))
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with make_session_factory(other)() as session:
            assert session.scalar(select(AuditEntry.entry_hash)) == written.entry_hash
    finally:
        other.dispose()


def test_many_appended_together_or_not_at_all(sessions: sessionmaker[Session]) -> None:
    entries = append_many_durably(sessions, [record(1), record(2), record(3)])
    assert [e.seq for e in entries] == [1, 2, 3]
    with pytest.raises(ValueError):
        append_many_durably(sessions, [record(4), record(5, decision="bogus")])
    with transaction(sessions) as session:
        assert head(session).seq == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET subject = 'B123456789' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 1",
    ],
)
def test_database_refuses_to_change_or_delete_entries(
    engine: Engine, filled: Callable[[int], list[AuditEntryView]], statement: str
) -> None:
    filled(2)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM audit_entries")) == 2


def test_concurrent_appends_keep_one_valid_chain(sessions: sessionmaker[Session]) -> None:
    threads, per_thread = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                append_durably(sessions, record(worker * 100 + i))
        except BaseException as error:  # reported below, with the thread's failure
            errors.append(error)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    with transaction(sessions) as session:
        result = verify_database(session)
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        prevs = list(session.scalars(select(AuditEntry.prev_hash)))
    assert result.ok, result.reason_en
    assert seqs == list(range(1, threads * per_thread + 1))
    assert len(set(prevs)) == len(prevs)


def test_auditor_search_filters_and_pages(sessions: sessionmaker[Session]) -> None:
    append_durably(sessions, record(1))
    append_durably(sessions, record(2, subject="F223456781", dataset="income"))
    append_durably(sessions, record(3, actor_agency="new-taipei.social_welfare"))
    with transaction(sessions) as session:
        by_subject, total = find_entries(session, EntryFilter(subject="F223456781"))
        assert total == 1 and by_subject[0].seq == 2
        by_dataset, _ = find_entries(session, EntryFilter(dataset="household_registration"))
        assert [e.seq for e in by_dataset] == [3, 1]
        by_agency, _ = find_entries(session, EntryFilter(agency="new-taipei.social_welfare"))
        assert [e.seq for e in by_agency] == [3]
        by_owner, _ = find_entries(session, EntryFilter(agency="central.moi_household"))
        assert len(by_owner) == 3
        page, total = find_entries(session, EntryFilter(), limit=2, offset=2)
        assert total == 3 and [e.seq for e in page] == [1]
        now = datetime.now(UTC)
        future, _ = find_entries(session, EntryFilter(since=now + timedelta(hours=1)))
        recent, _ = find_entries(
            session, EntryFilter(since=now - timedelta(hours=1), until=now + timedelta(hours=1))
        )
        assert future == [] and len(recent) == 3


def test_migrated_database_appends_and_has_the_triggers(empty_database_url: str) -> None:
    from onceonly import migrations

    migrations.upgrade(empty_database_url)
    migrated = make_engine(empty_database_url)
    try:
        factory = make_session_factory(migrated)
        assert append_durably(factory, record(1)).seq == 1
        append_durably(factory, record(2))  # completes a subtree: a row of audit_tree_nodes
        for table in ("audit_entries", "audit_tree_nodes"):
            with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as connection:
                connection.execute(text(f"DELETE FROM {table}"))
        with transaction(factory) as session:
            assert verify_database(session).ok
    finally:
        migrated.dispose()


def test_log_copied_in_without_its_head_carries_on_where_it_ends(
    engine: Engine, sessions: sessionmaker[Session], filled: Callable[[int], list[AuditEntryView]]
) -> None:
    entries = filled(3)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_head"))
    entry = append_durably(sessions, record(4))
    assert (entry.seq, entry.prev_hash) == (4, entries[-1].entry_hash)
    with transaction(sessions) as session:
        assert verify_database(session).ok


def test_the_asks_about_one_citizen_are_read_by_index_not_by_dataset(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    """Every predicate request reads the earlier asks about its citizen. SQLite, left to
    itself, read every entry of the dataset for that: a request's cost grew with the log."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is SQLite's; PostgreSQL keeps statistics and plans on its own")
    asks = [
        record(n, subject=f"A1{n:08d}", dataset="income", predicate="below", fields=None)
        for n in range(1, 40)
    ]
    asks.append(record(40, subject="A123456789", dataset="income", predicate="below", fields=None))
    for ask in asks:
        append_durably(sessions, ask)
    with transaction(sessions) as session:
        found = predicate_asks(
            session,
            subject="A123456789",
            dataset="income",
            predicate="below",
            since=datetime(2000, 1, 1, tzinfo=UTC),
        )
        compiled = _PREDICATE_ASKS.statement.compile(dialect=engine.dialect)
        values = compiled.construct_params(
            {"subject": "A", "dataset": "d", "predicate": "p", "since": None}
        )
        positional = tuple(values[name] for name in compiled.positiontup or ())
        rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
        plan = " ".join(str(row[-1]) for row in rows)
    assert len(found) == 1
    assert "ix_audit_entries_predicate_asks" in plan, plan


def test_the_tree_stays_right_when_a_batch_rolls_back_and_another_path_appends(
    sessions: sessionmaker[Session],
) -> None:
    """An append remembers the tree's peaks for the next one; a batch that rolled back, then
    an entry appended without it (another worker), must not leave the next batch building on
    peaks of entries that were never kept."""
    from onceonly.audit.log import append_batch
    from onceonly.audit.merkle import entry_leaf, mth
    from onceonly.audit.tree_store import root_hash

    append_many_durably(sessions, [record(n) for n in range(6)])
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        append_batch(session, [record(100)])
        raise RuntimeError("the commit failed")
    with transaction(sessions) as session:
        append(session, record(7))  # entry 7, as another worker's single append makes it
    append_many_durably(sessions, [record(n) for n in range(8, 12)])
    with sessions() as session:
        hashes = list(session.scalars(select(AuditEntry.entry_hash).order_by(AuditEntry.seq)))
        assert len(hashes) == 11
        for size in range(1, 12):
            assert root_hash(session, size) == mth([entry_leaf(h) for h in hashes[:size]])
        assert verify_database(session).ok
