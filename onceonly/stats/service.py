"""Cases per week, item and agency; transcripts fetched online (paper the citizen did not
have to bring) and still on paper. Counted two ways the 2011 report asks for (工作地 and
戶籍地, around its lines 1645-1653 and 1964-1966): by the clerk's workplace (the opening
agency's jurisdiction) and by the citizen's registration (the jurisdiction whose owner
answered a dataset held where the citizen is registered; ``unknown`` when no such dataset was
asked). Read through :func:`onceonly.cases.measures.case_measures` only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import Scope, tenant_of_agency
from onceonly.cases.measures import CaseMeasure, case_measures
from onceonly.catalog import service as catalog

TAIPEI = ZoneInfo("Asia/Taipei")
WAYS = ("workplace", "registration")
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


def _bounds(filters: Filters) -> tuple[datetime, datetime]:
    start = datetime.combine(filters.since, time(0), tzinfo=TAIPEI).astimezone(UTC)
    end = datetime.combine(filters.until + timedelta(days=1), time(0), tzinfo=TAIPEI)
    return start, end.astimezone(UTC)


def _registration(measure: CaseMeasure, residence_datasets: set[str]) -> str:
    for dataset, owners, _ in measure.evidence:
        if dataset in residence_datasets and owners:
            return tenant_of_agency(owners[0]) or UNKNOWN
    return UNKNOWN


def week_of(moment: datetime) -> date:
    day = moment.astimezone(TAIPEI).date()
    return day - timedelta(days=day.weekday())


def _grouped(
    session: Session, filters: Filters, scope: Scope
) -> Iterator[tuple[str, str, CaseMeasure]]:
    """Each case of the period once per way, with the jurisdiction it counts for there. A
    tenant sees its own jurisdiction's figures (each way); the platform's operator all."""
    residence = {d.code for d in catalog.list_datasets(session) if d.owner_scope == "residence"}
    for measure in case_measures(session, *_bounds(filters)):
        if filters.agency and measure.opening_agency != filters.agency:
            continue
        if filters.item and measure.application_item != filters.item:
            continue
        groups = {
            "workplace": tenant_of_agency(measure.opening_agency) or UNKNOWN,
            "registration": _registration(measure, residence),
        }
        for way, group in groups.items():
            if filters.jurisdiction and group != filters.jurisdiction:
                continue
            if not scope.operator and group != scope.tenant:
                continue
            yield way, group, measure


def rows(session: Session, filters: Filters, scope: Scope) -> list[Row]:
    """One row per way, jurisdiction, week, item and opening agency."""
    found: dict[tuple[str, str, date, str, str], Row] = {}
    for way, group, measure in _grouped(session, filters, scope):
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


def refusals(session: Session, filters: Filters, scope: Scope) -> list[Refusal]:
    """Evidence that could not be fetched online, by dataset and reason (the latest fetch's
    status; pieces never fetched and those issued are not refusals)."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for way, group, measure in _grouped(session, filters, scope):
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


def turnaround(session: Session, filters: Filters, scope: Scope) -> list[Turnaround]:
    """Evidence turnaround per dataset and owner: from a case's opening until each piece was
    in hand, online or on paper (median and p90). A piece asked of several owners counts for
    each of them, since each answered in that time; pieces not yet in hand are left out."""
    samples: dict[tuple[str, str, str, str, str], list[int]] = {}
    for way, group, measure in _grouped(session, filters, scope):
        for dataset, owners, channel, seconds in measure.turnaround:
            for owner in owners or (UNKNOWN,):
                samples.setdefault((way, group, dataset, owner, channel), []).append(seconds)
    found = []
    for key, times in sorted(samples.items()):
        ordered = sorted(times)
        median = int(statistics.median(ordered))
        found.append(Turnaround(*key, len(ordered), median, nearest_rank(ordered, 0.9)))
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
    small count of one agency's item in one week could point at a person)."""
    return [row for row in found if row.cases >= MIN_CELL]
