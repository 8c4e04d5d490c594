"""Group commit for the audit log: concurrent requests share one durable transaction.

Every evidence request must have its audit entries committed before it answers. The entries of
concurrent requests are appended in one transaction, each request's batch contiguous in the
chain (:class:`onceonly.group_commit.GroupCommit`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import AuditEntryView, AuditRecord, append_batch
from onceonly.group_commit import GroupCommit
from onceonly.observability import AUDIT_APPEND


class GroupCommitter:
    """Appends batches of records durably, sharing commits between concurrent callers."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._group: GroupCommit[Sequence[AuditRecord], list[AuditEntryView]] = GroupCommit(
            sessions, append_batch
        )

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntryView]:
        """Return once ``records`` are committed, in order and contiguous in the chain."""
        with AUDIT_APPEND.time():
            return self._group.submit(records)
