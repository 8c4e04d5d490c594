"""Export folders: everything needed to check the log, and to prove any entry, offline.

``onceonly audit export-bundle DIR`` writes::

    DIR/entries.jsonl       every entry as hashed (the same lines as ``audit export``)
    DIR/tree-heads.jsonl    every signed tree head, one JSON object a line, oldest first
    DIR/jwks.json           the published public keys (the platform audit key among them)

From such a folder, without the server, :func:`verify_bundle` checks the hash chain, each
head's signature, and that each head's root is the Merkle root of that many entries (so the
log the heads were signed over was not rewritten, cut or reordered since);
:func:`prove_from_bundle` makes the inclusion proof of any entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from onceonly.audit import merkle
from onceonly.audit.proofs import proof_document
from onceonly.audit.tree_heads import (
    TreeHead,
    TreeHeadInvalid,
    list_tree_heads,
    publish_tree_head,
    verify_tree_head,
)
from onceonly.audit.tree_store import InclusionProof
from onceonly.audit.verify import (
    VerifyResult,
    _NotAnEntry,
    canonical_json,
    entry_document,
    export_log,
    read_export,
    verify_file,
)
from onceonly.config import Settings
from onceonly.exchange import keys
from onceonly.i18n import both, one_line, t

ENTRIES = "entries.jsonl"
HEADS = "tree-heads.jsonl"
JWKS = "jwks.json"


@dataclass(frozen=True)
class BundleSummary:
    path: Path
    entries: int
    heads: int
    newest: TreeHead


def _write_atomically(path: Path, lines: Iterator[str]) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def export_bundle(session: Session, settings: Settings, directory: Path) -> BundleSummary:
    """Sign a head for the log as it stands, then write the folder (see the module doc)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    newest = publish_tree_head(session, settings)
    count = export_log(session, directory / ENTRIES)
    heads = [h for h in list_tree_heads(session) if h.tree_size <= count]
    _write_atomically(directory / HEADS, (canonical_json(h.as_document()) + "\n" for h in heads))
    jwks = keys.published_jwks(session)
    _write_atomically(
        directory / JWKS, iter([json.dumps(jwks, indent=2, ensure_ascii=False) + "\n"])
    )
    return BundleSummary(directory, count, len(heads), newest)


def is_bundle(directory: Path) -> bool:
    return all((Path(directory) / name).is_file() for name in (ENTRIES, HEADS, JWKS))


def read_heads(path: Path) -> list[dict[str, Any]]:
    heads = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            value = json.loads(line)
            if isinstance(value, dict):
                heads.append(value)
    return heads


def _leaves(directory: Path) -> tuple[list[bytes], list[dict[str, Any]]]:
    leaves: list[bytes] = []
    documents: list[dict[str, Any]] = []
    for raw in read_export(Path(directory) / ENTRIES):
        try:
            document = entry_document(raw)
        except _NotAnEntry:
            continue
        leaves.append(merkle.entry_leaf(document["entry_hash"]))
        documents.append(document)
    return leaves, documents


@dataclass
class BundleCheck:
    chain: VerifyResult
    heads: list[tuple[int, bool, str, str]] = field(default_factory=list)
    """(size, ok, reason zh, reason en) per tree head."""

    @property
    def ok(self) -> bool:
        return self.chain.ok and all(ok for _, ok, _, _ in self.heads)


def verify_bundle(directory: Path) -> BundleCheck:
    """Check an export folder offline (chain, signatures, roots)."""
    directory = Path(directory)
    check = BundleCheck(chain=verify_file(directory / ENTRIES))
    jwks = json.loads((directory / JWKS).read_text(encoding="utf-8"))
    leaves, _ = _leaves(directory)
    tree = merkle.SubtreeHashes(leaves) if check.chain.ok else None
    for document in read_heads(directory / HEADS):
        size = int(document.get("tree_size", -1))
        try:
            head = verify_tree_head(document, jwks)
        except TreeHeadInvalid as problem:
            check.heads.append((size, False, problem.reason_zh, problem.reason_en))
            continue
        if tree is None:
            continue
        if head.tree_size > tree.size:
            key = "audit.cli.head_past_end"
        elif tree.root(head.tree_size) != head.root:
            key = "audit.cli.head_root_mismatch"
        else:
            params = {"size": size, "root": head.root_hash}
            check.heads.append(
                (
                    size,
                    True,
                    t("audit.cli.head_ok", "zh-TW", **params),
                    t("audit.cli.head_ok", "en", **params),
                )
            )
            continue
        check.heads.append((size, False, t(key, "zh-TW"), t(key, "en")))
    return check


def _find(documents: list[dict[str, Any]], entry: str) -> dict[str, Any]:
    """The one entry ``entry`` names (as :func:`onceonly.audit.log.seqs_named` does in the
    database); ``LookupError`` in words when it names none, or several."""
    wanted = entry.strip()
    if wanted.isdigit():
        found = [d for d in documents if d["seq"] == int(wanted)]
    else:
        found = [
            d for d in documents if d["entry_hash"] == wanted.lower() or d["request_id"] == wanted
        ]
    if not found:
        raise LookupError(one_line(both("audit.cli.no_entry", entry=entry)))
    if len(found) > 1:
        seqs = ", ".join(str(d["seq"]) for d in found)
        raise LookupError(one_line(both("audit.cli.entry_ambiguous", entry=entry, seqs=seqs)))
    return found[0]


def prove_from_bundle(directory: Path, entry: str, tree_size: int | None = None) -> dict[str, Any]:
    """The proof document of ``entry`` (seq number, entry hash or request id) against the
    newest head of the folder (or the head of ``tree_size``). Raises ``LookupError`` with a
    message for people when the entry or a usable head is missing."""
    directory = Path(directory)
    leaves, documents = _leaves(directory)
    found = _find(documents, entry)
    jwks = json.loads((directory / JWKS).read_text(encoding="utf-8"))
    heads = [
        h
        for h in read_heads(directory / HEADS)
        if found["seq"] <= int(h.get("tree_size", 0)) <= len(leaves)
        and (tree_size is None or int(h["tree_size"]) == tree_size)
    ]
    if not heads:
        raise LookupError(one_line(both("audit.cli.no_heads", size=tree_size or len(leaves))))
    head = verify_tree_head(max(heads, key=lambda h: int(h["tree_size"])), jwks)
    tree = merkle.SubtreeHashes(leaves)
    index = found["seq"] - 1
    proof = InclusionProof(
        seq=found["seq"],
        leaf_index=index,
        tree_size=head.tree_size,
        entry_hash=found["entry_hash"],
        leaf_hash=leaves[index],
        path=tree.inclusion(index, head.tree_size),
        root=tree.root(head.tree_size),
    )
    member = next((k for k in jwks.get("keys", []) if k.get("kid") == head.kid), None)
    return proof_document(found, proof, head, member)
