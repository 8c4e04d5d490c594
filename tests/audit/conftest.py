"""Fixtures for the audit tests: a session factory on the test database, entries to tamper
with, and an attacker who owns the database and drops the append-only triggers first."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import AuditEntryView, AuditRecord, append_durably
from onceonly.audit.models import AuditEntry, AuditHead, AuditTreeHead, AuditTreeNode
from onceonly.db import make_engine, make_session_factory
from onceonly.models import Base


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    """Only the audit tables (with their triggers): much quicker to make than every table."""
    engine = make_engine(empty_database_url)
    tables = [m.__table__ for m in (AuditEntry, AuditHead, AuditTreeNode, AuditTreeHead)]
    Base.metadata.create_all(engine, tables=tables)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def record(n: int, **overrides: object) -> AuditRecord:
    """A realistic evidence request: a clerk of the urban development department fetching
    household data for a public-housing application."""
    values: dict[str, object] = {
        "event": "evidence.request",
        "request_id": f"req-{n:04d}",
        "actor_username": "tpe-clerk",
        "actor_badge": f"B{n:05d}",
        "actor_role": "clerk",
        "actor_agency": "taipei-city.urban_development",
        "application_item": "public_housing_rental",
        "case_id": f"case-{n}",
        "subject": "A123456789",
        "dataset": "household_registration",
        "fields": ["name", "address", "members"],
        "owner_agency": "central.moi_household",
        "legal_basis": "housing_act_art_22",
        "decision": "allowed",
        "reason_zh": "依存取規則准予調閱",
        "reason_en": "Allowed by the access rule",
        "details": {"rule_ids": [n], "note": "第 n 筆"},
    }
    values.update(overrides)
    return AuditRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> Callable[[int], list[AuditEntryView]]:
    def fill(count: int) -> list[AuditEntryView]:
        return [append_durably(sessions, record(n)) for n in range(1, count + 1)]

    return fill


def drop_triggers(engine: Engine) -> None:
    """What an attacker with database access does first."""
    statements = {
        "sqlite": [
            "DROP TRIGGER IF EXISTS audit_entries_no_update",
            "DROP TRIGGER IF EXISTS audit_entries_no_delete",
        ],
        "postgresql": [
            "DROP TRIGGER IF EXISTS audit_entries_no_change ON audit_entries",
            "DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries",
        ],
    }[engine.dialect.name]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


@pytest.fixture
def attacker(engine: Engine) -> Callable[..., None]:
    """Run raw SQL against the log with the triggers gone."""
    drop_triggers(engine)

    def run(*statements: str, **params: object) -> None:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement), params)

    return run
