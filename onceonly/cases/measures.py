"""Read-only: the measures each case already records, for the effectiveness statistics
(:mod:`onceonly.stats`). No personal data leaves: no subject, no contact, no case number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.cases.models import Case, CaseEvidence
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


def case_measures(
    session: Session, since: datetime, until: datetime, residence: Residence | None = None
) -> list[CaseMeasure]:
    """Every case opened in ``[since, until)``, oldest first."""
    cases = session.scalars(
        select(Case)
        .where(Case.opened_at >= since, Case.opened_at < until)
        .order_by(Case.opened_at, Case.id)
    ).all()
    pieces: dict[int, list[tuple[str, tuple[str, ...], str | None]]] = {}
    arrived: dict[int, list[tuple[str, tuple[str, ...], str, int]]] = {}
    opened = {c.id: as_utc(c.opened_at) for c in cases}
    if cases:
        rows = session.execute(
            select(
                CaseEvidence.case_id,
                CaseEvidence.dataset,
                CaseEvidence.owners,
                CaseEvidence.status,
                CaseEvidence.fetched_at,
                CaseEvidence.paper_attached_at,
            ).where(CaseEvidence.case_id.in_([c.id for c in cases]))
        )
        for case_id, dataset, asked, status, fetched, attached in rows:
            owners = tuple(asked or ())
            pieces.setdefault(case_id, []).append((dataset, owners, status))
            if status == "issued" and fetched is not None:
                channel, moment = "online", as_utc(fetched)
            elif attached is not None:
                channel, moment = "paper", as_utc(attached)
            else:
                continue
            seconds = max(0, int((moment - opened[case_id]).total_seconds()))
            arrived.setdefault(case_id, []).append((dataset, owners, channel, seconds))
    lived = (
        list(residence([(c.subject or "", as_utc(c.opened_at)) for c in cases]))
        if residence and cases
        else [None] * len(cases)
    )
    return [
        CaseMeasure(
            as_utc(c.opened_at),
            c.application_item,
            c.opening_agency,
            c.evidence_online,
            c.evidence_paper,
            c.decision_seconds,
            tuple(sorted(pieces.get(c.id, []), key=lambda p: (p[0], p[1]))),
            tuple(sorted(arrived.get(c.id, []))),
            place,
        )
        for c, place in zip(cases, lived, strict=True)
    ]
