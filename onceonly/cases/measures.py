"""Read-only: the measures each case already records, for the effectiveness statistics
(:mod:`onceonly.stats`). No personal data leaves: no subject, no contact, no case number.

Read live (``as_of`` not given), a case counts as it stands. Read as of a moment (the
public statistics give each case the publication cut-off of its week), a case counts as it
stood just before that moment: each piece's fetches and scans are replayed from the case's
timeline (``case_events``, append-only, written in the same transaction as the piece's row,
at the same instant), so nothing done after the moment changes what is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from onceonly.cases.models import Case, CaseEvent, CaseEvidence
from onceonly.db import as_utc


@dataclass(frozen=True)
class CaseMeasure:
    opened_at: datetime
    application_item: str
    opening_agency: str
    evidence_online: int
    evidence_paper: int
    decision_seconds: int | None
    evidence: tuple[tuple[str, tuple[str, ...], str | None], ...]
    """(dataset, owners asked, the exchange's status of the latest fetch) of each required
    piece: where a dataset held where the citizen is registered was asked tells the
    citizen's registration without reading it again; the status tells refusals apart."""
    turnaround: tuple[tuple[str, tuple[str, ...], str, int], ...] = ()
    """(dataset, owners asked, ``online`` or ``paper``, seconds from the case's opening until
    the piece was in hand: fetched and issued online, or its paper attached) of each piece
    that arrived; the evidence turnaround per dataset and owner."""
    residence: str | None = None
    """The jurisdiction of the citizen's mailing address when the case opened, as the
    ``residence`` resolver given to :func:`case_measures` tells; ``None``: not known."""


Residence = Callable[[Sequence[tuple[str, datetime]]], Sequence[str | None]]
"""Given each case's (subject, opening moment), the jurisdiction the citizen then lived in (or
``None``). Set up by the caller (the statistics wire in the citizens' own mailing-address
reports), so cases need not know where residence is kept; the subject stays in here."""

AsOf = Callable[[datetime], datetime]
"""Given a case's opening moment, the moment to read the case as of: only what happened
strictly before it counts."""

_TIMELINE = ("evidence_fetched", "paper_attached", "decided")
"""The timeline entries a case's measures are replayed from."""

Chosen = Select[int]
"""The query choosing the period's cases (their ids), read as a subquery: their pieces and
timeline entries are read by it, not by a list of ids, whose parameters a long period of a
busy city outnumbers (a statement binds at most 32,766 on SQLite, 65,535 through psycopg).
It may choose cases the caller left out (opened at or after their moment, or opened since
the cases were read): their rows are passed over."""


_Opened = Row[int, datetime, str | None, str, str, int, int, int | None, datetime | None]
"""What a case's measures take from its row (:data:`_OPENED`)."""

_OPENED = (
    Case.id,
    Case.opened_at,
    Case.subject,
    Case.application_item,
    Case.opening_agency,
    Case.evidence_online,
    Case.evidence_paper,
    Case.decision_seconds,
    Case.decided_at,
)
"""The columns of a case its measures read, not the whole case: a long period holds tens of
thousands of cases, and making each an ORM object (every column, the identity map, change
tracking) took about a seventh of a cold two-year public request."""


@dataclass(frozen=True)
class _Piece:
    """One required piece as it stood: the latest fetch kept (status, owners, when) and the
    latest scan attached (when)."""

    dataset: str
    owners: tuple[str, ...]
    status: str | None
    fetched: datetime | None
    attached: datetime | None


def case_measures(
    session: Session,
    since: datetime,
    until: datetime,
    residence: Residence | None = None,
    as_of: AsOf | None = None,
) -> list[CaseMeasure]:
    """Every case opened in ``[since, until)``, oldest first; as of ``as_of(opened_at)``
    for each case when given (a case opened at or after its moment is left out)."""
    period = (Case.opened_at >= since, Case.opened_at < until)
    chosen = select(Case.id).where(*period)
    cases = list(session.execute(select(*_OPENED).where(*period).order_by(Case.opened_at, Case.id)))
    cuts = {c.id: as_of(as_utc(c.opened_at)) for c in cases} if as_of else {}
    if as_of:
        cases = [c for c in cases if as_utc(c.opened_at) < cuts[c.id]]
        cuts = {c.id: cuts[c.id] for c in cases}
    timeline = _timeline(session, chosen, cuts) if as_of else {}
    held = _pieces(session, chosen, cuts, timeline) if as_of else _current(session, chosen, cases)
    decided = _decisions(cases, cuts, timeline) if as_of else {}
    lived = (
        list(residence([(c.subject or "", as_utc(c.opened_at)) for c in cases]))
        if residence and cases
        else [None] * len(cases)
    )
    found = []
    for case, place in zip(cases, lived, strict=True):
        pieces = held.get(case.id, [])
        opened = as_utc(case.opened_at)
        if as_of:
            online = sum(1 for p in pieces if p.status == "issued")
            counts = (online, len(pieces) - online, decided.get(case.id))
        else:
            counts = (case.evidence_online, case.evidence_paper, case.decision_seconds)
        found.append(
            CaseMeasure(
                opened,
                case.application_item,
                case.opening_agency,
                *counts,
                tuple(sorted(((p.dataset, p.owners, p.status) for p in pieces), key=_by_piece)),
                tuple(sorted(_arrivals(pieces, opened))),
                place,
            )
        )
    return found


def _by_piece(piece: tuple[str, tuple[str, ...], str | None]) -> tuple[str, tuple[str, ...]]:
    return piece[0], piece[1]


def _arrivals(
    pieces: list[_Piece], opened: datetime
) -> list[tuple[str, tuple[str, ...], str, int]]:
    """Each piece in hand: online when its kept fetch issued it (at that fetch), else on
    paper when a scan is attached (at the latest attachment)."""
    found = []
    for piece in pieces:
        if piece.status == "issued" and piece.fetched is not None:
            channel, moment = "online", piece.fetched
        elif piece.attached is not None:
            channel, moment = "paper", piece.attached
        else:
            continue
        seconds = max(0, int((moment - opened).total_seconds()))
        found.append((piece.dataset, piece.owners, channel, seconds))
    return found


def _current(session: Session, chosen: Chosen, cases: list[_Opened]) -> dict[int, list[_Piece]]:
    """Each case's pieces as they stand (of the cases ``chosen``)."""
    held: dict[int, list[_Piece]] = {}
    if not cases:
        return held
    rows = session.execute(
        select(
            CaseEvidence.case_id,
            CaseEvidence.dataset,
            CaseEvidence.owners,
            CaseEvidence.status,
            CaseEvidence.fetched_at,
            CaseEvidence.paper_attached_at,
        )
        .where(CaseEvidence.case_id.in_(chosen))
        .order_by(CaseEvidence.case_id, CaseEvidence.position)
    )
    for case_id, dataset, owners, status, fetched, attached in rows:
        held.setdefault(case_id, []).append(
            _Piece(
                dataset,
                tuple(owners or ()),
                status,
                as_utc(fetched) if fetched else None,
                as_utc(attached) if attached else None,
            )
        )
    return held


Timeline = dict[int, list[tuple[datetime, str, dict[str, Any]]]]


def _timeline(session: Session, chosen: Chosen, cuts: dict[int, datetime]) -> Timeline:
    """Each case's fetches, scans and decisions (of the cases ``chosen`` that ``cuts`` keeps),
    oldest first, every one of them (those at or after the case's moment too: that a piece
    has any entry tells its row has a history)."""
    entries: dict[int, list[tuple[datetime, int, str, dict[str, Any]]]] = {}
    if cuts:
        rows = session.execute(
            select(
                CaseEvent.case_id, CaseEvent.id, CaseEvent.at, CaseEvent.kind, CaseEvent.details
            ).where(CaseEvent.case_id.in_(chosen), CaseEvent.kind.in_(_TIMELINE))
        )
        for case_id, event_id, at, kind, details in rows:
            if case_id in cuts:
                entries.setdefault(case_id, []).append((as_utc(at), event_id, kind, details or {}))
    return {
        case_id: [(at, kind, details) for at, _, kind, details in sorted(found)]
        for case_id, found in entries.items()
    }


def _pieces(
    session: Session, chosen: Chosen, cuts: dict[int, datetime], timeline: Timeline
) -> dict[int, list[_Piece]]:
    """Each case's pieces (of the cases ``chosen`` that ``cuts`` keeps) as they stood just
    before its moment, replayed from the timeline: every fetch the case kept
    (``kept_previous`` false: a failed fetch beside valid evidence changes nothing) sets the
    piece's status, owners and fetch time, every scan its attachment time. A piece with no
    fetch (or no scan) in the timeline at all was written into the database directly (a
    data load or an operator's correction, never the application): its row is taken as it
    stands, by its own stored time when it has one."""
    held: dict[int, list[_Piece]] = {}
    if not cuts:
        return held
    rows = session.execute(
        select(
            CaseEvidence.case_id,
            CaseEvidence.evidence_type,
            CaseEvidence.dataset,
            CaseEvidence.owners,
            CaseEvidence.status,
            CaseEvidence.fetched_at,
            CaseEvidence.paper_attached_at,
        )
        .where(CaseEvidence.case_id.in_(chosen))
        .order_by(CaseEvidence.case_id, CaseEvidence.position)
    )
    for case_id, evidence_type, dataset, owners, status, fetched, attached in rows:
        cut = cuts.get(case_id)
        if cut is None:
            continue
        entries = [
            (at, kind, details)
            for at, kind, details in timeline.get(case_id, [])
            if kind != "decided" and details.get("evidence_type") == evidence_type
        ]
        fetches = [e for e in entries if e[1] == "evidence_fetched"]
        scans = [e for e in entries if e[1] == "paper_attached"]
        state: tuple[tuple[str, ...], str | None, datetime | None] = ((), None, None)
        if not fetches:
            moment = as_utc(fetched) if fetched else None
            if status is not None and (moment is None or moment < cut):
                state = (tuple(owners or ()), status, moment)
        for at, _, details in fetches:
            if at < cut and not details.get("kept_previous"):
                state = (tuple(details.get("owners") or ()), details.get("status"), at)
        in_hand = None
        if not scans:
            moment = as_utc(attached) if attached else None
            in_hand = moment if moment is not None and moment < cut else None
        for at, _, _ in scans:
            if at < cut:
                in_hand = at
        held.setdefault(case_id, []).append(_Piece(dataset, *state, in_hand))
    return held


def _decisions(
    cases: list[_Opened], cuts: dict[int, datetime], timeline: Timeline
) -> dict[int, int | None]:
    """Each case's seconds from opening to its latest decision before its moment (from the
    timeline; a case without a decision in it, by its stored decision time)."""
    found: dict[int, int | None] = {}
    for case in cases:
        cut, opened = cuts[case.id], as_utc(case.opened_at)
        decisions = [at for at, kind, _ in timeline.get(case.id, []) if kind == "decided"]
        if not decisions:
            stored = as_utc(case.decided_at) if case.decided_at else None
            found[case.id] = case.decision_seconds if stored and stored < cut else None
            continue
        earlier = [at for at in decisions if at < cut]
        found[case.id] = max(0, int((max(earlier) - opened).total_seconds())) if earlier else None
    return found
