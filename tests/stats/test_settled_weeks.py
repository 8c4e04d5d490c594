"""A published week never moves: its public figures count what had happened by its cut-off
(the week's end plus ``stats_settle_days``, Taipei time), not the evidence fetched, the paper
attached or the agencies done afterwards. Reading a published week again after the citizen
came back to the counter told which item, agency, week and pieces were theirs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import event as tally
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onceonly.accounts.tenancy import NODE_WIDE
from onceonly.cli import app as cli
from onceonly.db import transaction
from onceonly.domain.national_id import make_national_id
from onceonly.exchange.schemas import EvidenceResult
from onceonly.notify import outbox
from onceonly.notify.measures import event_measures
from onceonly.notify.models import DeadLetter
from onceonly.stats import cli as stats_cli
from onceonly.stats import publication
from onceonly.stats import service as stats
from tests.conftest import DemoEnv
from tests.stats.support import (
    ITEM,
    NTPC_SOCIAL,
    PIECES,
    SETTLED,
    TPE_SOCIAL,
    TPE_UDD,
    Clock,
    attach,
    die,
    fetch,
    life_event,
    open_case,
    piece,
    subscription,
)

JSON = {"Accept": "application/json"}
WEEK = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 15, 16, 0, tzinfo=UTC)
"""Monday 16 March 2026, 00:00 in Taipei: the week of 2 March ended seven days before."""
QUERIES = (
    "since=2026-03-02&until=2026-03-08",
    f"since=2026-03-02&until=2026-03-08&agency={TPE_UDD}&item={ITEM}",
    f"since=2026-03-02&until=2026-03-08&jurisdiction=taipei-city&agency={TPE_UDD}",
    "since=2026-03-01&until=2026-03-31&lang=en",
    "",
)


class Now:
    """The clock of the notify outbox (acknowledgements and replays are stamped by it)."""

    def __init__(self) -> None:
        self.at = SETTLED

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def outbox_clock(monkeypatch: pytest.MonkeyPatch) -> Now:
    now = Now()
    monkeypatch.setattr(outbox, "utcnow", now)
    return now


def _answers(anyone: TestClient) -> list[bytes]:
    """Each query's public API answer and page (each asked afresh: ``?lang=`` leaves a
    cookie)."""
    found = []
    for query in QUERIES:
        for path, headers in (("/api/v1/stats/public", JSON), ("/stats/public", {})):
            anyone.cookies.clear()
            answer = anyone.get(f"{path}?{query}", headers=headers)
            assert answer.status_code == 200, (path, query, answer.text)
            found.append(answer.content)
    return found


def _exported(env: DemoEnv, directory: Path) -> list[bytes]:
    """The export command's files and words, and the export function's files."""
    result = CliRunner().invoke(
        cli,
        ["stats", "export", str(directory), "--since", "2026-03-01", "--until", "2026-03-31"],
    )
    assert result.exit_code == 0, result.output
    files = [(directory / name).read_bytes() for name in ("cases-by-week.csv", "datapackage.json")]
    also = directory.parent / f"{directory.name}-direct"
    stats_cli.export(env.settings, also, stats.Filters(date(2026, 3, 1), date(2026, 3, 31)))
    direct = [(also / name).read_bytes() for name in ("cases-by-week.csv", "datapackage.json")]
    return [result.output.replace(str(directory), "DIR").encode(), *files, *direct]


@dataclass
class History:
    udd: list[str]
    """Seven cases at Taipei's urban development office, nothing fetched by the cut-off."""
    social: list[str]
    """Six cases at Taipei's social welfare office: five had their welfare status fetched
    and their building registration brought on paper by the cut-off, the sixth nothing."""
    events: list[str]
    """Six moves: four processed by the cut-off, one pending, one dead."""
    deliveries: list[int]


def _history(factory: sessionmaker[Session], env: DemoEnv, clock: Now) -> History:
    """What happened in the week of 2 March, and up to its cut-off."""
    with transaction(factory) as db:
        udd = [
            open_case(
                db, datetime(2026, 3, 3, 2, n, tzinfo=UTC), subject=make_national_id("A", 1, n)
            )
            for n in range(7)
        ]
        social = [
            open_case(db, datetime(2026, 3, 4, 2 + n, 0, tzinfo=UTC), TPE_SOCIAL) for n in range(6)
        ]
        for n, number in enumerate(social[:5]):
            at = datetime(2026, 3, 4, 2 + n, 10 * (n + 1), tzinfo=UTC)
            fetch(db, number, at, piece("is_low_income_household"), agency=TPE_SOCIAL)
            paper = datetime(2026, 3, 5 + n, 3, 0, tzinfo=UTC)
            attach(db, env.settings, number, "owns_no_residential_property", paper, TPE_SOCIAL)
        sub = subscription(db, TPE_SOCIAL)
        events = [f"move-{n}" for n in range(6)]
        deliveries = [
            life_event(db, event, datetime(2026, 3, 5, 1 + n, 0, tzinfo=UTC), [sub])[0]
            for n, event in enumerate(events)
        ]
        die(db, deliveries[5], datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    for n, event in enumerate(events[:4]):
        clock.at = datetime(2026, 3, 5, 3 + n, 0, tzinfo=UTC)
        with transaction(factory) as db:
            outbox.acknowledge(db, TPE_SOCIAL, [event])
    return History(udd, social, events, deliveries)


def _later(factory: sessionmaker[Session], env: DemoEnv, clock: Now, seen: History) -> None:
    """After the week was published: the target comes back and the clerk fetches all their
    evidence; another citizen brings a paper; the sixth welfare case's evidence is fetched;
    the pending move is processed and the dead one replayed and processed."""
    late = SETTLED + timedelta(hours=1)
    with transaction(factory) as db:
        fetch(db, seen.udd[0], late)
        attach(db, env.settings, seen.udd[1], "household_registration", late)
        fetch(db, seen.social[5], late, piece("is_low_income_household"), agency=TPE_SOCIAL)
    clock.at = late
    with transaction(factory) as db:
        outbox.acknowledge(db, TPE_SOCIAL, [seen.events[4]])
        letter = db.scalars(
            select(DeadLetter).where(DeadLetter.delivery_id == seen.deliveries[5])
        ).one()
        assert outbox.replay_dead_letter(db, letter.id, "admin")
    clock.at = late + timedelta(minutes=5)
    with transaction(factory) as db:
        outbox.acknowledge(db, TPE_SOCIAL, [seen.events[5]])


def test_the_attackers_sequence_changes_no_published_figure(
    factory: sessionmaker[Session],
    demo_app: FastAPI,
    cli_env: DemoEnv,
    clock: Clock,
    outbox_clock: Now,
    tmp_path: Path,
) -> None:
    """Seven cases opened in a published week without evidence show ``cases 7, online 0,
    paper 28``; the target comes back and the clerk fetches all of it (which also tells
    their registration), another citizen's paper is attached, a late welfare status comes
    in, a pending move is processed and a dead one replayed: the public API's answers, the
    pages and the export (files and words) are the same byte for byte. The signed-in
    figures, live, do move."""
    seen = _history(factory, cli_env, outbox_clock)
    with TestClient(demo_app) as anyone:
        before = _answers(anyone)
        exported_before = _exported(cli_env, tmp_path / "before")
        body = anyone.get(f"/api/v1/stats/public?{QUERIES[1]}", headers=JSON).json()
        _later(factory, cli_env, outbox_clock, seen)
        clock.now = SETTLED + timedelta(days=1)  # a day later: the same weeks are published
        after = _answers(anyone)
        exported_after = _exported(cli_env, tmp_path / "after")
    for index, query in enumerate(QUERIES):
        assert after[2 * index] == before[2 * index], f"the API's answer to {query!r} changed"
        assert after[2 * index + 1] == before[2 * index + 1], f"the page for {query!r} changed"
    assert exported_after == exported_before

    # not vacuous: the public was shown the cells the later steps would have moved
    cells = {
        (r["way"], r["jurisdiction"]): (r["cases"], r["online"], r["paper"]) for r in body["rows"]
    }
    assert cells == {
        ("workplace", "taipei-city"): (7, 0, 28),
        ("registration", "unknown"): (7, 0, 28),
        ("residence", "unknown"): (7, 0, 28),
    }
    turned = {
        (t["way"], t["dataset"], t["channel"]): (t["pieces"], t["median_seconds"])
        for t in body["turnaround"]
    }
    assert turned[("workplace", "welfare_status", "online")] == (5, 1800)
    assert turned[("workplace", "building_registration", "paper")] == (5, 71 * 3600)
    told = {(e["way"], e["jurisdiction"]): e for e in body["tell_us_once"]}
    move = told[("workplace", "taipei-city")]
    assert (move["events"], move["all_processed"], move["dead"]) == (6, 4, 1)
    # ... and live, those cells did move
    period = stats.Filters(WEEK, WEEK + timedelta(days=6), None, TPE_UDD, ITEM)
    with factory() as db:
        live = {
            (r.way, r.jurisdiction): (r.cases, r.online, r.paper)
            for r in stats.rows(db, period, NODE_WIDE)
        }
        events = stats.tell_us_once(db, stats.Filters(WEEK, WEEK + timedelta(days=6)), NODE_WIDE)
    assert live[("workplace", "taipei-city")] == (7, 4, 24)
    assert live[("registration", "taipei-city")] == (1, 4, 0)
    assert {(e.way, e.all_processed, e.dead) for e in events if e.way == "workplace"} == {
        ("workplace", 6, 0)
    }


def test_a_piece_counts_only_if_in_hand_before_the_exact_cut_off(
    factory: sessionmaker[Session], demo_env: DemoEnv, outbox_clock: Now
) -> None:
    """The week of 2 March is first published at Monday 16 March 00:00 in Taipei (15 March,
    16:00 UTC): one microsecond earlier :func:`publication.published_through` still stops at 1
    March. Evidence fetched, paper attached or an agency done one microsecond before that
    instant counts for the week; at the instant itself, or after, it does not."""
    assert publication.publication_cutoff(WEEK, 7) == CUTOFF
    taipei = datetime.combine(date(2026, 3, 16), time(0), tzinfo=stats.TAIPEI)
    assert taipei == CUTOFF
    just_before = CUTOFF - timedelta(microseconds=1)
    assert publication.published_through(just_before, 7) == date(2026, 3, 1)
    assert publication.published_through(CUTOFF, 7) == date(2026, 3, 8)
    with transaction(factory) as db:
        early, on_time, paper_early, paper_on_time = (
            open_case(db, datetime(2026, 3, 3, 2, n, tzinfo=UTC)) for n in range(4)
        )
        fetch(db, early, just_before)
        fetch(db, on_time, CUTOFF)
        attach(db, demo_env.settings, paper_early, "household_registration", just_before)
        attach(db, demo_env.settings, paper_on_time, "household_registration", CUTOFF)
        sub = subscription(db, TPE_SOCIAL)
        life_event(db, "done-early", datetime(2026, 3, 4, tzinfo=UTC), [sub])
        life_event(db, "done-on-time", datetime(2026, 3, 4, tzinfo=UTC), [sub])
    for event, at in (("done-early", just_before), ("done-on-time", CUTOFF)):
        outbox_clock.at = at
        with transaction(factory) as db:
            outbox.acknowledge(db, TPE_SOCIAL, [event])
    week = stats.Filters(WEEK, WEEK + timedelta(days=6))
    as_of = publication.settled(7)
    with factory() as db:
        rows = {
            (r.way, r.jurisdiction): (r.cases, r.online, r.paper)
            for r in stats.rows(db, week, NODE_WIDE, as_of=as_of)
        }
        turned = {
            (r.dataset, r.channel): r.pieces
            for r in stats.turnaround(db, week, NODE_WIDE, as_of=as_of)
            if r.way == "workplace"
        }
        events = stats.tell_us_once(db, week, NODE_WIDE, as_of=as_of)
        live = {(r.way, r.jurisdiction): r.online for r in stats.rows(db, week, NODE_WIDE)}
    assert rows == {
        ("workplace", "taipei-city"): (4, 4, 12),
        ("registration", "taipei-city"): (1, 4, 0),  # known from the early fetch only
        ("registration", "unknown"): (3, 0, 12),
        ("residence", "unknown"): (4, 4, 12),
    }
    assert turned == {
        ("household_registration", "online"): 1,
        ("welfare_status", "online"): 1,
        ("income", "online"): 1,
        ("building_registration", "online"): 1,
        ("household_registration", "paper"): 1,
    }
    assert {(e.way, e.events, e.all_processed) for e in events if e.way == "workplace"} == {
        ("workplace", 2, 1)
    }
    assert live[("workplace", "taipei-city")] == 8  # the signed-in view counts both


def test_a_dead_delivery_counts_as_dead_until_replayed_or_processed(
    factory: sessionmaker[Session], outbox_clock: Now
) -> None:
    """A move told to two agencies: both deliveries die an hour after it is recorded; the
    first is replayed after two hours and processed after three; the second is processed
    after four without a replay (the agency took it from the dead-letter queue). As of each
    moment, each is dead, processed or neither as it then stood; long after, as it stands."""
    recorded = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
    hour, tick = timedelta(hours=1), timedelta(microseconds=1)
    with transaction(factory) as db:
        subs = [subscription(db, agency) for agency in (TPE_SOCIAL, NTPC_SOCIAL)]
        first, second = life_event(db, "twice", recorded, subs)
        die(db, first, recorded + hour)
        die(db, second, recorded + hour)
    outbox_clock.at = recorded + 2 * hour
    with transaction(factory) as db:
        letter = db.scalars(select(DeadLetter).where(DeadLetter.delivery_id == first)).one()
        assert outbox.replay_dead_letter(db, letter.id, "admin")
    for agency, at in ((TPE_SOCIAL, recorded + 3 * hour), (NTPC_SOCIAL, recorded + 4 * hour)):
        outbox_clock.at = at
        with transaction(factory) as db:
            outbox.acknowledge(db, agency, ["twice"])

    def measured(moment: datetime | None) -> tuple[int, int, int, datetime | None]:
        with factory() as db:
            (found,) = event_measures(
                db, recorded, recorded + tick, as_of=(lambda _: moment) if moment else None
            )
        return found.agencies, found.processed, found.dead, found.all_processed_at

    assert measured(recorded + hour) == (2, 0, 0, None)
    assert measured(recorded + hour + tick) == (2, 0, 2, None)
    assert measured(recorded + 2 * hour + tick) == (2, 0, 1, None)
    assert measured(recorded + 3 * hour + tick) == (2, 1, 1, None)
    done = (2, 2, 0, recorded + 4 * hour)
    assert measured(recorded + 4 * hour + tick) == done
    assert measured(None) == done


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.dates(date(2000, 1, 3), date(2100, 12, 27)).map(lambda d: d - timedelta(d.weekday())),
    st.integers(-3, 40),
)
def test_the_cut_off_is_when_published_through_first_counts_the_week(
    week: date, settle_days: int
) -> None:
    cutoff = publication.publication_cutoff(week, settle_days)
    sunday = week + timedelta(days=6)
    assert publication.published_through(cutoff, settle_days) >= sunday
    assert publication.published_through(cutoff - timedelta(microseconds=1), settle_days) < sunday
    last_minute = datetime.combine(sunday, time(23, 59), stats.TAIPEI)
    assert publication.settled(settle_days)(last_minute) == cutoff


# -- the property: random histories ------------------------------------------------------

OWNERS = (TPE_SOCIAL, NTPC_SOCIAL)
"""Whose welfare status answers: the case's registration."""
STATUSES = ("issued", "issued", "denied", "unavailable", "not_found")
TOLD = (TPE_SOCIAL, NTPC_SOCIAL)
"""The agencies a move may be told to (one delivery each)."""
WEEKS = 3
"""Cases and events are opened and recorded in three consecutive weeks."""


@dataclass(frozen=True)
class Step:
    """One thing done, at one moment: ``open``, ``fetch`` or ``paper`` for case ``index``;
    ``record`` (telling ``told`` agencies), ``die``, ``replay`` or ``ack`` (by agency
    ``told``) for event ``index``."""

    at: datetime
    order: int
    """Steps at one instant are done in the order drawn (a case's opening first)."""
    kind: str
    index: int
    agency: str = TPE_UDD
    results: tuple[EvidenceResult, ...] = ()
    evidence_type: str = ""
    told: int = 0


def _moment(draw: st.DrawFn, start: datetime, cutoffs: list[datetime]) -> datetime:
    """A moment from ``start`` on: now and then a cut-off itself or a microsecond either
    side of one, else any minute up to six weeks later."""
    near = [c + timedelta(microseconds=d) for c in cutoffs for d in (-1, 0, 1)]
    if draw(st.booleans()):
        return max(start, draw(st.sampled_from(near)))
    return start + timedelta(minutes=draw(st.integers(0, 6 * 7 * 24 * 60)))


@st.composite
def _histories(draw: st.DrawFn, base: date) -> tuple[int, list[Step]]:
    """A settling period, and cases at two Taipei offices, each opened in one of the weeks
    and then, at random moments, fetched (some pieces, some refused, the welfare status from
    Taipei's or New Taipei's office, transcripts that expire, so a later refusal sometimes
    replaces them) or given a paper; and moves told to one or two agencies, whose deliveries
    die, are replayed and are processed in random order."""
    settle = draw(st.integers(0, 9))
    cutoffs = [
        publication.publication_cutoff(base + timedelta(weeks=w), settle) for w in range(WEEKS)
    ]
    start = datetime.combine(base, time(0), tzinfo=stats.TAIPEI).astimezone(UTC)
    span = WEEKS * 7 * 24 * 60 - 1
    order = itertools.count()
    steps: list[Step] = []
    for n in range(draw(st.integers(1, 9))):
        week = draw(st.sampled_from((0, 0, *range(WEEKS))))  # often the same week: cells of 5
        minute = draw(st.integers(0, 7 * 24 * 60 - 1))
        opened = start + timedelta(weeks=week, minutes=minute)
        agency = draw(st.sampled_from((TPE_UDD, TPE_UDD, TPE_SOCIAL)))
        steps.append(Step(opened, next(order), "open", n, agency))
        for _ in range(draw(st.integers(0, 4))):
            at = _moment(draw, opened, cutoffs)
            if draw(st.integers(0, 3)) == 0:
                kind = draw(st.sampled_from(sorted(PIECES)))
                steps.append(Step(at, next(order), "paper", n, agency, evidence_type=kind))
                continue
            kinds = draw(st.sets(st.sampled_from(sorted(PIECES)), min_size=1))
            results = tuple(
                piece(
                    kind,
                    draw(st.sampled_from(STATUSES)),
                    owner=draw(st.sampled_from(OWNERS))
                    if kind == "is_low_income_household"
                    else None,
                    expires_at=at + timedelta(days=draw(st.integers(1, 20))),
                )
                for kind in sorted(kinds)
            )
            steps.append(Step(at, next(order), "fetch", n, agency, results))
    for n in range(draw(st.integers(0, 4))):
        recorded = start + timedelta(minutes=draw(st.integers(0, span)))
        told = draw(st.integers(1, len(TOLD)))
        steps.append(Step(recorded, next(order), "record", n, told=told))
        for k in range(told):
            state, at = "pending", recorded
            while state != "processed" and draw(st.booleans()):
                at = _moment(draw, at, cutoffs)
                act = draw(
                    st.sampled_from({"pending": ("die", "ack"), "dead": ("replay", "ack")}[state])
                )
                state = {"die": "dead", "replay": "pending", "ack": "processed"}[act]
                steps.append(Step(at, next(order), act, n, told=k))
    return settle, sorted(steps, key=lambda s: (s.at, s.order))


@dataclass
class Replay:
    """Does a history's steps in order, as the counter, the clerk and the outbox would."""

    factory: sessionmaker[Session]
    env: DemoEnv
    clock: Now
    base: date
    steps: list[Step]
    done: int = 0
    cases: dict[int, str] = field(default_factory=dict)
    deliveries: dict[tuple[int, int], int] = field(default_factory=dict)

    def until(self, moment: datetime) -> None:
        """Do every step strictly before ``moment`` not done yet."""
        while self.done < len(self.steps) and self.steps[self.done].at < moment:
            self._do(self.steps[self.done])
            self.done += 1

    def _event(self, step: Step) -> str:
        return f"ev-{self.base}-{step.index}"

    def _do(self, step: Step) -> None:
        with transaction(self.factory) as db:
            if step.kind == "open":
                self.cases[step.index] = open_case(db, step.at, step.agency)
            elif step.kind == "fetch":
                fetch(db, self.cases[step.index], step.at, *step.results, agency=step.agency)
            elif step.kind == "paper":
                number = self.cases[step.index]
                attach(db, self.env.settings, number, step.evidence_type, step.at, step.agency)
            elif step.kind == "record":
                subs = [subscription(db, agency) for agency in TOLD[: step.told]]
                for k, made in enumerate(life_event(db, self._event(step), step.at, subs)):
                    self.deliveries[(step.index, k)] = made
            elif step.kind == "die":
                die(db, self.deliveries[(step.index, step.told)], step.at)
            elif step.kind == "ack":
                self.clock.at = step.at
                outbox.acknowledge(db, TOLD[step.told], [self._event(step)])
            else:
                self.clock.at = step.at
                letter = db.scalars(
                    select(DeadLetter).where(
                        DeadLetter.delivery_id == self.deliveries[(step.index, step.told)],
                        DeadLetter.replayed_at.is_(None),
                    )
                ).one()
                assert outbox.replay_dead_letter(db, letter.id, "admin")


def _figures(db: Session, week: stats.Filters, as_of: stats.AsOf | None) -> list[object]:
    """Every figure of one week, node-wide and unsuppressed."""
    return [
        stats.rows(db, week, NODE_WIDE, as_of=as_of),
        stats.turnaround(db, week, NODE_WIDE, as_of=as_of),
        stats.tell_us_once(db, week, NODE_WIDE, as_of=as_of),
        stats.refusals(db, week, NODE_WIDE, as_of=as_of),
        stats.savings(db, week, NODE_WIDE, as_of=as_of),
    ]


def _public(db: Session, week: stats.Filters, now: datetime, settle: int) -> list[object]:
    shown = publication.published(db, week, now=now, settle_days=settle)
    assert (shown.filters.since, shown.filters.until) == (week.since, week.until)
    return [shown.rows, shown.turnaround, shown.events]


_EXAMPLES = itertools.count()


@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_a_published_week_depends_only_on_what_happened_before_its_cut_off(
    factory: sessionmaker[Session], demo_env: DemoEnv, outbox_clock: Now, data: st.DataObject
) -> None:
    """Random histories, done step by step through the cases service and the outbox. At
    each week's cut-off, with only what happened before it done, the week's live figures
    and its public answer (as first published) are noted; once everything is done, long
    after, the week's figures as of its cut-off are those live ones, and its public answer
    is the same. Each example has weeks of its own, twelve weeks after the last one's."""
    base = date(2030, 1, 7) + timedelta(weeks=12 * next(_EXAMPLES))
    settle, steps = data.draw(_histories(base))
    replay = Replay(factory, demo_env, outbox_clock, base, steps)
    weeks = [
        stats.Filters(base + timedelta(weeks=w), base + timedelta(weeks=w, days=6))
        for w in range(WEEKS)
    ]
    first: list[tuple[list[object], list[object]]] = []
    for week in weeks:
        cutoff = publication.publication_cutoff(week.since, settle)
        replay.until(cutoff)
        with factory() as db:
            first.append((_figures(db, week, None), _public(db, week, cutoff, settle)))
    end = max([s.at for s in steps] + [publication.publication_cutoff(weeks[-1].since, settle)])
    replay.until(end + timedelta(days=1))
    assert replay.done == len(steps)
    with factory() as db:
        for week, (live, public) in zip(weeks, first, strict=True):
            assert _figures(db, week, publication.settled(settle)) == live, week.since
            assert _public(db, week, end + timedelta(days=1), settle) == public, week.since
            moved = _figures(db, week, None) != live  # not vacuous: later steps moved it
            tally("live figures moved" if moved else "live figures stayed")
            tally("public cells" if any(public) else "no public cell")
