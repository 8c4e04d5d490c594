"""Fixtures for the audit tests: a session factory on the test database, entries to tamper
with, and an attacker who owns the database and drops the append-only triggers first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import (
    AuditEntryView,
    AuditRecord,
    _claim_next_seq,
    _content,
    append_durably,
)
from onceonly.audit.models import (
    AuditCheckpoint,
    AuditCosignature,
    AuditEntry,
    AuditHead,
    AuditTreeHead,
    AuditTreeNode,
    AuditWitness,
    WitnessedLog,
)
from onceonly.audit.tree_store import add_leaf
from onceonly.db import make_engine, make_session_factory, utcnow
from onceonly.models import Base


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    """Only the audit tables (with their triggers): much quicker to make than every table."""
    engine = make_engine(empty_database_url)
    from onceonly.exchange.keys import SigningKeyRecord

    models = (
        AuditEntry,
        AuditHead,
        AuditTreeNode,
        AuditTreeHead,
        AuditCheckpoint,
        AuditCosignature,
        AuditWitness,
        WitnessedLog,
        SigningKeyRecord,
    )
    tables = [m.__table__ for m in models]
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
            f"DROP TRIGGER IF EXISTS {table}_no_{verb}"
            for table in ("audit_entries", "audit_tree_nodes")
            for verb in ("update", "delete")
        ],
        "postgresql": [
            f"DROP TRIGGER IF EXISTS {table}_no_{what} ON {table}"
            for table in ("audit_entries", "audit_tree_nodes")
            for what in ("change", "truncate")
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


FORMAT_1_HASHED = (
    "seq", "request_id", "recorded_at", "event", "actor_username", "actor_badge", "actor_role",
    "actor_agency", "application_item", "case_id", "subject", "dataset", "fields", "predicate",
    "predicate_params", "owner_agency", "legal_basis", "decision", "reason_zh", "reason_en",
    "details", "prev_hash",
)  # fmt: skip
"""Frozen copy of what the code before entry format 2 hashed (do not import it from the code:
the point is to notice if the code stops verifying what it once wrote)."""


def append_format_1(session: Session, entry: AuditRecord) -> int:
    """Append ``entry`` exactly as the code before entry format 2 did (its hash covers the
    username; the row leaves ``entry_format`` and ``actor_salt`` to their defaults, as the rows
    migration 0010 finds do) and return its seq."""
    content = _content(entry)
    seq, prev_hash = _claim_next_seq(session)
    recorded_at = utcnow()
    document = {
        **content,
        "seq": seq,
        "recorded_at": recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "prev_hash": prev_hash,
    }
    hashed = json.dumps(
        {name: document[name] for name in FORMAT_1_HASHED},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    entry_hash = hashlib.sha256(hashed.encode("utf-8")).hexdigest()
    session.execute(
        insert(AuditEntry.__table__).values(
            **content, seq=seq, recorded_at=recorded_at, prev_hash=prev_hash, entry_hash=entry_hash
        )
    )
    add_leaf(session, seq, entry_hash, prev_hash)
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(entry_hash=entry_hash, updated_at=recorded_at)
    )
    return seq
