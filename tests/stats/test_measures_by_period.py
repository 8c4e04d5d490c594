"""The measures read a period's pieces, timeline entries, deliveries and dead letters by the
query that chose its cases and events, not by a list of their ids: rows of cases and events
the period holds but ``as_of`` leaves out (opened or recorded at or after their moment) come
back too, and must change nothing. Read over a period or one case (one event) at a time,
every measure is the same. A case's measures read its own columns, not the whole case: a
case loaded directly (no timeline) counts by them. The citizens' mailing addresses are read
a few citizens at a time, with the same answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases.measures import case_measures
from onceonly.cases.models import Case
from onceonly.db import transaction
from onceonly.domain.national_id import make_national_id
from onceonly.notify import measures
from onceonly.notify.measures import event_measures, mailing_addresses
from onceonly.notify.models import Delivery, LifeEvent
from onceonly.stats import publication
from tests.conftest import DemoEnv
from tests.stats.support import (
    ITEM,
    NTPC_SOCIAL,
    TPE_SOCIAL,
    TPE_UDD,
    add_case,
    attach,
    die,
    fetch,
    life_event,
    open_case,
    piece,
    subscription,
)

BASE = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
HOUR, TICK = timedelta(hours=1), timedelta(microseconds=1)
MOMENT = BASE + 2 * HOUR
"""When the second of four cases (events), one an hour, was opened (recorded)."""
AS_OF: dict[str, Callable[[datetime], datetime] | None] = {
    "live": None,
    "at the moment": lambda _: MOMENT,
    "an hour after": lambda _: MOMENT + HOUR,
    "published": publication.settled(7),
    "long after": lambda _: BASE + timedelta(days=400),
}
LEFT = {"at the moment": 2, "an hour after": 3}
"""How many of the four are opened (recorded) before their moment, where not all of them."""


@pytest.mark.parametrize("as_of", list(AS_OF))
def test_a_period_s_cases_are_each_counted_as_alone(
    factory: sessionmaker[Session], demo_env: DemoEnv, as_of: str
) -> None:
    """Four cases an hour apart: issued then a refusal that keeps them, paper attached, a
    refusal then issued after the moment, pieces fetched after being opened at the moment."""
    with transaction(factory) as db:
        numbers = [
            open_case(db, BASE + n * HOUR, subject=make_national_id("A", 1, n)) for n in range(4)
        ]
        fetch(db, numbers[0], BASE + HOUR / 2)
        attach(db, demo_env.settings, numbers[0], "owns_no_residential_property", BASE + HOUR)
        fetch(db, numbers[0], MOMENT + HOUR / 2, piece("household_income_below", "unavailable"))
        refused = piece("is_low_income_household", "denied", owner=NTPC_SOCIAL)
        fetch(db, numbers[1], BASE + HOUR + HOUR / 6, refused)
        fetch(db, numbers[1], MOMENT + HOUR / 2, piece("is_low_income_household"))
        fetch(db, numbers[2], MOMENT + HOUR / 12)
        attach(db, demo_env.settings, numbers[3], "household_registration", BASE + 4 * HOUR)
    moment = AS_OF[as_of]
    with factory() as db:
        whole = case_measures(db, BASE, BASE + 4 * HOUR, as_of=moment)
        alone = [
            found
            for n in range(4)
            for found in case_measures(db, BASE + n * HOUR, BASE + n * HOUR + TICK, as_of=moment)
        ]
    assert whole == alone
    assert len(whole) == LEFT.get(as_of, 4)


def test_a_case_loaded_directly_counts_by_its_own_columns(factory: sessionmaker[Session]) -> None:
    """A case written into the database directly (a data load: no timeline), decided a day
    after it was opened, its measures stored: live, it counts as stored; as of a moment, its
    decision only from its stored decision time on."""
    decided = BASE + timedelta(days=1)
    with transaction(factory) as db:
        add_case(db, 1, TPE_UDD, BASE, TPE_SOCIAL, online=1, paper=2)
        db.flush()
        case = db.scalars(select(Case).where(Case.number == "T-1")).one()
        case.state, case.decision, case.decided_at = "decided", "approved", decided
        case.decision_seconds, case.closed_at = 86400, decided + HOUR
    with factory() as db:
        (live,) = case_measures(db, BASE, BASE + TICK)
        (before,) = case_measures(db, BASE, BASE + TICK, as_of=lambda _: decided)
        (after,) = case_measures(db, BASE, BASE + TICK, as_of=lambda _: decided + TICK)
    assert (live.opened_at, live.application_item, live.opening_agency) == (BASE, ITEM, TPE_UDD)
    assert (live.evidence_online, live.evidence_paper, live.decision_seconds) == (1, 2, 86400)
    assert (before.decision_seconds, after.decision_seconds) == (None, 86400)
    assert before.evidence == after.evidence == live.evidence


@pytest.mark.parametrize("as_of", list(AS_OF))
def test_a_period_s_events_are_each_counted_as_alone(
    factory: sessionmaker[Session], as_of: str
) -> None:
    """Four moves an hour apart, each told to two agencies: one delivery dies and the other
    is processed within minutes, except the last move's, processed long after."""
    with transaction(factory) as db:
        subs = [subscription(db, agency) for agency in (TPE_SOCIAL, NTPC_SOCIAL)]
        for n in range(4):
            recorded = BASE + n * HOUR
            dying, done = life_event(db, f"move-{n}", recorded, subs)
            die(db, dying, recorded + HOUR / 6)
            row = db.get(Delivery, done)
            assert row is not None
            processed = recorded + (timedelta(days=30) if n == 3 else HOUR / 3)
            row.status, row.processed_at = "processed", processed
    moment = AS_OF[as_of]
    with factory() as db:
        whole = event_measures(db, BASE, BASE + 4 * HOUR, as_of=moment)
        alone = [
            found
            for n in range(4)
            for found in event_measures(db, BASE + n * HOUR, BASE + n * HOUR + TICK, as_of=moment)
        ]
    assert whole == alone
    assert len(whole) == LEFT.get(as_of, 4)
    assert {found.agencies for found in whole} == {2}


@pytest.mark.parametrize("per_query", [1, 2, 3, 500])
def test_mailing_addresses_are_the_same_however_many_citizens_a_query_asks_about(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, per_query: int
) -> None:
    """Five citizens: one moved (two reports), one reported once, one never, one a blank
    address, one only after they are asked about; some asked about twice."""
    reports = [
        ("A000000000", 1, BASE, "臺北市信義區市府路1號"),
        ("A000000000", 2, BASE + HOUR, "新北市板橋區中山路一段161號"),
        ("A000000001", 1, BASE, "臺北市信義區市府路2號"),
        ("A000000003", 1, BASE, "  "),
        ("A000000004", 1, BASE + 5 * HOUR, "臺北市信義區市府路3號"),
    ]
    with transaction(factory) as db:
        for subject, seq, at, address in reports:
            db.add(
                LifeEvent(
                    id=f"addr-{subject}-{seq}",
                    national_id=subject,
                    seq=seq,
                    kind="mailing_address",
                    source="citizen",
                    jurisdiction=None,
                    occurred_at=at,
                    recorded_at=at,
                    recorded_by="citizen",
                    payload={"mailing_address": address},
                )
            )
    asks = [
        ("A000000004", BASE + 2 * HOUR),
        ("A000000000", BASE + HOUR / 2),
        ("A000000002", BASE + 2 * HOUR),
        ("A000000000", BASE + 2 * HOUR),
        ("A000000003", BASE + 2 * HOUR),
        ("A000000001", BASE),
        ("A000000004", BASE + 6 * HOUR),
    ]
    monkeypatch.setattr(measures, "SUBJECTS_PER_QUERY", per_query)
    with factory() as db:
        found = mailing_addresses(db, asks)
    assert found == [
        None,
        "臺北市信義區市府路1號",
        None,
        "新北市板橋區中山路一段161號",
        None,
        "臺北市信義區市府路2號",
        "臺北市信義區市府路3號",
    ]
