"""Migration 0030 on a database that has reads of carried pieces already, two of them the same
read written twice by clerks who raced (what the unique index now prevents): the upgrade keeps
every row as it was, and none of those reads is written again."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from onceonly import migrations
from onceonly.cases import holding
from onceonly.cases.models import Case, CaseEvent
from onceonly.cases.service import CaseActor
from onceonly.db import make_engine

FETCHED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SWD = CaseActor("swd-clerk", "taipei-city.social_welfare", "clerk", "B2")
LEGACY = {
    "piece": "evidence",
    "key": "household_registration",
    "dataset": "household_registration",
    "fetched_agency": "taipei-city.urban_development",
    "fetched_at": FETCHED.isoformat(),
}


def _legacy_database(url: str) -> None:
    """At 0029: one case, and the same carried read in its timeline twice."""
    migrations.upgrade(url, "0029_password_set_by")
    engine = make_engine(url)
    tables = sa.MetaData()
    tables.reflect(engine, only=["cases", "case_events"])
    cases, events = tables.tables["cases"], tables.tables["case_events"]
    with engine.begin() as connection:
        connection.execute(
            cases.insert().values(
                id=1, number="TPE-UD-115-000001", application_item="public-housing-low-income",
                opening_agency="taipei-city.urban_development", agency=SWD.agency,
                opened_by="udd-clerk", subject="A123456789", contact_language="zh-TW",
                state="open", opened_at=FETCHED, updated_at=FETCHED, evidence_online=0,
                evidence_paper=4, agencies_involved=2, version=1,
            )
        )  # fmt: skip
        for actor in ("swd-clerk", "swd-clerk-2", "swd-clerk"):
            connection.execute(
                events.insert().values(
                    case_id=1, at=FETCHED, kind="carried_read", actor=actor, agency=SWD.agency,
                    details=LEGACY,
                )
            )  # fmt: skip
    engine.dispose()


def test_the_upgrade_keeps_duplicate_reads_and_none_is_written_again(
    empty_database_url: str,
) -> None:
    _legacy_database(empty_database_url)
    migrations.upgrade(empty_database_url, "0030_carried_read_once")
    assert migrations.current_revision(empty_database_url) == "0030_carried_read_once"

    engine = make_engine(empty_database_url)
    indexes = {i["name"]: i for i in sa.inspect(engine).get_indexes("case_events")}
    assert indexes["uq_case_events_carried_read"]["unique"]
    with Session(engine) as db:
        case = db.get(Case, 1)
        assert case is not None
        legacy = db.scalars(sa.select(CaseEvent).where(CaseEvent.kind == "carried_read")).all()
        assert [(e.piece_kind, e.piece_key, e.piece_fetched_at) for e in legacy] == [
            (None, None, None)
        ] * 3

        read_before = holding.CarriedPiece(
            kind="evidence", key="household_registration", fetched_at=FETCHED,
            fetched_agency=LEGACY["fetched_agency"], subject=case.subject,
            dataset="household_registration",
        )  # fmt: skip
        holding.audit_carried_reads(db, case, SWD, [read_before])
        assert db.scalar(sa.select(sa.func.count()).select_from(CaseEvent)) == 3

        scan = holding.CarriedPiece(
            kind="scan", key="is_low_income_household", fetched_at=FETCHED,
            fetched_agency=LEGACY["fetched_agency"], subject=case.subject,
            dataset="welfare_status",
        )  # fmt: skip
        details = {"piece": "scan"}
        assert holding._claimed(db, case, SWD, scan, details)
        assert not holding._claimed(db, case, SWD, scan, details), "the index holds it"
        other = CaseActor("land-clerk", "taipei-city.land_office", "clerk", "B3")
        assert holding._claimed(db, case, other, scan, details), "another agency reads anew"
        db.rollback()
    command.downgrade(migrations.alembic_config(empty_database_url), "0029_password_set_by")
    assert "piece_kind" not in {c["name"] for c in sa.inspect(engine).get_columns("case_events")}
    engine.dispose()
