"""A case as its readers see it: the views built from its rows (evidence slots, expiry, the
summary a queue lists), each piece's content only where the reader's agency may see it
(:mod:`onceonly.cases.holding`), and the measures a case keeps for the statistics.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.cases.holding import CarriedPiece, Sight, audit_carried_reads, sight
from onceonly.cases.models import Case, CaseAgency, CaseEvidence
from onceonly.cases.schemas import (
    CaseEvidenceView,
    CaseView,
    Measures,
    PaperView,
    TranscriptView,
)
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.domain.national_id import mask_national_id

if TYPE_CHECKING:
    from onceonly.cases.state import CaseActor


def now_or_given(now: datetime | None) -> datetime:
    """Stored times are UTC (SQLite keeps the wall-clock digits only)."""
    return (now or utcnow()).astimezone(UTC)


def has_expired(row: CaseEvidence, now: datetime) -> bool:
    return row.expires_at is not None and as_utc(row.expires_at) <= now


def evidence_view(row: CaseEvidence, now: datetime, seen: Sight | None = None) -> CaseEvidenceView:
    """The piece as a reader whose agency has ``seen`` sees it (``None``: all of it): its
    status always, its content (fields, answer, transcripts, the scan) only if held."""
    issued = row.status == "issued"
    expired = issued and has_expired(row, now)
    satisfied = "online" if issued and not expired else ("paper" if row.paper_sha256 else None)
    fetched = seen is None or not issued or seen.sees(row.fetched_at, row.fetched_agency)
    scanned = seen is None or not row.paper_attached_at or seen.sees(row.paper_attached_at)
    held_by = None
    if not fetched:
        held_by = row.fetched_agency
    elif not scanned and seen is not None and row.paper_attached_at:
        held_by = seen.fetcher(as_utc(row.paper_attached_at))
    paper = None
    if scanned and row.paper_sha256 and row.paper_attached_at and row.paper_attached_by:
        paper = PaperView(
            filename=row.paper_filename or "",
            sha256=row.paper_sha256,
            size=row.paper_size or 0,
            content_type=row.paper_content_type or "",
            attached_by=row.paper_attached_by,
            attached_at=as_utc(row.paper_attached_at),
        )
    return CaseEvidenceView(
        evidence_type=row.evidence_type,
        dataset=row.dataset,
        paper_name_zh=row.paper_name_zh,
        paper_name_en=row.paper_name_en,
        satisfied_by=satisfied,  # type: ignore[arg-type]
        needs_refresh=expired,
        status=row.status,
        reason_zh=row.reason_zh,
        reason_en=row.reason_en,
        owners=list(row.owners or []),
        answer=row.answer if fetched else None,
        fields=row.fields if fetched else None,
        withheld_fields=list(row.withheld_fields or []) if fetched else [],
        transcripts=[TranscriptView.model_validate(tr) for tr in row.transcripts or []]
        if fetched
        else [],
        retry_after=row.retry_after,
        cause=row.cause,
        fetched_by=row.fetched_by,
        fetched_agency=row.fetched_agency,
        fetched_at=as_utc(row.fetched_at) if row.fetched_at else None,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        paper=paper,
        held_by=held_by,
    )


def summary_fields(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "application_item": case.application_item,
        "agency": case.agency,
        "state": case.state,
        "decision": case.decision,
        "subject_masked": (
            mask_national_id(case.subject) if case.subject else case.service_request_id or ""
        ),
        "opening_agency": case.opening_agency,
        "opened_by": case.opened_by,
        "opened_at": as_utc(case.opened_at),
        "updated_at": as_utc(case.updated_at),
        "service_request_id": case.service_request_id,
    }


def evidence_slots(session: Session, case: Case) -> list[CaseEvidence]:
    return list(
        session.scalars(
            select(CaseEvidence)
            .where(CaseEvidence.case_id == case.id)
            .order_by(CaseEvidence.position)
        )
    )


def case_view(
    session: Session, case: Case, now: datetime | None = None, reader: CaseActor | None = None
) -> CaseView:
    """The case as ``reader`` may see it, each carried piece shown audited (in the caller's
    transaction); without a reader, all of it (the node's own reads: a 1999 request's
    status, which holds no evidence)."""
    moment = now_or_given(now)
    rows = evidence_slots(session, case)
    seen = sight(session, case, reader.agency) if reader is not None else None
    if reader is not None and seen is not None:
        carried = carried_evidence(session, case, rows, seen) + carried_scans(
            session, case, rows, seen
        )
        audit_carried_reads(session, case, reader, carried)
    return CaseView(
        **summary_fields(case),
        subject=case.subject,
        contact_email=case.contact_email,
        contact_mobile=case.contact_mobile,
        contact_language=case.contact_language,
        decision_reason=case.decision_reason,
        decided_by=case.decided_by,
        decided_at=as_utc(case.decided_at) if case.decided_at else None,
        closed_at=as_utc(case.closed_at) if case.closed_at else None,
        evidence=[evidence_view(row, moment, seen) for row in rows],
    )


def carried_evidence(
    session: Session, case: Case, rows: list[CaseEvidence], seen: Sight
) -> list[CarriedPiece]:
    """The issued pieces ``seen``'s agency reads but another agency fetched."""
    pieces = [
        row
        for row in rows
        if row.status == "issued" and seen.carried(row.fetched_at, row.fetched_agency)
    ]
    if not pieces:
        return []
    bases = legal_bases(session, case)
    return [
        CarriedPiece(
            kind="evidence",
            key=row.evidence_type,
            fetched_at=as_utc(row.fetched_at),
            fetched_agency=seen.fetcher(as_utc(row.fetched_at), row.fetched_agency),
            subject=case.subject,
            dataset=row.dataset,
            fields=list(row.fields or {}),
            predicate=row.evidence_type if row.evidence_type != row.dataset else None,
            owners=list(row.owners or []),
            legal_basis=bases.get(row.evidence_type),
            request_id=row.request_id,
        )
        for row in pieces
        if row.fetched_at is not None
    ]


def legal_bases(session: Session, case: Case) -> dict[str, str]:
    """The legal basis of each evidence type the case's item requires."""
    item = catalog.get_application_item(session, case.application_item)
    needs = item.required_evidence if item else ()
    return {(r.predicate or r.dataset): r.legal_basis for r in needs}


def carried_scans(
    session: Session, case: Case, rows: list[CaseEvidence], seen: Sight
) -> list[CarriedPiece]:
    """The scans ``seen``'s agency reads (the file, or its name, hash and size on the case)
    but another agency attached: the one holding the case when it was attached. A scan
    stands for a piece of evidence the citizen brought on paper; nothing in it came from an
    owner (no owners, no fields). A replaced scan is new content, read anew."""
    scans = [
        row
        for row in rows
        if row.paper_sha256 and row.paper_attached_at and seen.carried(row.paper_attached_at)
    ]
    if not scans:
        return []
    bases = legal_bases(session, case)
    return [
        CarriedPiece(
            kind="scan",
            key=row.evidence_type,
            fetched_at=as_utc(row.paper_attached_at),
            fetched_agency=seen.fetcher(as_utc(row.paper_attached_at)),
            subject=case.subject,
            dataset=row.dataset,
            legal_basis=bases.get(row.evidence_type),
            sha256=row.paper_sha256,
            name_zh=row.paper_name_zh,
            name_en=row.paper_name_en,
        )
        for row in scans
        if row.paper_attached_at is not None
    ]


def refresh_measures(session: Session, case: Case) -> None:
    """Keep the stored measures current; see :func:`measures` for their meaning."""
    result = measure_case(session, case)
    case.evidence_online = result.evidence_online
    case.evidence_paper = result.paper_required
    case.agencies_involved = result.agencies_involved


def measure_case(session: Session, case: Case) -> Measures:
    slots = evidence_slots(session, case)
    online = sum(1 for row in slots if row.status == "issued")
    attached = sum(1 for row in slots if row.status != "issued" and row.paper_sha256)
    session.flush()
    agencies = sorted(
        set(session.scalars(select(CaseAgency.agency).where(CaseAgency.case_id == case.id)))
    )
    return Measures(
        evidence_required=len(slots),
        evidence_online=online,
        paper_required=len(slots) - online,
        paper_attached=attached,
        paper_missing=len(slots) - online - attached,
        decision_seconds=case.decision_seconds,
        agencies_involved=len(agencies),
        agencies=agencies,
    )
