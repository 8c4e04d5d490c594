"""What a case holds from the exchange: evidence pieces recorded against its slots, and the
answers looked up about a parcel, building or house number under the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.cases.fields import field_problem
from onceonly.cases.holding import CarriedPiece, audit_carried_reads, sight
from onceonly.cases.models import Case, CaseEvidence, CaseThingAnswer
from onceonly.cases.schemas import CaseView
from onceonly.cases.state import (
    CaseActor,
    add_agency,
    add_event,
    after_change,
    load_case,
    move_case,
    require_handler,
    require_reader,
    start_gathering,
)
from onceonly.cases.views import evidence_slots, has_expired, now_or_given
from onceonly.db import as_utc
from onceonly.exchange.schemas import EvidenceResponse, EvidenceResult


def _results_of(
    case: Case, results: EvidenceResponse | Sequence[EvidenceResult], lang: str | None
) -> tuple[list[EvidenceResult], str | None]:
    if isinstance(results, EvidenceResponse):
        if results.case_id.upper() != case.number:
            raise field_problem(
                "case_id",
                "cases.evidence.other_case",
                lang,
                got=results.case_id,
                number=case.number,
            )
        return list(results.results), results.request_id
    return list(results), None


def record_evidence(
    session: Session,
    actor: CaseActor,
    number: str,
    results: EvidenceResponse | Sequence[EvidenceResult],
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Keep what the exchange returned for the case, one timeline entry per piece.

    Issued evidence replaces what was held; a failed fetch never discards evidence that is
    still valid, and a scanned paper stays attached whatever the fetch says.
    """
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    target = move_case(session, case, "gather", lang)
    items, request_id = _results_of(case, results, lang)
    moment = now_or_given(now)
    before = start_gathering(session, case, target, actor, moment)
    slots = {row.evidence_type: row for row in evidence_slots(session, case)}
    for result in items:
        row = slots.get(result.evidence_type)
        if row is None:
            continue
        kept = result.status != "issued" and row.status == "issued" and not has_expired(row, moment)
        if not kept:
            _store_result(row, result, actor, moment, request_id)
        if result.status == "issued":
            for owner in result.owners:
                add_agency(session, case, owner, "owner")
        add_event(
            session,
            case,
            "evidence_fetched",
            actor,
            moment,
            evidence_type=result.evidence_type,
            status=result.status,
            owners=list(result.owners),
            reason_zh=result.reason.zh_TW,
            reason_en=result.reason.en,
            kept_previous=kept,
            request_id=request_id,
        )
    return after_change(session, case, actor, before, moment, lang)


@dataclass(frozen=True)
class HeldLookup:
    """One kept piece of an answer about a parcel, building or house number."""

    id: int
    kind: str
    about: str
    evidence_type: str
    dataset: str
    status: str
    reason_zh: str
    reason_en: str
    owners: tuple[str, ...]
    fields: dict[str, Any] | None
    withheld_fields: tuple[str, ...]
    transcripts: tuple[str, ...]
    """The owners' signed transcripts (JWS), as issued."""
    fetched_by: str
    fetched_at: datetime
    held_by: str | None = None
    """The agency holding the content when the reader's may not see it (see
    :mod:`onceonly.cases.holding`); ``fields`` and ``transcripts`` are then empty."""


def record_lookup(
    session: Session,
    actor: CaseActor,
    number: str,
    kind: str,
    response: EvidenceResponse,
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Keep on the case what the exchange answered about a parcel, building or house number
    (issue 17): per piece, the fields the owner's rule let out and the signed transcripts
    exactly as returned, one timeline entry per piece naming the thing and the offices.
    Asking about the same thing again replaces the pieces; a failure keeps no fields."""
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    target = move_case(session, case, "gather", lang)
    items, request_id = _results_of(case, response, lang)
    moment = now_or_given(now)
    before = start_gathering(session, case, target, actor, moment)
    about = (response.about or "").strip()
    held = {
        (row.about, row.evidence_type): row
        for row in session.scalars(
            select(CaseThingAnswer).where(CaseThingAnswer.case_id == case.id)
        )
    }
    for result in items:
        row = held.get((about, result.evidence_type))
        if row is None:
            row = CaseThingAnswer(case_id=case.id, about=about, evidence_type=result.evidence_type)
            session.add(row)
        issued = result.status == "issued"
        row.kind = kind
        row.dataset = result.dataset
        row.status = result.status
        row.reason_zh = result.reason.zh_TW
        row.reason_en = result.reason.en
        row.owners = list(result.owners)
        row.fields = result.fields if issued else None
        row.withheld_fields = list(result.withheld_fields) if issued else []
        row.transcripts = [tr.model_dump() for tr in result.transcripts] if issued else []
        row.request_id = request_id
        row.fetched_by = actor.username
        row.fetched_agency = actor.agency
        row.fetched_at = moment
        if issued:
            for owner in result.owners:
                add_agency(session, case, owner, "owner")
        add_event(
            session,
            case,
            "looked_up",
            actor,
            moment,
            thing=kind,
            about=about,
            evidence_type=result.evidence_type,
            dataset=result.dataset,
            status=result.status,
            owners=list(result.owners),
            reason_zh=result.reason.zh_TW,
            reason_en=result.reason.en,
            request_id=request_id,
        )
    return after_change(session, case, actor, before, moment, lang)


def lookups(
    session: Session, actor: CaseActor, number: str, *, lang: str | None = None
) -> list[HeldLookup]:
    """The answers about things kept on the case (read as the clerk may read the case, the
    content only where its agency may see it, a carried one's read audited), the latest
    asked first."""
    case = load_case(session, number, lang, actor)
    require_reader(session, case, actor, lang)
    seen = sight(session, case, actor.agency)
    rows = list(
        session.scalars(
            select(CaseThingAnswer)
            .where(CaseThingAnswer.case_id == case.id)
            .order_by(CaseThingAnswer.fetched_at.desc(), CaseThingAnswer.id)
        )
    )
    issued = [row for row in rows if row.status == "issued"]
    audit_carried_reads(
        session,
        case,
        actor,
        [
            CarriedPiece(
                kind="lookup",
                key=str(row.id),
                fetched_at=as_utc(row.fetched_at),
                fetched_agency=seen.fetcher(as_utc(row.fetched_at), row.fetched_agency),
                subject=case.subject,
                dataset=row.dataset,
                fields=list(row.fields or {}),
                predicate=row.evidence_type if row.evidence_type != row.dataset else None,
                owners=list(row.owners),
                request_id=row.request_id,
            )
            for row in issued
            if seen.carried(row.fetched_at, row.fetched_agency)
        ],
    )
    held = []
    for row in rows:
        shown = row.status != "issued" or seen.sees(row.fetched_at, row.fetched_agency)
        held.append(
            HeldLookup(
                id=row.id,
                kind=row.kind,
                about=row.about,
                evidence_type=row.evidence_type,
                dataset=row.dataset,
                status=row.status,
                reason_zh=row.reason_zh or "",
                reason_en=row.reason_en or "",
                owners=tuple(row.owners),
                fields=row.fields if shown else None,
                withheld_fields=tuple(row.withheld_fields) if shown else (),
                transcripts=tuple(str(tr["jws"]) for tr in row.transcripts) if shown else (),
                fetched_by=row.fetched_by,
                fetched_at=as_utc(row.fetched_at),
                held_by=None if shown else seen.fetcher(as_utc(row.fetched_at), row.fetched_agency),
            )
        )
    return held


def _store_result(
    row: CaseEvidence,
    result: EvidenceResult,
    actor: CaseActor,
    moment: datetime,
    request_id: str | None,
) -> None:
    issued = result.status == "issued"
    transcripts = [tr.model_dump() for tr in result.transcripts] if issued else []
    row.status = result.status
    row.reason_zh = result.reason.zh_TW
    row.reason_en = result.reason.en
    row.owners = list(result.owners)
    row.answer = result.answer if issued else None
    row.fields = result.fields if issued else None
    row.withheld_fields = list(result.withheld_fields) if issued else []
    row.transcripts = transcripts
    row.request_id = request_id
    row.retry_after = result.retry_after
    row.cause = result.cause
    row.fetched_by = actor.username
    row.fetched_agency = actor.agency
    row.fetched_at = moment
    expiries = [datetime.fromisoformat(tr["expires_at"]) for tr in transcripts]
    row.expires_at = min((as_utc(e) for e in expiries), default=None)
