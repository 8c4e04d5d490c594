"""The public statistics tell nothing about one citizen: not how many cells a selection hid
(a count going from 0 to 1 for one city, agency, item and week said someone there had just
applied), not a week still running or just ended (two readings minutes apart showed what the
citizen at the counter applied for), and no withheld cell follows from the published ones."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onceonly.accounts.tenancy import NODE_WIDE
from onceonly.cli import app as cli
from onceonly.db import transaction
from onceonly.notify.models import LifeEvent
from onceonly.stats import cli as stats_cli
from onceonly.stats import publication
from onceonly.stats import service as stats
from tests.conftest import DemoEnv
from tests.stats.support import ITEM, NTPC_SOCIAL, TPE_UDD, Clock, add_case

TARGET_ITEM = "public-housing-disability"
TPE_SOCIAL = "taipei-city.social_welfare"
TPE_HOUSEHOLD = "taipei-city.household_registration"
NTPC_HOUSEHOLD = "new-taipei-city.household_registration"
JSON = {"Accept": "application/json"}
WEEK = "since=2026-03-02&until=2026-03-08"
QUERIES = (
    # the attacker's: one city, one agency, one item, one week (one cell per way)
    f"{WEEK}&jurisdiction=taipei-city&agency={TPE_UDD}&item={TARGET_ITEM}",
    f"{WEEK}&jurisdiction=new-taipei-city&agency={TPE_UDD}&item={TARGET_ITEM}",
    f"{WEEK}&jurisdiction=new-taipei-city",  # the tell-us-once cells of the city
    f"{WEEK}&agency={TPE_UDD}",
    "since=2026-03-01&until=2026-03-31",  # all of March: answered up to the 22nd
    "since=2026-03-01&until=2026-03-31&lang=en",
    "",  # the default period
)


def _event(db: Session, n: int, kind: str, by: str, where: str, at: datetime) -> None:
    db.add(
        LifeEvent(
            id=f"p-{n}",
            national_id=f"C1234567{n:02d}",
            seq=1,
            kind=kind,
            source="household_registration",
            jurisdiction=where,
            occurred_at=at,
            recorded_at=at,
            recorded_by=by,
            payload={},
        )
    )


def _background(factory: sessionmaker[Session]) -> None:
    """What the public sees anyway: seven low-income cases at Taipei's urban development
    office in the week of 2 March (five of citizens registered in Taipei, two in New Taipei)
    and five moves recorded in Taipei that week."""
    base = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    with transaction(factory) as db:
        for n in range(7):
            owner = TPE_SOCIAL if n < 5 else NTPC_SOCIAL
            add_case(db, n, TPE_UDD, base + timedelta(hours=n), owner)
        for n in range(5):
            at = base + timedelta(hours=n)
            _event(db, n, "address_change", TPE_HOUSEHOLD, "taipei-city", at)


def _answers(anyone: TestClient) -> list[bytes]:
    """Each public answer to each query: the API's, then the page's (each asked afresh:
    ``?lang=`` leaves a cookie)."""
    found = []
    for query in QUERIES:
        anyone.cookies.clear()
        api = anyone.get(f"/api/v1/stats/public?{query}", headers=JSON)
        assert api.status_code == 200, (query, api.text)
        anyone.cookies.clear()
        page = anyone.get(f"/stats/public?{query}")
        assert page.status_code == 200, (query, page.text)
        found += [api.content, page.content]
    return found


def _exported(env: DemoEnv, directory: Path) -> list[bytes]:
    """The export's files and the command's words (its directory named alike)."""
    result = CliRunner().invoke(
        cli,
        ["stats", "export", str(directory), "--since", "2026-03-01", "--until", "2026-03-31"],
    )
    assert result.exit_code == 0, result.output
    said = result.output.replace(str(directory), "DIR").encode()
    files = [(directory / name).read_bytes() for name in ("cases-by-week.csv", "datapackage.json")]
    also = directory.parent / (directory.name + "-direct")
    stats_cli.export(env.settings, also, stats.Filters(date(2026, 3, 1), date(2026, 3, 31)))
    direct = [(also / name).read_bytes() for name in ("cases-by-week.csv", "datapackage.json")]
    assert direct == files
    return [said, *files]


def test_one_small_case_or_event_changes_no_public_answer(
    factory: sessionmaker[Session],
    demo_app: FastAPI,
    cli_env: DemoEnv,
    clock: Clock,
    tmp_path: Path,
) -> None:
    """The attacker's sequence, on a settled week: ask, let the target apply (one case of
    the disability item at Taipei's urban development office, a citizen registered in New
    Taipei) and die (a death recorded in New Taipei), ask again. Every public answer (API,
    page, export, the command's words) is the same byte for byte, though the selections
    hold the target's cells."""
    _background(factory)
    with TestClient(demo_app) as anyone:
        before = _answers(anyone)
        exported_before = _exported(cli_env, tmp_path / "before")
        with transaction(factory) as db:
            opened = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
            add_case(db, 50, TPE_UDD, opened, NTPC_SOCIAL, item=TARGET_ITEM)
            _event(db, 50, "death", NTPC_HOUSEHOLD, "new-taipei-city", opened)
        after = _answers(anyone)
        exported_after = _exported(cli_env, tmp_path / "after")
    for index, query in enumerate(QUERIES):
        assert after[2 * index] == before[2 * index], f"the API's answer to {query!r} changed"
        assert after[2 * index + 1] == before[2 * index + 1], f"the page for {query!r} changed"
    assert exported_after == exported_before
    # not vacuous: the selections do hold the target, and the public was told something
    filters = stats.Filters(date(2026, 3, 2), date(2026, 3, 8), None, TPE_UDD, TARGET_ITEM)
    with factory() as db:
        cells = {(r.way, r.jurisdiction, r.cases) for r in stats.rows(db, filters, NODE_WIDE)}
        events = stats.tell_us_once(db, stats.Filters(filters.since, filters.until), NODE_WIDE)
    assert ("workplace", "taipei-city", 1) in cells
    assert ("registration", "new-taipei-city", 1) in cells
    assert ("registration", "new-taipei-city", "death") in {
        (e.way, e.jurisdiction, e.kind) for e in events
    }
    assert b'"cases":7' in before[QUERIES.index(f"{WEEK}&agency={TPE_UDD}") * 2]
    assert "少於 5 件的格不公開".encode() in before[1] and b"withheld" not in before[0]


def _public(anyone: TestClient, query: str) -> bytes:
    anyone.cookies.clear()
    answer = anyone.get(f"/api/v1/stats/public?{query}", headers=JSON)
    assert answer.status_code == 200, answer.text
    return answer.content


def test_a_case_opened_today_counts_only_once_its_week_ended_and_settled(
    factory: sessionmaker[Session],
    demo_app: FastAPI,
    demo_env: DemoEnv,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thursday 5 March, 10:00 in Taipei: four cases at Taipei's urban development office
    since Monday, then a fifth opened at the counter now. No public answer changes (the
    week is not published at all: the answer stops at 22 February and says so), the
    export neither; from Monday 16 March 00:00, the week ended seven days ago, the five
    are counted."""
    clock.now = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    with transaction(factory) as db:
        for n in range(4):
            add_case(db, n, TPE_UDD, datetime(2026, 3, 2 + n % 3, 1, n, tzinfo=UTC), TPE_SOCIAL)
    queries = (WEEK, f"{WEEK}&jurisdiction=taipei-city&agency={TPE_UDD}&item={ITEM}", "")
    period = stats.Filters(date(2026, 3, 2), date(2026, 3, 8))
    with TestClient(demo_app) as anyone:
        before = [_public(anyone, q) for q in queries]
        page_before = anyone.get(f"/stats/public?{WEEK}").content
        exported = stats_cli.export(demo_env.settings, tmp_path / "before", period)
        with transaction(factory) as db:
            add_case(db, 4, TPE_UDD, clock.now - timedelta(minutes=5), TPE_SOCIAL)
        assert [_public(anyone, q) for q in queries] == before
        anyone.cookies.clear()
        assert anyone.get(f"/stats/public?{WEEK}").content == page_before
        again = stats_cli.export(demo_env.settings, tmp_path / "after", period)
        body = anyone.get(f"/api/v1/stats/public?{WEEK}", headers=JSON).json()
        assert (body["since"], body["until"], body["rows"]) == ("2026-03-02", "2026-02-22", [])
        assert body["published_through"] == "2026-02-22" and body["settle_days"] == 7
        assert "2026-02-22" in body["coverage"] and "7 天" in body["coverage"]
        english = anyone.get(f"/api/v1/stats/public?{WEEK}&lang=en", headers=JSON).json()
        assert english["coverage"].startswith("Figures are published up to 2026-02-22")
        assert 'id="coverage"' in page_before.decode() and "2026-02-22" in page_before.decode()
        for name in ("cases-by-week.csv", "datapackage.json"):
            assert (tmp_path / "after" / name).read_bytes() == (
                tmp_path / "before" / name
            ).read_bytes()
        assert exported.rows == again.rows == 0 and exported.through == date(2026, 2, 22)

        clock.now = datetime(2026, 3, 15, 15, 59, tzinfo=UTC)  # Sunday 23:59 in Taipei
        assert anyone.get(f"/api/v1/stats/public?{WEEK}", headers=JSON).json()["rows"] == []
        clock.now = datetime(2026, 3, 15, 16, 0, tzinfo=UTC)  # Monday 16 March 00:00
        body = anyone.get(f"/api/v1/stats/public?{WEEK}", headers=JSON).json()
        assert (body["since"], body["until"]) == ("2026-03-02", "2026-03-08")
        assert {(r["way"], r["jurisdiction"], r["cases"]) for r in body["rows"]} == {
            ("workplace", "taipei-city", 5),
            ("registration", "taipei-city", 5),
            ("residence", "unknown", 5),
        }
        settled = stats_cli.export(demo_env.settings, tmp_path / "settled", period)
        assert settled.rows == 3 and settled.through == date(2026, 3, 8)

        # a node that settles nothing publishes the week from the Monday after it
        monkeypatch.setattr(demo_app.state.settings, "stats_settle_days", 0)
        clock.now = datetime(2026, 3, 8, 16, 0, tzinfo=UTC)
        body = anyone.get(f"/api/v1/stats/public?{WEEK}", headers=JSON).json()
        assert body["published_through"] == "2026-03-08" and len(body["rows"]) == 3
        clock.now = datetime(2026, 3, 8, 15, 59, tzinfo=UTC)
        assert anyone.get(f"/api/v1/stats/public?{WEEK}", headers=JSON).json()["rows"] == []


@pytest.mark.parametrize(
    ("now", "settle_days", "through"),
    [
        (datetime(2026, 3, 15, 16, 0, tzinfo=UTC), 7, date(2026, 3, 8)),  # Mon 16th, 00:00
        (datetime(2026, 3, 15, 15, 59, tzinfo=UTC), 7, date(2026, 3, 1)),  # Sun 15th, 23:59
        (datetime(2026, 3, 8, 16, 0, tzinfo=UTC), 0, date(2026, 3, 8)),  # the week just ended
        (datetime(2026, 3, 8, 15, 59, tzinfo=UTC), 0, date(2026, 3, 1)),  # its last minute
        (datetime(2026, 3, 8, 15, 59, tzinfo=UTC), -3, date(2026, 3, 1)),  # never live
        (datetime(2026, 3, 25, 2, 0, tzinfo=UTC), 10, date(2026, 3, 8)),
        (datetime(2026, 3, 25, 2, 0, tzinfo=UTC), 14, date(2026, 3, 8)),
        (datetime(2026, 3, 25, 2, 0, tzinfo=UTC), 17, date(2026, 3, 1)),
    ],
)
def test_the_last_day_published(now: datetime, settle_days: int, through: date) -> None:
    assert publication.published_through(now, settle_days) == through
    asked = stats.Filters(date(2026, 2, 25), date(2026, 12, 31), "taipei-city")
    cut = publication.public_weeks(asked, now, settle_days)
    assert (cut.since, cut.until, cut.jurisdiction) == (date(2026, 2, 23), through, "taipei-city")
    early = stats.Filters(date(2026, 2, 25), date(2026, 2, 26))
    assert publication.public_weeks(early, now, settle_days).until == date(2026, 3, 1)


def _publication(cells: list[tuple[str, str, int]]) -> frozenset[tuple[str, str, int]]:
    """The cells of one group (one week, item and agency) the public sees."""
    week = date(2026, 3, 2)
    found = [stats.Row(way, where, week, ITEM, TPE_UDD, n) for way, where, n in cells]
    return frozenset((r.way, r.jurisdiction, r.cases) for r in publication.suppressed(found))


PLACES = ("a", "b", "c", "d", "e", "f")


@st.composite
def _groups(draw: st.DrawFn, most: int = 14) -> list[tuple[str, str, int]]:
    """One group's cells: the same cases split among up to six jurisdictions each way, in
    the order :func:`stats.rows` gives them (by jurisdiction: the rule breaks ties by it)."""
    total = draw(st.integers(1, most))
    cells = []
    for way in stats.WAYS:
        parts = draw(st.integers(1, min(total, len(PLACES))))
        cuts = (
            draw(st.sets(st.integers(1, total - 1), min_size=parts - 1, max_size=parts - 1))
            if parts > 1
            else set()
        )
        edges = (0, *sorted(cuts), total)
        places = sorted(draw(st.permutations(PLACES))[:parts])
        for where, (a, b) in zip(places, itertools.pairwise(edges), strict=True):
            cells.append((way, where, b - a))
    return cells


@hypothesis_settings(max_examples=500)
@given(_groups())
def test_no_withheld_cell_follows_from_the_published_totals_less_the_published_cells(
    cells: list[tuple[str, str, int]],
) -> None:
    """An attacker who knows more than the public is told: the group's total whenever any
    of its cells is published (a way shown in full gives it; by workplace a group at one
    agency is a single cell), every published cell, and which cells each way withheld (what
    the old count told, one city at a time). Each way's withheld cells then hold the total
    less its published cells, each at least one: a cell's value follows when it is the only
    one withheld, or when the rest leaves each withheld cell exactly one. Neither may happen,
    nor may a way withhold one to four in all (a small count, if not whose)."""
    shown = _publication(cells)
    assert all(n >= publication.MIN_CELL for _, _, n in shown)
    if not shown:
        return  # nothing of the group is published, not even that it exists
    total = sum(n for way, _, n in cells if way == stats.WAYS[0])
    for way in stats.WAYS:
        mine = [c for c in cells if c[0] == way]
        hidden = [c for c in mine if c not in shown]
        rest = total - sum(c[2] for c in mine if c in shown)
        assert rest == sum(n for _, _, n in hidden)
        assert rest == 0 or rest >= publication.MIN_CELL, (way, rest, sorted(shown))
        if hidden:
            # each withheld cell holds from 1 to rest - (its fellows, at least one each)
            assert rest - (len(hidden) - 1) > 1, f"{way}: {hidden} follow from {sorted(shown)}"


def _spread(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to share ``total`` among ``parts`` places, none or more each."""
    for cuts in itertools.combinations_with_replacement(range(total + 1), parts - 1):
        yield tuple(b - a for a, b in itertools.pairwise((0, *cuts, total)))


@hypothesis_settings(max_examples=150)
@given(_groups(most=10))
def test_nor_from_the_rule_itself(cells: list[tuple[str, str, int]]) -> None:
    """The public as it is now: it knows the total, the published cells and the rule, but
    not which jurisdictions' cells were withheld. For each way, every sharing of what it
    withholds among the places it published nothing for, which the rule would have
    published alike, is possible: the value of each withheld cell must stay open, and what
    a way withholds in all is no small count."""
    shown = _publication(cells)
    if not shown:
        return
    total = sum(n for way, _, n in cells if way == stats.WAYS[0])
    for way in stats.WAYS:
        published = {where: n for w, where, n in shown if w == way}
        held = {where: n for w, where, n in cells if w == way and where not in published}
        free = [where for where in PLACES if where not in published]
        rest = total - sum(published.values())
        assert rest == 0 or rest >= publication.MIN_CELL, (way, rest, sorted(shown))
        if not held:
            continue
        possible: dict[str, set[int]] = {where: set() for where in free}
        others = [c for c in cells if c[0] != way]
        for values in _spread(rest, len(free)):
            mine = {**published, **{w: v for w, v in zip(free, values, strict=True) if v}}
            guess = others + [(way, where, mine[where]) for where in sorted(mine)]
            if _publication(guess) == shown:
                for where, value in zip(free, values, strict=True):
                    possible[where].add(value)
        for where, n in held.items():
            assert n in possible[where]
            assert len(possible[where]) > 1, f"{way} {where} = {n} follows from {sorted(shown)}"


def test_a_way_of_single_cases_is_no_cover() -> None:
    """Five citizens, each registered in a different city, at one office in one week: by
    workplace the five are one published cell, so anyone who knew which cities' cells were
    withheld (the old count told it, one city at a time) knew one case in each; the whole
    group is withheld. With a larger cell beside them, that cell is withheld too."""
    alone = [("workplace", "t", 5), *(("registration", c, 1) for c in "abcde")]
    assert _publication([*alone, ("residence", "u", 5)]) == frozenset()
    beside = [
        ("workplace", "t", 12),
        *(("registration", c, 1) for c in "abcde"),
        ("registration", "f", 7),
        ("residence", "u", 12),
    ]
    assert _publication(beside) == {("workplace", "t", 12), ("residence", "u", 12)}
    one_hidden = [("workplace", "t", 7), ("registration", "a", 6), ("registration", "b", 1)]
    assert _publication([*one_hidden, ("residence", "u", 7)]) == {
        ("workplace", "t", 7),
        ("residence", "u", 7),
    }
