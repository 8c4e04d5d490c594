"""The public figures are counted from one reading of the period and kept per published week
(:class:`publication.WeekCache`): the same cells as counting each week on its own, and no reader
is ever shown a cached week that another filter, another setting or another catalog would
not have given them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.tenancy import NODE_WIDE
from onceonly.catalog.models import Dataset, Jurisdiction
from onceonly.db import transaction
from onceonly.domain.national_id import make_national_id
from onceonly.notify.models import Delivery, LifeEvent
from onceonly.stats import publication
from onceonly.stats import service as stats
from tests.conftest import DemoEnv
from tests.stats.support import (
    ITEM,
    NTPC_SOCIAL,
    SETTLED,
    TPE_SOCIAL,
    TPE_UDD,
    Clock,
    add_case,
    attach,
    die,
    fetch,
    life_event,
    open_case,
    piece,
    subscription,
)

JSON = {"Accept": "application/json"}
WEEKS = (date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16))
"""Published on :data:`SETTLED` whether the node settles seven days or two."""
CASES, EVENTS = 48, 24
ADDRESSES = ("臺北市信義區市府路1號", "新北市板橋區中山路一段161號")
PERIOD = stats.Filters(date(2026, 3, 1), date(2026, 3, 31))
"""Widened to whole weeks from 23 February, and cut at the last week published."""
FILTERS = (
    {},
    {"jurisdiction": "taipei-city"},
    {"jurisdiction": "new-taipei-city"},
    {"jurisdiction": "unknown"},
    {"agency": TPE_UDD},
    {"agency": TPE_SOCIAL, "jurisdiction": "taipei-city"},
    {"item": ITEM},
    {"item": "no-such-item"},
)


def _monday(week: date, hour: int) -> datetime:
    return datetime.combine(week, time(hour), tzinfo=stats.TAIPEI).astimezone(UTC)


def _lives(n: int) -> int | None:
    """Where the citizen of case ``n`` reported living (an index of :data:`ADDRESSES`):
    New Taipei in the first week, Taipei in the second, New Taipei or nowhere in the
    third."""
    return (1, 0, 1 if n % 2 else None)[n % 3]


def _seed(factory: sessionmaker[Session], env: DemoEnv) -> None:
    """Cases and moves in three weeks: cases at two Taipei offices, whose welfare status is
    answered by Taipei or New Taipei (issued, refused or unavailable), most fetched within
    the hour, every sixth only four days after its week ended (counted when the node settles
    seven days, not two), every third with a paper scan; their citizens living where
    :func:`_lives` says; moves told to two agencies, some dead, some processed long after."""
    with transaction(factory) as db:
        for n in range(CASES):
            subject = make_national_id("A", 1, n)
            lives = _lives(n)
            if lives is not None:
                at = datetime(2025, 6, 1, tzinfo=UTC)
                db.add(
                    LifeEvent(
                        id=f"addr-{n}",
                        national_id=subject,
                        seq=1,
                        kind="mailing_address",
                        source="citizen",
                        jurisdiction=None,
                        occurred_at=at,
                        recorded_at=at,
                        recorded_by="citizen",
                        payload={"mailing_address": ADDRESSES[lives]},
                    )
                )
            week = WEEKS[n % 3]
            agency = TPE_SOCIAL if n % 4 == 0 else TPE_UDD
            opened = _monday(week, 9) + timedelta(hours=n // 3)
            number = open_case(db, opened, agency, subject)
            late = n % 6 == 5
            fetched = datetime.combine(week + timedelta(days=10), time(12), stats.TAIPEI)
            welfare = ("issued", "denied", "unavailable")[(n // 3) % 3]
            results = (
                piece("household_registration"),
                piece("is_low_income_household", welfare, owner=(NTPC_SOCIAL, TPE_SOCIAL)[n % 2]),
                piece("household_income_below"),
            )
            when = fetched.astimezone(UTC) if late else opened + timedelta(hours=1)
            fetch(db, number, when, *results, agency=agency)
            if n % 3 == 0:
                scan = opened + timedelta(days=1)
                attach(db, env.settings, number, "owns_no_residential_property", scan, agency)
        subs = [subscription(db, TPE_SOCIAL), subscription(db, NTPC_SOCIAL)]
        for k in range(EVENTS):
            recorded = _monday(WEEKS[k % 3], 10) + timedelta(hours=k)
            where = "taipei-city" if k % 2 else "new-taipei-city"
            first, second = life_event(db, f"move-{k}", recorded, subs, where=where)
            if k % 4 == 0:
                die(db, first, recorded + timedelta(minutes=10))
            else:
                _processed(db, first, recorded + timedelta(minutes=20))
            _processed(db, second, recorded + timedelta(days=30 if k % 5 == 0 else 0, hours=1))


def _processed(db: Session, delivery_id: int, at: datetime) -> None:
    row = db.get(Delivery, delivery_id)
    assert row is not None
    row.status, row.processed_at = "processed", at


def _one_by_one(
    db: Session, filters: stats.Filters, now: datetime, settle_days: int
) -> list[object]:
    """The public answer as it was counted before the weeks were kept: the case rows from
    one reading of the period, turnaround and tell-us-once a week at a time, each
    withholding decided over every jurisdiction, then the jurisdiction asked for."""
    period = publication.public_weeks(filters, now, settle_days)
    wanted = period.jurisdiction
    rows = [
        r
        for r in publication.public_rows(db, period, settle_days)
        if not wanted or r.jurisdiction == wanted
    ]
    as_of = publication.settled(settle_days)
    turned: list[publication.Weekly] = []
    told: list[publication.Weekly] = []
    monday = period.since
    while monday <= period.until:
        week = stats.Filters(monday, monday + timedelta(days=6))
        cells = stats.turnaround(db, week, NODE_WIDE, as_of=as_of)
        hidden = publication.complementary(
            cells, lambda c: (c.dataset, c.owner, c.channel), lambda c: c.pieces
        )
        turned += [
            publication.Weekly(monday, c)
            for c in cells
            if (not wanted or c.jurisdiction == wanted) and id(c) not in hidden
        ]
        events = stats.tell_us_once(db, week, NODE_WIDE, as_of=as_of)
        hidden = publication.complementary(events, lambda e: e.kind, lambda e: e.events)
        told += [
            publication.Weekly(monday, e)
            for e in events
            if (not wanted or e.jurisdiction == wanted) and id(e) not in hidden
        ]
        monday += timedelta(days=7)
    return [period, rows, turned, told]


def _figures(shown: publication.Published) -> list[object]:
    return [shown.filters, shown.rows, shown.turnaround, shown.events]


@pytest.mark.parametrize("settle_days", [7, 2])
def test_weeks_counted_from_one_reading_are_those_counted_one_by_one(
    factory: sessionmaker[Session], demo_env: DemoEnv, settle_days: int
) -> None:
    """Every filter, each answer the same as counting week by week: without a cache, with
    the weeks counted into one, and with them taken from it."""
    _seed(factory, demo_env)
    cache = publication.WeekCache()
    with factory() as db:
        for chosen in FILTERS:
            filters = stats.Filters(PERIOD.since, PERIOD.until, **chosen)
            expected = _one_by_one(db, filters, SETTLED, settle_days)
            for kept in (None, cache, cache):
                shown = publication.published(
                    db, filters, now=SETTLED, settle_days=settle_days, cache=kept
                )
                assert _figures(shown) == expected, (chosen, kept)
        # not vacuous: every kind of cell is shown, in every week, and some are withheld
        whole = publication.published(db, PERIOD, now=SETTLED, settle_days=settle_days)
        counted = stats.rows(db, publication.public_weeks(PERIOD, SETTLED, settle_days), NODE_WIDE)
    assert whole.rows and whole.turnaround and whole.events
    assert 0 < len(whole.rows) < len(counted)
    assert {w.week for w in whole.turnaround} == set(WEEKS)


def _api(anyone: TestClient, query: str) -> dict[str, Any]:
    anyone.cookies.clear()
    answer = anyone.get(f"/api/v1/stats/public?{query}", headers=JSON)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _fresh(factory: sessionmaker[Session], app: FastAPI, now: datetime, query: str) -> list[Any]:
    """What the API answers to ``query``, counted now without any cache."""
    chosen = dict(part.split("=") for part in query.split("&"))
    filters = stats.Filters(
        date.fromisoformat(chosen["since"]),
        date.fromisoformat(chosen["until"]),
        chosen.get("jurisdiction"),
        chosen.get("agency"),
        chosen.get("item"),
    )
    with factory() as db:
        shown = publication.published(
            db, filters, now=now, settle_days=app.state.settings.stats_settle_days
        )
    return [
        [row.as_dict() for row in shown.rows],
        [cell.as_dict() for cell in shown.turnaround],
        [cell.as_dict() for cell in shown.events],
    ]


WEEK_QUERIES = tuple(
    "since=2026-03-02&until=2026-03-22" + "".join(f"&{k}={v}" for k, v in chosen.items())
    for chosen in FILTERS[:7]
)


def _checked(
    anyone: TestClient,
    factory: sessionmaker[Session],
    app: FastAPI,
    clock: Clock,
    queries: tuple[str, ...] = WEEK_QUERIES,
) -> dict[str, list[Any]]:
    """Each query's public answer, asserted to be what counting afresh gives."""
    found = {}
    for query in queries:
        body = _api(anyone, query)
        answer = [body["rows"], body["turnaround"], body["tell_us_once"]]
        assert answer == _fresh(factory, app, clock.now, query), query
        found[query] = answer
    return found


def test_the_cache_shows_no_other_filter_s_setting_s_or_catalog_s_figures(
    factory: sessionmaker[Session],
    demo_env: DemoEnv,
    demo_app: FastAPI,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Readers of different jurisdictions, agencies and items, one after another, are each
    shown what counting afresh shows them; so is everyone after each change that may move
    a published week: the settling days, the smallest cell shown, a dataset's owner scope
    and a merger in the catalog, and (within :data:`publication.CACHE_TTL`) a case loaded
    directly into the database."""
    _seed(factory, demo_env)
    reads: list[int] = []
    measured = publication.case_measures

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return measured(*args, **kwargs)

    monkeypatch.setattr(publication, "case_measures", counting)
    whole = WEEK_QUERIES[0]
    with TestClient(demo_app) as anyone:
        first = _checked(anyone, factory, demo_app, clock)
        assert len(demo_app.state.stats_weeks) == len(WEEKS)
        assert first[WEEK_QUERIES[1]] != first[WEEK_QUERIES[2]]  # two cities, two answers
        reads.clear()
        assert _checked(anyone, factory, demo_app, clock) == first
        assert len(reads) == len(WEEK_QUERIES)  # counting afresh only: answers came cached

        def changed(change: Callable[[], None], queries: tuple[str, ...] = WEEK_QUERIES) -> None:
            before = {q: _api(anyone, q)["rows"] for q in queries}
            change()
            after = _checked(anyone, factory, demo_app, clock, queries)
            assert after[whole][0] != before[whole], change

        changed(lambda: monkeypatch.setattr(demo_app.state.settings, "stats_settle_days", 2))
        changed(lambda: monkeypatch.setattr(demo_app.state.settings, "stats_settle_days", 7))
        changed(lambda: monkeypatch.setattr(publication, "MIN_CELL", 3))
        changed(lambda: monkeypatch.setattr(publication, "MIN_CELL", 5))

        def catalog(statement: Any) -> Callable[[], None]:
            def run() -> None:
                with transaction(factory) as db:
                    db.execute(statement)

            return run

        welfare = update(Dataset).where(Dataset.code == "welfare_status")
        changed(catalog(welfare.values(owner_scope="all_jurisdictions")))
        changed(catalog(welfare.values(owner_scope="residence")))
        merged = update(Jurisdiction).where(Jurisdiction.code == "new-taipei-city")
        asked = tuple(q for q in WEEK_QUERIES if "new-taipei-city" not in q)
        changed(catalog(merged.values(merged_into="taipei-city")), asked)
        changed(catalog(merged.values(merged_into=None)), asked)
        assert _checked(anyone, factory, demo_app, clock) == first

        def loaded() -> None:
            with transaction(factory) as db:
                for n in range(5):
                    opened = _monday(WEEKS[0], 8) + timedelta(minutes=n)
                    add_case(db, 100 + n, TPE_UDD, opened, TPE_SOCIAL)
            clock.now += publication.CACHE_TTL

        changed(loaded)


def test_a_week_is_kept_only_once_its_cut_off_is_well_past(
    factory: sessionmaker[Session],
    demo_env: DemoEnv,
    demo_app: FastAPI,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node that settles nothing, a minute after the third week's cut-off (its end): the
    week is shown but not kept, so cases opened in its last seconds, in transactions
    committed after it, still count. From :data:`publication.COMMIT_GRACE` after the cut-off the
    week is kept."""
    _seed(factory, demo_env)
    monkeypatch.setattr(demo_app.state.settings, "stats_settle_days", 0)
    cutoff = publication.publication_cutoff(WEEKS[2], 0)
    clock.now = cutoff + timedelta(minutes=1)
    with TestClient(demo_app) as anyone:
        before = _checked(anyone, factory, demo_app, clock)
        assert {key.week for key in demo_app.state.stats_weeks._weeks} == set(WEEKS[:2])
        with transaction(factory) as db:
            for n in range(5):
                add_case(db, 100 + n, TPE_UDD, cutoff - timedelta(seconds=1 + n), TPE_SOCIAL)
        after = _checked(anyone, factory, demo_app, clock)
        assert after[WEEK_QUERIES[0]] != before[WEEK_QUERIES[0]]
        clock.now = cutoff + publication.COMMIT_GRACE
        assert _checked(anyone, factory, demo_app, clock) == after
        assert {key.week for key in demo_app.state.stats_weeks._weeks} == set(WEEKS)


def test_weeks_nothing_happened_in_are_not_kept(
    factory: sessionmaker[Session], demo_env: DemoEnv, demo_app: FastAPI, clock: Clock
) -> None:
    """Asking for two empty years, however often, keeps nothing: otherwise a few such requests
    would push every busy week out of the cache and make the next real request cold again."""
    _seed(factory, demo_env)
    with TestClient(demo_app) as anyone:
        _checked(anyone, factory, demo_app, clock)
        busy = set(demo_app.state.stats_weeks._weeks)
        assert busy
        for since, until in (("2022-03-28", "2024-03-24"), ("1990-01-01", "1991-12-29")):
            body = _api(anyone, f"since={since}&until={until}")
            assert body["rows"] == [] and body["tell_us_once"] == []
        assert set(demo_app.state.stats_weeks._weeks) == busy


def test_the_cache_is_bounded_and_forgets_after_its_time() -> None:
    """The least recently read week goes first; a week is served for
    :data:`publication.CACHE_TTL` after it was kept, and never before it was kept."""
    known = stats.Reference(frozenset(), (), 1)
    keys = [publication.WeekKey(WEEKS[0] + timedelta(weeks=n), 7, 5, known) for n in range(3)]
    figures = [publication.PublicWeek((), (), ()) for _ in keys]
    cache = publication.WeekCache(max_weeks=2)
    for key, week in zip(keys[:2], figures, strict=False):
        cache.put(key, week, SETTLED)
    assert cache.get(keys[0], SETTLED) is figures[0]
    cache.put(keys[2], figures[2], SETTLED)
    assert len(cache) == 2 and cache.get(keys[1], SETTLED) is None
    assert cache.get(keys[0], SETTLED) is figures[0]
    assert cache.get(keys[0], SETTLED - timedelta(seconds=1)) is None
    later = SETTLED + publication.CACHE_TTL
    assert cache.get(keys[0], later - timedelta(seconds=1)) is figures[0]
    assert cache.get(keys[0], later) is None and len(cache) == 1
    unsettled = publication.WeekKey(date(2026, 3, 23), 7, 5, known)
    cache.put(unsettled, figures[0], SETTLED)
    assert cache.get(unsettled, SETTLED) is None and len(cache) == 1
