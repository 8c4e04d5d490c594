"""SQLite's write-ahead log copied back into the database file by a thread of the server, not
by whichever request happens to commit the thousandth page.

In WAL mode every commit appends to the ``-wal`` file, and by default the commit that takes it
past 1,000 pages then copies those pages into the database file and syncs it (a checkpoint).
That request pays several milliseconds for everyone's writes: on one connection it was the
slowest one in a hundred (``benches/evidence.py``: p99 7.6-8.2 ms with checkpoints in requests,
5.0 ms without). Here the server's connections checkpoint only past
:data:`BACKSTOP_PAGES` (when this thread has fallen far behind), and :class:`Checkpointer`
runs a passive checkpoint every ``every`` seconds: it never blocks readers or writers, and what
it cannot copy yet (a reader still on older pages) is copied on a later round.

Nothing about durability changes: a commit is durable once it is in the synced WAL
(``synchronous=FULL``), whether or not it has been copied back yet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from onceonly.db import sqlite_in_memory
from onceonly.periodic import Periodic

BACKSTOP_PAGES = 40_000
"""Pages (4 KiB each) the WAL may hold before a committing request checkpoints after all.

Under steady load the log does not start over after this thread's rounds: SQLite rewinds it
only for a writer that began when every frame had been copied back, and requests go on
appending while a round runs. So the log grows to this size and the request that takes it
there checkpoints (12-16 ms) and rewinds it. One connection writes about 9,000 pages a second
(an evidence request's audit entries touch some twenty index and table pages), so at 10,000
that was a request in 400 and set the p99 (7-9 ms); at 40,000 it is one in 1,800 (p99 4.5-6.3
ms, ``benches/evidence.py``). The WAL file then stays at about 160 MB. A restart checkpoint
from this thread rewinds the log but holds writers back, and a held-back writer sleeps in
SQLite's busy handler for 18 ms: worse."""


def is_sqlite_file(engine: Engine) -> bool:
    """A SQLite database in a file (an in-memory one has no WAL)."""
    in_file = bool(engine.url.database) and not sqlite_in_memory(str(engine.url))
    return engine.dialect.name == "sqlite" and in_file


class Checkpointer(Periodic):
    """Checkpoints ``engine``'s WAL in a daemon thread (started and stopped with the app).
    Make it before the engine's first connection: only connections opened afterwards leave
    checkpoints to it."""

    def __init__(self, engine: Engine, every: float = 1.0) -> None:
        super().__init__("sqlite-checkpoints", every, self.checkpoint)
        self.engine = engine
        event.listen(engine, "connect", _leave_checkpoints_to_the_thread)

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint: (1 if it could not finish, pages in the WAL, pages copied
        into the database file)."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            row = cursor.fetchone()
            cursor.close()
        finally:
            connection.close()
        busy, in_wal, copied = row or (1, -1, -1)  # SQLite always answers one row
        return int(busy), int(in_wal), int(copied)


def _leave_checkpoints_to_the_thread(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()
