"""A transaction the database refused for now (a deadlock, a lock held too long) is a 503 that
says to send it again, not a 500: nothing of it was written, and the same request can succeed.

The errors are the drivers' own: SQLite's "database is locked" made by really holding the write
lock, and PostgreSQL's deadlock and serialization failures as psycopg raises them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from onceonly.cases import service as cases
from onceonly.db import is_transient
from onceonly.i18n import t
from tests.web.conftest import ROLES, DemoClient


def _sqlite_locked(tmp_path: Path) -> OperationalError:
    """The error SQLAlchemy raises when another connection holds SQLite's write lock."""
    url = f"sqlite:///{tmp_path / 'locked.sqlite'}"
    holder = create_engine(url)
    waiter = create_engine(url, connect_args={"timeout": 0})
    with holder.connect() as held:
        held.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        held.commit()
        held.exec_driver_sql("BEGIN IMMEDIATE")
        with waiter.connect() as blocked, pytest.raises(OperationalError) as caught:
            blocked.execute(text("INSERT INTO t VALUES (1)"))
    holder.dispose()
    waiter.dispose()
    return caught.value


def _postgres(error: type[psycopg.errors.Error]) -> DBAPIError:
    return OperationalError("UPDATE case_events …", {}, error("as the server says it"))


def test_only_what_retrying_can_cure_is_transient(tmp_path: Path) -> None:
    assert is_transient(_sqlite_locked(tmp_path))
    assert is_transient(_postgres(psycopg.errors.DeadlockDetected))
    assert is_transient(_postgres(psycopg.errors.SerializationFailure))
    assert is_transient(_postgres(psycopg.errors.LockNotAvailable))
    duplicate = IntegrityError("INSERT …", {}, psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_transient(duplicate), "the same request would fail again"
    assert not is_transient(_postgres(psycopg.errors.UndefinedTable))
    assert not is_transient(ValueError("database is locked"))


def test_a_busy_database_answers_503_in_words(
    demo_client: DemoClient, tmp_path: Path, monkeypatch: Any
) -> None:
    locked = _sqlite_locked(tmp_path)

    def busy(*_args: Any, **_kwargs: Any) -> Any:
        raise locked

    monkeypatch.setattr(cases, "search_cases", busy)
    headers = demo_client.headers(ROLES["clerk"]) | {"Accept-Language": "en"}
    answer = demo_client.client.get("/api/v1/cases", headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    problem = answer.json()
    assert problem["type"].endswith("/busy") and problem["retry_after"] == 1
    assert problem["detail"] == t("problem.busy_detail", "en")
    assert "OperationalError" not in answer.text and "locked" not in answer.text
