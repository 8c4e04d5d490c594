"""A busy city's public statistics over two years: more cases, events, deliveries and citizens
in one period than one statement may bind parameters (32,766 on SQLite as SQLite builds it,
65,535 through psycopg). The measures once named every id of the period in one ``IN (...)``,
so the anonymous page answered a 500 (``too many SQL variables``); now every figure comes out
whole, as of its week's cut-off. The rows are inserted in bulk, as a data load would."""

from __future__ import annotations

import sqlite3
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.tenancy import tenant_of_agency
from onceonly.cases.models import Case, CaseEvent, CaseEvidence
from onceonly.db import transaction
from onceonly.notify.models import DeadLetter, Delivery, LifeEvent
from onceonly.stats import publication
from onceonly.stats import service as stats
from tests.stats.support import (
    ITEM,
    NTPC_SOCIAL,
    TPE_HOUSEHOLD,
    TPE_SOCIAL,
    TPE_UDD,
    Clock,
    subscription,
)

SQLITE_LIMIT = 32_766
"""SQLite's own default limit on a statement's parameters (Debian's build raises it)."""
MANY = 33_000
"""Cases in the period asked for, and moves in one week (the public figures read each week
on its own): each with its citizen, and each move told to an agency."""
WEEKS = (date(2026, 3, 2), date(2026, 3, 9))
"""Even cases are opened in the first week, odd ones in the second; every move in the first."""
LATE = datetime(2026, 3, 30, tzinfo=UTC)
"""After both weeks' cut-offs: nothing done then counts for them."""
HOUSEHOLD = ("household_registration", "central.moi_household")
WELFARE = ("is_low_income_household", "welfare_status")
PAPER_SECONDS = 2 * 86400
ADDRESSES = {
    "taipei-city": "臺北市信義區市府路1號",
    "new-taipei-city": "新北市板橋區中山路一段161號",
}
RESIDENCES = ("taipei-city",) * 3 + ("new-taipei-city",) * 2 + ("unknown",) * 6
QUERY = "/api/v1/stats/public?since=2024-03-25&until=2026-03-22"
"""104 weeks, up to the last one published on :data:`tests.stats.support.SETTLED`."""

Cells = dict[tuple[Any, ...], tuple[Any, ...]]


@pytest.fixture
def sqlite_limit() -> Iterator[None]:
    """Every SQLite connection opened meanwhile binds at most :data:`SQLITE_LIMIT` parameters
    a statement, as SQLite is built by default (Debian's build allows 250,000: a statement
    refused elsewhere passed here). Requested first, before the test's engines connect."""

    def pin(connection: Any, _: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_LIMIT)

    event.listen(Engine, "connect", pin)
    yield
    event.remove(Engine, "connect", pin)


def _start(week: date) -> datetime:
    return datetime.combine(week, time(0), tzinfo=stats.TAIPEI).astimezone(UTC)


def _subject(n: int) -> str:
    return f"A{n:09d}"


def _lives(n: int) -> str:
    """Where citizen ``n`` lives: the city of the mailing address they reported before the
    period, or ``unknown`` (none reported)."""
    return RESIDENCES[n % 11]


def _insert(
    factory: sessionmaker[Session], *tables: tuple[type[Any], list[dict[str, Any]]]
) -> None:
    """Core inserts, with every citizen's mailing address reported in 2024 (before the period;
    a report is a life event, so it would count as one in the period)."""
    reports = [
        {
            "id": f"addr-{n}",
            "national_id": _subject(n),
            "seq": 1,
            "kind": "mailing_address",
            "source": "citizen",
            "jurisdiction": None,
            "occurred_at": datetime(2024, 1, 1, tzinfo=UTC),
            "recorded_at": datetime(2024, 1, 1, tzinfo=UTC),
            "recorded_by": "citizen",
            "payload": {"mailing_address": ADDRESSES[_lives(n)]},
        }
        for n in range(MANY)
        if _lives(n) in ADDRESSES
    ]
    every: list[tuple[type[Any], list[dict[str, Any]]]] = [(LifeEvent, reports), *tables]
    with transaction(factory) as db:
        for model, rows in every:
            db.execute(insert(model.__table__), rows)


def _public(demo_app: FastAPI) -> dict[str, Any]:
    """The anonymous answer to :data:`QUERY` (a server error as a 500, not raised)."""
    with TestClient(demo_app, raise_server_exceptions=False) as anyone:
        answer = anyone.get(QUERY, headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text[:2000]
    body: dict[str, Any] = answer.json()
    return body


def _cells(found: list[dict[str, Any]], key: tuple[str, ...], value: tuple[str, ...]) -> Cells:
    cells = {tuple(cell[k] for k in key): tuple(cell[v] for v in value) for cell in found}
    assert len(cells) == len(found)
    return cells


def _percentiles(times: list[int]) -> tuple[int, int]:
    ordered = sorted(times)
    return int(statistics.median(ordered)), stats.nearest_rank(ordered, 0.9)


# -- cases ----------------------------------------------------------------------------------


def _opened(n: int) -> datetime:
    return _start(WEEKS[n % 2]) + timedelta(seconds=30 * (n // 2))


def _agency(n: int) -> str:
    return TPE_UDD if n % 3 else NTPC_SOCIAL


def _owner(n: int) -> str:
    return TPE_SOCIAL if n % 4 < 2 else NTPC_SOCIAL


def _online_after(n: int) -> int | None:
    """Seconds from opening until case ``n``'s household registration was issued online, as
    of the cut-off: half an hour for every tenth case (replayed from its timeline: its row
    says a later fetch was refused), never when its only fetch came after the cut-off."""
    if n % 10 == 0:
        return 1800
    return None if n % 7 == 3 else 3600


def _refused(n: int) -> bool:
    """Whether case ``n``'s welfare status was refused (else never fetched)."""
    return n % 5 == 1


def _seed_cases(factory: sessionmaker[Session]) -> None:
    """:data:`MANY` cases as the counter would have left them, each with its household
    registration (issued, or not by the cut-off) and its welfare status (refused or never
    fetched; every even case's paper attached two days after opening)."""
    cases: list[dict[str, Any]] = []
    pieces: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    for n in range(MANY):
        case_id, opened = 1_000_000 + n, _opened(n)
        cases.append(
            {
                "id": case_id,
                "number": f"BIG-{n}",
                "application_item": ITEM,
                "opening_agency": _agency(n),
                "agency": _agency(n),
                "opened_by": "seed",
                "subject": _subject(n),
                "contact_language": "zh-TW",
                "state": "gathering",
                "opened_at": opened,
                "updated_at": opened,
                "evidence_online": 1,
                "evidence_paper": 1,
                "agencies_involved": 1,
                "version": 1,
            }
        )
        household, fetched = "issued", opened + timedelta(hours=1)
        if n % 10 == 0:
            household, fetched = "denied", LATE
            for moment, answer in ((opened + timedelta(minutes=30), "issued"), (LATE, "denied")):
                timeline.append(
                    {
                        "case_id": case_id,
                        "at": moment,
                        "kind": "evidence_fetched",
                        "actor": "seed",
                        "agency": _agency(n),
                        "details": {
                            "evidence_type": HOUSEHOLD[0],
                            "status": answer,
                            "owners": [HOUSEHOLD[1]],
                            "kept_previous": False,
                        },
                    }
                )
        elif _online_after(n) is None:
            fetched = LATE
        refused = _refused(n)
        paper = opened + timedelta(seconds=PAPER_SECONDS) if n % 2 == 0 else None
        both: list[tuple[str, str, list[str], str | None, datetime | None, datetime | None]] = [
            (HOUSEHOLD[0], HOUSEHOLD[0], [HOUSEHOLD[1]], household, fetched, None),
            (
                *WELFARE,
                [_owner(n)] if refused else [],
                "denied" if refused else None,
                opened + timedelta(hours=1) if refused else None,
                paper,
            ),
        ]
        for position, (evidence_type, dataset, owners, status, at, attached) in enumerate(both):
            pieces.append(
                {
                    "case_id": case_id,
                    "position": position,
                    "evidence_type": evidence_type,
                    "dataset": dataset,
                    "paper_name_zh": "謄本",
                    "paper_name_en": "transcript",
                    "owners": owners,
                    "status": status,
                    "withheld_fields": [],
                    "transcripts": [],
                    "fetched_at": at,
                    "paper_attached_at": attached,
                }
            )
    _insert(factory, (Case, cases), (CaseEvidence, pieces), (CaseEvent, timeline))


def _expected_cases() -> tuple[Cells, Cells]:
    """The public case rows and turnaround, worked out from how :func:`_seed_cases` made
    each case."""
    rows: Counter[tuple[str, ...]] = Counter()
    online: Counter[tuple[str, ...]] = Counter()
    samples: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for n in range(MANY):
        refused = _refused(n)
        ways = {
            "workplace": tenant_of_agency(_agency(n)) or "",
            "registration": (tenant_of_agency(_owner(n)) or "") if refused else "unknown",
            "residence": _lives(n),
        }
        week = WEEKS[n % 2].isoformat()
        seconds = _online_after(n)
        for way, group in ways.items():
            key = (way, group, week, ITEM, _agency(n))
            rows[key] += 1
            if seconds is not None:
                online[key] += 1
                samples[(week, way, group, HOUSEHOLD[0], HOUSEHOLD[1], "online")].append(seconds)
            if n % 2 == 0:
                owner = _owner(n) if refused else "unknown"
                samples[(week, way, group, WELFARE[1], owner, "paper")].append(PAPER_SECONDS)
    cases = {key: (count, online[key], 2 * count - online[key]) for key, count in rows.items()}
    turned = {key: (len(times), *_percentiles(times)) for key, times in samples.items()}
    return cases, turned


def test_a_busy_city_s_cases_over_two_years(
    sqlite_limit: None, factory: sessionmaker[Session], demo_app: FastAPI, clock: Clock
) -> None:
    """33,000 cases (66,000 pieces, 33,000 citizens) over two weeks, asked for over two
    years: every case row and turnaround cell the public may see, as of its week's cut-off
    (no cell is small enough to withhold)."""
    _seed_cases(factory)
    body = _public(demo_app)
    cases, turned = _expected_cases()
    assert min(cell[0] for cell in [*cases.values(), *turned.values()]) >= publication.MIN_CELL
    row = ("way", "jurisdiction", "week", "application_item", "agency")
    assert _cells(body["rows"], row, ("cases", "online", "paper")) == cases
    cell = ("week", "way", "jurisdiction", "dataset", "owner", "channel")
    figures = ("pieces", "median_seconds", "p90_seconds")
    assert _cells(body["turnaround"], cell, figures) == turned
    assert body["tell_us_once"] == []


# -- tell-us-once ---------------------------------------------------------------------------


def _recorded(k: int) -> datetime:
    return _start(WEEKS[0]) + timedelta(seconds=15 * k)


def _seed_moves(factory: sessionmaker[Session]) -> None:
    """:data:`MANY` moves in one week, each told to one agency: every fourth processed an
    hour later; the next processed only after the cut-off; the next dead two hours later;
    the last dead then too, replayed and processed after the cut-off."""
    with transaction(factory) as db:
        sub = subscription(db, TPE_SOCIAL).id
    moves, deliveries, letters = [], [], []
    for k in range(MANY):
        recorded, outcome = _recorded(k), k % 4
        moves.append(
            {
                "id": f"move-{k}",
                "national_id": _subject(k),
                "seq": 2,
                "kind": "address_change",
                "source": "household_registration",
                "jurisdiction": "taipei-city" if k % 2 else "new-taipei-city",
                "occurred_at": recorded,
                "recorded_at": recorded,
                "recorded_by": TPE_HOUSEHOLD,
                "payload": {},
            }
        )
        deliveries.append(
            {
                "id": 1_000_000 + k,
                "event_id": f"move-{k}",
                "subscription_id": sub,
                "agency_code": TPE_SOCIAL,
                "mode": "pull",
                "national_id": _subject(k),
                "seq": 2,
                "payload": {},
                "status": "dead" if outcome == 2 else "processed",
                "attempts": 1,
                "next_attempt_at": recorded,
                "created_at": recorded,
                "processed_at": {0: recorded + timedelta(hours=1), 2: None}.get(outcome, LATE),
            }
        )
        if outcome >= 2:
            letters.append(
                {
                    "delivery_id": 1_000_000 + k,
                    "attempts": 8,
                    "last_error": "gone",
                    "dead_at": recorded + timedelta(hours=2),
                    "replayed_at": LATE if outcome == 3 else None,
                }
            )
    _insert(factory, (LifeEvent, moves), (Delivery, deliveries), (DeadLetter, letters))


def _expected_moves() -> Cells:
    told: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for k in range(MANY):
        for way, group in (
            ("workplace", "taipei-city"),
            ("registration", "taipei-city" if k % 2 else "new-taipei-city"),
            ("residence", _lives(k)),
        ):
            told[(WEEKS[0].isoformat(), way, group, "address_change")].append(k % 4)
    return {
        key: (
            len(outcomes),
            len(outcomes),
            outcomes.count(0),
            outcomes.count(2) + outcomes.count(3),
            *((3600, 3600) if 0 in outcomes else (None, None)),
        )
        for key, outcomes in told.items()
    }


def test_a_busy_week_of_moves_over_two_years(
    sqlite_limit: None, factory: sessionmaker[Session], demo_app: FastAPI, clock: Clock
) -> None:
    """33,000 moves in one week (33,000 deliveries, 16,500 dead letters, 33,000 citizens),
    asked for over two years: every tell-us-once cell, as of the week's cut-off."""
    _seed_moves(factory)
    body = _public(demo_app)
    expected = _expected_moves()
    assert min(cell[0] for cell in expected.values()) >= publication.MIN_CELL
    cell = ("week", "way", "jurisdiction", "kind")
    figures = ("events", "agencies_told", "all_processed", "dead", "median_seconds", "p90_seconds")
    assert _cells(body["tell_us_once"], cell, figures) == expected
    assert body["rows"] == [] and body["turnaround"] == []
