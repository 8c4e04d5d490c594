"""The server's SQLite WAL is copied back by the app's own thread, not by the requests."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from onceonly.audit.log import AuditRecord, append_durably
from onceonly.config import Settings
from onceonly.sqlite_checkpoints import BACKSTOP_PAGES
from onceonly.web.app import create_app
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's write-ahead log only")


def _copied_back(database: Path) -> int:
    """Audit entries in the database file itself, not counting the WAL's pages."""
    with sqlite3.connect(f"file:{database}?immutable=1", uri=True) as reader:
        return int(reader.execute("SELECT count(*) FROM audit_entries").fetchone()[0])


def _record(n: int) -> AuditRecord:
    return AuditRecord(event="evidence.request", actor_username="clerk", case_id=str(n))


def test_requests_leave_checkpoints_to_the_apps_thread(settings: Settings) -> None:
    database = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    app = create_app(settings)
    sessions = app.state.sessions
    with sessions() as session:
        (pages,) = session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").one()
    assert pages == BACKSTOP_PAGES

    for n in range(20):  # the app not started: nobody copies the WAL back
        append_durably(sessions, _record(n))
    assert _copied_back(database) == 0

    with TestClient(app):  # started: its thread copies the WAL back within a round or two
        deadline = time.monotonic() + 10
        while _copied_back(database) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _copied_back(database) == 20
        append_durably(sessions, _record(20))
        while _copied_back(database) < 21 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _copied_back(database) == 21
    app.state.engine.dispose()
