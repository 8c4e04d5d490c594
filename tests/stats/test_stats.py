"""Effectiveness statistics on a seeded history: counted by the clerk's workplace and by the
citizen's registration, weeks in Taipei time, each tenant its own, small cells withheld from
the open-data export, and the export a valid Frictionless data package."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from frictionless import validate
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts import users as accounts
from onceonly.accounts.demo_accounts import DEMO_PASSWORD
from onceonly.accounts.tenancy import NODE_WIDE, Scope
from onceonly.cases.models import Case, CaseEvidence
from onceonly.db import transaction
from onceonly.notify.models import Delivery, LifeEvent, Subscription
from onceonly.stats import assumptions, publication
from onceonly.stats import cli as stats_cli
from onceonly.stats import service as stats
from tests.conftest import DemoEnv
from tests.counter.support import Visitor
from tests.stats.support import ITEM, NTPC_SOCIAL, SETTLED, TPE_UDD, Clock, add_case

MONDAY = date(2026, 3, 2)
PERIOD = stats.Filters(date(2026, 3, 1), date(2026, 3, 15))
Visit = Callable[[str], Visitor]


def _seed(factory: sessionmaker[Session]) -> None:
    """Taipei's urban development office serves six citizens in the week of 2 March: four
    registered in New Taipei, two in Taipei; New Taipei's welfare office serves a Taipei
    citizen late on Sunday 8 March (Taipei time: still that week) and another just after
    midnight (the next week, though still 8 March in UTC); one case asks nothing that tells
    the registration."""
    base = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    with transaction(factory) as db:
        for n in range(4):
            add_case(db, n, TPE_UDD, base + timedelta(hours=n), "new-taipei-city.social_welfare")
        for n, status in ((4, "denied"), (5, "not_found")):
            add_case(
                db,
                n,
                TPE_UDD,
                base + timedelta(hours=n),
                "taipei-city.social_welfare",
                welfare_status=status,
            )
        sunday_night = datetime(2026, 3, 8, 15, 30, tzinfo=UTC)  # 23:30 in Taipei
        after_midnight = datetime(2026, 3, 8, 16, 10, tzinfo=UTC)  # 00:10 on Monday 9th
        tpe_social = "taipei-city.social_welfare"
        add_case(db, 6, NTPC_SOCIAL, sunday_night, tpe_social, online=3, paper=0)
        add_case(db, 7, NTPC_SOCIAL, after_midnight, tpe_social, online=3, paper=0)
        add_case(db, 8, TPE_UDD, base, None, online=0, paper=2)
        add_case(db, 9, TPE_UDD, datetime(2026, 4, 1, tzinfo=UTC), None)  # outside the period


def _index(rows: list[stats.Row]) -> dict[tuple[str, str, date, str], tuple[int, int, int]]:
    return {(r.way, r.jurisdiction, r.week, r.agency): (r.cases, r.online, r.paper) for r in rows}


def test_counting_by_workplace_and_by_registration(factory: sessionmaker[Session]) -> None:
    _seed(factory)
    with factory() as db:
        found = _index(stats.rows(db, PERIOD, NODE_WIDE))
    week2 = MONDAY + timedelta(days=7)
    assert found == {
        ("workplace", "taipei-city", MONDAY, TPE_UDD): (7, 12, 8),
        ("workplace", "new-taipei-city", MONDAY, NTPC_SOCIAL): (1, 3, 0),
        ("workplace", "new-taipei-city", week2, NTPC_SOCIAL): (1, 3, 0),
        ("registration", "new-taipei-city", MONDAY, TPE_UDD): (4, 8, 4),
        ("registration", "taipei-city", MONDAY, TPE_UDD): (2, 4, 2),
        ("registration", "taipei-city", MONDAY, NTPC_SOCIAL): (1, 3, 0),
        ("registration", "taipei-city", week2, NTPC_SOCIAL): (1, 3, 0),
        ("registration", "unknown", MONDAY, TPE_UDD): (1, 0, 2),
        ("residence", "unknown", MONDAY, TPE_UDD): (7, 12, 8),  # no mailing address reported
        ("residence", "unknown", MONDAY, NTPC_SOCIAL): (1, 3, 0),
        ("residence", "unknown", week2, NTPC_SOCIAL): (1, 3, 0),
    }
    with factory() as db:
        totals = stats.totals(stats.rows(db, PERIOD, NODE_WIDE))
    assert totals[("workplace", "taipei-city")].cases == 7
    assert totals[("registration", "taipei-city")].cases == 4  # served by both cities
    assert totals[("workplace", "taipei-city")].online_share == 60.0


def test_refusals_by_dataset_and_reason(factory: sessionmaker[Session]) -> None:
    _seed(factory)
    with factory() as db:
        found = {
            (r.way, r.jurisdiction, r.dataset, r.status): r.pieces
            for r in stats.refusals(db, PERIOD, NODE_WIDE)
        }
    assert found == {
        ("workplace", "taipei-city", "welfare_status", "denied"): 1,
        ("workplace", "taipei-city", "welfare_status", "not_found"): 1,
        ("registration", "taipei-city", "welfare_status", "denied"): 1,
        ("registration", "taipei-city", "welfare_status", "not_found"): 1,
        ("residence", "unknown", "welfare_status", "denied"): 1,
        ("residence", "unknown", "welfare_status", "not_found"): 1,
    }


def test_filters_and_each_tenant_sees_its_own_jurisdiction(factory: sessionmaker[Session]) -> None:
    _seed(factory)
    with factory() as db:
        taipei = stats.rows(db, PERIOD, Scope("taipei-city"))
        only_ntpc = stats.rows(
            db, stats.Filters(PERIOD.since, PERIOD.until, agency=NTPC_SOCIAL), NODE_WIDE
        )
        by_city = stats.rows(
            db, stats.Filters(PERIOD.since, PERIOD.until, jurisdiction="new-taipei-city"), NODE_WIDE
        )
        other_item = stats.rows(db, stats.Filters(PERIOD.since, PERIOD.until, item="x"), NODE_WIDE)
    assert {r.jurisdiction for r in taipei} == {"taipei-city"}
    assert {r.agency for r in only_ntpc} == {NTPC_SOCIAL}
    assert {(r.way, r.jurisdiction) for r in by_city} == {
        ("workplace", "new-taipei-city"),
        ("registration", "new-taipei-city"),
    }
    assert other_item == []


def test_the_export_withholds_small_cells_and_is_a_valid_data_package(
    factory: sessionmaker[Session], demo_env: DemoEnv, tmp_path: Path
) -> None:
    """The export counts each week's pieces as they stood at its cut-off: the seven cases'
    pieces issued (the household registration of each, the welfare status of four), not the
    counters stored on them (which the seed sets freely, and which move as evidence comes)."""
    _seed(factory)
    done = stats_cli.export(demo_env.settings, tmp_path, PERIOD, now=SETTLED)
    assert (done.rows, done.period.since, done.period.until) == (2, date(2026, 2, 23), PERIOD.until)
    # a period starting on the Wednesday: still the whole week, never its last five days
    cut = stats.Filters(date(2026, 3, 4), date(2026, 3, 15))
    assert stats_cli.export(demo_env.settings, tmp_path / "cut", cut, now=SETTLED).rows == 2
    assert (tmp_path / "cut" / "cases-by-week.csv").read_bytes() == (
        tmp_path / "cases-by-week.csv"
    ).read_bytes()
    with (tmp_path / "cases-by-week.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {
            "way": "residence",
            "jurisdiction": "unknown",
            "week": "2026-03-02",
            "application_item": ITEM,
            "agency": TPE_UDD,
            "cases": "7",
            "online": "11",
            "paper": "2",
        },
        {
            "way": "workplace",
            "jurisdiction": "taipei-city",
            "week": "2026-03-02",
            "application_item": ITEM,
            "agency": TPE_UDD,
            "cases": "7",
            "online": "11",
            "paper": "2",
        },
    ]
    assert all(int(r["cases"]) >= publication.MIN_CELL for r in rows)
    report = validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    descriptor = json.loads((tmp_path / "datapackage.json").read_text("utf-8"))
    assert descriptor["resources"][0]["path"] == "cases-by-week.csv"


def test_the_dashboard_draws_each_chart_with_its_table_and_csv(
    visit: Visit, factory: sessionmaker[Session]
) -> None:
    _seed(factory)
    with transaction(factory) as db:
        accounts.create_user(
            db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理"
        )
    admin = visit("tpe-admin")
    page = admin.get("/stats?since=2026-03-01&until=2026-03-15")
    assert page.status_code == 200
    title = re.search(r"<title>(.*?)</title>", page.text, re.S)
    assert title and "<" not in title.group(1) and "section" not in title.group(1), "title"
    ids = re.findall(r'\bid="([^"]+)"', page.text)
    assert [i for i in set(ids) if ids.count(i) > 1] == [], "each section is drawn once"
    assert "<svg" in page.text and 'id="totals-workplace-taipei-city"' in page.text
    assert 'id="weeks-registration-taipei-city"' in page.text
    assert "-new-taipei-city" not in page.text  # Taipei's own figures only (no such table)
    assert "新北市政府社會局" in page.text  # ...which count Taipei citizens New Taipei served
    assert "60.0%" in page.text and "臺北時間" in page.text
    assert 'id="refusals-table"' in page.text and "未獲授權" in page.text
    refused = admin.get("/stats/refusals.csv?since=2026-03-01&until=2026-03-15")
    assert "workplace,taipei-city,welfare_status,denied,1" in refused.text
    data = admin.get("/stats.csv?since=2026-03-01&until=2026-03-15")
    rows = list(csv.DictReader(io.StringIO(data.text)))
    assert {(r["way"], r["cases"]) for r in rows} == {
        ("workplace", "7"),
        ("registration", "2"),
        ("registration", "1"),
    }
    api = admin.client.get(
        "/api/v1/stats/cases?since=2026-03-01&until=2026-03-15&agency=" + NTPC_SOCIAL,
        headers={"Accept": "application/json"},
    )
    assert api.json()["timezone"] == "Asia/Taipei"
    assert [(r["way"], r["week"], r["cases"]) for r in api.json()["rows"]] == [
        ("registration", "2026-03-02", 1),
        ("registration", "2026-03-09", 1),
    ]
    wrong = admin.client.get(
        "/api/v1/stats/cases?until=soon", headers={"Accept": "application/json"}
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "until"
    bad = admin.get("/stats?since=2026-13-01")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    assert visit("tpe-udd-clerk").get("/stats").status_code == 403


def test_the_export_command_names_a_bad_date(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from onceonly.cli import app

    result = CliRunner().invoke(app, ["stats", "export", str(tmp_path), "--since", "soon"])
    assert result.exit_code == 2
    assert "--since/--until" in result.output and "YYYY-MM-DD" in result.output


def test_evidence_turnaround_per_dataset_and_owner(
    factory: sessionmaker[Session], visit: Visit
) -> None:
    """Welfare status from New Taipei arrives online 1, 2, 3 and 10 minutes after the four
    cases opened (median 2.5 min, p90 the slowest: nearest rank of four is the 4th); the
    household registration of two cases is brought on paper a day and three days later;
    pieces not in hand (never fetched, or refused) are left out."""
    _seed(factory)
    with transaction(factory) as db:
        pieces = db.scalars(
            select(CaseEvidence).join(Case).where(Case.number.in_(["T-0", "T-1", "T-2", "T-3"]))
        ).all()
        for piece in pieces:
            case = db.get(Case, piece.case_id)
            assert case is not None
            n = int(case.number[2:])
            if piece.dataset == "welfare_status":
                piece.fetched_at = case.opened_at + timedelta(minutes=(1, 2, 3, 10)[n])
            elif n < 2:
                piece.status = None
                piece.paper_attached_at = case.opened_at + timedelta(days=(1, 3)[n])
    with factory() as db:
        found = {
            (r.way, r.jurisdiction, r.dataset, r.owner, r.channel): (
                r.pieces,
                r.median_seconds,
                r.p90_seconds,
            )
            for r in stats.turnaround(db, PERIOD, NODE_WIDE)
        }
    assert found == {
        ("workplace", "taipei-city", "welfare_status", NTPC_SOCIAL, "online"): (4, 150, 600),
        ("workplace", "taipei-city", "household_registration", "central.household", "paper"): (
            2,
            2 * 86400,
            3 * 86400,
        ),
        ("registration", "new-taipei-city", "welfare_status", NTPC_SOCIAL, "online"): (4, 150, 600),
        (
            "registration",
            "new-taipei-city",
            "household_registration",
            "central.household",
            "paper",
        ): (2, 2 * 86400, 3 * 86400),
        ("residence", "unknown", "welfare_status", NTPC_SOCIAL, "online"): (4, 150, 600),
        ("residence", "unknown", "household_registration", "central.household", "paper"): (
            2,
            2 * 86400,
            3 * 86400,
        ),
    }
    assert stats.nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert stats.nearest_rank([7], 0.9) == 7
    with factory() as db:
        taipei_only = stats.turnaround(db, PERIOD, Scope("new-taipei-city"))
    assert {r.jurisdiction for r in taipei_only} == {"new-taipei-city"}
    with transaction(factory) as db:
        accounts.create_user(
            db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理"
        )
    admin = visit("tpe-admin")
    page = admin.get("/stats?since=2026-03-01&until=2026-03-15")
    assert 'id="turnaround-table"' in page.text
    assert "2.5 分鐘" in page.text and "10.0 分鐘" in page.text
    assert "3.0 天" in page.text
    data = admin.get("/stats/turnaround.csv?since=2026-03-01&until=2026-03-15")
    assert f"workplace,taipei-city,welfare_status,{NTPC_SOCIAL},online,4,150,600" in data.text
    api = admin.client.get(
        "/api/v1/stats/turnaround?since=2026-03-01&until=2026-03-15",
        headers={"Accept": "application/json"},
    )
    assert {r["channel"] for r in api.json()["rows"]} == {"online", "paper"}


def test_trips_and_waiting_saved_with_the_assumptions_they_used(
    factory: sessionmaker[Session], visit: Visit
) -> None:
    """Taipei's office fetched 12 pieces online (six cases of two, one of none); one of them
    arrived 12 hours after its case opened, which is subtracted from the paper days. The
    platform's administrator halves the minutes per trip and shortens the paper days; a city's
    administrator may not (the values count for every city); a bad value is named."""
    _seed(factory)
    with transaction(factory) as db:
        piece = db.scalars(
            select(CaseEvidence)
            .join(Case)
            .where(Case.number == "T-0", CaseEvidence.dataset == "welfare_status")
        ).one()
        piece.fetched_at = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
        accounts.create_user(
            db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理"
        )
        accounts.create_user(db, "node-admin", DEMO_PASSWORD, "admin", "central.household", "平臺")
    with factory() as db:
        found = {(s.way, s.jurisdiction): s for s in stats.savings(db, PERIOD, NODE_WIDE)}
    taipei = found[("workplace", "taipei-city")]
    assert (taipei.pieces_online, taipei.trips_saved, taipei.citizen_hours_saved) == (12, 12, 12)
    assert taipei.waiting_days_saved == 35.5
    assert taipei.assumed == {"trips_per_piece": 1.0, "minutes_per_trip": 60.0, "paper_days": 3.0}

    city = visit("tpe-admin")
    assert 'id="a-minutes_per_trip"' not in city.get("/stats").text  # shown, not editable
    refused = city.post(
        "/stats/assumptions", {"trips_per_piece": "1", "minutes_per_trip": "1", "paper_days": "1"}
    )
    assert refused.status_code == 403
    node = visit("node-admin")
    wrong = node.post(
        "/stats/assumptions",
        {"trips_per_piece": "1", "minutes_per_trip": "abc", "paper_days": "99"},
    )
    assert wrong.status_code == 422
    assert 'id="e-minutes_per_trip"' in wrong.text and 'id="e-paper_days"' in wrong.text
    assert 'id="e-trips_per_piece"' not in wrong.text
    done = node.post(
        "/stats/assumptions", {"trips_per_piece": "1", "minutes_per_trip": "30", "paper_days": "2"}
    )
    assert done.status_code == 200 and "已儲存估算假設" in done.text
    with factory() as db:
        found = {(s.way, s.jurisdiction): s for s in stats.savings(db, PERIOD, NODE_WIDE)}
        assert assumptions.assumptions(db).updated_by == "node-admin"
    taipei = found[("workplace", "taipei-city")]
    assert (taipei.citizen_hours_saved, taipei.waiting_days_saved) == (6.0, 23.5)
    assert taipei.assumed["minutes_per_trip"] == 30.0
    page = city.get("/stats?since=2026-03-01&until=2026-03-15")
    assert 'id="savings-table"' in page.text and "每趟往返分鐘數 = 30" in page.text
    data = city.get("/stats/savings.csv?since=2026-03-01&until=2026-03-15")
    rows = list(csv.DictReader(io.StringIO(data.text)))
    assert rows[0]["assumed_minutes_per_trip"] == "30.0"
    assert {r["jurisdiction"] for r in rows} == {"taipei-city"}


def test_tell_us_once_events_and_time_until_every_agency_processed(
    factory: sessionmaker[Session], visit: Visit
) -> None:
    """Three moves recorded by Taipei's household office for citizens registered in Taipei:
    two processed by both agencies told (after 1 and 4 hours: the last agency counts), one
    still waiting on an agency; a citizen's own report (no workplace) registered in New
    Taipei, processed after 30 minutes, by a citizen who had reported a New Taipei mailing
    address (the residence); one event outside the period."""
    base = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
    with transaction(factory) as db:
        db.execute(delete(Delivery))
        db.execute(delete(LifeEvent))
        subs = []
        for agency in (TPE_UDD, NTPC_SOCIAL):
            sub = Subscription(
                agency_code=agency,
                event_kinds=["address_change"],
                fields=[],
                legal_basis="x",
                purpose="",
                mode="feed",
                secret="s",
                status="active",
                requested_by="seed",
            )
            db.add(sub)
            subs.append(sub)
        db.flush()

        def event(n: int, by: str, where: str, at: datetime, done: list[int | None]) -> None:
            db.add(
                LifeEvent(
                    id=f"e-{n}",
                    national_id=f"A12345678{n}",
                    seq=1,
                    kind="address_change",
                    source="citizen" if by == "citizen" else "household_registration",
                    jurisdiction=where,
                    occurred_at=at,
                    recorded_at=at,
                    recorded_by=by,
                    payload={},
                )
            )
            db.flush()
            for sub, minutes in zip(subs, done, strict=False):
                db.add(
                    Delivery(
                        event_id=f"e-{n}",
                        subscription_id=sub.id,
                        agency_code=sub.agency_code,
                        mode="feed",
                        national_id=f"A12345678{n}",
                        seq=1,
                        payload={},
                        status="pending" if minutes is None else "processed",
                        processed_at=None if minutes is None else at + timedelta(minutes=minutes),
                    )
                )

        household = "taipei-city.household_registration"
        event(1, household, "taipei-city", base, [10, 60])
        event(2, household, "taipei-city", base, [240, 5])
        event(3, household, "taipei-city", base, [5, None])
        event(4, "citizen", "new-taipei-city", base, [30])
        event(5, household, "taipei-city", datetime(2026, 5, 1, tzinfo=UTC), [1, 1])
        db.add(  # the fourth citizen's mailing address, reported before the period
            LifeEvent(
                id="m-4",
                national_id="A123456784",
                seq=0,
                kind="mailing_address",
                source="citizen",
                jurisdiction="new-taipei-city",
                occurred_at=datetime(2026, 2, 1, tzinfo=UTC),
                recorded_at=datetime(2026, 2, 1, tzinfo=UTC),
                recorded_by="citizen",
                payload={"mailing_address": "新北市板橋區文化路一段1號"},
            )
        )
    with factory() as db:
        found = {
            (r.way, r.jurisdiction, r.kind): (
                r.events,
                r.agencies_told,
                r.all_processed,
                r.median_seconds,
                r.p90_seconds,
            )
            for r in stats.tell_us_once(db, PERIOD, NODE_WIDE)
        }
        taipei = stats.tell_us_once(db, PERIOD, Scope("taipei-city"))
    assert found == {
        ("workplace", "taipei-city", "address_change"): (3, 6, 2, 9000, 14400),
        ("registration", "taipei-city", "address_change"): (3, 6, 2, 9000, 14400),
        ("workplace", "unknown", "address_change"): (1, 1, 1, 1800, 1800),
        ("registration", "new-taipei-city", "address_change"): (1, 1, 1, 1800, 1800),
        ("residence", "unknown", "address_change"): (3, 6, 2, 9000, 14400),
        ("residence", "new-taipei-city", "address_change"): (1, 1, 1, 1800, 1800),
    }
    assert {r.jurisdiction for r in taipei} == {"taipei-city"}
    with transaction(factory) as db:
        accounts.create_user(
            db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理"
        )
    admin = visit("tpe-admin")
    page = admin.get("/stats?since=2026-03-01&until=2026-03-15")
    assert 'id="events-table"' in page.text and "4.0 小時" in page.text
    data = admin.get("/stats/tell-us-once.csv?since=2026-03-01&until=2026-03-15")
    assert "workplace,taipei-city,address_change,3,6,2,0,9000,14400" in data.text


def test_counting_by_residence_from_the_mailing_address_reported_before_theadd_case(
    factory: sessionmaker[Session], visit: Visit
) -> None:
    """The citizen reports a mailing address in the former Taipei County (today New Taipei)
    between the second and the third case, then one in Taipei before the fifth: the first
    cases (and the one opened first) know no residence; an address reported after a case
    does not move it; an unreadable address leaves it unknown."""
    _seed(factory)

    def report(seq: int, at: datetime, address: str) -> None:
        db.add(
            LifeEvent(
                id=f"m-{seq}",
                national_id="A123456789",
                seq=100 + seq,
                kind="mailing_address",
                source="citizen",
                jurisdiction="taipei-city",
                occurred_at=at,
                recorded_at=at,
                recorded_by="citizen",
                payload={"mailing_address": address},
            )
        )

    with transaction(factory) as db:
        report(1, datetime(2026, 3, 3, 3, 30, tzinfo=UTC), "台北縣板橋市文化路一段1號")
        report(2, datetime(2026, 3, 3, 5, 30, tzinfo=UTC), "臺北市信義區市府路1號")
        report(3, datetime(2026, 3, 20, tzinfo=UTC), "不是地址")  # after the period
    with factory() as db:
        found = {
            key: value
            for key, value in _index(stats.rows(db, PERIOD, NODE_WIDE)).items()
            if key[0] == "residence"
        }
        later = stats.rows(db, stats.Filters(date(2026, 3, 20), date(2026, 4, 2)), NODE_WIDE)
    week2 = MONDAY + timedelta(days=7)
    assert found == {
        ("residence", "unknown", MONDAY, TPE_UDD): (3, 4, 4),
        ("residence", "new-taipei-city", MONDAY, TPE_UDD): (2, 4, 2),
        ("residence", "taipei-city", MONDAY, TPE_UDD): (2, 4, 2),
        ("residence", "taipei-city", MONDAY, NTPC_SOCIAL): (1, 3, 0),
        ("residence", "taipei-city", week2, NTPC_SOCIAL): (1, 3, 0),
    }
    assert [(r.way, r.jurisdiction) for r in later if r.way == "residence"] == [
        ("residence", "unknown")  # the April case: the latest address cannot be read
    ]
    assert (
        stats.city_of("臺北縣板橋市文化路一段1號", date(2010, 1, 1), {"new-taipei-city": "x"})
        is None
    )
    with transaction(factory) as db:
        accounts.create_user(
            db,
            "ntpc-admin",
            DEMO_PASSWORD,
            "admin",
            "new-taipei-city.civil_affairs",
            "管理",
        )
    page = visit("ntpc-admin").get("/stats?since=2026-03-01&until=2026-03-15")
    assert 'id="weeks-residence-new-taipei-city"' in page.text
    assert "依民眾居住地（通訊地址）" in page.text


def test_the_public_sees_only_cells_above_the_threshold(
    factory: sessionmaker[Session], demo_app: FastAPI, clock: Clock
) -> None:
    """Anonymous: node-wide, the period widened to whole weeks, every cell of fewer than
    MIN_CELL cases withheld (New Taipei's single cases, Taipei's 2-case registration cell)
    and never counted; staff keep the full view of their own tenant."""
    _seed(factory)
    with TestClient(demo_app) as anyone:
        api = anyone.get(
            "/api/v1/stats/public?since=2026-03-04&until=2026-03-05",
            headers={"Accept": "application/json"},
        )
        page = anyone.get("/stats/public?since=2026-03-01&until=2026-03-15")
        bad = anyone.get("/api/v1/stats/public?since=x", headers={"Accept": "application/json"})
        staff_only = anyone.get("/api/v1/stats/cases", headers={"Accept": "application/json"})
    assert api.status_code == 200
    body = api.json()
    assert (body["since"], body["until"]) == ("2026-03-02", "2026-03-08")
    assert [(r["way"], r["jurisdiction"], r["cases"]) for r in body["rows"]] == [
        ("residence", "unknown", 7),
        ("workplace", "taipei-city", 7),
    ]
    assert all(r["cases"] >= publication.MIN_CELL for r in body["rows"])
    assert body["turnaround"] == [] and body["tell_us_once"] == []
    assert "withheld" not in body and body["published_through"] == "2026-03-22"
    assert body["suppression"].startswith("少於 5 件的格不公開")
    assert NTPC_SOCIAL not in api.text
    assert page.status_code == 200 and 'id="public-workplace"' in page.text
    assert NTPC_SOCIAL not in page.text and "新北市政府社會局" not in page.text
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"
    assert staff_only.status_code == 401
    with factory() as db:
        full = stats.rows(db, PERIOD, Scope("new-taipei-city"))
    assert {r.cases for r in full} == {1, 4}  # the tenant's own small cells, in full


def test_filters_are_catalog_choices_and_the_api_is_documented(
    factory: sessionmaker[Session], visit: Visit, demo_app: FastAPI
) -> None:
    """The page offers the catalog's jurisdictions, agencies and items to choose from; a
    code the catalog does not know is a 422 naming the field; every stats API operation is
    in the OpenAPI document with its filters and its 422 problem response."""
    _seed(factory)
    with transaction(factory) as db:
        accounts.create_user(
            db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理"
        )
    admin = visit("tpe-admin")
    page = admin.get(f"/stats?since=2026-03-01&until=2026-03-15&agency={TPE_UDD}")
    assert '<select id="f-agency" name="agency">' in page.text
    assert f'<option value="{TPE_UDD}" selected>' in page.text
    assert '<option value="taipei-city">臺北市</option>' in page.text
    assert f'<option value="{ITEM}">' in page.text
    for name, value in (("jurisdiction", "atlantis"), ("agency", "x.y"), ("item", "nothing")):
        wrong = admin.client.get(
            f"/api/v1/stats/cases?{name}={value}", headers={"Accept": "application/json"}
        )
        assert wrong.status_code == 422, name
        assert [e["field"] for e in wrong.json()["errors"]] == [name]
    assert admin.get("/stats?item=nothing").status_code == 422
    document = TestClient(demo_app).get("/openapi.json").json()
    for path in ("cases", "turnaround", "savings", "tell-us-once", "public"):
        operation = document["paths"][f"/api/v1/stats/{path}"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"since", "until", "jurisdiction", "agency", "item"} <= names, path
        assert "application/problem+json" in operation["responses"]["422"]["content"], path
    assert not any(p.startswith("/stats") for p in document["paths"])


def test_the_public_cells_are_weekly_so_no_period_splits_one(
    factory: sessionmaker[Session], demo_app: FastAPI, clock: Clock
) -> None:
    """Five moves in the week of 2 March and one the next week: over both weeks the public
    sees the first week's five and not the single one (a two-week cell of six, beside the
    first week's five, would give it away)."""
    with transaction(factory) as db:
        for n in range(6):
            at = datetime(2026, 3, 3 if n < 5 else 10, 2, n, tzinfo=UTC)
            db.add(
                LifeEvent(
                    id=f"w-{n}",
                    national_id=f"B12345678{n}",
                    seq=1,
                    kind="address_change",
                    source="household_registration",
                    jurisdiction="taipei-city",
                    occurred_at=at,
                    recorded_at=at,
                    recorded_by="taipei-city.household_registration",
                    payload={},
                )
            )
    with TestClient(demo_app) as anyone:
        body = anyone.get(
            "/api/v1/stats/public?since=2026-03-01&until=2026-03-15",
            headers={"Accept": "application/json"},
        ).json()
    assert {(e["week"], e["way"], e["events"]) for e in body["tell_us_once"]} == {
        ("2026-03-02", "workplace", 5),
        ("2026-03-02", "registration", 5),
        ("2026-03-02", "residence", 5),
    }


def test_a_period_off_the_calendar_or_too_long_for_the_public_is_a_422(
    visit: Visit, demo_app: FastAPI, tmp_path: Path, clock: Clock
) -> None:
    """``until=9999-12-31`` overflowed widening to whole weeks (a 500), and the public view
    counted each week of any period on its own: 27 years kept a worker busy for half a
    minute, centuries for hours, asked by anyone."""
    json_ = {"Accept": "application/json"}
    with TestClient(demo_app) as anyone:
        for query, field in (
            ("until=9999-12-31", "until"),
            ("since=0001-01-01&until=2026-01-07", "since"),
            ("since=2000-01-01&until=2026-12-31", "since"),
            ("since=2026-05-01&until=2026-01-01", "since"),  # no day: it answered empty
        ):
            answer = anyone.get(f"/api/v1/stats/public?{query}", headers=json_)
            assert answer.status_code == 422, query
            assert [e["field"] for e in answer.json()["errors"]] == [field], query
        assert anyone.get("/stats/public?until=9999-12-31").status_code == 422
        longest = publication.MAX_PUBLIC_WEEKS * 7 - 1
        until = (date(2026, 3, 2) + timedelta(days=longest)).isoformat()
        fits = anyone.get(f"/api/v1/stats/public?since=2026-03-02&until={until}", headers=json_)
        assert fits.status_code == 200
    auditor = visit("tpe-auditor")
    for path in ("/api/v1/stats/cases", "/api/v1/stats/tell-us-once", "/stats/turnaround.csv"):
        answer = auditor.client.get(f"{path}?until=9999-12-31", headers=json_)
        assert answer.status_code == 422, path
    from typer.testing import CliRunner

    from onceonly.cli import app

    result = CliRunner().invoke(app, ["stats", "export", str(tmp_path), "--until", "9999-12-31"])
    assert result.exit_code == 2 and "--until" in result.output
    backwards = ["stats", "export", str(tmp_path / "b"), "--since", "2026-05-01"]
    result = CliRunner().invoke(app, [*backwards, "--until", "2026-01-01"])
    assert result.exit_code == 2 and "--since: 起日不可晚於迄日" in result.output, result.output
    assert not (tmp_path / "b").exists()


def test_no_public_cell_is_another_way_less_the_shown_ones(
    factory: sessionmaker[Session], demo_app: FastAPI, clock: Clock
) -> None:
    """Seven cases of Taipei's urban development office in one week, six of citizens
    registered in Taipei and one in New Taipei: by workplace seven were shown, by
    registration six, so the public learnt of the one New Taipei citizen (and how many of
    their pieces came online) by subtraction."""
    base = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    with transaction(factory) as db:
        for n in range(7):
            owner = "taipei-city.social_welfare" if n < 6 else NTPC_SOCIAL
            add_case(db, n, TPE_UDD, base + timedelta(hours=n), owner, online=1 + n % 2)
    week = stats.Filters(date(2026, 3, 2), date(2026, 3, 8))
    taipei_week = stats.Filters(week.since, week.until, "taipei-city")
    with factory() as db:
        shown = publication.published(db, week, now=SETTLED, settle_days=7)
        only_taipei = publication.published(db, taipei_week, now=SETTLED, settle_days=7)
    cells = {(r.way, r.jurisdiction): r.cases for r in shown.rows}
    # registration: New Taipei's one withheld, and Taipei's six with it
    assert cells == {("workplace", "taipei-city"): 7, ("residence", "unknown"): 7}
    assert {(r.way, r.jurisdiction) for r in only_taipei.rows} == {("workplace", "taipei-city")}
    for way in stats.WAYS:  # no way's shown cells fall short of the total by one to four
        assert sum(r.cases for r in shown.rows if r.way == way) in (0, 7), way
    with TestClient(demo_app) as anyone:
        body = anyone.get(
            "/api/v1/stats/public?since=2026-03-02&until=2026-03-08",
            headers={"Accept": "application/json"},
        ).json()
    assert {(r["way"], r["jurisdiction"]) for r in body["rows"]} == set(cells)


def test_complementary_withholding_per_way() -> None:
    week = date(2026, 3, 2)

    def row(way: str, jurisdiction: str, cases: int) -> stats.Row:
        return stats.Row(way, jurisdiction, week, ITEM, TPE_UDD, cases)

    found = [
        row("workplace", "taipei-city", 12),
        row("registration", "taipei-city", 6),
        row("registration", "new-taipei-city", 5),
        row("registration", "unknown", 1),
        row("residence", "taipei-city", 7),
        row("residence", "keelung-city", 5),
    ]
    kept = {(r.way, r.jurisdiction) for r in publication.suppressed(found)}
    # registration withholds 1: the smaller of its shown cells (5) goes too, making 6
    assert kept == {
        ("workplace", "taipei-city"),
        ("registration", "taipei-city"),
        ("residence", "taipei-city"),
        ("residence", "keelung-city"),
    }
