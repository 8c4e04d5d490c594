"""This node as a witness of other nodes' audit logs (c2sp.org/tlog-witness).

A partner node (or the directory) pushes each new checkpoint of its log with a consistency
proof from the size this witness last cosigned. The witness checks the log's signature with
the key it was configured with (``onceonly audit witness trust VKEY``), checks the proof
against the root it stored, and only then moves its record forward and answers with a
``cosignature/v1`` line. A log that rewrote history cannot produce such a proof: it is refused
(409 with the size the witness knows, or 422), and the refused checkpoint, signed by the log,
is kept in this node's own audit log as evidence.

The witness's cosigning key is an Ed25519 key of its own (agency ``platform.witness`` in the key
store, published in the JWK Set), never the log key: a cosignature/v1 key must not sign notes
of another type.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from onceonly.audit import merkle, note
from onceonly.audit.checkpoint import AddCheckpoint, cosigner, log_identity, parse_add_checkpoint
from onceonly.audit.models import WitnessedLog
from onceonly.config import Settings
from onceonly.exchange import keys

WITNESS_KEY_AGENCY = "platform.witness"
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class WitnessAnswer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    evidence: dict[str, Any] | None = field(default=None)
    """For a refused checkpoint the log did sign: what to keep in the audit log."""


def witness_signer(session: Session, settings: Settings) -> note.Signer:
    key = keys.ensure_key(session, settings, WITNESS_KEY_AGENCY)
    return cosigner(key, log_identity(settings).witness)


def witness_vkey(session: Session, settings: Settings) -> str:
    """This witness's verifier key (type 0x04), for the logs that push to it."""
    return witness_signer(session, settings).verifier.vkey


def trust_log(session: Session, vkey: str, origin: str | None = None) -> WitnessedLog:
    """Witness the log whose checkpoints ``vkey`` signs (origin: the key's name by default)."""
    verifier = note.Verifier.from_vkey(vkey)
    if verifier.sig_type != note.SIG_ED25519:
        raise note.NoteError("bad_key", "a log's key is an Ed25519 note key (type 0x01)")
    origin = origin or verifier.name
    row = session.get(WitnessedLog, origin)
    if row is None:
        row = WitnessedLog(origin=origin, vkey=verifier.vkey, tree_size=0)
        session.add(row)
    else:
        row.vkey = verifier.vkey
    session.flush()
    return row


def list_witnessed(session: Session) -> list[WitnessedLog]:
    return list(session.scalars(select(WitnessedLog).order_by(WitnessedLog.origin)))


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def witnessed_checkpoint(session: Session, hashed_origin: str) -> str | None:
    """The newest checkpoint cosigned for the log whose origin hashes to ``hashed_origin``."""
    for row in list_witnessed(session):
        if origin_hash(row.origin) == hashed_origin.lower():
            return row.checkpoint
    return None


REFUSALS = {
    "empty_root": "an empty tree has the root of the empty string",
    "proof_from_empty": "no proof is needed from the empty tree",
    "inconsistent": "the checkpoint is not consistent with the one this witness cosigned",
}
"""Why a checkpoint signed by the log is refused (the answer's body, for machines; the audit
entry that keeps it reads ``audit.witness.refused`` with the same code)."""


def _refused(status: int, code: str, request: AddCheckpoint, log: WitnessedLog) -> WitnessAnswer:
    why = REFUSALS[code]
    evidence = {
        "origin": log.origin,
        "code": code,
        "reason": why,
        "old_size": request.old_size,
        "size": request.checkpoint.size,
        "known_size": log.tree_size,
        "known_root": log.root_hash,
        "checkpoint": request.note.encode(),
    }
    return WitnessAnswer(status, why + "\n", evidence=evidence)


def add_checkpoint(
    session: Session, settings: Settings, body: bytes, now: int | None = None
) -> WitnessAnswer:
    """Answer one ``add-checkpoint`` request as the spec says; the caller commits before
    responding (the record must be durable before the cosignature leaves)."""
    try:
        request = parse_add_checkpoint(body)
    except note.NoteError as error:
        return WitnessAnswer(400, f"malformed request: {error.detail}\n")
    checkpoint = request.checkpoint
    log = session.get(WitnessedLog, checkpoint.origin)
    if log is None:
        return WitnessAnswer(404, "unknown log origin\n")
    try:
        _, verified = note.open_note(request.note, [note.Verifier.from_vkey(log.vkey)])
    except note.NoteError as error:
        return WitnessAnswer(403, f"not signed by the log's key: {error.code}\n")
    if request.old_size > checkpoint.size:
        return WitnessAnswer(400, "old size is larger than the checkpoint size\n")
    if request.old_size != log.tree_size:
        return WitnessAnswer(409, f"{log.tree_size}\n", SIZE_TYPE)
    if checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
        return _refused(422, "empty_root", request, log)
    if request.old_size == 0:
        if request.proof:
            return _refused(422, "proof_from_empty", request, log)
    else:
        assert log.root_hash is not None
        known = bytes.fromhex(log.root_hash)
        consistent = merkle.verify_consistency(
            request.old_size, checkpoint.size, known, checkpoint.root, request.proof
        )
        if not consistent:
            return _refused(422, "inconsistent", request, log)
    signer = witness_signer(session, settings)
    signature = signer.sign(checkpoint.text(), now or int(time.time()))
    cosigned = note.Note(checkpoint.text(), (*verified, signature)).encode()
    moved = session.execute(
        update(WitnessedLog)
        .where(WitnessedLog.origin == log.origin, WitnessedLog.tree_size == request.old_size)
        .values(
            tree_size=checkpoint.size,
            root_hash=checkpoint.root_hex,
            checkpoint=cosigned,
            updated_at=datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) != 1:  # another request moved it first
        session.expire(log)
        return WitnessAnswer(409, f"{log.tree_size}\n", SIZE_TYPE)
    return WitnessAnswer(200, signature.line())
