"""What a relay hands over, through the service: each piece's content (evidence, a scan, an
answer about a parcel, a relative's record) is seen by the agency that obtained it and by
every agency the case went to afterwards; a former handler sees the status only. A carried
piece's first read by each agency is audited with the person it is about as subject."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.audit.models import AuditEntry
from onceonly.cases import service
from onceonly.cases.models import Case, CaseKinRecord
from onceonly.cases.service import CaseActor
from onceonly.errors import Problem
from onceonly.exchange.schemas import EvidenceResult, IssuedTranscript, Reason
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

MINUTE = timedelta(minutes=1)
HH = CaseActor("hh-clerk", "taipei-city.household_office", "clerk", "B4")
FATHER = "A100000001"


def _carried_reads(db: Session) -> list[AuditEntry]:
    return list(
        db.scalars(
            select(AuditEntry)
            .where(AuditEntry.event == "case.carried_read")
            .order_by(AuditEntry.seq)
        )
    )


def _open(db: Session, actor: CaseActor = UDD, item: str = ITEM) -> str:
    return service.open_case(db, actor, application_item=item, subject=SUBJECT, now=T0).number


def _away_and_back(db: Session, number: str, holder: CaseActor, other: CaseActor) -> None:
    """``other`` handles the case for a while before anything is obtained for it."""
    service.relay_case(db, holder, number, other.agency, "請看一下", now=T0 + MINUTE)
    service.relay_case(db, other, number, holder.agency, "請續辦", now=T0 + 2 * MINUTE)


def test_a_former_handler_sees_status_and_fetcher_not_content(db: Session) -> None:
    number = _open(db)
    _away_and_back(db, number, UDD, SWD)
    service.record_evidence(db, UDD, number, all_issued(number), now=T0 + 3 * MINUTE)

    for piece in service.get_case(db, SWD, number).evidence:
        assert (piece.status, piece.satisfied_by, piece.held_by) == ("issued", "online", UDD.agency)
        assert (piece.fetched_agency, piece.fetched_by) == (UDD.agency, UDD.username)
        assert piece.fields is None and piece.answer is None and piece.transcripts == []
    for piece in service.get_case(db, UDD, number).evidence:
        assert piece.held_by is None and piece.transcripts
    assert _carried_reads(db) == []


def test_a_carried_piece_stays_readable_its_first_read_is_audited_and_a_refetch_is_not(
    db: Session,
) -> None:
    number = _open(db)
    service.record_evidence(db, UDD, number, all_issued(number), now=T0)
    service.relay_case(db, UDD, number, SWD.agency, "請核定", now=T0 + MINUTE)

    seen = service.get_case(db, SWD, number)
    assert all(p.held_by is None and p.transcripts for p in seen.evidence)
    service.get_case(db, SWD, number)
    reads = _carried_reads(db)
    assert sorted(r.predicate or r.dataset for r in reads) == sorted(EVIDENCE)
    for read in reads:
        assert (read.actor_agency, read.subject, read.case_id) == (SWD.agency, SUBJECT, number)
        assert read.details["fetched_agency"] == UDD.agency and read.owner_agency
    household = next(r for r in reads if r.dataset == "household_registration")
    assert (household.fields, household.legal_basis) == (["name"], "pdpa-art16")

    later = response(number, result("household_registration"))
    service.record_evidence(db, SWD, number, later, now=T0 + 2 * MINUTE)
    service.get_case(db, SWD, number)
    assert len(_carried_reads(db)) == len(EVIDENCE), "its own fetch is the exchange's entry"
    former = {p.evidence_type: p for p in service.get_case(db, UDD, number).evidence}
    assert former["household_registration"].held_by == SWD.agency
    assert former["household_income_below"].answer is True, "what UDD fetched it still sees"

    service.relay_case(db, SWD, number, LAND.agency, "請查建物", now=T0 + 3 * MINUTE)
    passed_on = service.get_case(db, SWD, number)
    assert all(p.held_by is None and p.transcripts for p in passed_on.evidence), (
        "what was carried to it stays its own after it relays the case on"
    )


def test_a_scan_attached_after_a_handler_left_is_not_its_to_download(db: Session, settings) -> None:
    number = _open(db)
    service.relay_case(db, UDD, number, LAND.agency, "請補件", now=T0 + MINUTE)
    service.attach_paper(
        db, settings, LAND, number, "is_low_income_household",
        filename="低收證明.pdf", content_type="application/pdf", data=scans.pdf(),
        now=T0 + 2 * MINUTE,
    )  # fmt: skip
    kind = "is_low_income_household"
    piece = next(p for p in service.get_case(db, UDD, number).evidence if p.evidence_type == kind)
    assert (piece.satisfied_by, piece.paper, piece.held_by) == ("paper", None, LAND.agency)
    refused = _problem(service.paper_file, settings, db, UDD, number, kind)
    assert (refused.status, refused.kind) == (403, "evidence-held-elsewhere")
    assert service.paper_file(settings, db, LAND, number, kind)

    service.relay_case(db, LAND, number, UDD.agency, "已補件", now=T0 + 3 * MINUTE)
    assert service.paper_file(settings, db, UDD, number, kind)


def test_an_answer_about_a_parcel_follows_the_same_rule(db: Session) -> None:
    number = _open(db)
    _away_and_back(db, number, UDD, SWD)
    parcel = EvidenceResult(
        evidence_type="land_registration",
        dataset="land_registration",
        status="issued",
        owners=["taipei-city.land_office"],
        reason=Reason.model_validate({"zh-TW": "已核發", "en": "issued"}),
        fields={"owners": [{"name": "王小明"}]},
        transcripts=[
            IssuedTranscript(
                owner="taipei-city.land_office",
                kid="k1",
                jws="h.p.s",
                expires_at=(T0 + timedelta(days=30)).isoformat(),
            )
        ],
    )
    asked = response(number, parcel).model_copy(update={"about": "大灣段 0123-0004 地號"})
    service.record_lookup(db, UDD, number, "parcel", asked, now=T0 + 3 * MINUTE)

    [held] = service.lookups(db, SWD, number)
    assert (held.status, held.about, held.held_by) == ("issued", asked.about, UDD.agency)
    assert held.fields is None and held.transcripts == ()
    assert _carried_reads(db) == []

    service.relay_case(db, UDD, number, SWD.agency, "請續辦", now=T0 + 4 * MINUTE)
    [held] = service.lookups(db, SWD, number)
    assert held.held_by is None and held.fields and held.transcripts
    service.lookups(db, SWD, number)
    [read] = _carried_reads(db)
    assert (read.dataset, read.subject, read.actor_agency) == (
        "land_registration",
        SUBJECT,
        SWD.agency,
    )


def test_a_relatives_record_is_audited_with_the_relative_as_subject(db: Session) -> None:
    number = _open(db, HH, "kinship-chart")
    _away_and_back(db, number, HH, SWD)
    chart = EvidenceResult(
        evidence_type="kinship",
        dataset="kinship",
        status="issued",
        owners=[HH.agency],
        reason=Reason.model_validate({"zh-TW": "已核發", "en": "issued"}),
        fields={
            "relatives": [
                {"relation": "self", "national_id": SUBJECT, "name": "王小明"},
                {"relation": "father", "national_id": FATHER, "name": "王大明"},
            ]
        },
    )
    service.record_evidence(db, HH, number, [chart], now=T0 + 3 * MINUTE)
    case = db.scalars(select(Case).where(Case.number == number)).one()
    db.add(
        CaseKinRecord(
            case_id=case.id,
            national_id=FATHER,
            named_by=SUBJECT,
            status="issued",
            owners=[HH.agency],
            fields={"relatives": [{"relation": "self", "national_id": FATHER, "name": "王大明"}]},
            transcripts=[],
            request_id="req-kin",
            fetched_by=HH.username,
            fetched_at=T0 + 4 * MINUTE,
        )
    )
    db.flush()
    assert service.kinship_source(db, SWD, number) is None, "obtained after it left"
    assert len(service.kinship_source(db, HH, number).records) == 2

    service.relay_case(db, HH, number, SWD.agency, "請續辦", now=T0 + 5 * MINUTE)
    source = service.kinship_source(db, SWD, number)
    assert source is not None and len(source.records) == 2
    subjects = sorted(r.subject for r in _carried_reads(db) if r.dataset == "kinship")
    assert subjects == [FATHER], "the subject's own record is read through the case view"
    service.get_case(db, SWD, number)
    subjects = sorted(r.subject for r in _carried_reads(db) if r.dataset == "kinship")
    assert subjects == sorted([FATHER, SUBJECT])


def test_only_an_agency_with_a_part_in_the_item_opens_a_case_of_it(db: Session) -> None:
    fire = CaseActor("fire-clerk", "taipei-city.fire", "clerk", "F1")
    kaohsiung = CaseActor("khh-clerk", "kaohsiung-city.urban_development", "clerk", "K1")
    for stranger in (fire, kaohsiung):
        problem = _problem(_open, db, stranger)
        assert problem.status == 422
        [error] = problem.errors
        assert (error.field, error.code) == ("application_item", "not_handled")
    assert "臺北市政府消防局" in _problem(_open, db, fire).errors[0].reason
    english = _problem(
        service.open_case, db, fire, application_item=ITEM, subject=SUBJECT, lang="en"
    ).errors[0]
    assert "Fire" in english.reason and "Urban development" in english.reason
    for part in (UDD, SWD, LAND):  # handles it; owns the low-income status; owns buildings
        assert _open(db, part).startswith("TPE-")


def _problem(call, *args, **kwargs) -> Problem:
    with pytest.raises(Problem) as caught:
        call(*args, **kwargs)
    return caught.value
