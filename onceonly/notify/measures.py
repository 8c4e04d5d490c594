"""Read-only: what each tell-us-once event took, for the effectiveness statistics
(:mod:`onceonly.stats`). No personal data leaves: no national id, no payload.

Read live (``as_of`` not given), an event counts as its deliveries stand. Read as of a
moment (the public statistics give each event the publication cut-off of its week), an
event counts as it stood just before that moment: a delivery processed at or after it is
not processed yet, and a delivery is dead when a dead letter of it was written before the
moment and it was neither replayed nor acknowledged (processed) before it
(``notify_dead_letters`` keeps when it died and was replayed), so nothing done later
changes what is counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from onceonly.db import as_utc
from onceonly.notify.models import DeadLetter, Delivery, LifeEvent


@dataclass(frozen=True)
class EventMeasure:
    kind: str
    source: str
    """``household_registration`` or ``citizen``."""
    jurisdiction: str | None
    """Where the subject is registered, as the event says."""
    recorded_by: str | None
    """The recording agency's code (``citizen`` for the citizen's own report)."""
    recorded_at: datetime
    agencies: int
    """Agencies to tell (one delivery each)."""
    processed: int
    dead: int
    all_processed_at: datetime | None
    """When the last agency processed it; ``None`` until every one has (or none was told)."""
    residence: str | None = None
    """Where the subject lived when it was recorded, as the ``residence`` resolver given to
    :func:`event_measures` tells; ``None``: not known."""


_RECORDED = (
    LifeEvent.id,
    LifeEvent.national_id,
    LifeEvent.kind,
    LifeEvent.source,
    LifeEvent.jurisdiction,
    LifeEvent.recorded_by,
    LifeEvent.recorded_at,
)
"""The columns of an event its measures read: not its payload, nor an ORM object per event
(a long period holds tens of thousands)."""

AsOf = Callable[[datetime], datetime]
"""Given an event's recording moment, the moment to read it as of: only what happened
strictly before it counts."""


def event_measures(
    session: Session,
    since: datetime,
    until: datetime,
    residence: Callable[[Sequence[tuple[str, datetime]]], Sequence[str | None]] | None = None,
    as_of: AsOf | None = None,
) -> list[EventMeasure]:
    """Every event recorded in ``[since, until)``, oldest first; as of ``as_of(recorded_at)``
    for each event when given (an event recorded at or after its moment is left out).
    ``residence`` is given each event's (subject, recording moment); the subject stays in
    here. The agencies told are every delivery of the event: they are written with it, in
    the transaction that records it (:func:`onceonly.notify.outbox.write_outbox`)."""
    period = (LifeEvent.recorded_at >= since, LifeEvent.recorded_at < until)
    events = list(
        session.execute(
            select(*_RECORDED).where(*period).order_by(LifeEvent.recorded_at, LifeEvent.id)
        )
    )
    cuts = {e.id: as_of(as_utc(e.recorded_at)) for e in events} if as_of else {}
    if as_of:
        events = [e for e in events if as_utc(e.recorded_at) < cuts[e.id]]
    told: dict[str, list[tuple[datetime | None, bool]]] = {}
    if events:
        kept = {e.id for e in events}
        of_period = Delivery.event_id.in_(select(LifeEvent.id).where(*period))
        rows = session.execute(
            select(Delivery.id, Delivery.event_id, Delivery.status, Delivery.processed_at).where(
                of_period
            )
        )
        deliveries = [row for row in rows if row.event_id in kept]
        letters = _dead_letters(session, select(Delivery.id).where(of_period)) if as_of else {}
        for delivery_id, event_id, status, processed_at in deliveries:
            at = as_utc(processed_at) if status == "processed" and processed_at else None
            dead = status == "dead"
            if as_of:
                cut = cuts[event_id]
                at = at if at is not None and at < cut else None
                if delivery_id in letters:
                    dead = at is None and any(
                        died < cut and (replayed is None or replayed >= cut)
                        for died, replayed in letters[delivery_id]
                    )
            told.setdefault(event_id, []).append((at, dead))
    lived = (
        list(residence([(e.national_id, as_utc(e.recorded_at)) for e in events]))
        if residence and events
        else [None] * len(events)
    )
    found = []
    for event, place in zip(events, lived, strict=True):
        deliveries_of = told.get(event.id, [])
        processed = [at for at, _ in deliveries_of if at is not None]
        done = bool(deliveries_of) and len(processed) == len(deliveries_of)
        found.append(
            EventMeasure(
                event.kind,
                event.source,
                event.jurisdiction,
                event.recorded_by,
                as_utc(event.recorded_at),
                len(deliveries_of),
                len(processed),
                sum(1 for _, dead in deliveries_of if dead),
                max(processed) if done else None,
                place,
            )
        )
    return found


def _dead_letters(
    session: Session, deliveries: Select[int]
) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """Each delivery's dead letters (of the deliveries the query ``deliveries`` chooses): (when
    it died, when it was replayed). A delivery dead without any was written so directly (a
    data load or an operator's correction, never the worker, which writes the letter with
    the death) and counts as it stands."""
    found: dict[int, list[tuple[datetime, datetime | None]]] = {}
    rows = session.execute(
        select(DeadLetter.delivery_id, DeadLetter.dead_at, DeadLetter.replayed_at).where(
            DeadLetter.delivery_id.in_(deliveries)
        )
    )
    for delivery_id, dead_at, replayed_at in rows:
        found.setdefault(delivery_id, []).append(
            (as_utc(dead_at), as_utc(replayed_at) if replayed_at else None)
        )
    return found


SUBJECTS_PER_QUERY = 500
"""The citizens :func:`mailing_addresses` asks about in one statement: a period's citizens
outnumber the parameters a statement may bind (32,766 on SQLite, 65,535 through psycopg),
and they come from whoever asks, not from a query the reports could be joined to."""


def mailing_addresses(session: Session, asks: Sequence[tuple[str, datetime]]) -> list[str | None]:
    """For each (national id, moment): the mailing address the citizen had last reported
    (their own ``mailing_address`` report recorded at or before that moment), or ``None``.
    The citizen's contact address is the only residence this node knows apart from the
    household register, which is the registration, not the residence. The citizens are
    asked about :data:`SUBJECTS_PER_QUERY` at a time."""
    if not asks:
        return []
    reported: dict[str, list[tuple[datetime, int, str]]] = {}
    subjects = sorted({subject for subject, _ in asks})
    for start in range(0, len(subjects), SUBJECTS_PER_QUERY):
        rows = session.execute(
            select(
                LifeEvent.national_id, LifeEvent.recorded_at, LifeEvent.seq, LifeEvent.payload
            ).where(
                LifeEvent.kind == "mailing_address",
                LifeEvent.national_id.in_(subjects[start : start + SUBJECTS_PER_QUERY]),
            )
        )
        for subject, recorded_at, seq, payload in rows:
            address = (payload or {}).get("mailing_address")
            if isinstance(address, str) and address.strip():
                reported.setdefault(subject, []).append((as_utc(recorded_at), seq, address))
    found: list[str | None] = []
    for subject, moment in asks:
        earlier = [r for r in reported.get(subject, []) if r[0] <= moment]
        found.append(max(earlier)[2] if earlier else None)
    return found
