"""The log's signed tree heads as C2SP checkpoints (c2sp.org/tlog-checkpoint): what witnesses
cosign and what anyone keeps to hold the log to its past.

A checkpoint is a signed note (``onceonly.audit.note``) whose text is three lines::

    <origin>
    <tree size in decimal>
    <base64 RFC 6962 root hash>

signed by the platform audit key (the key of the JWS tree heads, published at
``/.well-known/jwks.json`` under agency ``platform.audit``) as an Ed25519 note key named by the
origin. Witnesses add ``cosignature/v1`` lines. The origin names this deployment's log; it is
``Settings.audit_origin`` when set, otherwise drawn once and kept in ``<data_dir>/audit-log.json``
(with the name this node uses when it witnesses other logs).

Every tree head the node signs (``tree_heads.tree_head_for``) gets its checkpoint in the same
transaction, so ``audit_checkpoints`` and ``audit_tree_heads`` hold the same sizes.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onceonly.audit import note
from onceonly.audit.models import AuditCheckpoint, AuditCosignature
from onceonly.config import Settings
from onceonly.exchange import keys

IDENTITY_FILE = "audit-log.json"
MAX_PROOF_LINES = 63
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @property
    def root_hex(self) -> str:
        return self.root.hex()

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint's note text, as tlog-checkpoint defines it."""
        if not text.endswith("\n"):
            raise note.NoteError("malformed", "a checkpoint text ends in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise note.NoteError("malformed", "a checkpoint is three or more non-empty lines")
        origin, size, root = lines[:3]
        if not _SIZE.fullmatch(size) or int(size) > (1 << 63) - 1:
            raise note.NoteError("malformed", f"tree size {size[:30]!r} is not a decimal size")
        raw = note._b64decode(root)
        if len(raw) != 32:
            raise note.NoteError("malformed", "the root hash is not 32 bytes")
        return cls(origin, int(size), raw, tuple(lines[3:]))


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    """The log's name: the checkpoints' first line and the key name of their signature."""
    witness: str
    """The key name of this node's cosignatures when it witnesses another log."""


def known_origin(settings: Settings) -> str | None:
    """The log's origin if it was set or drawn already (nothing is written)."""
    path = settings.data_dir / IDENTITY_FILE
    if settings.audit_origin:
        return settings.audit_origin
    if path.exists():
        return str(json.loads(path.read_text("utf-8")).get("origin") or "") or None
    return None


def log_identity(settings: Settings) -> LogIdentity:
    """This deployment's log origin and witness name (see the module docstring); drawn and
    kept on first use."""
    path = settings.data_dir / IDENTITY_FILE
    stored: dict[str, Any] = {}
    if path.exists():
        stored = json.loads(path.read_text("utf-8"))
    origin = settings.audit_origin or stored.get("origin")
    if not origin:
        origin = f"onceonly.invalid/{secrets.token_hex(6)}/audit"
    witness = stored.get("witness") or origin.removesuffix("/audit") + "/witness"
    if stored != {"origin": origin, "witness": witness} and not settings.audit_origin:
        _write(path, {"origin": origin, "witness": witness})
    return LogIdentity(origin, witness)


def set_log_identity(settings: Settings, origin: str, witness: str | None = None) -> LogIdentity:
    """Name this deployment's log (before its first checkpoint; a federation names its nodes)."""
    identity = LogIdentity(origin, witness or origin.removesuffix("/audit") + "/witness")
    note.Verifier(identity.origin, note.SIG_ED25519, bytes(32))  # checks both are key names
    note.Verifier(identity.witness, note.SIG_ED25519, bytes(32))
    _write(settings.data_dir / IDENTITY_FILE, {"origin": origin, "witness": identity.witness})
    return identity


def _write(path: Path, document: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    partial.replace(path)


def _private(key: keys.SigningKey) -> Ed25519PrivateKey:
    private = key.private_key().private_key
    assert isinstance(private, Ed25519PrivateKey)
    return private


def log_signer(key: keys.SigningKey, origin: str) -> note.Signer:
    return note.Signer(origin, note.SIG_ED25519, _private(key))


def cosigner(key: keys.SigningKey, name: str) -> note.Signer:
    return note.Signer(name, note.SIG_COSIGNATURE_V1, _private(key))


def jwk_public(member: dict[str, Any]) -> bytes:
    """The raw Ed25519 public key of a JWK (its ``x``, base64url)."""
    x = str(member.get("x", ""))
    raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    if member.get("kty") != "OKP" or member.get("crv") != "Ed25519" or len(raw) != 32:
        raise note.NoteError("bad_key", f"key {member.get('kid')} is not an Ed25519 JWK")
    return raw


def log_verifiers(jwks: dict[str, Any], origin: str, agency: str) -> list[note.Verifier]:
    """Note verifiers for ``origin`` from every key of ``agency`` in a JWK Set (rotated keys
    included, so old checkpoints still verify)."""
    found = []
    for member in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if isinstance(member, dict) and member.get("agency") == agency:
            found.append(note.Verifier(origin, note.SIG_ED25519, jwk_public(member)))
    return found


def log_vkey(session: Session, settings: Settings) -> str:
    """This log's checkpoint key as a C2SP vkey (what its witnesses are configured with)."""
    from onceonly.audit.tree_heads import ensure_audit_key

    key = ensure_audit_key(session, settings)
    origin = log_identity(settings).origin
    return note.Verifier(origin, note.SIG_ED25519, jwk_public(key.published())).vkey


def sign_checkpoint(
    session: Session, key: keys.SigningKey, origin: str, size: int, root_hex: str
) -> str:
    """Sign and store the checkpoint of the first ``size`` entries (once per size)."""
    existing = session.get(AuditCheckpoint, size)
    if existing is not None:
        return existing.note
    checkpoint = Checkpoint(origin, size, bytes.fromhex(root_hex))
    signed = note.sign_note(checkpoint.text(), log_signer(key, origin)).encode()
    row = AuditCheckpoint(
        tree_size=size,
        origin=origin,
        note=signed,
        signed_at=datetime.now(UTC).replace(microsecond=0),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        winner = session.get(AuditCheckpoint, size)
        if winner is None:
            raise
        return winner.note
    return signed


def cosignatures_of(session: Session, size: int) -> list[note.Signature]:
    lines = session.scalars(
        select(AuditCosignature.line)
        .where(AuditCosignature.tree_size == size)
        .order_by(AuditCosignature.id)
    )
    return [note.parse_signature_line(line.rstrip("\n")) for line in lines]


def stored_checkpoint(session: Session, size: int | None = None) -> str | None:
    """The signed checkpoint of ``size`` (the newest by default) with every cosignature kept."""
    query = select(AuditCheckpoint)
    if size is None:
        query = query.order_by(AuditCheckpoint.tree_size.desc()).limit(1)
    else:
        query = query.where(AuditCheckpoint.tree_size == size)
    row = session.scalars(query).first()
    if row is None:
        return None
    return (
        note.parse_note(row.note).with_signatures(cosignatures_of(session, row.tree_size)).encode()
    )


def list_checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)))


@dataclass(frozen=True)
class AddCheckpoint:
    """A tlog-witness ``add-checkpoint`` request body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: note.Note
    checkpoint: Checkpoint

    def encode(self) -> bytes:
        lines = [f"old {self.old_size}"]
        lines += [base64.b64encode(h).decode("ascii") for h in self.proof]
        return ("\n".join(lines) + "\n\n" + self.note.encode()).encode("utf-8")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse the body; ``NoteError("malformed")`` when it is not one (the witness says 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise note.NoteError("malformed", "the body is not UTF-8") from error
    head, blank, rest = text.partition("\n\n")
    if not blank:
        raise note.NoteError("malformed", "no empty line before the checkpoint")
    lines = head.split("\n")
    match = re.fullmatch(r"old (0|[1-9][0-9]{0,18})", lines[0])
    if match is None:
        raise note.NoteError("malformed", "the first line is 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise note.NoteError("malformed", "more than 63 consistency proof lines")
    proof = tuple(note._b64decode(line) for line in lines[1:])
    if any(len(h) != 32 for h in proof):
        raise note.NoteError("malformed", "a proof line is not a 32-byte hash")
    parsed = note.parse_note(rest)
    return AddCheckpoint(int(match[1]), proof, parsed, Checkpoint.from_text(parsed.text))
