"""Signed tree heads, proof documents, export folders and the ``onceonly audit`` commands that
use them, offline; and the public tree-head API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onceonly.audit import merkle
from onceonly.audit.log import append_many_durably
from onceonly.audit.proofs import build_proof, check_proof
from onceonly.audit.tree_heads import (
    TreeHeadInvalid,
    publish_tree_head,
    tree_head_for,
    verify_tree_head,
)
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.exchange import keys
from onceonly.web.app import create_app
from tests.audit.conftest import record
from tests.audit.test_routes import token_for

runner = CliRunner()


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    append_many_durably(factory, [record(n) for n in range(1, 12)])
    yield factory
    engine.dispose()


@pytest.fixture
def configured(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))
    return settings


def test_a_head_is_signed_once_per_size_and_verifies(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        head = publish_tree_head(session, settings)
        again = publish_tree_head(session, settings)
        early = tree_head_for(session, settings, 5)
        jwks = keys.published_jwks(session)
    assert head == again and head.tree_size == 11 and early.tree_size == 5
    assert verify_tree_head(head.as_document(), jwks).root_hash == head.root_hash
    forged = {**head.as_document(), "tree_size": 10}
    with pytest.raises(TreeHeadInvalid) as mismatch:
        verify_tree_head(forged, jwks)
    assert mismatch.value.code == "mismatch"
    with transaction(sessions) as session:
        owner_key = keys.ensure_key(session, settings, "taipei-city.land_office")
        jwks = keys.published_jwks(session)
    from onceonly.audit.tree_heads import sign_head

    by_owner = {
        **head.as_document(),
        "signature": sign_head(owner_key, 11, head.root_hash, head.timestamp),
    }
    with pytest.raises(TreeHeadInvalid) as wrong:
        verify_tree_head(by_owner, jwks)
    assert wrong.value.code == "wrong_key"


def test_a_proof_document_checks_offline_and_names_tampering(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        document = build_proof(session, settings, 4, redact=False)
        jwks = keys.published_jwks(session)
    assert document is not None
    assert check_proof(document, jwks).ok
    assert document["entry"]["actor_username"] == "tpe-clerk"
    # Without the published key set the key inside the file is all there is: never "verified"
    embedded = check_proof(document)
    assert not embedded.ok and embedded.code == "untrusted_key" and "--jwks" in embedded.reason_en

    altered = json.loads(json.dumps(document))
    altered["entry"]["legal_basis"] = "none"
    assert check_proof(altered, jwks).code == "entry_altered"
    wrong_path = json.loads(json.dumps(document))
    wrong_path["audit_path"][0] = "00" * 32
    assert check_proof(wrong_path, jwks).code == "path"
    other_root = json.loads(json.dumps(document))
    other_root["tree_head"]["root_hash"] = "11" * 32
    assert check_proof(other_root, jwks).code == "head"
    forged_clerk = json.loads(json.dumps(document))
    forged_clerk["entry"]["actor_username"] = "someone-else"
    refused = check_proof(forged_clerk, jwks)
    assert refused.code == "actor_altered" and "Entry 4" in refused.reason_en


def _proof_file(tmp_path: Path, document: dict[str, object], name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    return path


def test_a_redacted_proof_names_no_clerk_and_still_verifies_offline(
    tmp_path: Path, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        document = build_proof(session, settings, 4, redact=True)
        full = build_proof(session, settings, 4, redact=False)
        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps(keys.published_jwks(session)), "utf-8")
    assert document is not None and full is not None
    proof = _proof_file(tmp_path, document, "proof.json")
    raw = proof.read_bytes()
    assert b"tpe-clerk" not in raw and full["entry"]["actor_salt"].encode() not in raw
    assert document["entry"]["actor_commitment"] == full["entry"]["actor_commitment"]
    assert document["entry"]["entry_hash"] == full["entry"]["entry_hash"]

    checked = runner.invoke(cli, ["audit", "prove", "--verify", str(proof), "--jwks", str(jwks)])
    assert checked.exit_code == 0, checked.output
    assert "Proof OK: entry 4" in checked.output
    assert "leaves the clerk's username out" in checked.output

    for field, value in (
        ("actor_commitment", "ab" * 32),
        ("actor_badge", "B99999"),
        ("subject", "B123456789"),
        ("entry_format", 1),
        ("recorded_at", "2020-01-01T00:00:00.000000Z"),
    ):
        changed = json.loads(json.dumps(document))
        changed["entry"][field] = value
        path = _proof_file(tmp_path, changed, f"{field}.json")
        refused = runner.invoke(cli, ["audit", "prove", "--verify", str(path), "--jwks", str(jwks)])
        assert refused.exit_code == 1, (field, refused.output)
        assert "Proof OK" not in refused.output, field
    named = json.loads(json.dumps(document))
    named["entry"]["actor_username"] = "tpe-clerk"  # a name without its salt proves nothing
    assert check_proof(named).code == "malformed"

    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(raw[: len(raw) // 2])
    for args in (
        [str(truncated)],
        [str(tmp_path / "missing.json")],
        [str(proof), "--jwks", str(truncated)],
    ):
        unread = runner.invoke(cli, ["audit", "prove", "--verify", *args])
        assert unread.exit_code == 1, unread.output
        assert isinstance(unread.exception, SystemExit), unread.exception  # not a traceback
        assert "Cannot read" in unread.output and "a JSON file is needed" in unread.output


def test_export_folder_verifies_and_proves_without_the_server(
    configured: Settings,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "export"
    exported = runner.invoke(cli, ["audit", "export-bundle", str(folder)])
    assert exported.exit_code == 0, exported.output
    assert "已匯出 11 筆紀錄" in exported.output
    append_many_durably(sessions, [record(12)])
    runner.invoke(cli, ["audit", "export-bundle", str(folder)])

    monkeypatch.setenv("ONCEONLY_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    verified = runner.invoke(cli, ["audit", "verify", "--bundle", str(folder)])
    assert verified.exit_code == 0, verified.output
    assert "Tree head of 11: signature valid" in verified.output
    assert "Tree head of 12: signature valid" in verified.output

    proof_file = tmp_path / "proof.json"
    proved = runner.invoke(
        cli, ["audit", "prove", "7", "--bundle", str(folder), "--out", str(proof_file)]
    )
    assert proved.exit_code == 0, proved.output
    assert "Proof OK: entry 7 is in the audit log of 12 entries" in proved.output
    checked = runner.invoke(
        cli,
        ["audit", "prove", "--verify", str(proof_file), "--jwks", str(folder / "jwks.json")],
    )
    assert checked.exit_code == 0 and "Proof OK" in checked.output

    # Someone rewrites entry 3 and re-hashes the whole chain after it: the chain is
    # consistent again, but the signed heads no longer match.
    lines = [json.loads(x) for x in (folder / "entries.jsonl").read_text("utf-8").splitlines()]
    from onceonly.audit.verify import canonical_json, compute_hash

    previous = lines[1]["entry_hash"]
    for line in lines[2:]:
        if line["seq"] == 3:
            line["legal_basis"] = "none"
        line["prev_hash"] = previous
        line["entry_hash"] = previous = compute_hash(line)
    (folder / "entries.jsonl").write_text("".join(canonical_json(x) + "\n" for x in lines), "utf-8")
    broken = runner.invoke(cli, ["audit", "verify", "--bundle", str(folder)])
    assert broken.exit_code == 1
    assert "signed entries were rewritten" in broken.output

    proof = json.loads(proof_file.read_text("utf-8"))
    proof["entry"]["fields"] = ["everything"]
    proof_file.write_text(json.dumps(proof), "utf-8")
    refused = runner.invoke(cli, ["audit", "prove", "--verify", str(proof_file)])
    assert refused.exit_code == 1 and "entry in the proof file was changed" in refused.output


def test_verify_database_checks_the_tree_and_the_signed_heads(
    configured: Settings, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        publish_tree_head(session, configured)
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    online = runner.invoke(cli, ["audit", "prove", "2"])
    assert online.exit_code == 0 and "Proof OK: entry 2" in online.output


def test_tree_heads_and_consistency_are_public_proofs_are_not(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        tree_head_for(session, settings, 4)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/audit/tree-heads/5").status_code == 404
        latest = client.get("/api/v1/audit/tree-heads/latest")
        assert latest.status_code == 200 and latest.json()["tree_size"] == 11
        early = client.get("/api/v1/audit/tree-heads/4").json()
        assert client.get("/api/v1/audit/tree-heads/99").status_code == 404
        proof = client.get("/api/v1/audit/consistency", params={"first": 4, "second": 11}).json()
        assert proof["first_head"]["root_hash"] == early["root_hash"] == proof["first_root"]
        unsigned = client.get("/api/v1/audit/consistency", params={"first": 5, "second": 11})
        assert unsigned.status_code == 200 and unsigned.json()["first_head"] is None
        assert merkle.verify_consistency(
            4,
            11,
            bytes.fromhex(early["root_hash"]),
            bytes.fromhex(latest.json()["root_hash"]),
            [bytes.fromhex(h) for h in proof["consistency_path"]],
        )
        assert client.get("/api/v1/audit/entries/3/proof").status_code == 401
        auditor = token_for(settings, "auditor")
        document = client.get("/api/v1/audit/entries/3/proof", headers=auditor).json()
        jwks = client.get("/.well-known/jwks.json").json()
        assert check_proof(document, jwks).ok
        clerk = client.get("/api/v1/audit/entries/3/proof", headers=token_for(settings, "clerk"))
        assert clerk.status_code == 404


def test_prove_verify_without_a_published_key_set_is_not_verified(
    tmp_path: Path, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """A proof signed by a key inside the file proves nothing: anyone can make one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from joserfc import jws
    from joserfc.jwk import OKPKey

    with transaction(sessions) as session:
        document = build_proof(session, settings, 4, redact=False)
        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps(keys.published_jwks(session)), "utf-8")
    assert document is not None
    # A forger rewrites the entry, recomputes path and root, and signs with a key of their own.
    forged = json.loads(json.dumps(document))
    forged["entry"]["legal_basis"] = "none"
    from onceonly.audit.verify import compute_hash

    forged["entry"]["entry_hash"] = compute_hash(forged["entry"])
    leaf = merkle.entry_leaf(forged["entry"]["entry_hash"])
    forged["leaf_hash"] = leaf.hex()
    forged["audit_path"] = []
    forged["leaf_index"], forged["tree_size"] = 3, 4
    leaves = [leaf] * 4
    root = merkle.mth(leaves)
    forged["audit_path"] = [h.hex() for h in merkle.SubtreeHashes(leaves).inclusion(3)]
    private = OKPKey.import_key(Ed25519PrivateKey.generate())
    member = {**private.as_dict(private=False), "kid": private.thumbprint()}
    member.update(alg="EdDSA", use="sig", agency="platform.audit")
    header = {"alg": "EdDSA", "kid": member["kid"], "typ": "onceonly-tree-head+jwt"}
    payload = {"log": "onceonly-audit", "tree_size": 4, "root_hash": root.hex(), "timestamp": 0}
    token = jws.serialize_compact(header, json.dumps(payload).encode(), private, ["EdDSA"])
    forged["tree_head"] = {
        **forged["tree_head"],
        "root_hash": root.hex(),
        "tree_size": 4,
        "kid": member["kid"],
        "signature": token,
    }
    forged["key"] = member
    path = _proof_file(tmp_path, forged, "forged.json")
    refused = runner.invoke(cli, ["audit", "prove", "--verify", str(path)])
    assert refused.exit_code == 1, refused.output
    assert "Proof OK" not in refused.output and "Not verified" in refused.output
    with_keys = runner.invoke(cli, ["audit", "prove", "--verify", str(path), "--jwks", str(jwks)])
    assert with_keys.exit_code == 1 and "Proof OK" not in with_keys.output
    honest = _proof_file(tmp_path, document, "honest.json")
    assert runner.invoke(cli, ["audit", "prove", "--verify", str(honest)]).exit_code == 1
    ok = runner.invoke(cli, ["audit", "prove", "--verify", str(honest), "--jwks", str(jwks)])
    assert ok.exit_code == 0 and "Proof OK" in ok.output


def test_the_audit_key_is_published_from_start_up(settings: Settings) -> None:
    """Before any tree head is signed, the key that will sign them is in the JWK Set."""
    with TestClient(create_app(settings)) as client:
        agencies = [k["agency"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
        assert "platform.audit" in agencies
        heads = client.get("/api/v1/audit/tree-heads/0")
        assert heads.status_code == 404  # nothing was signed to get there


def test_prove_finds_an_entry_however_people_name_it_and_says_which_it_cannot(
    configured: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The help promises a sequence number, an entry hash or a request id; a request of two
    pieces wrote two entries, so its id alone does not say which to prove."""
    appended = append_many_durably(
        sessions, [record(12, request_id="req-two"), record(13, request_id="req-two")]
    )
    by_hash = runner.invoke(cli, ["audit", "prove", appended[0].entry_hash])
    assert by_hash.exit_code == 0 and "Proof OK: entry 12" in by_hash.output, by_hash.output
    by_request = runner.invoke(cli, ["audit", "prove", "req-0005"])
    assert by_request.exit_code == 0 and "Proof OK: entry 5" in by_request.output

    two = runner.invoke(cli, ["audit", "prove", "req-two"])
    assert two.exit_code == 1
    assert "(sequence numbers 12, 13); give one of those numbers" in two.output
    missing = runner.invoke(cli, ["audit", "prove", "99"])
    assert missing.exit_code == 1
    assert "The audit log holds no entry 99" in missing.output and "export" not in missing.output
    too_big = runner.invoke(cli, ["audit", "prove", "3", "--tree-size", "50"])
    assert too_big.exit_code == 1 and "has 13 entries, so there is no head of 50" in too_big.output
    too_small = runner.invoke(cli, ["audit", "prove", "9", "--tree-size", "4"])
    assert too_small.exit_code == 1 and "--tree-size must be at least 9" in too_small.output

    folder = tmp_path / "export"
    assert runner.invoke(cli, ["audit", "export-bundle", str(folder)]).exit_code == 0
    offline = runner.invoke(cli, ["audit", "prove", "req-two", "--bundle", str(folder)])
    assert offline.exit_code == 1 and "sequence numbers 12, 13" in offline.output
    one = runner.invoke(cli, ["audit", "prove", "req-0005", "--bundle", str(folder)])
    assert one.exit_code == 0 and "Proof OK: entry 5" in one.output
