"""Reading cases: one case, its timeline and measures, a queue, a search, and the plan of
what to fetch for it (the evidence not yet held validly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from onceonly.cases.fields import checked_subject
from onceonly.cases.models import Case, CaseAgency, CaseEvent
from onceonly.cases.numbering import TAIWAN
from onceonly.cases.schemas import (
    CasePage,
    CaseSummaryView,
    CaseView,
    EventView,
    Measures,
    SearchFilters,
)
from onceonly.cases.state import CaseActor, load_case, move_case, require_handler, require_reader
from onceonly.cases.views import (
    case_view,
    evidence_slots,
    has_expired,
    measure_case,
    now_or_given,
    summary_fields,
)
from onceonly.catalog import service as catalog
from onceonly.db import as_utc
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t


def get_case(
    session: Session, actor: CaseActor, number: str, *, lang: str | None = None
) -> CaseView:
    case = load_case(session, number, lang, actor)
    require_reader(session, case, actor, lang)
    return case_view(session, case, reader=actor)


def timeline(
    session: Session, actor: CaseActor, number: str, *, lang: str | None = None
) -> list[EventView]:
    """Every step of the case, oldest first."""
    case = load_case(session, number, lang, actor)
    require_reader(session, case, actor, lang)
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    )
    return [
        EventView(
            at=as_utc(e.at),
            kind=e.kind,
            actor=e.actor,
            agency=e.agency,
            state_from=e.state_from,
            state_to=e.state_to,
            details=e.details,
        )
        for e in events
    ]


def measures(session: Session, number: str, *, lang: str | None = None) -> Measures:
    """Counts for the effectiveness dashboard (no personal data, so no reader check):
    evidence fetched online vs paper still required, seconds to decision, agencies involved."""
    return measure_case(session, load_case(session, number, lang))


def evidence_needing_refresh(
    session: Session, number: str, *, now: datetime | None = None, lang: str | None = None
) -> list[str]:
    """Evidence types held online whose transcript has expired: fetch those again (a relayed
    case's receiver sees the rest without fetching)."""
    moment = now_or_given(now)
    case = load_case(session, number, lang)
    return [
        row.evidence_type
        for row in evidence_slots(session, case)
        if row.status == "issued" and has_expired(row, moment)
    ]


def queue_for(session: Session, agency: str) -> list[CaseSummaryView]:
    """The agency's work: its cases not yet closed, oldest first."""
    cases = session.scalars(
        select(Case)
        .where(Case.agency == agency, Case.state != "closed")
        .order_by(Case.opened_at, Case.id)
    )
    return [CaseSummaryView(**summary_fields(c)) for c in cases]


def _handled_by(agency: str) -> Any:
    """SQL: the case is or was in ``agency``'s queue (what its clerks may find again)."""
    return exists().where(
        CaseAgency.case_id == Case.id, CaseAgency.agency == agency, CaseAgency.role == "handler"
    )


def open_cases_of(
    session: Session, actor: CaseActor, subject: str, application_item: str
) -> list[CaseSummaryView]:
    """The citizen's cases of this item not yet closed that the actor's agency handles or
    has handled: the counter warns before a second one is opened for the same thing.
    Another agency's case is not told: a clerk naming item after item would learn which
    applications a citizen has open elsewhere (another agency's case looks exactly like one
    that does not exist)."""
    cases = session.scalars(
        select(Case)
        .where(
            Case.subject == subject,
            Case.application_item == application_item,
            Case.state != "closed",
            _handled_by(actor.agency),
        )
        .order_by(Case.opened_at, Case.id)
    )
    return [CaseSummaryView(**summary_fields(c)) for c in cases]


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TAIWAN).astimezone(UTC)


def search_cases(
    session: Session, actor: CaseActor, filters: SearchFilters, *, lang: str | None = None
) -> CasePage:
    """Cases the actor's agency handles or has handled, newest first, filtered and paged."""
    if actor.role != "clerk":
        raise Problem(
            403, "forbidden", t("problem.forbidden", lang), t("cases.forbidden.search", lang)
        )
    conditions: list[Any] = [_handled_by(actor.agency)]
    if filters.number:
        conditions.append(Case.number == filters.number.strip().upper())
    if filters.subject:
        conditions.append(Case.subject == checked_subject(filters.subject, lang))
    if filters.state:
        conditions.append(Case.state == filters.state)
    if filters.application_item:
        conditions.append(Case.application_item == filters.application_item)
    if filters.agency:
        conditions.append(Case.agency == filters.agency)
    if filters.opened_from:
        conditions.append(Case.opened_at >= _day_start(filters.opened_from))
    if filters.opened_to:
        conditions.append(Case.opened_at < _day_start(filters.opened_to + timedelta(days=1)))
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    rows = session.scalars(
        select(Case)
        .where(*conditions)
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .offset((filters.page - 1) * filters.per_page)
        .limit(filters.per_page)
    )
    return CasePage(
        items=[CaseSummaryView(**summary_fields(c)) for c in rows],
        total=total,
        page=filters.page,
        per_page=filters.per_page,
    )


@dataclass(frozen=True)
class FetchPlan:
    """What to ask the exchange for one case: only what is not held validly, unless all."""

    number: str
    application_item: str
    subject: str
    evidence_types: tuple[str, ...]


def plan_fetch(
    session: Session,
    actor: CaseActor,
    number: str,
    *,
    refresh_all: bool = False,
    now: datetime | None = None,
    lang: str | None = None,
    only: str | None = None,
) -> FetchPlan:
    """Check the actor may gather evidence for the case now, and list what to fetch: pieces
    never fetched, failed or expired (all of them with ``refresh_all``). A piece about a
    second person the clerk names (:func:`catalog.asks_for_another_person`) is fetched only
    when asked for by itself (``only``)."""
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    move_case(session, case, "gather", lang)
    moment = now_or_given(now)
    if only is not None:
        slots = [row for row in evidence_slots(session, case) if row.evidence_type == only]
        if not slots:
            raise validation_problem(
                [FieldError("evidence_type", t("cases.evidence.not_required", lang), "unknown")],
                lang,
            )
        return FetchPlan(case.number, case.application_item, case.subject or "", (only,))
    types = tuple(
        row.evidence_type
        for row in evidence_slots(session, case)
        if (refresh_all or row.status != "issued" or has_expired(row, moment))
        and not catalog.asks_for_another_person(session, row.evidence_type)
    )
    return FetchPlan(case.number, case.application_item, case.subject or "", types)
