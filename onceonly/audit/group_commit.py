"""Group commit for the audit log: concurrent requests share one durable transaction.

Every evidence request must have its audit entries committed before it answers. Committed one
by one, each request waits for its own fsync behind every other request's (SQLite has one
writer). Here the first request that finds no commit in progress becomes the leader: it takes
every batch queued so far, appends them all in one transaction, commits once, and wakes each
waiting request with its own entries (or the error). Nobody returns before its entries are
durable; under load many requests share one fsync.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import AuditEntryView, AuditRecord, append_batch
from onceonly.db import transaction
from onceonly.observability import AUDIT_APPEND


@dataclass
class _Batch:
    records: Sequence[AuditRecord]
    done: threading.Event = field(default_factory=threading.Event)
    entries: list[AuditEntryView] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommitter:
    """Appends batches of records durably, sharing commits between concurrent callers."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._queue: list[_Batch] = []
        self._leader_active = False

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntryView]:
        """Return once ``records`` are committed, in order and contiguous in the chain."""
        with AUDIT_APPEND.time():
            return self._append(records)

    def _append(self, records: Sequence[AuditRecord]) -> list[AuditEntryView]:
        batch = _Batch(records)
        with self._lock:
            self._queue.append(batch)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
        if lead:
            self._lead()
        batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.entries

    def _lead(self) -> None:
        while True:
            with self._lock:
                group, self._queue = self._queue, []
                if not group:
                    self._leader_active = False
                    return
            self._commit(group)

    def _commit(self, group: list[_Batch]) -> None:
        try:
            with transaction(self._sessions) as session:
                for batch in group:
                    batch.entries = append_batch(session, batch.records)
        except BaseException as exc:
            if len(group) > 1:
                # One bad batch must not fail its neighbours: retry each on its own.
                for batch in group:
                    self._commit([batch])
                return
            group[0].error = exc
            group[0].entries = []
        for batch in group:
            batch.done.set()
