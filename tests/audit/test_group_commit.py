"""Group commit: concurrent callers share transactions, yet each gets its own contiguous,
durable entries, and one bad batch fails only its own caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.group_commit import GroupCommitter
from onceonly.audit.log import AuditEntryView, AuditRecord
from onceonly.audit.models import AuditEntry
from onceonly.audit.verify import verify_chain
from onceonly.db import make_engine, make_session_factory


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _records(caller: int, count: int) -> list[AuditRecord]:
    return [
        AuditRecord(event="evidence.request", actor_username=f"clerk-{caller}", case_id=str(n))
        for n in range(count)
    ]


def test_concurrent_callers_get_contiguous_durable_entries(
    sessions: sessionmaker[Session],
) -> None:
    committer = GroupCommitter(sessions)
    results: dict[int, list[AuditEntryView]] = {}
    start = threading.Barrier(12)

    def caller(number: int) -> None:
        start.wait()
        results[number] = committer.append(_records(number, 3))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for number, entries in results.items():
        seqs = [e.seq for e in entries]
        assert seqs == list(range(seqs[0], seqs[0] + 3)), "a caller's entries are contiguous"
        assert {e.actor_username for e in entries} == {f"clerk-{number}"}
    with sessions() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert len(rows) == 36
    assert verify_chain(rows).ok


def test_a_bad_batch_fails_only_its_caller(sessions: sessionmaker[Session]) -> None:
    committer = GroupCommitter(sessions)
    good = committer.append(_records(1, 2))
    with pytest.raises(ValueError):
        committer.append(
            [AuditRecord(event="evidence.request", actor_username="x", decision="maybe")]
        )
    after = committer.append(_records(2, 1))
    assert [e.seq for e in good] == [1, 2] and after[0].seq == 3


def test_a_leader_returns_once_its_own_group_is_committed(
    sessions: sessionmaker[Session],
) -> None:
    """Under steady load the queue is never empty: a caller that led one commit must return
    with its entry, not go on committing everyone else's (a clerk waited seconds so)."""
    from onceonly.group_commit import GroupCommit

    writing_first = threading.Event()
    second_queued = threading.Event()
    first_returned = threading.Event()
    written: list[str] = []

    def write(session: Session, item: str) -> str:
        if item == "first":
            writing_first.set()
            assert second_queued.wait(5)  # the second caller queues behind this commit
        if item == "second":
            # A leader that keeps leading would be writing this, still inside its own call.
            assert first_returned.wait(5), "the first caller is still committing for others"
        written.append(item)
        return item

    group: GroupCommit[str, str] = GroupCommit(
        sessions, lambda session, items: [write(session, item) for item in items]
    )
    results: dict[str, str] = {}

    def first() -> None:
        results["first"] = group.submit("first")
        first_returned.set()

    def second() -> None:
        results["second"] = group.submit("second")

    leader = threading.Thread(target=first)
    leader.start()
    assert writing_first.wait(5)
    follower = threading.Thread(target=second)
    follower.start()
    while not group._queue:  # no public way to see a caller waiting
        threading.Event().wait(0.001)
    second_queued.set()
    leader.join(10)
    follower.join(10)
    assert results == {"first": "first", "second": "second"}
    assert written == ["first", "second"]


def test_one_bad_item_in_a_group_fails_only_its_caller(sessions: sessionmaker[Session]) -> None:
    """The group is written with one call; when that call fails, each item is tried alone,
    so the callers queued beside the bad one still get their results."""
    from onceonly.group_commit import GroupCommit

    first_writing = threading.Event()
    others_queued = threading.Event()
    tried: list[list[str]] = []

    def write(session: Session, items: Sequence[str]) -> list[str]:
        tried.append(list(items))
        if list(items) == ["first"]:
            first_writing.set()
            assert others_queued.wait(5)
        if "bad" in items:
            raise ValueError("not loggable")
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = GroupCommit(sessions, write)
    results: dict[str, str | Exception] = {}

    def call(item: str) -> None:
        try:
            results[item] = group.submit(item)
        except ValueError as error:
            results[item] = error

    threads = [threading.Thread(target=call, args=("first",))]
    threads[0].start()
    assert first_writing.wait(5)
    for item in ("a", "bad", "b"):
        threads.append(threading.Thread(target=call, args=(item,)))
        threads[-1].start()
    while len(group._queue) < 3:  # no public way to see callers waiting
        threading.Event().wait(0.001)
    others_queued.set()
    for thread in threads:
        thread.join(10)

    assert results["first"] == "FIRST" and results["a"] == "A" and results["b"] == "B"
    assert isinstance(results["bad"], ValueError)
    assert any(len(items) == 3 for items in tried), "the three queued callers were one group"
