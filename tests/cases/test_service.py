"""The counter workflow through the service: opening, evidence, relay, decision, closing."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import latest
from onceonly.cases import service
from onceonly.cases.models import CaseEvent
from onceonly.cases.schemas import SearchFilters
from onceonly.errors import Problem
from tests import scans
from tests.cases.conftest import (
    EVIDENCE,
    ITEM,
    LAND,
    SUBJECT,
    SWD,
    T0,
    UDD,
    all_issued,
    response,
    result,
)


def _open(db: Session, actor=UDD, now: datetime = T0, **kwargs):
    kwargs.setdefault("application_item", ITEM)
    kwargs.setdefault("subject", SUBJECT)
    return service.open_case(db, actor, now=now, **kwargs)


def _problem(call, *args, **kwargs) -> Problem:
    with pytest.raises(Problem) as caught:
        call(*args, **kwargs)
    return caught.value


def test_opening_numbers_the_case_by_agency_and_roc_year(db: Session) -> None:
    first = _open(db)
    second = _open(db)
    assert first.number == "TPE-UDD-115-000001"
    assert second.number == "TPE-UDD-115-000002"
    assert first.state == "open" and first.agency == UDD.agency
    assert [e.evidence_type for e in first.evidence] == list(EVIDENCE)
    assert all(e.satisfied_by is None for e in first.evidence)
    other = _open(db, SWD)
    assert other.number == "TPE-SWD-115-000001"


def test_the_roc_year_turns_at_taiwan_midnight(db: Session) -> None:
    """17:00 UTC on 31 December is already 1 January in Taiwan: a new year, a new sequence."""
    _open(db, now=datetime(2026, 12, 31, 15, 59, tzinfo=UTC))
    new_year = _open(db, now=datetime(2026, 12, 31, 16, 0, tzinfo=UTC))
    assert new_year.number == "TPE-UDD-116-000001"


def test_opening_names_every_invalid_field(db: Session) -> None:
    problem = _problem(
        _open,
        db,
        application_item="no-such-item",
        subject="A123456788",
        contact_email="citizen@localhost",
        contact_mobile="0212345678",
    )
    assert problem.status == 422
    reasons = {e.field: e.reason for e in problem.errors}
    assert set(reasons) == {"subject", "contact_email", "contact_mobile", "application_item"}
    assert "檢查碼" in reasons["subject"]
    assert "09" in reasons["contact_mobile"]
    assert "@" in reasons["contact_email"]
    assert "no-such-item" in reasons["application_item"]


def test_contact_details_are_normalised(db: Session) -> None:
    case = _open(db, contact_email=" chen@example.tw ", contact_mobile="+886 912-345-678")
    assert case.contact_email == "chen@example.tw"
    assert case.contact_mobile == "0912345678"


def test_the_happy_path_open_gather_decide_close(db: Session) -> None:
    case = _open(db)
    gathered = service.record_evidence(db, UDD, case.number, all_issued(case.number), now=T0)
    assert gathered.state == "gathering"
    assert all(e.satisfied_by == "online" for e in gathered.evidence)
    assert gathered.evidence[0].transcripts[0].jws == "h.p.s"
    decided = service.decide_case(db, UDD, case.number, "approved", "符合資格", now=T0)
    assert (decided.state, decided.decision, decided.decided_by) == (
        "decided",
        "approved",
        "udd-clerk",
    )
    closed = service.close_case(db, UDD, case.number, now=T0)
    assert closed.state == "closed" and closed.closed_at is not None
    kinds = [e.kind for e in service.timeline(db, UDD, case.number)]
    assert kinds == ["opened", "gathering", *["evidence_fetched"] * 4, "decided", "closed"]


ILLEGAL = [
    ("open", "decide", "no_evidence"),
    ("open", "close", "needs_decision"),
    ("gathering", "close", "needs_decision"),
    ("decided", "gather", "decided"),
    ("decided", "decide", "already_decided"),
    ("closed", "gather", "closed"),
    ("closed", "relay", "closed"),
    ("closed", "decide", "closed"),
    ("closed", "close", "closed"),
]


def _bring_to(db: Session, state: str) -> str:
    number = _open(db).number
    if state == "open":
        return number
    service.record_evidence(db, UDD, number, all_issued(number), now=T0)
    if state == "gathering":
        return number
    service.decide_case(db, UDD, number, "rejected", "不符資格", now=T0)
    if state == "decided":
        return number
    service.close_case(db, UDD, number, now=T0)
    return number


def _act(db: Session, action: str, number: str) -> None:
    if action == "gather":
        service.record_evidence(db, UDD, number, all_issued(number), now=T0)
    elif action == "decide":
        service.decide_case(db, UDD, number, "rejected", "不符資格", now=T0)
    elif action == "close":
        service.close_case(db, UDD, number, now=T0)
    else:
        service.relay_case(db, UDD, number, SWD.agency, "請續辦", now=T0)


@pytest.mark.parametrize(("state", "action", "why"), ILLEGAL)
def test_illegal_transitions_are_refused_with_the_reason(
    db: Session, state: str, action: str, why: str
) -> None:
    from onceonly.i18n import t

    number = _bring_to(db, state)
    events_before = len(service.timeline(db, UDD, number))
    problem = _problem(_act, db, action, number)
    assert problem.status == 409 and problem.kind == "illegal-transition"
    assert problem.extra["state"] == state and problem.extra["action"] == action
    assert t(f"cases.why.{why}") in problem.detail
    assert action not in problem.extra["allowed_actions"]
    assert service.get_case(db, UDD, number).state == state
    assert len(service.timeline(db, UDD, number)) == events_before


def test_approval_needs_every_piece_but_rejection_does_not(db: Session) -> None:
    number = _open(db).number
    partial = response(
        number, result("household_registration"), result("household_income_below", "unavailable")
    )
    service.record_evidence(db, UDD, number, partial, now=T0)
    problem = _problem(service.decide_case, db, UDD, number, "approved", "ok", now=T0)
    assert problem.status == 409 and problem.kind == "evidence-missing"
    assert problem.extra["missing_evidence"] == [
        "is_low_income_household",
        "household_income_below",
        "owns_no_residential_property",
    ]
    assert service.decide_case(db, UDD, number, "rejected", "資料不足", now=T0).state == "decided"


def test_only_the_queue_holder_may_act_and_past_handlers_may_read(db: Session) -> None:
    number = _open(db).number
    problem = _problem(service.record_evidence, db, SWD, number, all_issued(number))
    assert problem.status == 403 and problem.extra["case_agency"] == UDD.agency
    assert _problem(service.get_case, db, SWD, number).status == 403
    service.relay_case(db, UDD, number, SWD.agency, "請社會局續辦", now=T0)
    assert service.get_case(db, SWD, number).agency == SWD.agency
    assert service.get_case(db, UDD, number).agency == SWD.agency
    assert _problem(service.close_case, db, UDD, number).status == 403
    assert _problem(service.get_case, db, LAND, number).status == 403
    owner_role = service.CaseActor("owner", UDD.agency, "owner")
    assert _problem(service.decide_case, db, owner_role, number, "approved", "x").status == 403


def test_relay_moves_the_queue_and_carries_the_evidence(db: Session) -> None:
    number = _open(db).number
    service.record_evidence(db, UDD, number, all_issued(number), now=T0)
    service.decide_case(db, UDD, number, "approved", "都發局審核通過，轉社會局", now=T0)
    relayed = service.relay_case(db, UDD, number, SWD.agency, "請核定補助", now=T0)
    assert (relayed.state, relayed.agency, relayed.decision) == ("open", SWD.agency, None)
    assert [c.number for c in service.queue_for(db, UDD.agency)] == []
    assert [c.number for c in service.queue_for(db, SWD.agency)] == [number]
    audit = latest(db, 1)[0]
    assert (audit.event, audit.case_id, audit.owner_agency) == ("case.relay", number, SWD.agency)
    seen = service.get_case(db, SWD, number)
    assert all(e.satisfied_by == "online" and e.transcripts for e in seen.evidence)
    plan = service.plan_fetch(db, SWD, number, now=T0 + timedelta(days=1))
    assert plan.evidence_types == ()
    step = [e for e in service.timeline(db, SWD, number) if e.kind == "relayed"][-1]
    assert (step.state_from, step.state_to) == ("decided", "open")
    assert step.details["from_agency"] == UDD.agency and step.details["to_agency"] == SWD.agency
    assert step.details["note"] == "請核定補助"
    assert step.details["previous_decision"]["decision"] == "approved"
    assert service.decide_case(db, SWD, number, "approved", "核定", now=T0).state == "decided"
    assert service.close_case(db, SWD, number, now=T0).state == "closed"


def test_relay_target_must_be_another_known_agency(db: Session) -> None:
    number = _open(db).number
    unknown = _problem(service.relay_case, db, UDD, number, "nowhere.x", "note")
    assert unknown.status == 422 and unknown.errors[0].field == "to_agency"
    same = _problem(service.relay_case, db, UDD, number, UDD.agency, "note")
    assert same.status == 422 and same.errors[0].field == "to_agency"


def test_an_expired_transcript_is_flagged_for_refresh(db: Session) -> None:
    number = _open(db).number
    soon = T0 + timedelta(days=2)
    results = [result(code) for code in EVIDENCE]
    results[1] = result("is_low_income_household", expires_at=soon)
    service.record_evidence(db, UDD, number, response(number, *results), now=T0)
    service.relay_case(db, UDD, number, SWD.agency, "續辦", now=T0)
    later = soon + timedelta(seconds=1)
    assert service.evidence_needing_refresh(db, number, now=T0) == []
    assert service.evidence_needing_refresh(db, number, now=later) == ["is_low_income_household"]
    assert service.plan_fetch(db, SWD, number, now=later).evidence_types == (
        "is_low_income_household",
    )
    service.record_evidence(
        db, SWD, number, response(number, result("is_low_income_household")), now=later
    )
    assert service.evidence_needing_refresh(db, number, now=later) == []


def test_a_failed_fetch_keeps_valid_evidence(db: Session) -> None:
    number = _open(db).number
    service.record_evidence(db, UDD, number, all_issued(number), now=T0)
    after = service.record_evidence(
        db, UDD, number, response(number, result("household_registration", "unavailable")), now=T0
    )
    assert after.evidence[0].satisfied_by == "online" and after.evidence[0].status == "issued"
    assert service.timeline(db, UDD, number)[-1].details["kept_previous"] is True


def test_results_of_another_case_are_refused(db: Session) -> None:
    number = _open(db).number
    problem = _problem(service.record_evidence, db, UDD, number, all_issued("TPE-UDD-115-999999"))
    assert problem.status == 422 and problem.errors[0].field == "case_id"


def test_numbers_stay_unique_when_clerks_open_cases_at_once(
    sessions: sessionmaker[Session],
) -> None:
    count = 12
    barrier = threading.Barrier(count)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            barrier.wait()
            with sessions() as session:
                numbers.append(_open(session).number)
                session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [f"TPE-UDD-115-{i:06d}" for i in range(1, count + 1)]


def test_search_filters_and_pages(db: Session) -> None:
    other = "B120000008"
    numbers = [_open(db, now=T0 + timedelta(days=i)).number for i in range(5)]
    other_number = _open(db, subject=other, now=T0 + timedelta(days=10)).number
    service.record_evidence(db, UDD, numbers[0], all_issued(numbers[0]), now=T0)
    _open(db, SWD)

    def find(**filters) -> list[str]:
        page = service.search_cases(db, UDD, SearchFilters(per_page=100, **filters))
        return [c.number for c in page.items]

    assert find() == [other_number, *reversed(numbers)]
    assert find(number=numbers[2].lower()) == [numbers[2]]
    assert find(subject=other) == [other_number]
    assert find(state="gathering") == [numbers[0]]
    assert find(application_item="no-such") == []
    assert find(agency=SWD.agency) == []
    assert find(opened_from=date(2026, 3, 3), opened_to=date(2026, 3, 4)) == [
        numbers[2],
        numbers[1],
    ]
    first = service.search_cases(db, UDD, SearchFilters(page=1, per_page=4))
    second = service.search_cases(db, UDD, SearchFilters(page=2, per_page=4))
    assert (first.total, len(first.items), len(second.items)) == (6, 4, 2)
    assert first.items[0].subject_masked == "B12000****"
    assert _problem(service.search_cases, db, UDD, SearchFilters(subject="B12")).status == 422


def test_measures_count_online_paper_time_and_agencies(db: Session, settings) -> None:
    number = _open(db).number
    partial = response(
        number,
        result("household_registration"),
        result("household_income_below"),
        result("is_low_income_household", "denied"),
    )
    service.record_evidence(db, UDD, number, partial, now=T0)
    service.attach_paper(
        db,
        settings,
        UDD,
        number,
        "is_low_income_household",
        filename="低收證明.pdf",
        content_type="application/pdf",
        data=scans.pdf(),
        now=T0,
    )
    early = service.measures(db, number)
    assert (early.evidence_required, early.evidence_online, early.paper_required) == (4, 2, 2)
    assert (early.paper_attached, early.paper_missing, early.decision_seconds) == (1, 1, None)
    service.relay_case(db, UDD, number, LAND.agency, "請查建物", now=T0)
    service.record_evidence(
        db, LAND, number, response(number, result("owns_no_residential_property")), now=T0
    )
    service.decide_case(db, LAND, number, "approved", "齊備", now=T0 + timedelta(minutes=7))
    final = service.measures(db, number)
    assert (final.evidence_online, final.paper_required, final.paper_missing) == (3, 1, 0)
    assert final.decision_seconds == 420
    assert final.agencies == sorted(
        {UDD.agency, LAND.agency, "central.moi_household", "central.fia", "taipei-city.land_office"}
    )
    assert final.agencies_involved == 4


def test_the_timeline_is_append_only(db: Session) -> None:
    number = _open(db).number
    db.commit()
    with pytest.raises(DatabaseError):
        db.execute(update(CaseEvent).values(kind="forged"))
        db.flush()
    db.rollback()
    with pytest.raises(DatabaseError):
        db.execute(text("DELETE FROM case_events"))
    db.rollback()
    assert db.scalars(select(CaseEvent.kind)).all() == ["opened"]
    assert re.fullmatch(r"TPE-UDD-\d{3}-\d{6}", number)
