"""Tampering with the audit log is detected, and the first bad entry is named: from the
database rows and from an exported file, for an attacker who owns the database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import AuditEntryView
from onceonly.audit.models import GENESIS_HASH
from onceonly.audit.verify import (
    CONTENT_FIELDS,
    VerifyResult,
    compute_hash,
    export_log,
    format_time,
    iter_entries,
    verify_chain,
    verify_database,
    verify_file,
)
from onceonly.db import transaction

ENTRIES = 6
Attacker = Callable[..., None]


def make_chain(count: int) -> list[dict[str, Any]]:
    """An exported chain built by hand, the way a third-party verifier would read it."""
    chain: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    start = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    for seq in range(1, count + 1):
        document: dict[str, Any] = dict.fromkeys(CONTENT_FIELDS)
        document.update(
            seq=seq,
            request_id=f"req-{seq}",
            recorded_at=format_time(start + timedelta(minutes=seq)),
            event="evidence.request",
            actor_username="kao-clerk",
            subject="E123456780",
            dataset="land_registration",
            fields=["section", "parcel_no"],
            decision="allowed",
            reason_zh="",
            reason_en="",
            details={},
            prev_hash=prev,
        )
        document["entry_hash"] = compute_hash(document)
        prev = document["entry_hash"]
        chain.append(document)
    return chain


def write_lines(path: Path, documents: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), "utf-8")
    return path


def _document_of(engine: Engine, seq: int) -> dict[str, Any]:
    with Session(engine) as session:
        rows = [AuditEntryView.from_row(row) for row in iter_entries(session) if row.seq == seq]
    return rows[0].as_document()


# --- what an attacker with database access does --------------------------------------------


def alter_field(engine: Engine, attack: Attacker) -> None:
    attack("UPDATE audit_entries SET subject = 'B123456789' WHERE seq = 3")


def alter_and_rehash(engine: Engine, attack: Attacker) -> None:
    forged = _document_of(engine, 3) | {"subject": "B123456789"}
    attack(
        "UPDATE audit_entries SET subject = :subject, entry_hash = :hash WHERE seq = 3",
        subject="B123456789",
        hash=compute_hash(forged),
    )


def delete_row(engine: Engine, attack: Attacker) -> None:
    attack("DELETE FROM audit_entries WHERE seq = 3")


def swap_rows(engine: Engine, attack: Attacker) -> None:
    attack(
        "UPDATE audit_entries SET seq = 1000 WHERE seq = 2",
        "UPDATE audit_entries SET seq = 2 WHERE seq = 4",
        "UPDATE audit_entries SET seq = 4 WHERE seq = 1000",
    )


def insert_row(engine: Engine, attack: Attacker) -> None:
    """A forged entry slipped in after entry 3, correctly hashed, the rest renumbered."""
    attack(
        "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 4",
        "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1000",
        "INSERT INTO audit_entries (seq, request_id, recorded_at, event, actor_username, "
        "subject, decision, reason_zh, reason_en, details, prev_hash, entry_hash) "
        "SELECT 4, 'forged', recorded_at, event, actor_username, 'C123456788', decision, "
        "reason_zh, reason_en, details, entry_hash, :placeholder FROM audit_entries WHERE seq = 3",
        placeholder="f" * 64,
    )
    forged = _document_of(engine, 4)
    attack("UPDATE audit_entries SET entry_hash = :hash WHERE seq = 4", hash=compute_hash(forged))


TAMPERING = [
    pytest.param(alter_field, "altered", 3, id="alter-a-field"),
    pytest.param(alter_and_rehash, "altered", 3, id="alter-and-rehash"),
    pytest.param(delete_row, "removed", 3, id="delete-a-row"),
    pytest.param(swap_rows, "reordered", 2, id="swap-two-rows"),
    pytest.param(insert_row, "inserted", 4, id="insert-a-row"),
]


def assert_names(result: VerifyResult, problem: str, seq: int) -> None:
    assert not result.ok
    assert (result.problem, result.first_bad_seq) == (problem, seq), result.reason_en
    assert f"{seq}" in result.reason_en and f"{seq}" in result.reason_zh


@pytest.mark.parametrize("source", ["database", "export"])
@pytest.mark.parametrize(("tamper", "problem", "seq"), TAMPERING)
def test_tampering_is_found(
    tmp_path: Path,
    engine: Engine,
    sessions: sessionmaker[Session],
    filled: Callable[[int], list[AuditEntryView]],
    attacker: Attacker,
    tamper: Callable[[Engine, Attacker], None],
    problem: str,
    seq: int,
    source: str,
) -> None:
    """Checked on the rows themselves, and on an export read without the database."""
    filled(ENTRIES)
    tamper(engine, attacker)
    with transaction(sessions) as session:
        if source == "database":
            result = verify_database(session)
        else:
            export_log(session, tmp_path / "audit.jsonl")
            result = verify_file(tmp_path / "audit.jsonl")
    assert_names(result, problem, seq)


def test_untouched_export_verifies_offline(
    tmp_path: Path, sessions: sessionmaker[Session], filled: Callable[[int], list[AuditEntryView]]
) -> None:
    entries = filled(ENTRIES)
    with transaction(sessions) as session:
        assert export_log(session, tmp_path / "audit.jsonl") == ENTRIES
    result = verify_file(tmp_path / "audit.jsonl")
    assert result.ok and result.checked == ENTRIES
    assert result.head_hash == entries[-1].entry_hash
    assert result.reason_en == f"OK: {ENTRIES} entries verified, head {entries[-1].entry_hash}"
    taken = tmp_path / "taken"
    taken.mkdir()  # the path asked for is a folder: the move fails, and nothing is left
    with transaction(sessions) as session, pytest.raises(IsADirectoryError):
        export_log(session, taken)
    assert not list(tmp_path.glob("*.partial"))


def test_entries_cut_off_the_end_are_found_by_the_head(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    filled: Callable[[int], list[AuditEntryView]],
    attacker: Attacker,
) -> None:
    entries = filled(ENTRIES)
    attacker(f"DELETE FROM audit_entries WHERE seq >= {ENTRIES - 1}")
    with transaction(sessions) as session:
        assert_names(verify_database(session), "removed", ENTRIES - 1)
        export_log(session, tmp_path / "audit.jsonl")
    # A bare export cannot know its own end; a head published earlier can.
    assert verify_file(tmp_path / "audit.jsonl").ok
    anchored = verify_file(tmp_path / "audit.jsonl", anchor=(ENTRIES, entries[-1].entry_hash))
    assert_names(anchored, "removed", ENTRIES - 1)


def test_rewriting_everything_from_some_entry_on_is_found_by_an_anchor() -> None:
    chain = make_chain(5)
    anchor = (5, chain[-1]["entry_hash"])
    chain[2]["subject"] = "B123456789"
    for document, previous in zip(chain[2:], chain[1:], strict=False):
        document["prev_hash"] = previous["entry_hash"]
        document["entry_hash"] = compute_hash(document)
    assert verify_chain(chain).ok
    assert_names(verify_chain(chain, anchor), "altered", 5)


# --- edits to an exported file ---------------------------------------------------------------


def test_file_with_lines_swapped_names_the_first_misplaced(tmp_path: Path) -> None:
    chain = make_chain(5)
    chain[1], chain[3] = chain[3], chain[1]
    result = verify_file(write_lines(tmp_path / "a.jsonl", chain))
    assert_names(result, "reordered", 2)
    assert result.request_id == "req-4"


def test_file_with_a_line_removed(tmp_path: Path) -> None:
    chain = make_chain(5)
    del chain[2]
    result = verify_file(write_lines(tmp_path / "a.jsonl", chain))
    assert_names(result, "removed", 3)
    assert result.request_id == "req-4"


def test_file_with_a_forged_line_added(tmp_path: Path) -> None:
    chain = make_chain(5)
    forged = dict(chain[1], request_id="forged", subject="C123456788")
    forged["entry_hash"] = compute_hash(forged)
    chain.insert(1, forged)
    result = verify_file(write_lines(tmp_path / "a.jsonl", chain))
    assert_names(result, "inserted", 2)
    assert result.request_id == "forged"


def test_file_with_a_line_that_is_not_an_entry(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", make_chain(3))
    lines = path.read_text("utf-8").splitlines()
    lines[1] = lines[1][:40]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert_names(verify_file(path), "malformed", 2)


def test_times_are_hashed_in_one_spelling(tmp_path: Path) -> None:
    """A verifier may re-serialise times (e.g. +00:00 for Z); the chain still holds."""
    chain = make_chain(2)
    chain[0]["recorded_at"] = chain[0]["recorded_at"].replace("Z", "+00:00")
    assert verify_file(write_lines(tmp_path / "a.jsonl", chain)).ok


# --- properties ----------------------------------------------------------------------------

EDITABLE = [name for name in CONTENT_FIELDS if name != "seq"] + ["prev_hash", "entry_hash"]


@given(
    size=st.integers(2, 8),
    data=st.data(),
    field=st.sampled_from(EDITABLE),
    value=st.one_of(st.text(max_size=12), st.integers(), st.none(), st.lists(st.text(max_size=3))),
)
def test_any_changed_value_is_found_at_its_entry(
    size: int, data: st.DataObject, field: str, value: object
) -> None:
    chain = make_chain(size)
    index = data.draw(st.integers(0, size - 1))
    if chain[index][field] == value:
        return
    chain[index][field] = value
    result = verify_chain(chain)
    assert not result.ok
    assert result.first_bad_seq == index + 1


@given(size=st.integers(3, 8), data=st.data())
def test_any_removed_entry_is_named(size: int, data: st.DataObject) -> None:
    chain = make_chain(size)
    index = data.draw(st.integers(0, size - 2))
    del chain[index]
    result = verify_chain(chain)
    assert (result.problem, result.first_bad_seq) == ("removed", index + 1)


@given(size=st.integers(2, 8), data=st.data())
def test_any_two_entries_swapped_are_named(size: int, data: st.DataObject) -> None:
    chain = make_chain(size)
    first = data.draw(st.integers(0, size - 2))
    second = data.draw(st.integers(first + 1, size - 1))
    chain[first], chain[second] = chain[second], chain[first]
    result = verify_chain(chain)
    assert (result.problem, result.first_bad_seq) == ("reordered", first + 1)
