"""Group commit for the audit log: concurrent requests share one durable transaction.

Every evidence request must have its audit entries committed before it answers. The entries of
concurrent requests are appended in one transaction, as one batch (one claim of the chain's
head, one INSERT, one read of the Merkle peaks), each request's entries contiguous in the
chain (:class:`onceonly.group_commit.GroupCommit`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import AuditEntryView, AuditRecord, append_batch
from onceonly.group_commit import GroupCommit
from onceonly.observability import AUDIT_APPEND


def _append_groups(
    session: Session, batches: Sequence[Sequence[AuditRecord]]
) -> list[list[AuditEntryView]]:
    """Each caller's records, in the order the callers queued, appended as one batch; each
    caller gets back its own entries."""
    entries = append_batch(session, [record for batch in batches for record in batch])
    appended: list[list[AuditEntryView]] = []
    start = 0
    for batch in batches:
        appended.append(entries[start : start + len(batch)])
        start += len(batch)
    return appended


class GroupCommitter:
    """Appends batches of records durably, sharing commits between concurrent callers."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._group: GroupCommit[Sequence[AuditRecord], list[AuditEntryView]] = GroupCommit(
            sessions, _append_groups
        )

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntryView]:
        """Return once ``records`` are committed, in order and contiguous in the chain."""
        with AUDIT_APPEND.time():
            return self._group.submit(records)
