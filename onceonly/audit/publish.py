"""The log side of witnessing: sign a checkpoint of the log as it stands and push it to every
configured witness (c2sp.org/tlog-witness ``add-checkpoint``), keeping the cosignatures.

Each witness remembers the newest size it cosigned for this log; the request carries that size
(``old``) and an RFC 9162 consistency proof from it. A witness that answers 409 says which size
it knows, and the push is tried once more from there. The cosignatures that verify with the
witness's configured key are kept in ``audit_cosignatures`` and served with the checkpoint, so
anyone holding a cosigned checkpoint can later prove what the log was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit import note
from onceonly.audit.checkpoint import AddCheckpoint, Checkpoint
from onceonly.audit.models import AuditCheckpoint, AuditCosignature, AuditWitness
from onceonly.audit.tree_heads import TreeHead, latest_tree_head, publish_tree_head
from onceonly.audit.tree_store import consistency_proof, tree_size
from onceonly.call_failures import failure_in_words
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.periodic import Periodic


@dataclass(frozen=True)
class PushResult:
    witness: str
    ok: bool
    status: int | None
    size: int
    detail: str = ""


def add_witness(session: Session, vkey: str, url: str) -> AuditWitness:
    """Push checkpoints to the witness with cosigning key ``vkey`` at submission prefix ``url``."""
    verifier = note.Verifier.from_vkey(vkey)
    if verifier.sig_type != note.SIG_COSIGNATURE_V1:
        raise note.NoteError("bad_key", "a witness key is a cosignature/v1 key (type 0x04)")
    row = session.get(AuditWitness, verifier.name)
    if row is None:
        row = AuditWitness(name=verifier.name, url=url, vkey=verifier.vkey, last_size=0)
        session.add(row)
    else:
        row.url, row.vkey = url, verifier.vkey
    session.flush()
    return row


def list_witnesses(session: Session) -> list[AuditWitness]:
    return list(session.scalars(select(AuditWitness).order_by(AuditWitness.name)))


def _keep(session: Session, size: int, witness: str, signatures: list[note.Signature]) -> None:
    for signature in signatures:
        row = AuditCosignature(
            tree_size=size,
            witness=witness,
            line=signature.line(),
            timestamp=signature.timestamp or 0,
            received_at=datetime.now(UTC),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue


def push_to(
    sessions: sessionmaker[Session], witness: AuditWitness, size: int, client: httpx.Client
) -> PushResult:
    """Push the stored checkpoint of ``size`` to one witness."""
    with transaction(sessions) as session:
        row = session.get(AuditCheckpoint, size)
        if row is None:
            raise LookupError(f"no checkpoint of size {size}")
        signed = note.parse_note(row.note)
    checkpoint = Checkpoint.from_text(signed.text)
    old = witness.last_size
    response: httpx.Response | None = None
    for _attempt in range(2):
        if old > size:
            detail = f"the witness has cosigned {old} entries, this log has {size}"
            return _record(
                sessions, witness.name, PushResult(witness.name, False, 409, size, detail)
            )
        with sessions() as session:
            proof = consistency_proof(session, old, size) if 0 < old < size else []
        body = AddCheckpoint(old, tuple(proof), signed, checkpoint).encode()
        try:
            response = client.post(
                witness.url.rstrip("/") + "/add-checkpoint",
                content=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as error:
            result = PushResult(witness.name, False, None, size, failure_in_words(error))
            return _record(sessions, witness.name, result)
        if response.status_code == 409 and response.text.strip().isdigit():
            old = int(response.text.strip())
            continue
        break
    assert response is not None
    if response.status_code != 200:
        result = PushResult(witness.name, False, response.status_code, size, response.text[:300])
        return _record(sessions, witness.name, result)
    try:
        lines = note.parse_signature_lines(response.text)
        _, verified = note.open_note(
            note.Note(signed.text, tuple(lines)), [note.Verifier.from_vkey(witness.vkey)]
        )
    except note.NoteError as error:
        result = PushResult(witness.name, False, 200, size, f"cosignature refused: {error}")
        return _record(sessions, witness.name, result)
    with transaction(sessions) as session:
        _keep(session, size, witness.name, verified)
    return _record(sessions, witness.name, PushResult(witness.name, True, 200, size))


def _record(sessions: sessionmaker[Session], name: str, result: PushResult) -> PushResult:
    with transaction(sessions) as session:
        row = session.get(AuditWitness, name)
        if row is not None:
            if result.ok:
                row.last_size, row.last_error = result.size, None
            else:
                row.last_error = f"{result.status}: {result.detail}"[:1000]
            row.updated_at = datetime.now(UTC)
    return result


def publish(
    sessions: sessionmaker[Session], settings: Settings, client: httpx.Client | None = None
) -> tuple[TreeHead, list[PushResult]]:
    """Sign the head and checkpoint of the log as it stands, then push it to every witness."""
    with transaction(sessions) as session:
        head = publish_tree_head(session, settings)
        witnesses = list_witnesses(session)
        session.expunge_all()
    own = client is None
    client = client or httpx.Client(timeout=10.0)
    try:
        results = [push_to(sessions, w, head.tree_size, client) for w in witnesses]
    finally:
        if own:
            client.close()
    return head, results


def publish_if_grown(sessions: sessionmaker[Session], settings: Settings) -> list[PushResult]:
    """:func:`publish` when there are witnesses and the log grew past its newest checkpoint."""
    with sessions() as session:
        witnesses = list_witnesses(session)
        newest = latest_tree_head(session)
        grown = newest is None or tree_size(session) > newest.tree_size
        behind = any(w.last_size != (newest.tree_size if newest else 0) for w in witnesses)
    if not witnesses or not (grown or behind):
        return []
    return publish(sessions, settings)[1]


class Publisher(Periodic):
    """Runs :func:`publish_if_grown` every ``settings.audit_publish_seconds`` in a daemon
    thread of the web app (started and stopped with it)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "audit-publisher",
            settings.audit_publish_seconds,
            lambda: publish_if_grown(sessions, settings),
        )
