"""The provable log over HTTP: signed tree heads, inclusion proofs, consistency proofs.

Tree heads and consistency proofs are public: they are sizes, hashes, times and signatures,
and whoever keeps copies of them is what makes rewriting the log detectable. An inclusion proof
carries the entry itself, so only auditors and the citizen the entry is about may fetch it;
the citizen's copy is redacted (the clerk by badge and commitment, never by username).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from onceonly.accounts.deps import CurrentUser
from onceonly.accounts.tenancy import scope_of
from onceonly.audit.proofs import build_proof, proof_for_subject
from onceonly.audit.tree_heads import TreeHead, tree_head_at, tree_head_for
from onceonly.audit.tree_store import (
    TreeIncomplete,
    consistency_proof,
    proof_entry,
    root_hash,
    tree_size,
)
from onceonly.audit.verify import ActorNotRedactable
from onceonly.config import Settings
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t
from onceonly.web.deps import Db, get_language, settings_of
from onceonly.web.params import MAX_INTEGER, PositiveId, SizeInPath

router = APIRouter(tags=["audit"])

AppSettings = Annotated[Settings, Depends(settings_of)]
AUDITOR_ROLES = ("auditor", "admin")


class TreeHeadOut(BaseModel):
    tree_size: int
    root_hash: str
    timestamp: str
    kid: str
    signature: str

    @classmethod
    def of(cls, head: TreeHead) -> TreeHeadOut:
        return cls(**head.as_document())


class ConsistencyOut(BaseModel):
    first: int
    second: int
    consistency_path: list[str]
    first_root: str
    second_root: str
    first_head: TreeHeadOut | None = None
    """The signed head of that size, when one was published."""
    second_head: TreeHeadOut | None = None


def _head(db: Session, settings: Settings, size: int | None, lang: str) -> TreeHead:
    """The newest head (signed now if the log grew), or the stored head of ``size``: an
    anonymous caller cannot make the node sign heads for every past size."""
    head = tree_head_for(db, settings, None) if size is None else tree_head_at(db, size)
    if head is None:
        raise not_found(t("audit.tree.no_head", lang, size=size, entries=tree_size(db)))
    return head


@router.get(
    "/api/v1/audit/tree-heads/latest",
    response_model=TreeHeadOut,
    summary="Newest signed tree head of the audit log (public)",
    description=(
        "Size and Merkle root (RFC 9162) of the whole log, signed by the platform audit key "
        "published at /.well-known/jwks.json. Signed on request when the log has grown."
    ),
)
def latest_head(request: Request, db: Db, settings: AppSettings) -> TreeHeadOut:
    return TreeHeadOut.of(_head(db, settings, None, get_language(request)))


@router.get(
    "/api/v1/audit/tree-heads/{size}",
    response_model=TreeHeadOut,
    summary="Signed tree head of the first SIZE entries (public)",
    description="Heads are stored at the sizes they were signed at; others answer 404.",
)
def head_at(request: Request, size: SizeInPath, db: Db, settings: AppSettings) -> TreeHeadOut:
    return TreeHeadOut.of(_head(db, settings, size, get_language(request)))


@router.get(
    "/api/v1/audit/consistency",
    response_model=ConsistencyOut,
    summary="Consistency proof between two tree heads (public)",
    description="RFC 9162 §2.1.4: proves the log of FIRST entries is a prefix of SECOND's.",
)
def consistency(
    request: Request,
    db: Db,
    settings: AppSettings,
    first: Annotated[int, Query(ge=0, le=MAX_INTEGER)],
    second: Annotated[int, Query(ge=0, le=MAX_INTEGER)],
) -> ConsistencyOut:
    lang = get_language(request)
    if first > second:
        raise validation_problem([FieldError("first", t("audit.tree.bad_range", lang))], lang)
    try:
        path = consistency_proof(db, first, second)
        roots = root_hash(db, first), root_hash(db, second)
    except TreeIncomplete as error:
        raise not_found(
            t("audit.tree.no_head", lang, size=second, entries=tree_size(db))
        ) from error
    heads = [tree_head_at(db, size) for size in (first, second)]
    return ConsistencyOut(
        first=first,
        second=second,
        consistency_path=[h.hex() for h in path],
        first_root=roots[0].hex(),
        second_root=roots[1].hex(),
        first_head=TreeHeadOut.of(heads[0]) if heads[0] else None,
        second_head=TreeHeadOut.of(heads[1]) if heads[1] else None,
    )


SubjectOf = Callable[[Any], str | None]
"""The national ID an account stands for (None for anyone but a citizen): the citizens'
capability answers it (``onceonly.citizens.accounts.national_id_of``), wired by the app factory
as ``app.state.subject_of``; the audit never imports it."""


def may_read_entry(user: Any, entry: dict[str, Any], subject_of: SubjectOf | None) -> bool:
    """Auditors (and a tenant's administrators) read the entries of their tenant; a citizen
    reads the entries about themselves (none, when no ``subject_of`` is wired)."""
    subject = entry.get("subject")
    if user.role in AUDITOR_ROLES:
        return scope_of(user).sees_entry(entry.get("actor_agency"), entry.get("owner_agency"))
    return subject is not None and subject_of is not None and subject_of(user) == subject


def names_clerk_problem(seq: int, lang: str) -> Problem:
    """Why a citizen gets no proof of a format-1 entry by a clerk (see ``proof_for_subject``)."""
    return Problem(
        403,
        "proof-would-name-clerk",
        t("audit.tree.names_clerk_title", lang),
        t("audit.tree.names_clerk", lang, seq=seq),
        extra={"seq": seq, "entry_format": 1},
    )


@router.get(
    "/api/v1/audit/entries/{seq}/proof",
    summary="Inclusion proof of one entry (auditors, or the citizen it is about)",
    description=(
        "A proof document: the entry, its audit path and the signed tree head it leads to. "
        "Check it offline with `onceonly audit prove --verify FILE`. Auditors get the entry "
        "in full; the citizen gets it redacted (no clerk username or salt, the salted "
        "`actor_commitment` instead), and 403 for an older (format 1) entry by a clerk, "
        "whose every verifiable proof would name the clerk."
    ),
)
def entry_proof(
    request: Request,
    seq: PositiveId,
    user: CurrentUser,
    db: Db,
    settings: AppSettings,
    tree_size_: Annotated[int | None, Query(alias="tree_size", ge=1, le=MAX_INTEGER)] = None,
) -> JSONResponse:
    lang = get_language(request)
    entry = proof_entry(db, seq)
    subject_of = getattr(request.app.state, "subject_of", None)
    if entry is None or not may_read_entry(user, entry, subject_of):
        raise not_found(t("audit.tree.no_entry", lang, seq=seq), lang)
    try:
        if user.role in AUDITOR_ROLES:
            document = build_proof(db, settings, seq, tree_size_, redact=False)
        else:
            document = proof_for_subject(db, settings, seq, user.username, tree_size_)
    except ActorNotRedactable as older:
        raise names_clerk_problem(seq, lang) from older
    except (LookupError, TreeIncomplete) as error:
        raise Problem(404, "no-tree-head", t("audit.tree.no_proof", lang), str(error)) from error
    assert document is not None
    headers = {"Content-Disposition": f'inline; filename="audit-proof-{seq}.json"'}
    if request.query_params.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="audit-proof-{seq}.json"'
    return JSONResponse(document, headers=headers)
