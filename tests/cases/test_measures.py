"""The measures a case gives the statistics, live and as of a moment: read as of a moment,
a case counts as it stood just before it, replayed from its timeline, whatever was done
to it afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from onceonly.cases import service
from onceonly.cases.measures import CaseMeasure, case_measures
from onceonly.cases.models import Case, CaseEvidence
from onceonly.config import Settings
from tests import scans
from tests.cases.conftest import ITEM, SUBJECT, T0, UDD, all_issued, response, result

WELFARE = "is_low_income_household"
TICK = timedelta(microseconds=1)
DATASETS = ("building_registration", "household_registration", "income", "welfare_status")


def _as_of(db: Session, moment: datetime) -> CaseMeasure:
    (found,) = case_measures(db, T0, T0 + timedelta(days=1), as_of=lambda opened: moment)
    return found


def _live(db: Session) -> CaseMeasure:
    (found,) = case_measures(db, T0, T0 + timedelta(days=1))
    return found


def _attach(db: Session, settings: Settings, number: str, at: datetime, note: bytes) -> None:
    service.attach_paper(
        db,
        settings,
        UDD,
        number,
        WELFARE,
        filename="scan.pdf",
        content_type="application/pdf",
        data=scans.pdf(note=note),
        now=at,
    )


def test_a_case_as_of_a_moment_is_replayed_from_its_timeline(
    db: Session, settings: Settings
) -> None:
    """Opened at T0; everything issued an hour later (valid two days); a refusal of the
    welfare status the next day changes nothing (the valid transcript is kept); on the
    third day, expired, a refusal replaces it; the citizen's paper is attached on the
    fourth day and replaced on the fifth; rejected on the sixth. Each moment sees the case
    as it then stood (what happened at the moment itself not yet), and the latest moment
    sees what the live measures see."""
    number = service.open_case(db, UDD, application_item=ITEM, subject=SUBJECT, now=T0).number
    hour, day = timedelta(hours=1), timedelta(days=1)
    service.record_evidence(
        db, UDD, number, all_issued(number, expires_at=T0 + 2 * day), now=T0 + hour
    )
    refused = response(number, result(WELFARE, "unavailable"))
    service.record_evidence(db, UDD, number, refused, now=T0 + day)
    service.record_evidence(db, UDD, number, refused, now=T0 + 3 * day)
    _attach(db, settings, number, T0 + 4 * day, b"first scan")
    _attach(db, settings, number, T0 + 5 * day, b"a clearer scan")
    service.decide_case(db, UDD, number, "rejected", "不符資格", now=T0 + 6 * day)
    db.flush()

    nothing = _as_of(db, T0 + hour)
    assert (nothing.evidence_online, nothing.evidence_paper, nothing.decision_seconds) == (
        0,
        4,
        None,
    )
    assert nothing.evidence == tuple((d, (), None) for d in DATASETS)
    assert nothing.turnaround == ()
    assert _as_of(db, T0 + TICK) == nothing

    issued = _as_of(db, T0 + hour + TICK)
    assert (issued.evidence_online, issued.evidence_paper) == (4, 0)
    assert {status for _, _, status in issued.evidence} == {"issued"}
    assert {(d, c, s) for d, _, c, s in issued.turnaround} == {
        (d, "online", 3600) for d in DATASETS
    }
    assert ("welfare_status", ("taipei-city.social_welfare",), "issued") in issued.evidence
    assert _as_of(db, T0 + 3 * day) == issued  # the first refusal was not kept

    replaced = _as_of(db, T0 + 3 * day + TICK)
    assert (replaced.evidence_online, replaced.evidence_paper) == (3, 1)
    assert ("welfare_status", ("taipei-city.social_welfare",), "unavailable") in replaced.evidence
    assert "welfare_status" not in {d for d, *_ in replaced.turnaround}

    on_paper = _as_of(db, T0 + 4 * day + TICK)
    assert ("welfare_status", ("taipei-city.social_welfare",), "paper", 4 * 86400) in (
        on_paper.turnaround
    )
    assert on_paper.evidence_paper == 1  # a paper is not evidence held online
    rescanned = _as_of(db, T0 + 5 * day + TICK)
    assert ("welfare_status", ("taipei-city.social_welfare",), "paper", 5 * 86400) in (
        rescanned.turnaround
    )
    assert rescanned.decision_seconds is None
    assert _as_of(db, T0 + 6 * day + TICK).decision_seconds == 6 * 86400
    assert _as_of(db, T0 + 60 * day) == _live(db)


def test_a_case_opened_at_or_after_its_moment_is_left_out(db: Session) -> None:
    service.open_case(db, UDD, application_item=ITEM, subject=SUBJECT, now=T0)
    db.flush()
    assert case_measures(db, T0, T0 + timedelta(days=1), as_of=lambda opened: T0) == []
    assert len(case_measures(db, T0, T0 + timedelta(days=1), as_of=lambda _: T0 + TICK)) == 1


def test_a_piece_written_straight_into_the_database_counts_as_it_stands(db: Session) -> None:
    """No timeline entry: a data load or an operator's correction, never the counter. Its
    row counts as it stands, by its own stored time when it has one."""
    number = service.open_case(db, UDD, application_item=ITEM, subject=SUBJECT, now=T0).number
    case_id = db.scalars(select(Case.id).where(Case.number == number)).one()
    fetched = T0 + timedelta(hours=2)
    db.execute(
        update(CaseEvidence)
        .where(CaseEvidence.case_id == case_id, CaseEvidence.dataset == "income")
        .values(status="issued", owners=["central.fia"], fetched_at=fetched)
    )
    db.execute(
        update(CaseEvidence)
        .where(CaseEvidence.case_id == case_id, CaseEvidence.dataset == "welfare_status")
        .values(status="denied", owners=["taipei-city.social_welfare"])
    )
    db.flush()
    before = _as_of(db, fetched)
    assert before.evidence_online == 0
    assert ("welfare_status", ("taipei-city.social_welfare",), "denied") in before.evidence
    after = _as_of(db, fetched + TICK)
    assert after.evidence_online == 1
    assert after.turnaround == (("income", ("central.fia",), "online", 7200),)
