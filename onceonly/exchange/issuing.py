"""What a request hands out: one transcript signed by each owner, the audit entries written
durably before anything leaves, and the answer (or the problem document when nothing could
be issued)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from onceonly import cache_versions, observability
from onceonly.audit.log import AuditRecord
from onceonly.catalog import service as catalog
from onceonly.db import utcnow
from onceonly.domain import subjects
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import Problem
from onceonly.exchange.context import Actor, Exchange
from onceonly.exchange.display import evidence_names, transcript_display
from onceonly.exchange.minimise import minimise
from onceonly.exchange.piece import Piece
from onceonly.exchange.schemas import (
    EvidenceResponse,
    EvidenceResult,
    IssuedTranscript,
    Reason,
)
from onceonly.exchange.transcript import TranscriptClaims, sign_transcript
from onceonly.i18n import both, normalise_language, t
from onceonly.providers.base import PredicateAnswer


def sign(
    exchange: Exchange,
    cat: catalog.CachedCatalog,
    pieces: list[Piece],
    actor: Actor,
    item_code: str,
    subject: str,
    case_id: str,
    request_id: str,
    versions: cache_versions.Versions,
) -> None:
    """Each owner here signs what it answered with its own key: one transcript per owner;
    other nodes' transcripts (signed there, verified on arrival) follow this node's."""
    now = utcnow().replace(microsecond=0)
    expires = now + timedelta(days=exchange.settings.transcript_valid_days)
    with exchange.sessions() as session:
        signers = exchange.signing_keys.ensure_keys(
            session,
            exchange.settings,
            versions,
            [o for p in pieces if p.live for o, outcome in p.outcomes.items() if outcome],
        )
        for piece in pieces:
            for owner, outcome in piece.outcomes.items() if piece.live else ():
                if outcome is None:
                    continue
                decision = piece.decisions[owner]
                key = signers[owner]
                predicate = None
                fields = None
                if isinstance(outcome, PredicateAnswer):
                    predicate = {
                        "code": piece.predicate,
                        "params": piece.params,
                        "answer": outcome.value,
                        "as_of": outcome.as_of,
                        **({"detail": dict(outcome.detail)} if outcome.detail else {}),
                    }
                else:
                    fields = minimise(outcome.fields, decision.fields)
                claims = TranscriptClaims(
                    issuer=owner,
                    subject=subject,
                    dataset=piece.dataset.code,
                    fields=fields,
                    predicate=predicate,
                    application_item=item_code,
                    legal_basis=decision.legal_basis or piece.legal_basis or "",
                    case_id=case_id,
                    request_id=request_id,
                    requester_agency=actor.agency,
                    requester_badge=actor.badge,
                    issued_at=now,
                    expires_at=expires,
                    display=transcript_display(
                        session,
                        cat,
                        owner,
                        piece.dataset,
                        fields or (),
                        piece.predicate,
                        piece.params,
                    ),
                )
                piece.transcripts.append(
                    IssuedTranscript(
                        owner=owner,
                        kid=key.kid,
                        jws=sign_transcript(key, claims),
                        expires_at=expires.isoformat(),
                    )
                )
            if piece.live and piece.elsewhere is not None:
                piece.transcripts.extend(piece.elsewhere.transcripts())
        if session.new or session.dirty:
            session.commit()


_DECISION_OF = {
    "issued": "allowed",
    "awaiting_preview": "allowed",
    "denied": "denied",
    "not_required": "denied",
}


def audit(
    exchange: Exchange,
    pieces: list[Piece],
    actor: Actor,
    item_code: str,
    subject: str,
    case_id: str,
    request_id: str,
    about: subjects.Subject | None = None,
) -> None:
    """One entry per asked piece, all durably written before anything is returned. About a
    parcel, building or house number, the entry's subject is the case's citizen and
    ``details.about`` names the thing asked about. A predicate about a second person (the
    other of a kinship) also writes an entry in that person's name: their record was read
    too, and their own "who looked" page must show it."""
    records = []
    for piece in pieces:
        first = piece.decisions.get(piece.owners[0]) if piece.owners else None
        record = AuditRecord(
            event="evidence.request",
            request_id=request_id,
            actor_username=actor.username,
            actor_badge=actor.badge,
            actor_role=actor.role,
            actor_agency=actor.agency,
            application_item=item_code,
            case_id=case_id,
            subject=subject,
            dataset=piece.dataset.code,
            fields=list(first.fields) if first and not piece.predicate else [],
            predicate=piece.predicate,
            predicate_params=piece.params if piece.predicate else {},
            owner_agency=",".join(piece.owners),
            legal_basis=(first.legal_basis if first else None) or piece.legal_basis or "",
            decision=_DECISION_OF.get(piece.status, "failed"),
            reason_zh=piece.reason.get("zh-TW", ""),
            reason_en=piece.reason.get("en", ""),
            details={
                **actor.audit_details(),
                "status": piece.status,
                "rule_ids": piece.rule_ids,
                "withheld": list(piece.withheld),
                "transcript_kids": [tr.kid for tr in piece.transcripts],
                "routed_by": "household_registration.jurisdiction"
                if piece.routed_by_residence
                else None,
                **({"forwarded": True} if piece.remote_owner else {}),
                **({"nodes": piece.elsewhere.audit_details()} if piece.elsewhere else {}),
                **({"preview_id": piece.preview_id} if piece.preview_id else {}),
                **({"about": about.key} if about else {}),
            },
        )
        records.append(record)
        records += [
            replace(record, subject=other, details={**record.details, "named_as": name})
            for name, other in _other_people(piece)
        ]
    assert exchange.audit is not None
    exchange.audit.append(records)
    for piece in pieces:
        observability.EVIDENCE_DECISIONS.labels(piece.status).inc()


def _other_people(piece: Piece) -> list[tuple[str, str]]:
    """(parameter, national ID) of each other person a predicate was asked about."""
    if not piece.predicate:
        return []
    return [
        (name, str(piece.params[name]))
        for name, kind in piece.declared.items()
        if kind == "national_id" and piece.params.get(name)
    ]


def respond(
    pieces: list[Piece],
    request_id: str,
    case_id: str,
    item_code: str,
    subject: str,
    lang: str | None,
    about: subjects.Subject | None = None,
) -> EvidenceResponse:
    response = EvidenceResponse(
        request_id=request_id,
        case_id=case_id,
        application_item=item_code,
        subject_masked=mask_national_id(subject),
        about=about.label() if about else None,
        results=[
            EvidenceResult(
                evidence_type=piece.evidence_type,
                dataset=piece.dataset.code,
                predicate=piece.predicate,
                status=piece.status,  # type: ignore[arg-type]
                owners=piece.owners,
                rule_ids=piece.rule_ids,
                reason=Reason.model_validate(piece.reason or both("exchange.issued")),
                answer=piece.answer,
                answer_detail=piece.detail,
                fields=piece.record,
                withheld_fields=list(piece.withheld),
                transcripts=piece.transcripts,
                paper_name=piece.paper_name,
                retry_after=piece.retry_after,
                cause=piece.cause,  # type: ignore[arg-type]
            )
            for piece in pieces
        ],
    )
    if not any(r.status in ("issued", "awaiting_preview") for r in response.results):
        named = [evidence_names(piece.dataset, piece.predicate) for piece in pieces]
        raise _nothing_issued(response, named, lang)
    return response


def _nothing_issued(
    response: EvidenceResponse, named: list[dict[str, str]], lang: str | None
) -> Problem:
    """When nothing could be issued the answer is a problem document that still lists why for
    each piece, by its name (``named``: each result's dataset or predicate in each language,
    never its code): 503 with a retry hint if an owner was down or slow (retrying can help),
    502 if an owner's answer could not be used (refused by its gateway or node, a transcript
    that does not verify: retrying the same request cannot help), 404 when no owner holds a
    record, else 403."""
    statuses = {r.status for r in response.results}
    body: Mapping[str, Any] = response.model_dump(mode="json", by_alias=True)
    chosen = normalise_language(lang)
    detail = t("exchange.piece_reasons_separator", chosen).join(
        t(
            "exchange.piece_reason",
            chosen,
            evidence=names[chosen],
            reason=r.reason.en if chosen == "en" else r.reason.zh_TW,
        )
        for r, names in zip(response.results, named, strict=True)
    )
    transient = [r for r in response.results if r.retry_after or r.status == "unavailable"]
    if transient:
        return Problem(
            503,
            "owner-unavailable",
            t("exchange.owner_unavailable_title", lang),
            detail,
            retry_after=max(r.retry_after or 30 for r in transient),
            extra=dict(body),
        )
    if "failed" in statuses:
        return Problem(
            502, "owner-failed", t("exchange.owner_failed_title", lang), detail, extra=dict(body)
        )
    if statuses <= {"not_found"}:
        return Problem(
            404, "no-record", t("exchange.no_record_title", lang), detail, extra=dict(body)
        )
    return Problem(403, "no-rule", t("exchange.denied_title", lang), detail, extra=dict(body))
