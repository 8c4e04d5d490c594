"""Cases per week, item and agency; transcripts fetched online (paper the citizen did not
have to bring) and still on paper; evidence turnaround; trips and waiting saved; refusals;
tell-us-once events. Counted the three ways the 2011 report asks for (工作地, 戶籍地 and
居住地, around its lines 1645-1653 and 1964-1966): by the clerk's workplace (the opening
agency's jurisdiction), by the citizen's registration (the jurisdiction whose owner answered
a dataset held where the citizen is registered; ``unknown`` when no such dataset was asked)
and by the citizen's residence (the city of the mailing address they last reported
themselves, :func:`residence_resolver`; ``unknown`` without one). Read through
:mod:`onceonly.cases.measures` and :mod:`onceonly.notify.measures` only.

The signed-in figures are live: a case counts as it stands now. The public ones
(:func:`published`, :func:`public_rows`) count each week as of its publication cut-off
(:func:`publication_cutoff`), so once a week is published nothing done later changes it;
:func:`published` counts a period's weeks from one reading of it and keeps each published
week in the process (:class:`WeekCache`), so asking for a long period again costs little.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import Scope, tenant_of_agency
from onceonly.cases.measures import AsOf, CaseMeasure, Residence, case_measures
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.domain.address import parse_address
from onceonly.domain.errors import DomainValueError
from onceonly.domain.merger_renames import rename_parsed, rename_table
from onceonly.domain.variants import fold_width
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.notify.measures import EventMeasure, event_measures, mailing_addresses
from onceonly.stats.models import StatsAssumption

TAIPEI = ZoneInfo("Asia/Taipei")
WAYS = ("workplace", "registration", "residence")
UNKNOWN = "unknown"
MIN_CELL = 5
"""Published cells (the export) with fewer cases than this are suppressed."""
FIELDS = ("way", "jurisdiction", "week", "application_item", "agency", "cases", "online", "paper")


@dataclass(frozen=True)
class Filters:
    since: date
    until: date
    """Inclusive, Taipei calendar days."""
    jurisdiction: str | None = None
    agency: str | None = None
    item: str | None = None


@dataclass
class Row:
    way: str
    jurisdiction: str
    week: date
    """The Monday (Taipei) of the week the case was opened."""
    application_item: str
    agency: str
    cases: int = 0
    online: int = 0
    paper: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "way": self.way,
            "jurisdiction": self.jurisdiction,
            "week": self.week.isoformat(),
            "application_item": self.application_item,
            "agency": self.agency,
            "cases": self.cases,
            "online": self.online,
            "paper": self.paper,
        }


@dataclass
class Totals:
    cases: int = 0
    online: int = 0
    paper: int = 0
    weeks: dict[date, int] = field(default_factory=dict)

    @property
    def online_share(self) -> float:
        pieces = self.online + self.paper
        return round(100.0 * self.online / pieces, 1) if pieces else 0.0


EARLIEST = date(1912, 1, 1)
LATEST = date(9998, 12, 31)
"""The days a period may name: from 民國元年 on, and short of the calendar's end, where
widening to whole weeks or turning Taipei's midnight into UTC once overflowed (a 500)."""
MAX_PUBLIC_WEEKS = 106
"""The longest period anyone may ask :func:`published` for (two years): each week is
counted on its own, so a period of centuries kept the server busy for as long."""


def period_errors(since: date, until: date, lang: str | None = None) -> list[FieldError]:
    """Each day of the period outside :data:`EARLIEST`-:data:`LATEST`, naming its field, or a
    start after the end (a period that holds no day: an empty answer would look like none)."""
    errors = [
        FieldError(name, t("stats.error.range", lang, earliest=EARLIEST, latest=LATEST))
        for name, day in (("since", since), ("until", until))
        if not EARLIEST <= day <= LATEST
    ]
    if not errors and since > until:
        errors.append(FieldError("since", t("stats.error.order", lang)))
    return errors


def _bounds(filters: Filters) -> tuple[datetime, datetime]:
    start = datetime.combine(filters.since, time(0), tzinfo=TAIPEI).astimezone(UTC)
    end = datetime.combine(filters.until + timedelta(days=1), time(0), tzinfo=TAIPEI)
    return start, end.astimezone(UTC)


def _registration(measure: CaseMeasure, residence_datasets: AbstractSet[str]) -> str:
    for dataset, owners, _ in measure.evidence:
        if dataset in residence_datasets and owners:
            return tenant_of_agency(owners[0]) or UNKNOWN
    return UNKNOWN


@dataclass(frozen=True)
class Reference:
    """What the figures take from outside the case and event timelines: the datasets held
    where the citizen is registered (the registration way), today's cities by name (the
    residence way) and the version of the packaged merger renames the addresses are read
    with. Unlike the timelines these can change after a week's cut-off (``onceonly catalog
    load`` replaces the catalog: a merger, a renamed city, a dataset whose owner scope
    changed; a release brings new renames), so they are read once per request and a cached
    week is keyed by them (:class:`WeekKey`)."""

    residence_datasets: frozenset[str]
    cities: tuple[tuple[str, str], ...]
    """(name_zh, code) of each current, non-central jurisdiction, by name."""
    renames: int

    @property
    def city_codes(self) -> dict[str, str]:
        return dict(self.cities)


def reference(session: Session) -> Reference:
    """The catalog's part of the figures, read now (two queries' worth of the catalog)."""
    cities = {
        j.name_zh: j.code
        for j in catalog.list_jurisdictions(session)
        if j.merged_into is None and j.kind != "central"
    }
    residence = {d.code for d in catalog.list_datasets(session) if d.owner_scope == "residence"}
    return Reference(frozenset(residence), tuple(sorted(cities.items())), rename_table().version)


def residence_resolver(session: Session, known: Reference | None = None) -> Residence:
    """Where each case's citizen lived: the city of the mailing address they last reported
    before the case opened (:func:`onceonly.notify.measures.mailing_addresses`), read as
    today's jurisdiction (an address in a former county counts for the city it merged
    into, as of the case's day). ``None`` (``unknown``) when no address was reported or
    its city cannot be read. ``known``: the catalog already read (else read now)."""
    cities = (known or reference(session)).city_codes

    def resolve(asks: Sequence[tuple[str, datetime]]) -> list[str | None]:
        found: list[str | None] = []
        for (_, moment), text in zip(asks, mailing_addresses(session, asks), strict=True):
            found.append(city_of(text, moment.astimezone(TAIPEI).date(), cities))
        return found

    return resolve


def city_of(text: str | None, on: date, cities: dict[str, str]) -> str | None:
    """The jurisdiction code of an address's city (``None`` if unreadable or not listed)."""
    if not text:
        return None
    try:
        address = rename_parsed(parse_address(fold_width(text)), on)
    except DomainValueError:
        return None
    return cities.get(address.city)


def week_of(moment: datetime) -> date:
    day = moment.astimezone(TAIPEI).date()
    return day - timedelta(days=day.weekday())


Grouped = tuple[str, str, CaseMeasure]
"""A case counted one way: (way, the jurisdiction it counts for there, its measure)."""


def _grouped(
    session: Session, filters: Filters, scope: Scope, as_of: AsOf | None = None
) -> Iterator[Grouped]:
    """Each case of the period once per way, with the jurisdiction it counts for there. A
    tenant sees its own jurisdiction's figures (each way); the platform's operator all.
    ``as_of``: read each case as of the moment it gives (:func:`settled`); live without."""
    known = reference(session)
    measures = case_measures(session, *_bounds(filters), residence_resolver(session, known), as_of)
    return _ways(measures, filters, scope, known)


def _ways(
    measures: Iterable[CaseMeasure], filters: Filters, scope: Scope, known: Reference
) -> Iterator[Grouped]:
    """:func:`_grouped` of measures already read."""
    residence = known.residence_datasets
    for measure in measures:
        if filters.agency and measure.opening_agency != filters.agency:
            continue
        if filters.item and measure.application_item != filters.item:
            continue
        groups = {
            "workplace": tenant_of_agency(measure.opening_agency) or UNKNOWN,
            "registration": _registration(measure, residence),
            "residence": measure.residence or UNKNOWN,
        }
        for way, group in groups.items():
            if filters.jurisdiction and group != filters.jurisdiction:
                continue
            if not scope.operator and group != scope.tenant:
                continue
            yield way, group, measure


def rows(
    session: Session, filters: Filters, scope: Scope, *, as_of: AsOf | None = None
) -> list[Row]:
    """One row per way, jurisdiction, week, item and opening agency."""
    return _rows_of(_grouped(session, filters, scope, as_of))


def _rows_of(grouped: Iterable[Grouped]) -> list[Row]:
    found: dict[tuple[str, str, date, str, str], Row] = {}
    for way, group, measure in grouped:
        key = (
            way,
            group,
            week_of(measure.opened_at),
            measure.application_item,
            measure.opening_agency,
        )
        row = found.setdefault(key, Row(*key))
        row.cases += 1
        row.online += measure.evidence_online
        row.paper += measure.evidence_paper
    return sorted(
        found.values(), key=lambda r: (r.way, r.jurisdiction, r.week, r.application_item, r.agency)
    )


REFUSAL_FIELDS = ("way", "jurisdiction", "dataset", "status", "pieces")


@dataclass(frozen=True)
class Refusal:
    way: str
    jurisdiction: str
    dataset: str
    status: str
    """The exchange's status of the latest fetch (denied, not_found, unavailable, ...)."""
    pieces: int

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in REFUSAL_FIELDS}


def refusals(
    session: Session, filters: Filters, scope: Scope, *, as_of: AsOf | None = None
) -> list[Refusal]:
    """Evidence that could not be fetched online, by dataset and reason (the latest fetch's
    status; pieces never fetched and those issued are not refusals)."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for way, group, measure in _grouped(session, filters, scope, as_of):
        for dataset, _, status in measure.evidence:
            if status is None or status in ("issued", "not_required"):
                continue
            key = (way, group, dataset, status)
            counts[key] = counts.get(key, 0) + 1
    return [Refusal(*key, count) for key, count in sorted(counts.items())]


TURNAROUND_FIELDS = (
    "way",
    "jurisdiction",
    "dataset",
    "owner",
    "channel",
    "pieces",
    "median_seconds",
    "p90_seconds",
)


@dataclass(frozen=True)
class Turnaround:
    way: str
    jurisdiction: str
    dataset: str
    owner: str
    channel: str
    """``online`` (fetched and issued) or ``paper`` (the citizen's transcript attached)."""
    pieces: int
    median_seconds: int
    p90_seconds: int
    """Nearest rank: no more than a tenth of the pieces took longer."""

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in TURNAROUND_FIELDS}


def nearest_rank(ordered: list[int], share: float) -> int:
    """The smallest value with at least ``share`` of ``ordered`` (sorted, not empty) at or
    below it: a percentile that is always one of the measured times."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def turnaround(
    session: Session, filters: Filters, scope: Scope, *, as_of: AsOf | None = None
) -> list[Turnaround]:
    """Evidence turnaround per dataset and owner: from a case's opening until each piece was
    in hand, online or on paper (median and p90). A piece asked of several owners counts for
    each of them, since each answered in that time; pieces not yet in hand are left out."""
    return _turnaround_of(_grouped(session, filters, scope, as_of))


def _turnaround_of(grouped: Iterable[Grouped]) -> list[Turnaround]:
    samples: dict[tuple[str, str, str, str, str], list[int]] = {}
    for way, group, measure in grouped:
        for dataset, owners, channel, seconds in measure.turnaround:
            for owner in owners or (UNKNOWN,):
                samples.setdefault((way, group, dataset, owner, channel), []).append(seconds)
    found = []
    for key, times in sorted(samples.items()):
        ordered = sorted(times)
        median = int(statistics.median(ordered))
        found.append(Turnaround(*key, len(ordered), median, nearest_rank(ordered, 0.9)))
    return found


@dataclass(frozen=True)
class Assumption:
    name: str
    default: float
    low: float
    high: float
    """Accepted values: ``low <= value <= high``."""


ASSUMPTIONS = (
    Assumption("trips_per_piece", 1.0, 0.0, 10.0),
    Assumption("minutes_per_trip", 60.0, 0.0, 1440.0),
    Assumption("paper_days", 3.0, 0.0, 60.0),
)
"""Defaults: each paper transcript is one trip to the office that issues it, an hour there and
back; a paper transcript takes three days, the middle of the report's 2-4 days for land data
(the clerk's 5 minutes online is measured here, not assumed)."""


@dataclass(frozen=True)
class Assumed:
    values: dict[str, float]
    updated_by: str | None
    updated_at: datetime | None
    """The latest change; ``None`` while every value is its default."""


def assumptions(session: Session) -> Assumed:
    """The values in force: each stored one, else its default."""
    stored = {a.name: a for a in session.scalars(select(StatsAssumption))}
    values = {a.name: stored[a.name].value if a.name in stored else a.default for a in ASSUMPTIONS}
    latest = max(stored.values(), key=lambda a: as_utc(a.updated_at), default=None)
    return Assumed(
        values,
        latest.updated_by if latest else None,
        as_utc(latest.updated_at) if latest else None,
    )


def set_assumptions(
    session: Session, values: dict[str, str], *, scope: Scope, by: str, lang: str | None = None
) -> Assumed:
    """Change the assumptions (node-wide, so only the platform's administrators may: one
    city's administrator would change every city's figures). Each value a number within its
    bounds, else a 422 naming it."""
    if not scope.operator:
        raise Problem(
            403, "forbidden", t("problem.forbidden", lang), t("stats.error.operator", lang)
        )
    parsed: dict[str, float] = {}
    errors: list[FieldError] = []
    for assumption in ASSUMPTIONS:
        text = (values.get(assumption.name) or "").strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not assumption.low <= value <= assumption.high:
            errors.append(
                FieldError(
                    assumption.name,
                    t("stats.error.assumption", lang, low=assumption.low, high=assumption.high),
                )
            )
        parsed[assumption.name] = value
    if errors:
        raise validation_problem(errors, lang)
    moment = utcnow()
    for name, value in parsed.items():
        row = session.get(StatsAssumption, name)
        if row is None:
            session.add(StatsAssumption(name=name, value=value, updated_by=by, updated_at=moment))
        elif row.value != value:
            row.value, row.updated_by, row.updated_at = value, by, moment
    session.flush()
    return assumptions(session)


SAVING_FIELDS = (
    "way",
    "jurisdiction",
    "pieces_online",
    "trips_saved",
    "citizen_hours_saved",
    "waiting_days_saved",
    *(f"assumed_{a.name}" for a in ASSUMPTIONS),
)


@dataclass(frozen=True)
class Saving:
    way: str
    jurisdiction: str
    pieces_online: int
    trips_saved: float
    """``pieces_online`` x ``trips_per_piece``."""
    citizen_hours_saved: float
    """``trips_saved`` x ``minutes_per_trip`` / 60."""
    waiting_days_saved: float
    """``pieces_online`` x ``paper_days`` less the measured time those pieces took online."""
    assumed: dict[str, float]
    """The assumptions these figures used."""

    def as_dict(self) -> dict[str, object]:
        fixed = {name: getattr(self, name) for name in SAVING_FIELDS[:6]}
        return fixed | {f"assumed_{name}": value for name, value in self.assumed.items()}


def savings(
    session: Session, filters: Filters, scope: Scope, *, as_of: AsOf | None = None
) -> list[Saving]:
    """Citizen trips and waiting time saved, per way and jurisdiction: every piece fetched
    online is a transcript the citizen did not fetch on paper."""
    assumed = assumptions(session).values
    online: dict[tuple[str, str], int] = {}
    waited: dict[tuple[str, str], int] = {}
    for way, group, measure in _grouped(session, filters, scope, as_of):
        online[(way, group)] = online.get((way, group), 0) + measure.evidence_online
        seconds = sum(p[3] for p in measure.turnaround if p[2] == "online")
        waited[(way, group)] = waited.get((way, group), 0) + seconds
    found = []
    for key, pieces in sorted(online.items()):
        trips = pieces * assumed["trips_per_piece"]
        paper_days = pieces * assumed["paper_days"]
        found.append(
            Saving(
                *key,
                pieces,
                round(trips, 1),
                round(trips * assumed["minutes_per_trip"] / 60, 1),
                round(max(0.0, paper_days - waited[key] / 86400), 1),
                dict(assumed),
            )
        )
    return found


EVENT_FIELDS = (
    "way",
    "jurisdiction",
    "kind",
    "events",
    "agencies_told",
    "all_processed",
    "dead",
    "median_seconds",
    "p90_seconds",
)


@dataclass(frozen=True)
class EventRow:
    way: str
    jurisdiction: str
    kind: str
    events: int
    agencies_told: int
    all_processed: int
    """Events every agency told has processed; the times below are theirs."""
    dead: int
    """Deliveries given up after the last attempt (an agency that was never told)."""
    median_seconds: int | None
    p90_seconds: int | None
    """From the event's recording until the last agency processed it; ``None`` when no
    event of the cell is done yet."""

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in EVENT_FIELDS}


def tell_us_once(
    session: Session, filters: Filters, scope: Scope, *, as_of: AsOf | None = None
) -> list[EventRow]:
    """Tell-us-once events per kind and the time until every agency told had processed
    them, counted by the recording agency's jurisdiction (workplace; ``unknown`` for a
    citizen's own report), by the registration the event names and by the residence (the
    mailing address reported by then). The item filter does not
    apply (an event is no application); the agency filter is the recording agency."""
    measures = event_measures(session, *_bounds(filters), residence_resolver(session), as_of)
    return _events_of(measures, filters, scope)


def _events_of(measures: Iterable[EventMeasure], filters: Filters, scope: Scope) -> list[EventRow]:
    cells: dict[tuple[str, str, str], list[EventMeasure]] = {}
    for event in measures:
        if filters.agency and event.recorded_by != filters.agency:
            continue
        groups = {
            "workplace": tenant_of_agency(event.recorded_by) or UNKNOWN,
            "registration": event.jurisdiction or UNKNOWN,
            "residence": event.residence or UNKNOWN,
        }
        for way, group in groups.items():
            if filters.jurisdiction and group != filters.jurisdiction:
                continue
            if not scope.operator and group != scope.tenant:
                continue
            cells.setdefault((way, group, event.kind), []).append(event)
    found = []
    for key, events in sorted(cells.items()):
        times = sorted(
            int((e.all_processed_at - e.recorded_at).total_seconds())
            for e in events
            if e.all_processed_at is not None
        )
        found.append(
            EventRow(
                *key,
                len(events),
                sum(e.agencies for e in events),
                len(times),
                sum(e.dead for e in events),
                int(statistics.median(times)) if times else None,
                nearest_rank(times, 0.9) if times else None,
            )
        )
    return found


def totals(found: list[Row]) -> dict[tuple[str, str], Totals]:
    """Per way and jurisdiction: cases, pieces online and on paper, cases per week."""
    result: dict[tuple[str, str], Totals] = {}
    for row in found:
        total = result.setdefault((row.way, row.jurisdiction), Totals())
        total.cases += row.cases
        total.online += row.online
        total.paper += row.paper
        total.weeks[row.week] = total.weeks.get(row.week, 0) + row.cases
    return result


def suppressed(found: list[Row]) -> list[Row]:
    """What may be published: rows with fewer than :data:`MIN_CELL` cases are left out (a
    small count of one agency's item in one week could point at a person), and so is any
    row that a sum over another way would give away (:func:`complementary`). ``found``
    must hold every jurisdiction's rows; filter by jurisdiction after."""
    hidden = complementary(
        found,
        group=lambda r: (r.week, r.application_item, r.agency),
        count=lambda r: r.cases,
    )
    return [row for row in found if id(row) not in hidden]


_Cell = TypeVar("_Cell", Row, Turnaround, EventRow)


def _revealing(rest: int, held: int) -> bool:
    """Whether what a way withholds, ``rest`` in ``held`` cells, could be told from the
    group's total less its shown cells: one to :data:`MIN_CELL` - 1 in all (a small count,
    and with a single cell its value), or one for each cell withheld (anyone who knew which
    cells they were would know every value)."""
    return 0 < rest < MIN_CELL or 0 < rest == held


def complementary(
    cells: Sequence[_Cell], group: Callable[[_Cell], Hashable], count: Callable[[_Cell], int]
) -> set[int]:
    """The ids of the cells to withhold (secondary suppression). Each way (workplace,
    registration, residence) splits the same cases, pieces or events of a group among
    jurisdictions, so one way's shown cells, taken from the group's total (which a way
    with every cell shown gives: by workplace a group of one agency is a single cell), leave
    exactly what that way withholds: seven cases by workplace and six by residence in the
    city mean one case of someone living elsewhere. So besides every cell under
    :data:`MIN_CELL`, the smallest shown cells of a way are withheld too while what the way
    withholds is :func:`_revealing`. A way that stays revealing with every cell withheld
    (all of them single cases) has the whole group withheld, each way's cells: any way
    shown would give the total."""
    groups: dict[Hashable, dict[str, list[_Cell]]] = {}
    for cell in cells:
        groups.setdefault(group(cell), {}).setdefault(cell.way, []).append(cell)
    hidden: set[int] = set()
    for ways in groups.values():
        total = max(sum(count(c) for c in members) for members in ways.values())
        held: list[_Cell] = []
        exposed = False
        for members in ways.values():
            shown = sorted((c for c in members if count(c) >= MIN_CELL), key=count)
            left_out = [c for c in members if count(c) < MIN_CELL]
            rest = total - sum(count(c) for c in shown)
            while shown and _revealing(rest, len(left_out)):
                smallest = shown.pop(0)
                left_out.append(smallest)
                rest += count(smallest)
            exposed = exposed or _revealing(rest, len(left_out))
            held += left_out
        every = [c for members in ways.values() for c in members]
        hidden.update(id(c) for c in (every if exposed else held))
    return hidden


@dataclass(frozen=True)
class Weekly:
    """A public cell of a per-period figure (turnaround, tell-us-once), for one week."""

    week: date
    cell: Turnaround | EventRow

    def as_dict(self) -> dict[str, object]:
        return {"week": self.week.isoformat(), **self.cell.as_dict()}


@dataclass(frozen=True)
class Published:
    """What anyone may see: node-wide cells of at least :data:`MIN_CELL` cases, pieces or
    events; no totals (a total over every cell, less the published ones, would give the
    withheld ones away), and no count of the cells withheld (asked for one jurisdiction,
    agency, item and week, a count going from 0 to 1 said that someone there had just
    applied). Every cell is one week's, so no choice of period splits a cell into a
    published part and a withheld rest, and every week has ended and settled
    (:func:`published_through`), so no cell moves while a reader watches; and each week is
    counted as of its cut-off (:func:`publication_cutoff`), so no cell moves afterwards
    either: evidence fetched, a scan attached or an agency done later counts for no week
    already published."""

    filters: Filters
    """The period answered: whole weeks, ending no later than :attr:`through`."""
    rows: list[Row]
    turnaround: list[Weekly]
    events: list[Weekly]
    through: date
    """The last day any public figure counts (a Sunday, Taipei time)."""
    settle_days: int


def whole_weeks(filters: Filters) -> Filters:
    """The period widened to whole weeks (Monday to Sunday): a published weekly cell is
    never split by a day chosen to difference it against another period."""
    since = filters.since - timedelta(days=filters.since.weekday())
    until = filters.until + timedelta(days=6 - filters.until.weekday())
    return Filters(since, until, filters.jurisdiction, filters.agency, filters.item)


def published_through(now: datetime, settle_days: int) -> date:
    """The last day the public figures count: the Sunday (Taipei time) ending the last whole
    week that ended at least ``settle_days`` days before ``now`` (below 0: 0). A week still
    running would tick up as cases are opened, so two readings minutes apart, before and
    after someone went to the counter, showed what they applied for; and a case's
    registration is only known once its evidence is fetched, days later."""
    today = now.astimezone(TAIPEI).date()
    latest = today - timedelta(days=max(0, settle_days) + 1)
    return latest - timedelta(days=(latest.weekday() + 1) % 7)


def publication_cutoff(week: date, settle_days: int) -> datetime:
    """The instant the week beginning Monday ``week`` is first published: the first moment
    :func:`published_through` counts its Sunday, i.e. midnight (Taipei time) starting the
    day ``settle_days`` days (below 0: 0) after the week ended. The public figures of the
    week count only what happened strictly before it (:func:`settled`): from the moment
    anyone can read them, nothing done at the counter or by an agency moves them."""
    first = week + timedelta(days=7 + max(0, settle_days))
    return datetime.combine(first, time(0), tzinfo=TAIPEI).astimezone(UTC)


def settled(settle_days: int) -> AsOf:
    """Reads each case or event as of the cut-off of the week it belongs to (opened or
    recorded in, Taipei time): the ``as_of`` the public figures give the measures."""

    def cutoff(moment: datetime) -> datetime:
        return publication_cutoff(week_of(moment), settle_days)

    return cutoff


def public_rows(session: Session, filters: Filters, settle_days: int) -> list[Row]:
    """The case rows anyone may see, node-wide (every jurisdiction, so that withholding is
    decided over all of them: filter by jurisdiction after): each week's cases as of its
    cut-off (:func:`settled`), small and revealing cells withheld (:func:`suppressed`).
    ``filters`` should be :func:`public_weeks`; its jurisdiction is not applied here."""
    everywhere = Filters(filters.since, filters.until, None, filters.agency, filters.item)
    every = Scope(tenant=None, operator=True)
    return suppressed(rows(session, everywhere, every, as_of=settled(settle_days)))


def public_weeks(filters: Filters, now: datetime, settle_days: int) -> Filters:
    """:func:`whole_weeks` of the period, ending no later than :func:`published_through`
    (a period wholly after it keeps its start, and so holds no day)."""
    weeks = whole_weeks(filters)
    until = min(weeks.until, published_through(now, settle_days))
    return Filters(weeks.since, until, weeks.jurisdiction, weeks.agency, weeks.item)


def published(
    session: Session,
    filters: Filters,
    lang: str | None = None,
    *,
    now: datetime,
    settle_days: int,
    cache: WeekCache | None = None,
) -> Published:
    """The public aggregates of :func:`public_weeks` of the period, small cells withheld.
    The agency and item filters choose among the weekly case cells (each is one agency's
    and one item's) but do not narrow turnaround or events: there they would split a cell
    (an owner's pieces from several agencies) and let a difference reveal a small part.
    A period in or beyond :data:`EARLIEST`-:data:`LATEST`, or longer than
    :data:`MAX_PUBLIC_WEEKS`, is a 422 naming ``since`` or ``until`` (judged on the period
    asked, whole weeks, before it is cut at :func:`published_through`). Each week's cells
    are :func:`public_week`'s, from ``cache`` when it holds them; withholding is decided
    over every jurisdiction, agency and item there, so the filters only choose among the
    cells shown (how many cells a filter's choice withheld is never told)."""
    errors = period_errors(filters.since, filters.until, lang)
    if errors:
        raise validation_problem(errors, lang)
    asked = whole_weeks(filters)
    if (asked.until - asked.since).days + 1 > 7 * MAX_PUBLIC_WEEKS:
        reason = t("stats.error.too_long", lang, weeks=MAX_PUBLIC_WEEKS)
        raise validation_problem([FieldError("since", reason)], lang)
    filters = public_weeks(filters, now, settle_days)
    days = max(0, settle_days)
    mondays = [
        filters.since + timedelta(weeks=n)
        for n in range(((filters.until - filters.since).days + 1) // 7)
    ]
    weeks = public_week_figures(session, mondays, now=now, settle_days=days, cache=cache)
    wanted = filters.jurisdiction

    def chosen(cell: Row | Turnaround | EventRow) -> bool:
        return not wanted or cell.jurisdiction == wanted

    found = [
        replace(row)
        for monday in mondays
        for row in weeks[monday].rows
        if chosen(row)
        and (not filters.agency or row.agency == filters.agency)
        and (not filters.item or row.application_item == filters.item)
    ]
    found.sort(key=lambda r: (r.way, r.jurisdiction, r.week, r.application_item, r.agency))
    turned = [Weekly(m, c) for m in mondays for c in weeks[m].turnaround if chosen(c)]
    told = [Weekly(m, e) for m in mondays for e in weeks[m].events if chosen(e)]
    return Published(filters, found, turned, told, published_through(now, settle_days), days)


@dataclass(frozen=True)
class PublicWeek:
    """One week's public cells, node-wide and unfiltered (every jurisdiction, agency and
    item), the withheld ones left out: what every reader of the week is shown, before the
    filters they chose."""

    rows: tuple[Row, ...]
    """Never handed out (a :class:`Row` is mutable): :func:`published` copies them."""
    turnaround: tuple[Turnaround, ...]
    events: tuple[EventRow, ...]


def public_week(grouped: Iterable[Grouped], events: Iterable[EventMeasure]) -> PublicWeek:
    """One week's :class:`PublicWeek` from its cases (counted each way, node-wide) and its
    events, each as of the week's cut-off. A cell's withholding depends only on the cells of
    its own week (:func:`suppressed` and :func:`complementary` group by week), so weeks are
    counted apart from one reading of the period."""
    cases = list(grouped)
    every = Scope(tenant=None, operator=True)
    cells = _turnaround_of(cases)
    hidden = complementary(cells, lambda c: (c.dataset, c.owner, c.channel), lambda c: c.pieces)
    told = _events_of(events, Filters(EARLIEST, LATEST), every)
    withheld = complementary(told, lambda e: e.kind, lambda e: e.events)
    return PublicWeek(
        tuple(suppressed(_rows_of(cases))),
        tuple(c for c in cells if id(c) not in hidden),
        tuple(e for e in told if id(e) not in withheld),
    )


def public_week_figures(
    session: Session,
    mondays: Sequence[date],
    *,
    now: datetime,
    settle_days: int,
    cache: WeekCache | None = None,
) -> dict[date, PublicWeek]:
    """Each week's :func:`public_week` (``mondays``: published weeks, oldest first), each
    week as of its cut-off (:func:`settled`). The weeks ``cache`` does not hold are counted
    from one reading of the measures, from the first of them to the last, and the catalog
    is read once (:func:`reference`); those :meth:`WeekCache.frozen` at ``now`` are kept,
    unless nothing happened in them: an empty week costs little to count, and keeping it
    would let anyone push every busy week out of the cache by asking for empty decades."""
    days = max(0, settle_days)
    known = reference(session)
    keys = {monday: WeekKey(monday, days, MIN_CELL, known) for monday in mondays}
    found: dict[date, PublicWeek] = {}
    for monday, key in keys.items():
        held = cache.get(key, now) if cache is not None else None
        if held is not None:
            found[monday] = held
    missing = [monday for monday in mondays if monday not in found]
    if not missing:
        return found
    span = Filters(missing[0], missing[-1] + timedelta(days=6))
    as_of = settled(days)
    lived = residence_resolver(session, known)
    every = Scope(tenant=None, operator=True)
    cases: dict[date, list[CaseMeasure]] = {monday: [] for monday in missing}
    for measure in case_measures(session, *_bounds(span), lived, as_of):
        monday = week_of(measure.opened_at)
        if monday in cases:
            cases[monday].append(measure)
    events: dict[date, list[EventMeasure]] = {monday: [] for monday in missing}
    for event in event_measures(session, *_bounds(span), lived, as_of):
        monday = week_of(event.recorded_at)
        if monday in events:
            events[monday].append(event)
    for monday in missing:
        found[monday] = public_week(_ways(cases[monday], span, every, known), events[monday])
        if cache is not None and (cases[monday] or events[monday]):
            cache.put(keys[monday], found[monday], now)
    return found


@dataclass(frozen=True)
class WeekKey:
    """Everything a :class:`PublicWeek` depends on besides the case and event timelines
    (frozen at its cut-off): the week, the settling days (they set the cut-off), the
    smallest cell shown (withholding) and the catalog (:class:`Reference`). No reader's
    filter or scope: the week is node-wide and unfiltered, the same for everyone."""

    week: date
    settle_days: int
    min_cell: int
    reference: Reference


CACHED_WEEKS = 2048
"""Weeks a :class:`WeekCache` keeps (about 40 years' worth), the least recently read
forgotten first: a period may reach back to 1912, and each week read once would otherwise
stay."""
CACHE_TTL = timedelta(hours=1)
"""How long a cached week is served. The application never changes a week's timeline
after its cut-off, but the measures take rows written directly into the database (a data
load, an operator's correction: pieces with no timeline entry, dead deliveries with no
dead letter) as they stand, so such a change moves a published figure; this is how long a
worker may still show the figure from before it."""
COMMIT_GRACE = timedelta(minutes=10)
"""How long after a week's cut-off it is first cached: a case opened (a fetch, a scan) a
moment before the cut-off in a transaction still committing at the cut-off counts for the
week once committed."""


class WeekCache:
    """Published weeks' :class:`PublicWeek`, kept in the process (one cache per
    application, i.e. per database), so that asking for two years again and again does not
    count two years again and again.

    Safe because a published week is frozen: every figure is read as of the week's cut-off
    (:func:`settled`) by replaying the append-only case timeline, deliveries' processing
    times and dead letters, and the application writes a case, a piece's fetch or scan, an
    event or a delivery's processing only at the moment it happens, and deletes none of
    them, so nothing it does after the cut-off changes what is counted. What can still
    change is keyed (:class:`WeekKey`: settling days, the smallest cell, the catalog) or
    expires (:data:`CACHE_TTL`: rows written directly into the database). Only weeks whose
    cut-off passed :data:`COMMIT_GRACE` ago are kept or served."""

    def __init__(self, max_weeks: int = CACHED_WEEKS, ttl: timedelta = CACHE_TTL) -> None:
        self.max_weeks = max_weeks
        self.ttl = ttl
        self._weeks: OrderedDict[WeekKey, tuple[datetime, PublicWeek]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._weeks)

    @staticmethod
    def frozen(key: WeekKey, now: datetime) -> bool:
        """Whether the week's figures can no longer change through the application."""
        return publication_cutoff(key.week, key.settle_days) + COMMIT_GRACE <= now

    def get(self, key: WeekKey, now: datetime) -> PublicWeek | None:
        if not self.frozen(key, now):
            return None
        with self._lock:
            held = self._weeks.get(key)
            if held is None:
                return None
            kept_at, week = held
            if now >= kept_at + self.ttl:
                del self._weeks[key]
                return None
            if now < kept_at:
                return None
            self._weeks.move_to_end(key)
            return week

    def put(self, key: WeekKey, week: PublicWeek, now: datetime) -> None:
        if not self.frozen(key, now):
            return
        with self._lock:
            self._weeks[key] = (now, week)
            self._weeks.move_to_end(key)
            while len(self._weeks) > self.max_weeks:
                self._weeks.popitem(last=False)
