"""Signed tree heads: the platform's signed statement "the first N entries have root R".

A head is a compact JWS (EdDSA, Ed25519) signed with the platform's own audit key, kept under
agency code :data:`AUDIT_KEY_AGENCY` like any owner's key and published with them at
``/.well-known/jwks.json``. Its payload::

    {"log": "onceonly-audit", "tree_size": N, "root_hash": "<hex>", "timestamp": <ms>}

Heads are published at ``/api/v1/audit/tree-heads/latest`` and ``/{size}``; whoever keeps
copies of them can later ask for a consistency proof between two heads and check that the log
only grew, and can check any entry's inclusion proof against a head. A head reveals nothing
personal: a size, a hash and a time.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onceonly.audit.models import AuditTreeHead
from onceonly.audit.tree_store import root_hash, tree_size
from onceonly.config import Settings
from onceonly.db import as_utc
from onceonly.exchange import keys
from onceonly.i18n import t

AUDIT_KEY_AGENCY = "platform.audit"
LOG_ID = "onceonly-audit"
TYP = "onceonly-tree-head+jwt"

warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


class TreeHeadInvalid(Exception):
    """A tree head that must not be relied on; ``code`` names why."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.reason_zh = t(f"audit.head.invalid.{code}", "zh-TW", **params)
        self.reason_en = t(f"audit.head.invalid.{code}", "en", **params)
        super().__init__(f"{code}: {self.reason_en}")


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: str
    timestamp: datetime
    kid: str
    signature: str

    def as_document(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "kid": self.kid,
            "signature": self.signature,
        }

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)


def _view(row: AuditTreeHead) -> TreeHead:
    return TreeHead(row.tree_size, row.root_hash, as_utc(row.signed_at), row.kid, row.signature)


def _payload(size: int, root: str, moment: datetime) -> dict[str, Any]:
    return {
        "log": LOG_ID,
        "tree_size": size,
        "root_hash": root,
        "timestamp": int(moment.timestamp() * 1000),
    }


def sign_head(key: keys.SigningKey, size: int, root: str, moment: datetime) -> str:
    header = {"alg": keys.ALGORITHM, "kid": key.kid, "typ": TYP}
    body = json.dumps(_payload(size, root, moment), separators=(",", ":")).encode()
    return jws.serialize_compact(header, body, key.private_key(), [keys.ALGORITHM])


def latest_tree_head(session: Session) -> TreeHead | None:
    row = session.scalars(
        select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
    ).first()
    return _view(row) if row else None


def tree_head_at(session: Session, size: int) -> TreeHead | None:
    row = session.get(AuditTreeHead, size)
    return _view(row) if row else None


def list_tree_heads(session: Session) -> list[TreeHead]:
    return [
        _view(r) for r in session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size))
    ]


def publish_tree_head(session: Session, settings: Settings) -> TreeHead:
    """The head of the log as it stands, signed now unless a head of this size exists."""
    return tree_head_for(session, settings, None)


def tree_head_for(session: Session, settings: Settings, size: int | None) -> TreeHead:
    """The signed head of the first ``size`` entries (the whole log when None), signed now if
    none was stored for that size. Raises ``LookupError`` for a size past the end of the log.

    Two callers racing to sign the same size both get the one that was stored first.
    """
    current = tree_size(session)
    size = current if size is None else size
    existing = tree_head_at(session, size)
    if existing is not None:
        _checkpoint_for(session, settings, existing)
        return existing
    if not 0 <= size <= current:
        raise LookupError(f"the log has {current} entries, not {size}")
    key = ensure_audit_key(session, settings)
    moment = datetime.now(UTC).replace(microsecond=0)
    root = root_hash(session, size).hex()
    row = AuditTreeHead(
        tree_size=size,
        root_hash=root,
        signed_at=moment,
        kid=key.kid,
        signature=sign_head(key, size, root, moment),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        winner = tree_head_at(session, size)
        if winner is None:
            raise
        return winner
    head = _view(row)
    _checkpoint_for(session, settings, head)
    return head


def ensure_audit_key(session: Session, settings: Settings) -> keys.SigningKey:
    """The platform audit key, made and published first if there is none yet (the app does
    this at start-up, so the key is in the JWK Set before any head is signed)."""
    return keys.ensure_key(session, settings, AUDIT_KEY_AGENCY)


def _checkpoint_for(session: Session, settings: Settings, head: TreeHead) -> None:
    """The C2SP checkpoint of ``head`` (signed with the active audit key unless stored)."""
    from onceonly.audit.checkpoint import log_identity, sign_checkpoint

    key = ensure_audit_key(session, settings)
    origin = log_identity(settings).origin
    sign_checkpoint(session, key, origin, head.tree_size, head.root_hash)


def _platform_key(jwks: Mapping[str, Any], kid: str) -> dict[str, Any]:
    members = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for member in members if isinstance(members, list) else []:
        if isinstance(member, dict) and member.get("kid") == kid:
            if member.get("agency", AUDIT_KEY_AGENCY) != AUDIT_KEY_AGENCY:
                raise TreeHeadInvalid("wrong_key", kid=kid, agency=member.get("agency"))
            return member
    raise TreeHeadInvalid("unknown_key", kid=kid)


def verify_tree_head(head: Mapping[str, Any], jwks: Mapping[str, Any]) -> TreeHead:
    """Check a head document (as published) against the JWK Set: the signature is the
    platform audit key's and the signed payload states exactly the document's size and root.
    Raises :class:`TreeHeadInvalid`."""
    try:
        token = str(head["signature"])
        size = int(head["tree_size"])
        root = str(head["root_hash"]).lower()
    except (KeyError, TypeError, ValueError) as error:
        raise TreeHeadInvalid("malformed", detail=str(error)) from error
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError) as error:
        raise TreeHeadInvalid("malformed", detail=str(error)) from error
    if header.get("alg") != keys.ALGORITHM or header.get("typ") != TYP:
        raise TreeHeadInvalid("malformed", detail=f"header must be alg EdDSA, typ {TYP}")
    kid = str(header.get("kid", ""))
    member = _platform_key(jwks, kid)
    try:
        public = OKPKey.import_key({name: member[name] for name in ("kty", "crv", "x")})
        payload = json.loads(jws.deserialize_compact(token, public, [keys.ALGORITHM]).payload)
    except (JoseError, ValueError, KeyError) as error:
        raise TreeHeadInvalid("bad_signature", kid=kid) from error
    if (
        not isinstance(payload, dict)
        or payload.get("log") != LOG_ID
        or payload.get("tree_size") != size
        or payload.get("root_hash") != root
        or not isinstance(payload.get("timestamp"), int)
    ):
        raise TreeHeadInvalid("mismatch", size=size)
    moment = datetime.fromtimestamp(payload["timestamp"] / 1000, UTC)
    return TreeHead(size, root, moment, kid, token)
