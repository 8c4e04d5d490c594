"""Off-site backup on the backend under test: seal for the partner, open only there, and a
restore drill that passes on a complete backup and names what is missing otherwise."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from onceonly.audit.log import AuditRecord, append_many_durably
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.federation.backup import (
    BackupInvalid,
    Opened,
    dump_database,
    latest_backup,
    open_envelope,
    restore_drill,
    seal,
    store_backup,
)
from onceonly.pki import ca
from onceonly.pki.trust import TrustAnchor


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca.init_ca(tmp_path / "ca")
    for node in ("taipei", "new-taipei", "north-regional"):
        ca.issue_node(tmp_path / "ca", node, tmp_path)
    return tmp_path


def _anchor(pki: Path) -> TrustAnchor:
    return TrustAnchor.from_pem((pki / "ca" / "ca.pem").read_bytes(), ca.build_crl(pki / "ca"))


def _filled(database_url: str) -> str:
    engine = make_engine(database_url)
    records = [
        AuditRecord(
            event="evidence.request",
            actor_username=f"clerk-{n}",
            subject="A123456789",
            details={"n": n},
        )
        for n in range(25)
    ]
    append_many_durably(make_session_factory(engine), records)
    engine.dispose()
    return database_url


def _sealed(pki: Path, database_url: str) -> bytes:
    manifest, body = dump_database(database_url, "taipei")
    return seal(
        manifest,
        body,
        (pki / "new-taipei.pem").read_bytes(),
        (pki / "taipei.pem").read_bytes(),
        (pki / "taipei.key").read_bytes(),
    )


def test_a_backup_restores_completely_at_the_partner(pki: Path, database_url: str) -> None:
    envelope = _sealed(pki, _filled(database_url))
    assert b"clerk-1" not in envelope
    opened = open_envelope(envelope, (pki / "new-taipei.key").read_bytes(), _anchor(pki))
    assert opened.signer == "taipei"
    report = restore_drill(opened)
    assert report.ok, report
    assert report.tables["audit_entries"] == (25, 25)
    assert report.head_expected["seq"] == 25


def test_only_the_partner_can_open_and_no_one_can_alter_it(pki: Path, database_url: str) -> None:
    envelope = _sealed(pki, _filled(database_url))
    with pytest.raises(BackupInvalid, match="decrypt"):
        open_envelope(envelope, (pki / "north-regional.key").read_bytes(), _anchor(pki))
    document = json.loads(envelope)
    document["header"]["manifest"]["row_counts"]["audit_entries"] = 24
    with pytest.raises(BackupInvalid, match="differs from what its source signed"):
        open_envelope(
            json.dumps(document).encode(), (pki / "new-taipei.key").read_bytes(), _anchor(pki)
        )
    ca.revoke(pki / "ca", ca.list_issued(pki / "ca")[0].serial, "key_compromise")
    with pytest.raises(BackupInvalid, match="cert_revoked"):
        open_envelope(envelope, (pki / "new-taipei.key").read_bytes(), _anchor(pki))


def test_the_drill_fails_when_rows_are_missing(pki: Path, database_url: str) -> None:
    manifest, body = dump_database(_filled(database_url), "taipei")
    document = json.loads(gzip.decompress(body))
    document["tables"]["audit_entries"].pop(10)
    report = restore_drill(Opened(manifest, gzip.compress(json.dumps(document).encode()), "t"))
    assert not report.ok
    assert report.tables["audit_entries"] == (25, 24)
    assert not report.audit_ok


def test_the_drill_refuses_a_forged_clerk_name(pki: Path, database_url: str) -> None:
    manifest, body = dump_database(_filled(database_url), "taipei")
    document = json.loads(gzip.decompress(body))
    entry = document["tables"]["audit_entries"][7]
    assert (entry["entry_format"], entry["actor_username"]) == (2, "clerk-7")
    entry["actor_username"] = "clerk-8"
    report = restore_drill(Opened(manifest, gzip.compress(json.dumps(document).encode()), "t"))
    assert not report.audit_ok and "Entry 8 was altered" in report.audit_reason


def test_a_backup_from_before_entry_format_2_restores_and_verifies(database_url: str) -> None:
    """An older node's dump has no entry_format or actor_salt: its rows are format 1."""
    from onceonly.db import transaction
    from tests.audit.conftest import append_format_1

    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as session:
        for n in range(5):
            append_format_1(session, AuditRecord(event="evidence.request", actor_username=f"c{n}"))
    engine.dispose()
    manifest, body = dump_database(database_url, "taipei")
    document = json.loads(gzip.decompress(body))
    for row in document["tables"]["audit_entries"]:
        del row["entry_format"], row["actor_salt"]
    report = restore_drill(Opened(manifest, gzip.compress(json.dumps(document).encode()), "t"))
    assert report.ok, report


def test_a_backup_taken_while_the_node_writes_describes_one_moment(
    pki: Path, database_url: str
) -> None:
    """A clerk's request lands after the dump read the audit log and before it read the
    rest: the manifest's head must be the one of the rows the backup holds."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _filled(database_url)
    writer = make_engine(database_url)
    state = {"read_the_log": False, "wrote": False}

    def _land_a_request(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if state["read_the_log"] and not state["wrote"]:
            state["wrote"] = True
            append_many_durably(
                make_session_factory(writer),
                [AuditRecord(event="evidence.request", actor_username="late-clerk")],
            )
        if "FROM audit_entries" in statement and not state["wrote"]:
            state["read_the_log"] = True

    event.listen(Engine, "before_cursor_execute", _land_a_request)
    try:
        manifest, body = dump_database(database_url, "taipei")
    finally:
        event.remove(Engine, "before_cursor_execute", _land_a_request)
        writer.dispose()
    assert state["wrote"]
    assert manifest["row_counts"]["audit_entries"] == manifest["audit_head"]["seq"] == 25
    report = restore_drill(Opened(manifest, body, "t"))
    assert report.ok, report


def test_a_partner_keeps_a_weeks_backups_of_each_sender(tmp_path: Path) -> None:
    """A member node sending backups without end filled the partner's disk: each sender's
    newest seven are kept, the older ones deleted once the new one is whole."""
    settings = Settings(data_dir=tmp_path / "node")
    stored = [store_backup(settings, "taipei", f"backup {n}".encode()) for n in range(9)]
    stored.append(store_backup(settings, "new-taipei", b"theirs"))
    kept = sorted(p.read_text() for p in (stored[0].parent).iterdir())
    assert kept == [f"backup {n}" for n in range(2, 9)]
    assert latest_backup(settings, "taipei") == stored[8]
    assert latest_backup(settings, "new-taipei") == stored[9]
