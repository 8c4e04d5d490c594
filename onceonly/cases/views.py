"""A case as its readers see it: the views built from its rows (evidence slots, expiry, the
summary a queue lists) and the measures a case keeps for the statistics.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.cases.models import Case, CaseAgency, CaseEvidence
from onceonly.cases.schemas import (
    CaseEvidenceView,
    CaseView,
    Measures,
    PaperView,
    TranscriptView,
)
from onceonly.db import as_utc, utcnow
from onceonly.domain.national_id import mask_national_id


def now_or_given(now: datetime | None) -> datetime:
    """Stored times are UTC (SQLite keeps the wall-clock digits only)."""
    return (now or utcnow()).astimezone(UTC)


def has_expired(row: CaseEvidence, now: datetime) -> bool:
    return row.expires_at is not None and as_utc(row.expires_at) <= now


def evidence_view(row: CaseEvidence, now: datetime) -> CaseEvidenceView:
    issued = row.status == "issued"
    expired = issued and has_expired(row, now)
    satisfied = "online" if issued and not expired else ("paper" if row.paper_sha256 else None)
    paper = None
    if row.paper_sha256 and row.paper_attached_at and row.paper_attached_by:
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
        answer=row.answer,
        fields=row.fields,
        withheld_fields=list(row.withheld_fields or []),
        transcripts=[TranscriptView.model_validate(tr) for tr in row.transcripts or []],
        retry_after=row.retry_after,
        cause=row.cause,
        fetched_by=row.fetched_by,
        fetched_agency=row.fetched_agency,
        fetched_at=as_utc(row.fetched_at) if row.fetched_at else None,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        paper=paper,
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


def case_view(session: Session, case: Case, now: datetime | None = None) -> CaseView:
    moment = now_or_given(now)
    return CaseView(
        **summary_fields(case),
        subject=case.subject,
        opening_agency=case.opening_agency,
        contact_email=case.contact_email,
        contact_mobile=case.contact_mobile,
        contact_language=case.contact_language,
        decision_reason=case.decision_reason,
        decided_by=case.decided_by,
        decided_at=as_utc(case.decided_at) if case.decided_at else None,
        closed_at=as_utc(case.closed_at) if case.closed_at else None,
        evidence=[evidence_view(row, moment) for row in evidence_slots(session, case)],
    )


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
