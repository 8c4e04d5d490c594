"""The public statistics: what anyone may see, and the export a city publishes. Counted
with :mod:`onceonly.stats.service` (the measures of a period, each way), but only weekly
cells, only of weeks that ended and settled (:func:`published_through`), each week as of its
publication cut-off (:func:`publication_cutoff`, :func:`settled`), so once a week is
published nothing done later changes it; small cells withheld, and any cell the others would
give away (:func:`suppressed`, :func:`complementary`). :func:`published` counts a period's
weeks from one reading of it and keeps each published week in the process
(:class:`WeekCache`), so asking for a long period again costs little.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import NODE_WIDE
from onceonly.cases.measures import AsOf, CaseMeasure, case_measures
from onceonly.errors import FieldError, validation_problem
from onceonly.i18n import t
from onceonly.notify.measures import EventMeasure, event_measures
from onceonly.stats.service import (
    EARLIEST,
    LATEST,
    TAIPEI,
    EventRow,
    Filters,
    Grouped,
    Reference,
    Row,
    Turnaround,
    by_way,
    events_of,
    period_bounds,
    period_errors,
    reference,
    residence_resolver,
    rows,
    rows_of,
    turnaround_of,
    week_of,
)

MIN_CELL = 5
"""Published cells (the export) with fewer cases than this are suppressed."""

MAX_PUBLIC_WEEKS = 106
"""The longest period anyone may ask :func:`published` for (two years): each week is
counted on its own, so a period of centuries kept the server busy for as long."""


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
    return suppressed(rows(session, everywhere, NODE_WIDE, as_of=settled(settle_days)))


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
    cells = turnaround_of(cases)
    hidden = complementary(cells, lambda c: (c.dataset, c.owner, c.channel), lambda c: c.pieces)
    told = events_of(events, Filters(EARLIEST, LATEST), NODE_WIDE)
    withheld = complementary(told, lambda e: e.kind, lambda e: e.events)
    return PublicWeek(
        tuple(suppressed(rows_of(cases))),
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
    cases: dict[date, list[CaseMeasure]] = {monday: [] for monday in missing}
    for measure in case_measures(session, *period_bounds(span), lived, as_of):
        monday = week_of(measure.opened_at)
        if monday in cases:
            cases[monday].append(measure)
    events: dict[date, list[EventMeasure]] = {monday: [] for monday in missing}
    for event in event_measures(session, *period_bounds(span), lived, as_of):
        monday = week_of(event.recorded_at)
        if monday in events:
            events[monday].append(event)
    for monday in missing:
        found[monday] = public_week(by_way(cases[monday], span, NODE_WIDE, known), events[monday])
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
