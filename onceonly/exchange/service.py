"""Evidence requests: policy decision, fetch at the owner, minimise, sign, audit, return.

The order is the product's promise: nothing is fetched without an approved rule of the owner,
nothing leaves beyond what the rule allows, and no transcript is handed out before its audit
entry is durably written. Every asked piece ends in one status a clerk can act on: issued,
denied (which rule, or why none), unavailable (retry later), not found, not digitised (bring
paper), or not required by the application item.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from onceonly import cache_versions, observability
from onceonly.catalog import service as catalog
from onceonly.db import transaction
from onceonly.domain import subjects
from onceonly.errors import Problem
from onceonly.exchange import fetching, issuing, keys, routing
from onceonly.exchange.context import Actor, ActorOf, Exchange, exchange_for
from onceonly.exchange.piece import Piece, asked_pieces, parse_subject, parse_thing, settle_params
from onceonly.exchange.schemas import (
    EvidenceRequestIn,
    EvidenceResponse,
    IssuedTranscript,
    SubjectIn,
)
from onceonly.i18n import both, t
from onceonly.policy import alerts
from onceonly.policy import previews as preview_policy
from onceonly.policy.previews import PreviewBook, PreviewKey
from onceonly.policy.purpose import check_case
from onceonly.policy.service import Requester, RuleSource, decide

__all__ = ["Actor", "ActorOf", "Exchange", "exchange_for", "request_evidence", "transcript_keys"]


def transcript_keys(exchange: Exchange, session: Session) -> dict[str, Any]:
    """The JWK Set a transcript this node handed out may be verified with: this node's
    published keys and, on a federation node, the other nodes' keys from the directory's
    snapshot (evidence fetched across nodes is signed there)."""
    members = list(keys.published_jwks(session)["keys"])
    if exchange.remote is not None:
        members.extend(exchange.remote.peer_keys())
    return {"keys": members}


def request_evidence(
    exchange: Exchange,
    actor: Actor | ActorOf,
    body: EvidenceRequestIn,
    lang: str | None = None,
    request_id: str | None = None,
    *,
    origin_node: str | None = None,
    versions: cache_versions.Versions | None = None,
    about: subjects.Subject | None = None,
) -> EvidenceResponse:
    """Handle one evidence request (``POST /api/v1/evidence-requests``) for one clerk;
    ``request_id`` is given when another node forwarded it, so both logs share it.

    The request must belong to an open case of the clerk's agency for this item and citizen
    (:func:`onceonly.policy.purpose.check_case`). ``origin_node`` names the node that
    forwarded the request: that node checked its own case, which this node cannot see.
    ``actor`` may be an :class:`ActorOf`: a bearer token resolved here, before anything
    the caller sent is read, against the cache counters this request reads.
    ``versions``: the cache counters, when the caller has read them for this request (a
    request forwarded by another node); read here otherwise.
    ``about``: the parcel, building or house number another node forwarded a request about
    (``body.subject`` is then the case's citizen); a clerk names it in ``body.subject``."""
    # else the HTTP request's id (the proxy's X-Request-ID): its log lines and these entries
    request_id = request_id or observability.current_request_id() or str(uuid.uuid4())
    with exchange.sessions() as session:
        if versions is None:  # first: the caches below are this current
            versions = cache_versions.read(session)
        if not isinstance(actor, Actor):
            actor = actor(versions, session.rollback)  # before anything they sent is read
        if isinstance(body.subject, SubjectIn):
            about = parse_thing(body.subject, lang)
            subject = ""  # the case's citizen, read from the case below
        else:
            subject = parse_subject(body.subject, lang)
        rules = exchange.rules.source(session, versions)
        cat = exchange.catalog.check(session, versions.get(cache_versions.CATALOG))
        item = cat.application_item(session, body.application_item)
        if item is None:
            raise Problem(
                404,
                "unknown-application-item",
                t("exchange.unknown_item", lang),
                t("exchange.unknown_item_detail", lang, code=body.application_item),
            )
        if origin_node is None:
            case = check_case(
                exchange.cases,
                session,
                agency=actor.agency,
                case_id=body.case_id,
                application_item=item.code,
                subject=subject if about is None else None,
                lang=lang,
            )
            body = body.model_copy(update={"case_id": case.number})
            subject = subject or case.subject
        agency = cat.agency(session, actor.agency)
        if agency is None:
            raise Problem(
                403, "unknown-agency", t("exchange.unknown_agency", lang, agency=actor.agency)
            )
        requester = Requester(agency.code, agency.kind, agency.jurisdiction)
        pieces = asked_pieces(session, cat, item, body, lang, about)
        residence = routing.registered_jurisdiction(exchange, session, cat, pieces, subject)
        for piece in pieces:
            if piece.live and about is not None:
                routing.route_thing(session, cat, piece, about)
            elif piece.live:
                routing.route(session, cat, exchange.providers, piece, residence, exchange.remote)
            hosted_elsewhere = exchange.remote and any(map(exchange.remote.is_remote, piece.owners))
            if piece.live and piece.elsewhere is None and hosted_elsewhere:
                piece.remote_owner = piece.owners[0]
            if piece.live and not piece.remote_owner and piece.owners:
                _decide(session, cat, piece, requester, item.code, subject, body.case_id, rules)
        settle_params(pieces, lang)
        keys_of = {
            id(p): PreviewKey(subject, body.case_id, item.code, p.evidence_type, actor.agency)
            for p in pieces
        }
        for piece in pieces:
            if piece.live and any(d.preview_required for d in piece.decisions.values()):
                _check_preview(exchange.previews, session, piece, keys_of[id(piece)])
        _watch_predicates(exchange, session, pieces, subject, item.code, actor)

    asked = about.key if about else subject
    fetching.fetch(exchange, pieces, subject, body.case_id, item.code, actor, request_id, about)
    issuing.sign(exchange, cat, pieces, actor, item.code, asked, body.case_id, request_id, versions)
    _apply_previews(exchange, pieces, keys_of, actor, request_id)
    issuing.audit(exchange, pieces, actor, item.code, subject, body.case_id, request_id, about)
    return issuing.respond(pieces, request_id, body.case_id, item.code, subject, lang, about)


def _decide(
    session: Session,
    cat: catalog.CachedCatalog,
    piece: Piece,
    requester: Requester,
    item_code: str,
    subject: str,
    case_id: str,
    rules: RuleSource | None = None,
) -> None:
    """Every owner holding the piece must allow it; the first refusal stops the piece."""
    for owner in piece.owners:
        decision = decide(
            session,
            requester=requester,
            owner_agency=owner,
            dataset=piece.dataset.code,
            application_item=item_code,
            subject=subject,
            case_id=case_id,
            fields=piece.fields,
            predicate=piece.predicate,
            names=lambda code, lang: cat.name(session, code, lang),
            rules=rules,
        )
        piece.decisions[owner] = decision
        if not decision.allowed:
            piece.status = "denied"
            piece.reason = {"zh-TW": decision.reason_zh, "en": decision.reason_en}
            return
    first = piece.decisions[piece.owners[0]]
    piece.reason = {"zh-TW": first.reason_zh, "en": first.reason_en}
    piece.withheld = first.withheld


def _watch_predicates(
    exchange: Exchange,
    session: Session,
    pieces: list[Piece],
    subject: str,
    item_code: str,
    actor: Actor,
) -> None:
    """Tell the owners' auditors when one citizen is asked about with varied parameters
    (:mod:`onceonly.policy.alerts`); only predicates that take parameters can leak so. The
    asks are read in the request's ``session``; a transaction is opened only to raise."""
    asks = [
        alerts.Ask(owner, piece.dataset.code, piece.predicate, piece.params)
        for piece in pieces
        if piece.predicate and piece.declared and piece.live and not piece.remote_owner
        for owner in piece.owners
    ]
    if asks and alerts.makes_a_pattern(session, subject, asks):
        with transaction(exchange.sessions) as writing:
            alerts.note_asks(writing, subject, actor.agency, item_code, asks)


def _check_preview(
    book: PreviewBook | None, session: Session, piece: Piece, key: PreviewKey
) -> None:
    """A rule asks for the citizen's preview: the policy says what to do now
    (:func:`onceonly.policy.previews.verdict`); here the piece is set to do it."""
    verdict = preview_policy.verdict(book, session, key)
    piece.preview_id = verdict.preview_id
    if verdict.action == "hold":
        piece.preview_action = "hold"
    elif verdict.action == "release":
        piece.status = "held"
        piece.preview_action = "release"
    else:
        piece.status = "awaiting_preview" if verdict.action == "waiting" else "denied"
        piece.reason = both(verdict.reason_key, **(verdict.params or {}))


def _apply_previews(
    exchange: Exchange,
    pieces: list[Piece],
    keys_of: dict[int, PreviewKey],
    actor: Actor,
    request_id: str,
) -> None:
    """Hold freshly signed evidence for the citizen, or hand out what they approved."""
    if not any(p.preview_action for p in pieces):
        return
    book = exchange.previews
    assert book is not None  # a preview action is only ever set with a book to keep it
    with transaction(exchange.sessions) as session:
        for piece in pieces:
            if piece.preview_action == "release" and piece.preview_id is not None:
                try:
                    held = book.release(session, piece.preview_id)
                except LookupError:
                    piece.stop("failed", "citizens.preview.race", id=f"P-{piece.preview_id}")
                    continue
                piece.status = "issued"
                piece.record = held.get("fields")
                piece.answer = held.get("answer")
                piece.withheld = tuple(held.get("withheld") or ())
                piece.transcripts = [IssuedTranscript(**tr) for tr in held.get("transcripts", [])]
                piece.reason = both("citizens.preview.released", id=f"P-{piece.preview_id}")
            elif piece.preview_action == "hold" and piece.live:
                state = book.hold(
                    session,
                    keys_of[id(piece)],
                    dataset=piece.dataset.code,
                    requester_badge=actor.badge,
                    request_id=request_id,
                    held={
                        "fields": piece.record,
                        "answer": piece.answer,
                        "predicate": piece.predicate,
                        "withheld": list(piece.withheld),
                        "owners": piece.owners,
                        "transcripts": [tr.model_dump() for tr in piece.transcripts],
                    },
                )
                piece.preview_id = state.id
                piece.stop("awaiting_preview", "citizens.preview.waiting", id=state.label)
                piece.record, piece.answer, piece.transcripts = None, None, []
