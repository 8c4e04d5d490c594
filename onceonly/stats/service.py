"""Cases per week, item and agency; transcripts fetched online (paper the citizen did not
have to bring) and still on paper; evidence turnaround; trips and waiting saved; refusals;
tell-us-once events. Counted the three ways the 2011 report asks for (工作地, 戶籍地 and
居住地, around its lines 1645-1653 and 1964-1966): by the clerk's workplace (the opening
agency's jurisdiction), by the citizen's registration (the jurisdiction whose owner answered
a dataset held where the citizen is registered; ``unknown`` when no such dataset was asked)
and by the citizen's residence (the city of the mailing address they last reported
themselves, :func:`residence_resolver`; ``unknown`` without one). Read through
:mod:`onceonly.cases.measures` and :mod:`onceonly.notify.measures` only.

The signed-in figures are live: a case counts as it stands now (or as of the moment an
``as_of`` gives). What anyone may see, weekly cells as of each week's publication cut-off
with small cells withheld, is :mod:`onceonly.stats.publication`, counted with the functions
here (:func:`period_bounds`, :func:`by_way`, :func:`rows_of`, :func:`turnaround_of`,
:func:`events_of`) from measures it reads once for a whole period.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import Scope, tenant_of_agency
from onceonly.cases.measures import AsOf, CaseMeasure, Residence, case_measures
from onceonly.catalog import service as catalog
from onceonly.domain.address import parse_address
from onceonly.domain.errors import DomainValueError
from onceonly.domain.merger_renames import rename_parsed, rename_table
from onceonly.domain.variants import fold_width
from onceonly.errors import FieldError
from onceonly.i18n import t
from onceonly.notify.measures import EventMeasure, event_measures, mailing_addresses
from onceonly.stats.assumptions import ASSUMPTIONS, assumptions

TAIPEI = ZoneInfo("Asia/Taipei")
WAYS = ("workplace", "registration", "residence")
UNKNOWN = "unknown"
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


def period_bounds(filters: Filters) -> tuple[datetime, datetime]:
    """The period's days as the instants the measures are read between, ``[start, end)``
    in UTC (Taipei's midnights): public, since the public figures read the measures of a
    whole span of weeks themselves, once, and count each week from them."""
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
    week is keyed by them (:class:`onceonly.stats.publication.WeekKey`)."""

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
    ``as_of``: read each case as of the moment it gives (the public figures give
    :func:`onceonly.stats.publication.settled`); live without."""
    known = reference(session)
    lived = residence_resolver(session, known)
    return by_way(
        case_measures(session, *period_bounds(filters), lived, as_of), filters, scope, known
    )


def by_way(
    measures: Iterable[CaseMeasure], filters: Filters, scope: Scope, known: Reference
) -> Iterator[Grouped]:
    """Each case of ``measures`` (already read, as of whatever moment) once per way, the
    filters and scope applied, as :func:`rows` and :func:`turnaround` count them: public,
    so that the public figures can count each week of one reading of a period alike."""
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
    return rows_of(_grouped(session, filters, scope, as_of))


def rows_of(grouped: Iterable[Grouped]) -> list[Row]:
    """:func:`rows` of cases already counted each way (:func:`by_way`); public for the
    public figures, which count each week's rows apart."""
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
    return turnaround_of(_grouped(session, filters, scope, as_of))


def turnaround_of(grouped: Iterable[Grouped]) -> list[Turnaround]:
    """:func:`turnaround` of cases already counted each way (:func:`by_way`); public for
    the public figures, which count each week's cells apart."""
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
    measures = event_measures(session, *period_bounds(filters), residence_resolver(session), as_of)
    return events_of(measures, filters, scope)


def events_of(measures: Iterable[EventMeasure], filters: Filters, scope: Scope) -> list[EventRow]:
    """:func:`tell_us_once` of events already read (as of whatever moment); public for the
    public figures, which count each week's events apart."""
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
