"""What ``onceonly audit verify`` checks beyond the chain: the signed tree heads and the
checkpoints, against keys the verifier trusts, and against checkpoints held outside.

1. Every stored JWS tree head verifies with a trusted platform audit key and states the root
   the tree has at its size (a root column overwritten in the database is caught here).
2. Each head is consistent with the one before it (an RFC 9162 consistency proof, from the
   tree, checked against the two *signed* roots).
3. Every stored checkpoint verifies with a trusted key and states the tree's root; the
   cosignatures kept with it verify with the witnesses' keys.
4. Every checkpoint held outside (``--checkpoint FILE``: from a witness, a partner, an earlier
   download) verifies with a trusted key, and the log still holds exactly that tree: the
   newest signed head is consistent with it. A node that rewrote history and re-signed
   everything with its own key still fails here.

Trusted keys are the JWK Set given (``--jwks``: a copy kept outside the node), or else the
node's own published keys whose private half is on its disk (a key row added to the database
without its key file is not trusted).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from onceonly.audit import merkle, note
from onceonly.audit.checkpoint import Checkpoint, cosignatures_of, list_checkpoints, log_verifiers
from onceonly.audit.tree_heads import (
    AUDIT_KEY_AGENCY,
    TreeHead,
    TreeHeadInvalid,
    list_tree_heads,
    verify_tree_head,
)
from onceonly.audit.tree_store import TreeIncomplete, consistency_proof, root_hash, tree_size
from onceonly.config import Settings
from onceonly.exchange import keys
from onceonly.i18n import t


@dataclass(frozen=True)
class Finding:
    ok: bool
    key: str
    params: dict[str, Any]

    def text(self, lang: str) -> str:
        return t(self.key, lang, **self.params)


@dataclass
class HeadsCheck:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, ok: bool, key: str, **params: Any) -> None:
        self.findings.append(Finding(ok, key, params))


def local_jwks(session: Session, settings: Settings) -> dict[str, Any]:
    """The node's keys whose private key file is on its disk, each with the public half of
    that file: the row's public half is the database's word, which an insider can rewrite
    (keeping the kid, whose file still matches) to have their own key trusted."""
    trusted = []
    for key in keys.list_keys(session, settings):
        try:
            private = key.private_key()
        except keys.SigningKeyUnavailable:
            continue
        public = private.as_dict(private=False)
        trusted.append({**key.published(), **{n: public[n] for n in ("kty", "crv", "x")}})
    return {"keys": trusted}


def _tree_root(session: Session, size: int) -> bytes | None:
    try:
        return root_hash(session, size)
    except (TreeIncomplete, KeyError):
        return None


def _check_heads(session: Session, jwks: dict[str, Any], check: HeadsCheck) -> list[TreeHead]:
    size = tree_size(session)
    signed: list[TreeHead] = []
    for stored in list_tree_heads(session):
        try:
            head = verify_tree_head(stored.as_document(), jwks)
        except TreeHeadInvalid as problem:
            check.add(False, "audit.heads.signature", size=stored.tree_size, why=problem.code)
            continue
        if head.tree_size > size:
            check.add(False, "audit.heads.past_end", size=head.tree_size, entries=size)
            continue
        if _tree_root(session, head.tree_size) != head.root:
            check.add(False, "audit.heads.rewritten", size=head.tree_size)
            continue
        signed.append(head)
    for before, after in itertools.pairwise(signed):
        proof = consistency_proof(session, before.tree_size, after.tree_size)
        if not merkle.verify_consistency(
            before.tree_size, after.tree_size, before.root, after.root, proof
        ):
            check.add(
                False, "audit.heads.inconsistent", first=before.tree_size, second=after.tree_size
            )
    if signed:
        check.add(True, "audit.heads.ok", count=len(signed), size=signed[-1].tree_size)
    return signed


def _witness_verifiers(pinned: Sequence[str]) -> list[note.Verifier]:
    """Only the witness keys the person verifying gave (``--witness-key``): the node's own
    ``audit_witnesses`` table is the database under test, where an insider could add a
    witness of their own and cosign with it."""
    return [note.Verifier.from_vkey(v) for v in pinned]


def _check_checkpoints(
    session: Session, jwks: dict[str, Any], witnesses: list[note.Verifier], check: HeadsCheck
) -> None:
    cosigned = 0
    rows = list_checkpoints(session)
    for row in rows:
        verifiers = log_verifiers(jwks, row.origin, AUDIT_KEY_AGENCY)
        try:
            parsed, _ = note.open_note(row.note, verifiers)
            checkpoint = Checkpoint.from_text(parsed.text)
        except note.NoteError as error:
            check.add(False, "audit.checkpoints.signature", size=row.tree_size, why=error.code)
            continue
        if (
            checkpoint.size != row.tree_size
            or _tree_root(session, checkpoint.size) != checkpoint.root
        ):
            check.add(False, "audit.heads.rewritten", size=row.tree_size)
            continue
        signatures = cosignatures_of(session, row.tree_size)
        if signatures and witnesses:
            try:
                _, good = note.open_note(note.Note(parsed.text, tuple(signatures)), witnesses)
            except note.NoteError as error:
                check.add(
                    False, "audit.checkpoints.cosignature", size=row.tree_size, why=error.code
                )
                continue
            cosigned += bool(good)
    if rows:
        check.add(True, "audit.checkpoints.ok", count=len(rows), cosigned=cosigned)


def check_held(
    session: Session,
    jwks: dict[str, Any],
    origins: set[str | None],
    held: str,
    witnesses: list[note.Verifier],
    newest: TreeHead | None,
    check: HeadsCheck,
    label: str,
) -> None:
    """Hold the log to a checkpoint kept outside it (see the module docstring, point 4)."""
    try:
        parsed = note.parse_note(held)
        checkpoint = Checkpoint.from_text(parsed.text)
    except note.NoteError as error:
        check.add(False, "audit.held.malformed", file=label, why=error.detail or error.code)
        return
    if checkpoint.origin not in origins:
        check.add(False, "audit.held.other_log", file=label, origin=checkpoint.origin)
        return
    try:
        note.open_note(parsed, log_verifiers(jwks, checkpoint.origin, AUDIT_KEY_AGENCY))
    except note.NoteError as error:
        check.add(False, "audit.held.signature", file=label, why=error.code)
        return
    cosigners: list[str] = []
    if witnesses:
        try:
            cosigners = [s.name for s in note.open_note(parsed, witnesses)[1]]
        except note.NoteError:
            cosigners = []
    size = checkpoint.size
    entries = tree_size(session)
    if size > entries:
        check.add(False, "audit.held.truncated", file=label, size=size, entries=entries)
        return
    target = newest if newest is not None and newest.tree_size >= size else None
    tree_root = _tree_root(session, size)
    consistent = tree_root == checkpoint.root
    if consistent and target is not None:
        proof = consistency_proof(session, size, target.tree_size)
        consistent = merkle.verify_consistency(
            size, target.tree_size, checkpoint.root, target.root, proof
        )
    if not consistent:
        check.add(
            False,
            "audit.held.rewritten",
            file=label,
            size=size,
            witnesses=", ".join(cosigners) or "-",
        )
        return
    check.add(True, "audit.held.ok", file=label, size=size, witnesses=", ".join(cosigners) or "-")


def check_heads(
    session: Session,
    settings: Settings,
    jwks: dict[str, Any] | None = None,
    held: Sequence[tuple[str, str]] = (),
    witness_vkeys: Sequence[str] = (),
) -> HeadsCheck:
    """Points 1-4 of the module docstring; ``held`` is (label, checkpoint text) pairs."""
    from onceonly.audit.checkpoint import known_origin

    trusted = jwks if jwks is not None else local_jwks(session, settings)
    check = HeadsCheck()
    signed = _check_heads(session, trusted, check)
    witnesses = _witness_verifiers(witness_vkeys)
    _check_checkpoints(session, trusted, witnesses, check)
    origins = {row.origin for row in list_checkpoints(session)} | {known_origin(settings)}
    newest = signed[-1] if signed else None
    for label, text in held:
        check_held(session, trusted, origins, text, witnesses, newest, check, label)
    if not held:
        # the heads and the chain are the database's; only an anchor from outside catches a
        # log rewritten together with all its heads by someone who holds the signing key
        check.add(
            True,
            "audit.held.none",
            uncovered=tree_size(session) - (newest.tree_size if newest else 0),
        )
    return check
