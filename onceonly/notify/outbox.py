"""The delivery outbox: writing rows with the event, acknowledgements, the citizen's view of
each agency's status, the dead-letter queue and the numbers administrators watch.

Statuses of a delivery: ``pending`` (not yet received), ``delivered`` (the agency received it:
a 2xx to the webhook, or the agency's feed cursor moved past it), ``processed`` (the agency
says it has applied it: ``{"status": "processed"}`` in the webhook response body, or
``POST /api/v1/notify/acks``) and ``dead`` (every attempt failed; shown to citizens as
``failed``, replayable by an administrator). When every delivery of an event is processed the
citizen gets one message in ``citizen_messages``.

A ``dead`` delivery with no dead letter, of a revoked subscription, is one that will never be
sent (:attr:`AgencyStatus.never_sent`): migration ``0031_improper_approvals_revoked`` made so
the deliveries of subscriptions whose approval was void, and wrote no dead letter, so nobody
handles or replays them. The worker always writes a dead letter when it gives up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.orm import Session

from onceonly.db import Base, as_utc, utcnow
from onceonly.exchange.minimise import minimise
from onceonly.i18n import t
from onceonly.notify.models import (
    AgencyFeed,
    CitizenMessage,
    DeadLetter,
    Delivery,
    LifeEvent,
    MoveRelay,
    Subscription,
)
from onceonly.notify.notices import contact_of, queue_notices
from onceonly.notify.subscriptions import matching_subscriptions

CITIZEN_STATUS = {
    "pending": "pending",
    "delivered": "delivered",
    "processed": "processed",
    "dead": "failed",
}


def _iso(value: datetime) -> str:
    return as_utc(value).isoformat()


def delivery_body(event: LifeEvent, subscription: Subscription) -> dict[str, Any]:
    """What the agency receives: the event's envelope and only the fields it may see."""
    return {
        "id": event.id,
        "subscription_id": subscription.id,
        "kind": event.kind,
        "subject": event.national_id,
        "seq": event.seq,
        "jurisdiction": event.jurisdiction,
        "occurred_at": _iso(event.occurred_at),
        "recorded_at": _iso(event.recorded_at),
        "data": minimise(event.payload, subscription.fields),
    }


def upsert_increment(
    session: Session, model: type[Base], key: str, value: str, counter: str
) -> int:
    """Add one to ``model.counter`` for ``key == value`` (starting at 1) and return it, holding
    the row lock until the transaction ends."""
    table = cast(Table, model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = (
        insert(table)
        .values({key: value, counter: 1})
        .on_conflict_do_update(index_elements=[table.c[key]], set_={counter: table.c[counter] + 1})
        .returning(table.c[counter])
    )
    result: int = session.execute(statement).scalar_one()
    return result


def write_outbox(session: Session, event: LifeEvent) -> int:
    """One delivery per approved subscription that wants ``event``, in the caller's transaction;
    pull rows get the agency's next feed position (agencies locked in code order, so two events
    never wait on each other's feed rows in opposite orders)."""
    subscriptions = matching_subscriptions(session, event.kind, event.jurisdiction)
    positions: dict[int, int] = {}
    pull = sorted(
        (s for s in subscriptions if s.mode == "pull"), key=lambda s: (s.agency_code, s.id)
    )
    for sub in pull:
        positions[sub.id] = upsert_increment(
            session, AgencyFeed, "agency_code", sub.agency_code, "last_position"
        )
    now = utcnow()
    for sub in subscriptions:
        session.add(
            Delivery(
                event_id=event.id,
                subscription_id=sub.id,
                agency_code=sub.agency_code,
                mode=sub.mode,
                national_id=event.national_id,
                seq=event.seq,
                feed_position=positions.get(sub.id),
                payload=delivery_body(event, sub),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.flush()
    return len(subscriptions)


def tell_citizen_if_done(session: Session, event_ids: Iterable[str]) -> int:
    """Write the "all agencies are done" message for each event whose deliveries are now all
    processed; returns how many messages were written.

    The events' rows are locked first (in id order) so two acknowledgements committing at the
    same time cannot both miss each other's update on PostgreSQL; SQLite serialises writers.
    """
    wanted = sorted(set(event_ids))
    if not wanted:
        return 0
    events = {
        e.id: e
        for e in session.scalars(
            select(LifeEvent)
            .where(LifeEvent.id.in_(wanted))
            .order_by(LifeEvent.id)
            .with_for_update()
        )
    }
    open_or_total = session.execute(
        select(
            Delivery.event_id,
            func.count(),
            func.sum(case((Delivery.status == "processed", 0), else_=1)),
        )
        .where(Delivery.event_id.in_(wanted))
        .group_by(Delivery.event_id)
    ).all()
    totals = {event_id: (total, left) for event_id, total, left in open_or_total}
    relays = {
        r.event_id: r
        for r in session.scalars(select(MoveRelay).where(MoveRelay.event_id.in_(wanted)))
    }
    done: dict[str, int] = {}
    for event_id in wanted:
        total, left = totals.get(event_id, (0, 0))
        relay = relays.get(event_id)
        if relay is not None and relay.status != "local":
            # a move relayed to the old city's node is done once every agency there is done
            remote = relay.remote_statuses or []
            if relay.remote_done_at is None or any(r.get("status") == "failed" for r in remote):
                continue
            total += len(remote)
        if total and not left:
            done[event_id] = total
    if not done:
        return 0
    told = set(
        session.scalars(
            select(CitizenMessage.event_id).where(
                CitizenMessage.event_id.in_(list(done)), CitizenMessage.kind == "all_processed"
            )
        )
    )
    now = utcnow()
    written = 0
    for event_id, count in sorted(done.items()):
        event = events.get(event_id)
        if event is None or event_id in told:
            continue
        bodies = {
            lang: t(
                "notify.citizen.all_processed",
                lang,
                kind=t(f"notify.kind.{event.kind}", lang),
                count=count,
                seq=event.seq,
            )
            for lang in ("zh-TW", "en")
        }
        session.add(
            CitizenMessage(
                national_id=event.national_id,
                event_id=event_id,
                kind="all_processed",
                body_zh=bodies["zh-TW"],
                body_en=bodies["en"],
                created_at=now,
            )
        )
        queue_notices(session, event, "all_processed", count=count)
        written += 1
    session.flush()
    return written


def tell_citizen_of_failure(session: Session, delivery_id: int) -> bool:
    """A delivery failed for good: tell the citizen (portal message, SMS, e-mail) which agency
    was not reached and what to do; once per event. Returns whether anything was written."""
    delivery = session.get(Delivery, delivery_id)
    event = session.get(LifeEvent, delivery.event_id) if delivery else None
    if delivery is None or event is None:
        return False
    from onceonly.catalog.service import get_agency

    agency = get_agency(session, delivery.agency_code)
    names = {
        "zh-TW": agency.name_zh if agency else delivery.agency_code,
        "en": agency.name_en if agency else delivery.agency_code,
    }
    return tell_citizen_not_reached(session, event, names)


def tell_citizen_not_reached(session: Session, event: LifeEvent, names: dict[str, str]) -> bool:
    """Tell the citizen that the agency ``names`` (by language) was not reached, once per
    event: a dead delivery here, or an agency of another node (a relayed move)."""
    told = session.scalar(
        select(CitizenMessage.id).where(
            CitizenMessage.event_id == event.id, CitizenMessage.kind == "failed"
        )
    )
    if told is not None:
        return False
    from onceonly.notify.intake import reference_of

    bodies = {
        lang: t(
            "notify.citizen.failed",
            lang,
            kind=t(f"notify.kind.{event.kind}", lang),
            agency=names[lang],
            reference=reference_of(event.id),
        )
        for lang in ("zh-TW", "en")
    }
    session.add(
        CitizenMessage(
            national_id=event.national_id,
            event_id=event.id,
            kind="failed",
            body_zh=bodies["zh-TW"],
            body_en=bodies["en"],
            created_at=utcnow(),
        )
    )
    contact = contact_of(session, event)
    queue_notices(session, event, "failed", agency=names[contact.language if contact else "zh-TW"])
    return True


@dataclass(frozen=True)
class AckResult:
    processed: tuple[str, ...]
    """Event ids now marked processed for the caller (including ones already processed)."""
    unknown: tuple[str, ...]
    """Event ids the caller has no delivery of."""


def acknowledge(session: Session, agency_code: str, event_ids: Iterable[str]) -> AckResult:
    """The agency has applied these events; idempotent, so a retried ack changes nothing."""
    wanted = list(dict.fromkeys(event_ids))
    rows = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.agency_code == agency_code, Delivery.event_id.in_(wanted))
            .order_by(Delivery.id)
        )
    )
    now = utcnow()
    touched: set[str] = set()
    for row in rows:
        if row.status != "processed":
            row.status = "processed"
            row.processed_at = now
            row.delivered_at = row.delivered_at or now
            row.claim_token = None
            row.lease_until = None
            touched.add(row.event_id)
    session.flush()
    tell_citizen_if_done(session, touched)
    found = {r.event_id for r in rows}
    return AckResult(
        processed=tuple(e for e in wanted if e in found),
        unknown=tuple(e for e in wanted if e not in found),
    )


@dataclass(frozen=True)
class AgencyStatus:
    agency_code: str
    subscription_id: int
    status: str
    """``pending``, ``delivered``, ``processed`` or ``failed``."""
    attempts: int
    delivered_at: datetime | None
    processed_at: datetime | None
    never_sent: bool = False
    """A ``failed`` delivery that nobody handles and that will never be sent: its
    subscription's approval was void and the subscription is revoked (see the module's
    docstring). Pages say so instead of "failed, an administrator is handling it"."""


@dataclass(frozen=True)
class CitizenEventStatus:
    id: str
    seq: int
    kind: str
    source: str
    occurred_at: datetime
    recorded_at: datetime
    agencies: tuple[AgencyStatus, ...]
    all_processed: bool
    others: int = 0
    """Agencies told of it that the reader may not see (another tenant's): counted, not named."""

    @property
    def processed_where_sent(self) -> bool:
        """No agency is still working on it: every agency it reached has processed it, and it
        will never be sent to the others (:attr:`AgencyStatus.never_sent`)."""
        return bool(self.agencies) and all(
            a.status == "processed" or a.never_sent for a in self.agencies
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "kind": self.kind,
            "source": self.source,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "all_processed": self.all_processed,
            "agencies": [
                {
                    "agency_code": a.agency_code,
                    "subscription_id": a.subscription_id,
                    "status": a.status,
                    "attempts": a.attempts,
                    "delivered_at": a.delivered_at.isoformat() if a.delivered_at else None,
                    "processed_at": a.processed_at.isoformat() if a.processed_at else None,
                    "never_sent": a.never_sent,
                }
                for a in self.agencies
            ],
        }


def citizen_events(session: Session, national_id: str) -> list[CitizenEventStatus]:
    """The citizen's events, newest first, each with every agency's status."""
    events = list(
        session.scalars(
            select(LifeEvent)
            .where(LifeEvent.national_id == national_id)
            .order_by(LifeEvent.seq.desc())
        )
    )
    deliveries: dict[str, list[Delivery]] = {}
    if events:
        for row in session.scalars(
            select(Delivery)
            .where(Delivery.national_id == national_id)
            .order_by(Delivery.agency_code)
        ):
            deliveries.setdefault(row.event_id, []).append(row)
    unsent = never_sent(session, [d for rows in deliveries.values() for d in rows])
    result = []
    for event in events:
        agencies = tuple(
            AgencyStatus(
                agency_code=d.agency_code,
                subscription_id=d.subscription_id,
                status=CITIZEN_STATUS[d.status],
                attempts=d.attempts,
                delivered_at=as_utc(d.delivered_at) if d.delivered_at else None,
                processed_at=as_utc(d.processed_at) if d.processed_at else None,
                never_sent=d.id in unsent,
            )
            for d in deliveries.get(event.id, [])
        )
        result.append(
            CitizenEventStatus(
                id=event.id,
                seq=event.seq,
                kind=event.kind,
                source=event.source,
                occurred_at=as_utc(event.occurred_at),
                recorded_at=as_utc(event.recorded_at),
                agencies=agencies,
                all_processed=bool(agencies) and all(a.status == "processed" for a in agencies),
            )
        )
    return result


def never_sent(session: Session, deliveries: Iterable[Delivery]) -> frozenset[int]:
    """The ids of those of ``deliveries`` that will never be sent: ``dead`` with no dead letter
    (so no administrator has one to handle or replay) and of a ``revoked`` subscription. Only
    migration ``0031_improper_approvals_revoked`` leaves a delivery so (the worker writes a
    dead letter whenever it gives up), for subscriptions whose approval was void."""
    dead = {d.id: d.subscription_id for d in deliveries if d.status == "dead"}
    if not dead:
        return frozenset()
    lettered = set(
        session.scalars(
            select(DeadLetter.delivery_id).where(DeadLetter.delivery_id.in_(list(dead)))
        )
    )
    revoked = set(
        session.scalars(
            select(Subscription.id).where(
                Subscription.id.in_(set(dead.values())), Subscription.status == "revoked"
            )
        )
    )
    return frozenset(i for i, sub in dead.items() if i not in lettered and sub in revoked)


@dataclass(frozen=True)
class MessageView:
    id: int
    event_id: str | None
    kind: str
    body_zh: str
    body_en: str
    created_at: datetime

    def body(self, lang: str | None) -> str:
        return self.body_en if lang == "en" else self.body_zh


def citizen_messages(session: Session, national_id: str) -> list[MessageView]:
    """Messages for the citizen portal, newest first."""
    rows = session.scalars(
        select(CitizenMessage)
        .where(CitizenMessage.national_id == national_id)
        .order_by(CitizenMessage.id.desc())
    )
    return [
        MessageView(m.id, m.event_id, m.kind, m.body_zh, m.body_en, as_utc(m.created_at))
        for m in rows
    ]


@dataclass(frozen=True)
class DeadLetterView:
    id: int
    delivery_id: int
    event_id: str
    kind: str
    national_id: str
    seq: int
    agency_code: str
    subscription_id: int
    attempts: int
    last_error: str | None
    last_status_code: int | None
    dead_at: datetime
    replayed_at: datetime | None
    replayed_by: str | None


def list_dead_letters(session: Session, include_replayed: bool = False) -> list[DeadLetterView]:
    query = (
        select(DeadLetter, Delivery, LifeEvent.kind)
        .join(Delivery, Delivery.id == DeadLetter.delivery_id)
        .join(LifeEvent, LifeEvent.id == Delivery.event_id)
        .order_by(DeadLetter.id)
    )
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return [
        DeadLetterView(
            id=dl.id,
            delivery_id=d.id,
            event_id=d.event_id,
            kind=kind,
            national_id=d.national_id,
            seq=d.seq,
            agency_code=d.agency_code,
            subscription_id=d.subscription_id,
            attempts=dl.attempts,
            last_error=dl.last_error,
            last_status_code=dl.last_status_code,
            dead_at=as_utc(dl.dead_at),
            replayed_at=as_utc(dl.replayed_at) if dl.replayed_at else None,
            replayed_by=dl.replayed_by,
        )
        for dl, d, kind in session.execute(query)
    ]


def replay_dead_letter(session: Session, dead_letter_id: int, replayed_by: str) -> bool:
    """Put a dead delivery back in the queue with fresh attempts; False when there is no such
    entry or it was replayed already (so a double click replays once)."""
    dl = session.get(DeadLetter, dead_letter_id)
    if dl is None or dl.replayed_at is not None:
        return False
    now = utcnow()
    dl.replayed_at, dl.replayed_by = now, replayed_by
    session.execute(
        update(Delivery)
        .where(Delivery.id == dl.delivery_id, Delivery.status == "dead")
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            claim_token=None,
            lease_until=None,
        )
    )
    session.flush()
    return True


@dataclass(frozen=True)
class QueueStats:
    agency_code: str
    mode: str
    pending: int
    delivered: int
    processed: int
    dead: int
    retrying: int
    """Pending rows that have failed at least once."""
    oldest_pending_at: datetime | None

    def lag_seconds(self, now: datetime | None = None) -> float:
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, ((now or utcnow()) - self.oldest_pending_at).total_seconds())


def queue_stats(session: Session) -> list[QueueStats]:
    """Per agency and mode: how many deliveries are in each state and how old the oldest
    undelivered one is (the lag)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for agency, mode, status, count in session.execute(
        select(Delivery.agency_code, Delivery.mode, Delivery.status, func.count()).group_by(
            Delivery.agency_code, Delivery.mode, Delivery.status
        )
    ):
        counts.setdefault((agency, mode), {})[status] = count
    retrying = dict(
        session.execute(
            select(Delivery.agency_code, func.count())
            .where(Delivery.status == "pending", Delivery.attempts > 0)
            .group_by(Delivery.agency_code)
        ).all()
    )
    oldest = dict(
        session.execute(
            select(Delivery.agency_code, func.min(Delivery.created_at))
            .where(Delivery.status == "pending")
            .group_by(Delivery.agency_code)
        ).all()
    )
    return [
        QueueStats(
            agency_code=agency,
            mode=mode,
            pending=c.get("pending", 0),
            delivered=c.get("delivered", 0),
            processed=c.get("processed", 0),
            dead=c.get("dead", 0),
            retrying=retrying.get(agency, 0),
            oldest_pending_at=as_utc(oldest[agency]) if oldest.get(agency) else None,
        )
        for (agency, mode), c in sorted(counts.items())
    ]


@dataclass(frozen=True)
class FailureView:
    delivery_id: int
    agency_code: str
    kind: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime


def recent_failures(session: Session, limit: int = 50) -> list[FailureView]:
    """Pending deliveries that have failed at least once, most attempts first."""
    query = (
        select(Delivery, LifeEvent.kind)
        .join(LifeEvent, LifeEvent.id == Delivery.event_id)
        .where(Delivery.status == "pending", Delivery.attempts > 0)
        .order_by(Delivery.attempts.desc(), Delivery.id)
        .limit(limit)
    )
    return [
        FailureView(
            d.id,
            d.agency_code,
            kind,
            d.attempts,
            d.last_status_code,
            d.last_error,
            as_utc(d.next_attempt_at),
        )
        for d, kind in session.execute(query)
    ]


def pending_backlog(session: Session) -> tuple[int, datetime | None]:
    """How many deliveries still wait (pushed or not yet acknowledged) and when the oldest
    was written: the queue depth and lag an operator's monitor watches."""
    waiting = Delivery.status.in_(("pending", "delivered"))
    count, oldest = session.execute(
        select(func.count(), func.min(Delivery.created_at)).where(waiting)
    ).one()
    return int(count), as_utc(oldest) if oldest is not None else None
