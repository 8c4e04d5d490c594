"""Group commit: concurrent requests share one durable transaction.

Some writes must be committed before a request may answer: an audit entry before evidence is
released, a federation nonce before a forwarded request is acted on. Committed one by one, each
request waits for its own fsync behind every other request's (SQLite has one writer). Here the
first caller that finds no commit in progress becomes the leader: it takes every item queued so
far, writes them all in one transaction (with one call of the writer, which can then write
them in one statement), commits once, and wakes each waiting caller with its own result (or
its own error). Nobody returns before its write is durable; under load many
requests share one fsync.

A leader commits one group, its own item in it, then hands the lead to the oldest caller
still waiting and returns. A leader that went on committing while anyone was queued never
returned under steady load: one clerk in a few hundred waited seconds for other clerks'
entries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import transaction

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    wake: threading.Event = field(default_factory=threading.Event)
    """Set when the item is committed (``finished``) or when this caller is to lead."""
    finished: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Runs ``write(session, items)`` for each group of submitted items, one result per item
    in order, one commit per group."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        write: Callable[[Session, Sequence[Item]], Sequence[Result]],
    ) -> None:
        self._sessions = sessions
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Waiting[Item, Result]] = []
        self._leader_active = False

    def submit(self, item: Item) -> Result:
        """``write``'s result for ``item`` once it is committed; its error if it failed (an
        item that fails alone never fails the others committed with it)."""
        waiting: _Waiting[Item, Result] = _Waiting(item)
        with self._lock:
            self._queue.append(waiting)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
        if not lead:
            waiting.wake.wait()
        if not waiting.finished:  # leading: this caller's item is in the group it takes
            self._lead()
        if waiting.error is not None:
            raise waiting.error
        return waiting.result  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue, []
        try:
            self._commit(group)
        finally:  # whatever became of this group, the callers queued behind it go on
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # the oldest waiting caller leads the next group
                else:
                    self._leader_active = False

    def _commit(self, group: list[_Waiting[Item, Result]]) -> None:
        try:
            with transaction(self._sessions) as session:
                results = self._write(session, [waiting.item for waiting in group])
                for waiting, result in zip(group, results, strict=True):  # one per item
                    waiting.result = result
        except BaseException as exc:
            if len(group) > 1:
                # One bad item must not fail its neighbours: retry each on its own (nothing
                # of the group was committed, the transaction rolled back whole).
                for waiting in group:
                    self._commit([waiting])
                return
            group[0].error = exc
            group[0].result = None
        for waiting in group:
            waiting.finished = True
            waiting.wake.set()
