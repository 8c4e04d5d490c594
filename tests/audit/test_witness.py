"""Signed tree heads and checkpoints hold the log to its past (issue 12, hole 4).

``audit verify`` checks every head's signature and the consistency between heads; a node's
checkpoints are cosigned by a witness over real HTTP on loopback (C2SP tlog-witness), and a
node that rewrote history, even re-signing everything with its own key, is refused by the
witness and caught by anyone holding an older checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onceonly.audit import note
from onceonly.audit.checkpoint import Checkpoint, jwk_public, log_identity
from onceonly.audit.log import append_many_durably
from onceonly.audit.models import (
    AuditCheckpoint,
    AuditCosignature,
    AuditEntry,
    AuditHead,
    AuditTreeHead,
    AuditTreeNode,
    AuditWitness,
)
from onceonly.audit.publish import add_witness, publish
from onceonly.audit.tree_heads import ensure_audit_key, publish_tree_head, tree_head_for
from onceonly.audit.tree_store import rebuild_tree
from onceonly.audit.verify import compute_hash, entry_document
from onceonly.audit.witness import trust_log, witness_vkey
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.federated.cluster import free_port
from onceonly.exchange import keys
from onceonly.web.app import create_app
from tests.audit.conftest import drop_triggers, record

runner = CliRunner()


@dataclass
class Node:
    settings: Settings
    sessions: sessionmaker[Session]
    url: str = ""

    def log_vkey(self) -> str:
        with transaction(self.sessions) as session:
            key = ensure_audit_key(session, self.settings)
        origin = log_identity(self.settings).origin
        return note.Verifier(origin, note.SIG_ED25519, jwk_public(key.published())).vkey


def _node(settings: Settings) -> Iterator[Node]:
    engine = make_engine(settings.resolved_database_url)
    yield Node(settings, make_session_factory(engine))
    engine.dispose()


@pytest.fixture
def log_node(settings: Settings) -> Iterator[Node]:
    yield from _node(settings)


@pytest.fixture
def witness_node(tmp_path: Path) -> Iterator[Node]:
    """A second deployment (its own database and data directory) that witnesses the first."""
    from onceonly.models import Base

    url = f"sqlite:///{tmp_path / 'witness.sqlite'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "witness", database_url=url, secret_key="w")
    settings.ensure_dirs()
    yield from _node(settings)


@pytest.fixture
def serve() -> Iterator[Callable[[Node], str]]:
    """Serve a node's web app on a loopback port in a thread; stopped after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(node: Node) -> str:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(node.settings), "127.0.0.1", port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        node.url = f"http://127.0.0.1:{port}"
        return node.url

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def configured(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))


def rewrite_history(node: Node, seq: int = 2) -> None:
    """What an insider with the database does: drop the triggers, change entry ``seq``,
    recompute every later hash, rebuild the Merkle tree and move the head row."""
    engine = node.sessions.kw["bind"]
    drop_triggers(engine)
    with transaction(node.sessions) as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        previous = rows[seq - 2].entry_hash if seq > 1 else "0" * 64
        for row in rows[seq - 1 :]:
            document = entry_document(row)
            if row.seq == seq:
                document["legal_basis"] = "none"
            document["prev_hash"] = previous
            new_hash = compute_hash(document)
            session.execute(
                update(AuditEntry)
                .where(AuditEntry.seq == row.seq)
                .values(
                    legal_basis=document["legal_basis"], prev_hash=previous, entry_hash=new_hash
                )
                .execution_options(synchronize_session=False)
            )
            previous = new_hash
        session.execute(update(AuditHead).values(entry_hash=previous))
        session.execute(delete(AuditTreeNode))
    with transaction(node.sessions) as session:
        rebuild_tree(session)


def _new_roots(node: Node) -> None:
    """...and overwrite the stored roots of the signed heads with the new tree's roots."""
    from onceonly.audit.tree_store import root_hash

    with transaction(node.sessions) as session:
        for head in session.scalars(select(AuditTreeHead)):
            head.root_hash = root_hash(session, head.tree_size).hex()
        session.execute(delete(AuditCheckpoint))


def test_verify_catches_a_rewrite_whose_roots_were_overwritten(
    log_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_many_durably(log_node.sessions, [record(n) for n in range(1, 7)])
    with transaction(log_node.sessions) as session:
        tree_head_for(session, log_node.settings, 3)
        publish_tree_head(session, log_node.settings)
    configured(monkeypatch, log_node.settings)
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert (
        "2 signed tree heads verified" in ok.output and "2 checkpoints (C2SP) verified" in ok.output
    )
    # an OK without an outside anchor says what it cannot rule out
    assert "No checkpoint held outside was given" in ok.output

    rewrite_history(log_node)
    _new_roots(log_node)
    caught = runner.invoke(cli, ["audit", "verify"])
    assert caught.exit_code == 1, caught.output
    assert "Tree head of 3: its signature does not verify" in caught.output
    assert "(mismatch)" in caught.output


def test_verify_refuses_a_corrupted_head_signature(
    log_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_many_durably(log_node.sessions, [record(n) for n in range(1, 5)])
    with transaction(log_node.sessions) as session:
        head = publish_tree_head(session, log_node.settings)
    header, payload, signature = head.signature.split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    with transaction(log_node.sessions) as session:
        session.execute(update(AuditTreeHead).values(signature=f"{header}.{payload}.{flipped}"))
    configured(monkeypatch, log_node.settings)
    caught = runner.invoke(cli, ["audit", "verify"])
    assert caught.exit_code == 1, caught.output
    assert "Tree head of 4: its signature does not verify" in caught.output


def test_verify_trusts_only_keys_whose_private_half_is_on_disk_or_given(
    log_node: Node, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A key row slipped into the database (with a head signed by its key) is not trusted."""
    append_many_durably(log_node.sessions, [record(n) for n in range(1, 4)])
    with transaction(log_node.sessions) as session:
        publish_tree_head(session, log_node.settings)
        jwks = keys.published_jwks(session)
    saved = tmp_path / "jwks.json"
    saved.write_text(json.dumps(jwks), "utf-8")
    rewrite_history(log_node)
    # The insider makes a key of their own, publishes it in the database, re-signs the head.
    rogue = Settings(data_dir=tmp_path / "rogue", database_url=log_node.settings.database_url)
    with transaction(log_node.sessions) as session:
        session.execute(delete(AuditTreeHead))
        session.execute(delete(AuditCheckpoint))
        old = session.scalars(
            select(keys.SigningKeyRecord).where(
                keys.SigningKeyRecord.agency_code == "platform.audit"
            )
        ).one()
        old.status = "retired"
        session.flush()
        publish_tree_head(session, rogue)
    configured(monkeypatch, log_node.settings)
    caught = runner.invoke(cli, ["audit", "verify"])
    assert caught.exit_code == 1 and "does not verify with a trusted" in caught.output
    pinned = runner.invoke(cli, ["audit", "verify", "--jwks", str(saved)])
    assert pinned.exit_code == 1 and "unknown_key" in pinned.output


def test_verify_trusts_the_key_file_not_the_public_half_in_the_database(
    log_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insider keeps the audit key's row and its file, but writes a public key of their
    own into the row and re-signs the rewritten log with it under the same kid: the key file
    still "matches" the kid, so trusting the row's public half would trust the insider."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from joserfc import jws
    from joserfc.jwk import OKPKey

    from onceonly.audit.tree_heads import TYP, _payload
    from onceonly.audit.tree_store import root_hash

    append_many_durably(log_node.sessions, [record(n) for n in range(1, 4)])
    with transaction(log_node.sessions) as session:
        head = publish_tree_head(session, log_node.settings)
    rewrite_history(log_node)
    rogue = Ed25519PrivateKey.generate()
    rogue_jwk = OKPKey.import_key(rogue)
    origin = log_identity(log_node.settings).origin
    with transaction(log_node.sessions) as session:
        row = session.get(keys.SigningKeyRecord, head.kid)
        assert row is not None
        row.public_jwk = {**row.public_jwk, "x": rogue_jwk.as_dict(private=False)["x"]}
        session.execute(delete(AuditTreeHead))
        session.execute(delete(AuditCheckpoint))
        root = root_hash(session, 3).hex()
        header = {"alg": keys.ALGORITHM, "kid": head.kid, "typ": TYP}
        body = json.dumps(_payload(3, root, head.timestamp), separators=(",", ":")).encode()
        session.add(
            AuditTreeHead(
                tree_size=3,
                root_hash=root,
                signed_at=head.timestamp,
                kid=head.kid,
                signature=jws.serialize_compact(header, body, rogue_jwk, [keys.ALGORITHM]),
            )
        )
        text_ = Checkpoint(origin, 3, bytes.fromhex(root)).text()
        signer = note.Signer(origin, note.SIG_ED25519, rogue)
        signed = note.sign_note(text_, signer).encode()
        session.add(
            AuditCheckpoint(tree_size=3, origin=origin, note=signed, signed_at=head.timestamp)
        )
    configured(monkeypatch, log_node.settings)
    caught = runner.invoke(cli, ["audit", "verify"])
    assert caught.exit_code == 1, caught.output
    assert "Tree head of 3: its signature does not verify" in caught.output


def test_a_witness_cosigns_and_refuses_a_rewritten_log(
    log_node: Node,
    witness_node: Node,
    serve: Callable[[Node], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    witness_url = serve(witness_node) + "/witness"
    with transaction(witness_node.sessions) as session:
        trust_log(session, log_node.log_vkey())
        cosigner_key = witness_vkey(session, witness_node.settings)
    with transaction(log_node.sessions) as session:
        add_witness(session, cosigner_key, witness_url)

    append_many_durably(log_node.sessions, [record(n) for n in range(1, 6)])
    _, results = publish(log_node.sessions, log_node.settings)
    assert [(r.ok, r.size) for r in results] == [(True, 5)], results
    append_many_durably(log_node.sessions, [record(n) for n in range(6, 9)])
    _, results = publish(log_node.sessions, log_node.settings)
    assert [(r.ok, r.size) for r in results] == [(True, 8)], results  # old 5 + proof

    # The log serves its checkpoint with the cosignature; it verifies with both keys.
    log_url = serve(log_node)
    served = httpx.get(log_url + "/audit/checkpoint").text
    witness = note.Verifier.from_vkey(cosigner_key)
    _, cosigned = note.open_note(served, [witness])
    assert [s.name for s in cosigned] == [witness.name]
    note.open_note(served, [note.Verifier.from_vkey(log_node.log_vkey())])
    assert Checkpoint.from_text(note.parse_note(served).text).size == 8

    # Anyone may keep the witness's copy (tlog-witness monitoring endpoint).
    origin = log_identity(log_node.settings).origin
    hashed = hashlib.sha256(origin.encode()).hexdigest()
    held = httpx.get(f"{witness_url}/{hashed}/checkpoint")
    assert held.status_code == 200 and witness.name in held.text
    held_file = tmp_path / "held-checkpoint.txt"
    held_file.write_text(held.text, "utf-8")
    configured(monkeypatch, log_node.settings)
    before = runner.invoke(
        cli, ["audit", "verify", "--checkpoint", str(held_file), "--witness-key", cosigner_key]
    )
    assert before.exit_code == 0, before.output
    assert "is consistent with the log" in before.output and witness.name in before.output
    # a witness counts only when the person verifying names its key: the node's own table of
    # witnesses is the database under test, where an insider could add one of their own
    unpinned = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(held_file)])
    assert unpinned.exit_code == 0, unpinned.output
    assert witness.name not in unpinned.output and "0 of them cosigned" in unpinned.output

    # The insider, holding the database and the key file, rewrites entry 2 and re-signs.
    rewrite_history(log_node)
    with transaction(log_node.sessions) as session:
        for model in (AuditTreeHead, AuditCheckpoint, AuditCosignature):
            session.execute(delete(model))
    _, results = publish(log_node.sessions, log_node.settings)
    assert [(r.ok, r.status) for r in results] == [(False, 422)], results
    # Pretending never to have met the witness gets the size it knows, then the same refusal.
    with transaction(log_node.sessions) as session:
        session.execute(update(AuditWitness).values(last_size=0))
    append_many_durably(log_node.sessions, [record(9)])
    _, results = publish(log_node.sessions, log_node.settings)
    assert [(r.ok, r.status) for r in results] == [(False, 422)], results
    stale = httpx.post(
        witness_url + "/add-checkpoint",
        content=b"old 0\n\n" + note.parse_note(served).encode().encode(),
    )
    assert stale.status_code == 409 and stale.text == "8\n"
    assert stale.headers["content-type"].startswith("text/x.tlog.size")

    # The witness still holds the honest checkpoint, and kept the refused ones as evidence.
    assert httpx.get(f"{witness_url}/{hashed}/checkpoint").text == held.text
    with witness_node.sessions() as session:
        refused = list(
            session.scalars(select(AuditEntry).where(AuditEntry.event == "witness.refused"))
        )
    assert len(refused) == 2 and refused[0].details["known_size"] == 8

    # The node's own heads verify (it re-signed them), but the held checkpoint catches it.
    local = runner.invoke(cli, ["audit", "verify"])
    assert local.exit_code == 0, local.output
    caught = runner.invoke(
        cli, ["audit", "verify", "--checkpoint", str(held_file), "--witness-key", cosigner_key]
    )
    assert caught.exit_code == 1, caught.output
    assert "The log was rewritten" in caught.output and witness.name in caught.output


def _body(old: int, proof: list[bytes], signed: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + signed).encode()


def test_the_witness_answers_each_refusal_as_the_spec_says(
    log_node: Node, witness_node: Node, serve: Callable[[Node], str]
) -> None:
    witness_url = serve(witness_node) + "/witness"
    append_many_durably(log_node.sessions, [record(n) for n in range(1, 4)])
    with transaction(log_node.sessions) as session:
        head = publish_tree_head(session, log_node.settings)
        signed = session.get(AuditCheckpoint, head.tree_size)
        assert signed is not None
        checkpoint_note = signed.note
    post = lambda body: httpx.post(witness_url + "/add-checkpoint", content=body)  # noqa: E731

    assert post(_body(0, [], checkpoint_note)).status_code == 404  # unknown origin
    with transaction(witness_node.sessions) as session:
        trust_log(session, log_node.log_vkey())
    assert post(b"old 1\nnot base64!\n\n" + checkpoint_note.encode()).status_code == 400
    assert post(_body(4, [], checkpoint_note)).status_code == 400  # old > size
    forged = checkpoint_note.replace("\n3\n", "\n4\n", 1)
    assert post(_body(0, [], forged)).status_code == 403  # the log's signature fails
    other = note.Signer(
        log_identity(log_node.settings).origin,
        note.SIG_ED25519,
        __import__(
            "cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"]
        ).Ed25519PrivateKey.generate(),
    )
    unsigned = note.sign_note(note.parse_note(checkpoint_note).text, other).encode()
    assert post(_body(0, [], unsigned)).status_code == 403  # no trusted signature
    assert post(_body(0, [b"\x00" * 32], checkpoint_note)).status_code == 422  # proof from 0
    first = post(_body(0, [], checkpoint_note))
    assert first.status_code == 200 and first.text.startswith("\u2014 ")
    assert first.headers["content-type"].startswith("text/plain")
    assert post(_body(0, [], checkpoint_note)).status_code == 409
    again = post(_body(3, [], checkpoint_note))  # the same size again: same root, cosigned
    assert again.status_code == 200


def test_heads_and_checkpoints_of_one_size_agree(log_node: Node) -> None:
    append_many_durably(log_node.sessions, [record(n) for n in range(1, 4)])
    with transaction(log_node.sessions) as session:
        head = publish_tree_head(session, log_node.settings)
        stored = session.get(AuditCheckpoint, head.tree_size)
        assert stored is not None
    checkpoint = Checkpoint.from_text(note.parse_note(stored.note).text)
    assert checkpoint.size == head.tree_size and checkpoint.root_hex == head.root_hash
    with log_node.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar_one() == 1


def test_the_web_app_pushes_new_checkpoints_to_its_witnesses_by_itself(
    log_node: Node, witness_node: Node, serve: Callable[[Node], str]
) -> None:
    witness_url = serve(witness_node) + "/witness"
    with transaction(witness_node.sessions) as session:
        trust_log(session, log_node.log_vkey())
        cosigner_key = witness_vkey(session, witness_node.settings)
    with transaction(log_node.sessions) as session:
        add_witness(session, cosigner_key, witness_url)
    append_many_durably(log_node.sessions, [record(n) for n in range(1, 4)])
    log_node.settings = log_node.settings.model_copy(update={"audit_publish_seconds": 0.1})
    serve(log_node)
    deadline = time.monotonic() + 10
    while True:
        with log_node.sessions() as session:
            cosigned = session.scalars(select(AuditCosignature.tree_size)).all()
        if 3 in cosigned or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert 3 in cosigned
    append_many_durably(log_node.sessions, [record(4)])
    while True:
        with log_node.sessions() as session:
            cosigned = session.scalars(select(AuditCosignature.tree_size)).all()
        if 4 in cosigned or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert 4 in cosigned


def test_a_witness_never_rolls_back_when_two_pushes_race(
    log_node: Node, witness_node: Node
) -> None:
    """tlog-witness: check and update are one step. Request A (5 -> 8) read the record
    before request B (5 -> 9) moved it; A must get 409, not roll the witness back to 8."""
    from onceonly.audit.checkpoint import AddCheckpoint
    from onceonly.audit.models import WitnessedLog
    from onceonly.audit.tree_store import consistency_proof
    from onceonly.audit.witness import add_checkpoint

    append_many_durably(log_node.sessions, [record(n) for n in range(1, 10)])
    notes = {}
    with transaction(log_node.sessions) as session:
        for size in (5, 8, 9):
            head = tree_head_for(session, log_node.settings, size)
            row = session.get(AuditCheckpoint, head.tree_size)
            assert row is not None
            notes[size] = note.parse_note(row.note)
        proofs = {size: consistency_proof(session, 5, size) for size in (8, 9)}

    def body(old: int, size: int) -> bytes:
        checkpoint = Checkpoint.from_text(notes[size].text)
        return AddCheckpoint(old, tuple(proofs.get(size, [])), notes[size], checkpoint).encode()

    with transaction(witness_node.sessions) as session:
        trust_log(session, log_node.log_vkey())
        assert add_checkpoint(session, witness_node.settings, body(0, 5)).status == 200
    request_a = witness_node.sessions()
    try:
        origin = log_identity(log_node.settings).origin
        read_by_a = request_a.get(WitnessedLog, origin)
        assert read_by_a is not None and read_by_a.tree_size == 5
        # A has read the record (and keeps it, as a request in flight does); B moves it
        with transaction(witness_node.sessions) as session:
            assert add_checkpoint(session, witness_node.settings, body(5, 9)).status == 200
        answer = add_checkpoint(request_a, witness_node.settings, body(5, 8))
        request_a.commit()
    finally:
        request_a.close()
    assert answer.status == 409 and answer.body == "9\n"
    with witness_node.sessions() as session:
        assert session.get(WitnessedLog, origin).tree_size == 9  # type: ignore[union-attr]
