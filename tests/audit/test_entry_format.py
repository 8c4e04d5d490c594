"""Entry format 2: the hash commits to the actor (salted) instead of containing the username.

Full documents (exports, backups, auditors) carry the username and salt, and a forged one is
refused naming the entry; redacted documents (a citizen's proof) carry neither and verify all
the same; entries written before format 2 keep verifying exactly as they did."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from onceonly import migrations
from onceonly.audit.log import AuditEntryView, append, append_durably
from onceonly.audit.models import GENESIS_HASH, AuditEntry
from onceonly.audit.verify import (
    HASHED_FIELDS_V2,
    ActorNotRedactable,
    actor_commitment,
    canonical_json,
    compute_hash,
    entry_document,
    export_log,
    format_time,
    verify_chain,
    verify_database,
    verify_file,
)
from onceonly.db import make_engine, make_session_factory, transaction
from tests.audit.conftest import append_format_1, record
from tests.audit.test_verify import write_lines

CLERK = "tpe-clerk"


def _export(sessions: sessionmaker[Session], path: Path) -> list[dict[str, Any]]:
    with transaction(sessions) as session:
        export_log(session, path)
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_a_new_entry_commits_to_its_clerk_with_a_salt_of_its_own(
    sessions: sessionmaker[Session],
) -> None:
    first = append_durably(sessions, record(1))
    second = append_durably(sessions, record(2))
    assert (first.entry_format, second.entry_format) == (2, 2)
    assert first.actor_salt and len(bytes.fromhex(first.actor_salt)) == 32
    assert first.actor_salt != second.actor_salt
    assert first.actor_commitment != second.actor_commitment  # same clerk, unlinkable

    full = first.as_document()
    redacted = first.as_document(redact=True)
    spelled = json.dumps(
        {"salt": first.actor_salt, "username": CLERK}, sort_keys=True, separators=(",", ":")
    )
    assert full["actor_commitment"] == hashlib.sha256(spelled.encode()).hexdigest()
    assert (full["actor_username"], full["actor_salt"]) == (CLERK, first.actor_salt)
    assert "actor_username" not in redacted and "actor_salt" not in redacted
    assert CLERK not in canonical_json(redacted)
    assert compute_hash(full) == compute_hash(redacted) == first.entry_hash
    with transaction(sessions) as session:
        assert verify_database(session).ok
        stored = session.get(AuditEntry, 1)
        assert stored is not None
        assert (stored.entry_format, stored.actor_salt) == (2, first.actor_salt)


def test_a_full_export_with_a_forged_clerk_or_salt_names_the_entry(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    for n in range(1, 5):
        append_durably(sessions, record(n))
    lines = _export(sessions, tmp_path / "audit.jsonl")
    assert verify_file(tmp_path / "audit.jsonl").ok
    assert {line["actor_username"] for line in lines} == {CLERK}

    for field, forged in (("actor_username", "someone-else"), ("actor_salt", "00" * 32)):
        edited = [dict(line) for line in lines]
        edited[2][field] = forged
        result = verify_file(write_lines(tmp_path / f"{field}.jsonl", edited))
        assert not result.ok and (result.problem, result.first_bad_seq) == ("altered", 3)
        assert result.checked == 2
        assert "Entry 3" in result.reason_en and "actor_commitment" in result.reason_en
        assert "第 3 筆" in result.reason_zh
        assert edited[2]["request_id"] in result.reason_en

    half = [dict(line) for line in lines]
    del half[1]["actor_salt"]
    result = verify_chain(half)
    assert (result.problem, result.first_bad_seq) == ("malformed", 2)
    assert "actor_username and actor_salt come together" in result.reason_en


def test_a_redacted_export_verifies_and_says_whom_it_cannot_name(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    for n in range(1, 4):
        append_durably(sessions, record(n))
    with transaction(sessions) as session:
        rows = [AuditEntryView.from_row(r) for r in session.scalars(select(AuditEntry))]
    redacted = [r.as_document(redact=True) for r in rows]
    result = verify_chain(redacted)
    assert result.ok and result.redacted == 3
    changed = [dict(d) for d in redacted]
    changed[1]["actor_commitment"] = actor_commitment("someone-else", "00" * 32)
    assert (verify_chain(changed).problem, verify_chain(changed).first_bad_seq) == ("altered", 2)
    unknown = [dict(d) for d in redacted]
    unknown[0]["entry_format"] = 3
    refused = verify_chain(unknown)
    assert refused.problem == "malformed" and "entry_format 3" in refused.reason_en


def test_a_changed_username_in_the_database_breaks_the_chain(
    sessions: sessionmaker[Session], attacker: Any
) -> None:
    for n in range(1, 4):
        append_durably(sessions, record(n))
    attacker("UPDATE audit_entries SET actor_username = 'innocent-clerk' WHERE seq = 2")
    with transaction(sessions) as session:
        result = verify_database(session)
    assert (result.problem, result.first_bad_seq) == ("altered", 2)


def test_the_new_columns_cannot_be_updated(sessions: sessionmaker[Session]) -> None:
    append_durably(sessions, record(1))
    for statement in (
        "UPDATE audit_entries SET actor_salt = NULL",
        "UPDATE audit_entries SET entry_format = 1",
    ):
        with pytest.raises(DBAPIError, match="append-only"), transaction(sessions) as session:
            session.execute(text(statement))


def test_format_1_entries_keep_verifying_beside_format_2(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        for n in range(1, 4):
            append_format_1(session, record(n))
    newer = [append_durably(sessions, record(n)) for n in range(4, 6)]
    assert newer[0].seq == 4
    with transaction(sessions) as session:
        assert verify_database(session).ok
        old = AuditEntryView.from_row(session.get(AuditEntry, 2))  # type: ignore[arg-type]
    assert (old.entry_format, old.actor_salt, old.actor_commitment) == (1, None, None)
    document = old.as_document()
    assert "entry_format" not in document and document["actor_username"] == CLERK
    with pytest.raises(ActorNotRedactable) as refused:
        old.as_document(redact=True)
    assert refused.value.actor_username == CLERK

    lines = _export(sessions, tmp_path / "mixed.jsonl")
    assert ["entry_format" in line for line in lines] == [False] * 3 + [True] * 2
    assert verify_file(tmp_path / "mixed.jsonl").ok
    lines[1]["actor_username"] = "someone-else"  # format 1: the hash itself covers the name
    result = verify_file(write_lines(tmp_path / "forged.jsonl", lines))
    assert (result.problem, result.first_bad_seq) == ("altered", 2)


def test_migration_0010_keeps_old_rows_and_their_triggers(empty_database_url: str) -> None:
    """A database written by the old code, upgraded: its rows are format 1 and still verify,
    new appends are format 2, and an UPDATE of any column (old or new) is still refused."""
    migrations.upgrade(empty_database_url, "0009_federation_nonces")
    engine = make_engine(empty_database_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("audit_entries")}
        assert not columns & {"entry_format", "actor_salt"}
        with transaction(make_session_factory(engine)) as session:
            for n in range(1, 4):
                append_format_1(session, record(n))
        engine.dispose()
        migrations.upgrade(empty_database_url)
        migrated = [c["name"] for c in inspect(engine).get_columns("audit_entries")]
        assert migrated == [c.name for c in AuditEntry.__table__.columns]  # SELECT * copies
        sessions = make_session_factory(engine)
        with transaction(sessions) as session:
            formats = session.execute(
                select(AuditEntry.entry_format, AuditEntry.actor_salt).order_by(AuditEntry.seq)
            )
            assert [tuple(row) for row in formats] == [(1, None)] * 3
            assert verify_database(session).ok
            added = append(session, record(4))
        assert added.entry_format == 2
        with transaction(sessions) as session:
            assert verify_database(session).checked == 4
        for statement in (
            "UPDATE audit_entries SET entry_format = 2 WHERE seq = 1",
            "UPDATE audit_entries SET actor_salt = 'x' WHERE seq = 4",
            "UPDATE audit_entries SET actor_username = 'x' WHERE seq = 4",
            "DELETE FROM audit_entries WHERE seq = 4",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()


# --- properties ----------------------------------------------------------------------------

names = st.text(min_size=1, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@st.composite
def full_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The first entry of a log, format 2, as a full export line: any content, any username,
    any salt."""
    username = draw(names)
    salt = draw(st.text(min_size=1, max_size=70))
    document: dict[str, Any] = {name: draw(json_values) for name in HASHED_FIELDS_V2}
    moment = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
    document.update(
        seq=1,
        recorded_at=format_time(moment),
        entry_format=2,
        actor_commitment=actor_commitment(username, salt),
        prev_hash=GENESIS_HASH,
        actor_username=username,
        actor_salt=salt,
    )
    document["entry_hash"] = compute_hash(document)
    return document


@given(document=full_documents())
def test_full_and_redacted_documents_of_an_entry_hash_alike(document: dict[str, Any]) -> None:
    full = entry_document(document)
    redacted = entry_document(document, redact=True)
    assert compute_hash(full) == compute_hash(redacted) == document["entry_hash"]
    assert "actor_username" not in redacted and "actor_salt" not in redacted
    assert verify_chain([full]).ok and verify_chain([full]).redacted == 0
    assert verify_chain([redacted]).ok and verify_chain([redacted]).redacted == 1


@given(document=full_documents(), other=names, salt=st.text(min_size=1, max_size=70))
def test_another_username_or_salt_is_refused_even_re_hashed(
    document: dict[str, Any], other: str, salt: str
) -> None:
    for field, value in (("actor_username", other), ("actor_salt", salt)):
        if value == document[field]:
            continue
        forged = dict(document, **{field: value})
        forged["entry_hash"] = compute_hash(forged)  # no help: the name is outside the hash
        result = verify_chain([forged])
        assert (result.ok, result.problem, result.first_bad_seq) == (False, "altered", 1)


def test_the_documented_example_holds() -> None:
    """The numbers in docs/audit-entry-format.md, so a re-implementation can check itself."""
    salt = "5f" * 32
    commitment = actor_commitment("tpe-udd-clerk", salt)
    assert commitment == "b2259dcdf1f709f39697f99e98469420b1bed50aa7e7949188e22f6b19ff3a83"
    document = {
        "seq": 1,
        "request_id": "4f3c2a1b",
        "recorded_at": "2026-03-02T01:30:00.000000Z",
        "event": "evidence.request",
        "actor_username": "tpe-udd-clerk",
        "actor_salt": salt,
        "actor_commitment": commitment,
        "actor_badge": "B-7Q2K9",
        "actor_role": "clerk",
        "actor_agency": "taipei-city.urban_development",
        "application_item": "public-housing-low-income",
        "case_id": "TPE-UDD-115-000777",
        "subject": "A123456789",
        "dataset": "household_registration",
        "fields": ["name", "address"],
        "predicate": None,
        "predicate_params": None,
        "owner_agency": "central.moi_household",
        "legal_basis": "pdpa-art16",
        "decision": "allowed",
        "reason_zh": "依存取規則允許",
        "reason_en": "Allowed by the access rule",
        "details": {"status": "issued"},
        "entry_format": 2,
        "prev_hash": GENESIS_HASH,
        "entry_hash": "18aed7bccdf1443e66ba5f7201007a48cab9c8c84b67888cd4177cb2aadaf25e",
    }
    assert verify_chain([document]).ok
    assert verify_chain([entry_document(document, redact=True)]).ok
    docs = Path(__file__).parents[2] / "docs" / "audit-entry-format.md"
    assert commitment in docs.read_text("utf-8") and document["entry_hash"] in docs.read_text()


def test_downgrading_past_0010_is_refused_once_format_2_entries_exist(
    empty_database_url: str,
) -> None:
    from alembic import command

    config = migrations.alembic_config(empty_database_url)
    migrations.upgrade(empty_database_url)
    command.downgrade(config, "0009_federation_nonces")  # nothing written yet: allowed
    migrations.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        append_durably(make_session_factory(engine), record(1))
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="format-2 entries"):
        command.downgrade(config, "0009_federation_nonces")
    # PostgreSQL rolls the whole downgrade back, SQLite stops at 0010: never past it
    assert migrations.current_revision(empty_database_url) != "0009_federation_nonces"
