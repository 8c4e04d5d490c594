"""Inclusion-proof documents: one file that proves one audit entry is in the published log.

The document (``format`` :data:`PROOF_FORMAT`) holds the entry exactly as hashed, its audit
path, the signed tree head it leads to and the platform key that signed the head. Checking it
(:func:`check_proof`, ``onceonly audit prove --verify FILE``) needs no server:

1. the entry's content gives its ``entry_hash`` (so no field was changed); a full format-2
   entry's ``actor_username`` and ``actor_salt`` give its ``actor_commitment``;
2. SHA-256(0x00 || entry_hash) and the audit path give the root (RFC 9162 §2.1.3.2);
3. the root is the one the tree head states, and the head is signed by the platform's audit key.

The key inside the file only says which key to look for: without the published JWK Set
(``/.well-known/jwks.json``, saved earlier or fetched elsewhere) a proof is never called
verified, since anyone can make a consistent file with a key of their own.

Auditors' proofs carry the entry in full. The proof a citizen downloads is *redacted*
(:func:`proof_for_subject`): the clerk appears by badge and by the salted commitment only, and
the proof verifies all the same, because a format-2 entry's hash covers the commitment, not
the name (``onceonly.audit.verify``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from onceonly.audit import merkle
from onceonly.audit.tree_heads import (
    AUDIT_KEY_AGENCY,
    TreeHead,
    TreeHeadInvalid,
    tree_head_for,
    verify_tree_head,
)
from onceonly.audit.tree_store import InclusionProof, inclusion_proof, proof_entry
from onceonly.audit.verify import (
    ActorNotRedactable,
    _NotAnEntry,
    actor_commitment_holds,
    compute_hash,
    entry_document,
    is_redacted,
)
from onceonly.config import Settings
from onceonly.exchange import keys
from onceonly.i18n import t

PROOF_FORMAT = "onceonly-inclusion-proof/1"


def proof_document(
    entry: Mapping[str, Any], proof: InclusionProof, head: TreeHead, key: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        "format": PROOF_FORMAT,
        "entry": dict(entry),
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "leaf_hash": proof.leaf_hash.hex(),
        "audit_path": [h.hex() for h in proof.path],
        "tree_head": head.as_document(),
        "key": dict(key) if key else None,
    }


def build_proof(
    session: Session,
    settings: Settings,
    seq: int,
    tree_size: int | None = None,
    *,
    redact: bool,
) -> dict[str, Any] | None:
    """The proof document of entry ``seq`` against the signed head of ``tree_size`` entries
    (the newest head, signed now if the log grew, by default); None if there is no such entry.

    ``redact``: leave the actor's username and salt out (what a citizen may have); raises
    :class:`~onceonly.audit.verify.ActorNotRedactable` for a format-1 entry, whose hash covers
    the username. Raises ``LookupError`` for a size past the end of the log or before the entry.
    """
    entry = proof_entry(session, seq, redact=redact)
    if entry is None:
        return None
    head = tree_head_for(session, settings, tree_size)
    if head.tree_size < seq:
        raise LookupError(f"entry {seq} is not in the tree of {head.tree_size}")
    proof = inclusion_proof(session, seq, head.tree_size)
    member = next(
        (
            k.published()
            for k in keys.list_keys(session, settings, AUDIT_KEY_AGENCY)
            if k.kid == head.kid
        ),
        None,
    )
    return proof_document(entry, proof, head, member)


def proof_for_subject(
    session: Session, settings: Settings, seq: int, username: str, tree_size: int | None = None
) -> dict[str, Any] | None:
    """The proof the citizen entry ``seq`` is about may download (signed in as ``username``):
    redacted, so the clerk appears by badge and commitment only.

    A format-1 entry cannot be redacted. Its proof is given in full only when the one account
    it names is the citizen's own (their consent, flag or preview); otherwise
    :class:`~onceonly.audit.verify.ActorNotRedactable` is raised for the caller to explain,
    because every proof of it that verifies would reveal the clerk's username.
    """
    try:
        return build_proof(session, settings, seq, tree_size, redact=True)
    except ActorNotRedactable as older:
        if older.actor_username != username:
            raise
        return build_proof(session, settings, seq, tree_size, redact=False)


@dataclass(frozen=True)
class ProofCheck:
    ok: bool
    code: str
    """``ok`` or what failed: ``malformed``, ``entry_altered``, ``wrong_leaf``, ``path``,
    ``head`` (with ``head_code``), ``no_key``."""
    reason_zh: str
    reason_en: str
    seq: int | None = None
    tree_size: int | None = None
    kid: str | None = None
    key_source: str = "published"
    """``published`` (the JWK Set given) or ``embedded`` (the key inside the file)."""
    redacted: bool = False
    """The entry names its actor only by commitment (a citizen's proof)."""

    def reason(self, lang: str | None = None) -> str:
        return self.reason_en if lang == "en" else self.reason_zh


def _result(ok: bool, code: str, **params: Any) -> ProofCheck:
    extra = {k: params[k] for k in ("kid", "key_source", "redacted") if k in params}
    params.pop("key_source", None)
    params.pop("redacted", None)
    key = f"audit.proof.{code}"
    return ProofCheck(
        ok,
        code,
        t(key, "zh-TW", **params),
        t(key, "en", **params),
        seq=params.get("seq"),
        tree_size=params.get("size"),
        **extra,
    )


def check_proof(document: Mapping[str, Any], jwks: Mapping[str, Any] | None = None) -> ProofCheck:
    """Check a proof document offline; ``jwks`` is the published key set to trust. Without it
    the document is checked with the key inside it and the result is ``untrusted_key``, not
    ok."""
    try:
        if document.get("format") != PROOF_FORMAT:
            raise ValueError(f"format is not {PROOF_FORMAT}")
        entry = entry_document(document["entry"])
        index = int(document["leaf_index"])
        size = int(document["tree_size"])
        path = [bytes.fromhex(h) for h in document["audit_path"]]
        head_doc = document["tree_head"]
        if not isinstance(head_doc, Mapping):
            raise ValueError("tree_head is not an object")
    except (KeyError, TypeError, ValueError, _NotAnEntry, AttributeError) as error:
        return _result(False, "malformed", detail=str(error), seq=None, size=None)
    seq = entry["seq"]
    if compute_hash(entry) != entry["entry_hash"]:
        return _result(False, "entry_altered", seq=seq, size=size)
    if not actor_commitment_holds(entry):
        return _result(False, "actor_altered", seq=seq, size=size)
    leaf = merkle.entry_leaf(entry["entry_hash"])
    if index != seq - 1 or document.get("leaf_hash", leaf.hex()) != leaf.hex():
        return _result(False, "wrong_leaf", seq=seq, size=size)
    source = "published"
    if jwks is None:
        embedded = document.get("key")
        if not isinstance(embedded, Mapping):
            return _result(False, "no_key", seq=seq, size=size)
        jwks = {"keys": [dict(embedded)]}
        source = "embedded"
    try:
        head = verify_tree_head(head_doc, jwks)
    except TreeHeadInvalid as problem:
        return _result(
            False, "head", seq=seq, size=size, why_zh=problem.reason_zh, why_en=problem.reason_en
        )
    if head.tree_size != size:
        return _result(False, "path", seq=seq, size=size)
    if not merkle.verify_inclusion(leaf, index, size, path, head.root):
        return _result(False, "path", seq=seq, size=size)
    if source != "published":
        # The file carries its own key: anyone can make a consistent file with a key of their
        # own, so this is not verified (issue 12, hole 8).
        return _result(False, "untrusted_key", seq=seq, size=size, kid=head.kid, key_source=source)
    return _result(
        True,
        "ok",
        seq=seq,
        size=size,
        root=head.root_hash,
        kid=head.kid,
        key_source=source,
        when=head.timestamp.isoformat(),
        redacted=is_redacted(entry),
    )


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
