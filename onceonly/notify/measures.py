"""Read-only: what each tell-us-once event took, for the effectiveness statistics
(:mod:`onceonly.stats`). No personal data leaves: no national id, no payload."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.db import as_utc
from onceonly.notify.models import Delivery, LifeEvent


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


def event_measures(
    session: Session,
    since: datetime,
    until: datetime,
    residence: Callable[[Sequence[tuple[str, datetime]]], Sequence[str | None]] | None = None,
) -> list[EventMeasure]:
    """Every event recorded in ``[since, until)``, oldest first. ``residence`` is given each
    event's (subject, recording moment); the subject stays in here."""
    events = session.scalars(
        select(LifeEvent)
        .where(LifeEvent.recorded_at >= since, LifeEvent.recorded_at < until)
        .order_by(LifeEvent.recorded_at, LifeEvent.id)
    ).all()
    told: dict[str, list[tuple[str, datetime | None]]] = {}
    if events:
        rows = session.execute(
            select(Delivery.event_id, Delivery.status, Delivery.processed_at).where(
                Delivery.event_id.in_([e.id for e in events])
            )
        )
        for event_id, status, processed_at in rows:
            told.setdefault(event_id, []).append((status, processed_at))
    lived = (
        list(residence([(e.national_id, as_utc(e.recorded_at)) for e in events]))
        if residence and events
        else [None] * len(events)
    )
    found = []
    for event, place in zip(events, lived, strict=True):
        deliveries = told.get(event.id, [])
        processed = [as_utc(at) for status, at in deliveries if status == "processed" and at]
        done = bool(deliveries) and len(processed) == len(deliveries)
        found.append(
            EventMeasure(
                event.kind,
                event.source,
                event.jurisdiction,
                event.recorded_by,
                as_utc(event.recorded_at),
                len(deliveries),
                len(processed),
                sum(1 for status, _ in deliveries if status == "dead"),
                max(processed) if done else None,
                place,
            )
        )
    return found


def mailing_addresses(session: Session, asks: Sequence[tuple[str, datetime]]) -> list[str | None]:
    """For each (national id, moment): the mailing address the citizen had last reported
    (their own ``mailing_address`` report recorded at or before that moment), or ``None``.
    The citizen's contact address is the only residence this node knows apart from the
    household register, which is the registration, not the residence."""
    if not asks:
        return []
    reported: dict[str, list[tuple[datetime, int, str]]] = {}
    rows = session.execute(
        select(
            LifeEvent.national_id, LifeEvent.recorded_at, LifeEvent.seq, LifeEvent.payload
        ).where(
            LifeEvent.kind == "mailing_address",
            LifeEvent.national_id.in_(sorted({subject for subject, _ in asks})),
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
