"""The worker against a real reference receiver over loopback HTTP: delivery, order,
retries, the dead-letter queue, leases, acknowledgements and the citizen's status."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import transaction
from onceonly.notify import outbox
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.models import Delivery
from onceonly.notify.receiver import read_applied
from onceonly.notify.subscriptions import SubscriptionView
from onceonly.notify.webhook import signed_headers
from onceonly.notify.worker import NotifySettings, Worker, claim_due, deliver_all
from tests.notify.conftest import ThreadedReceiver, citizen

FAST = NotifySettings(
    backoff_base_seconds=0.01,
    backoff_cap_seconds=0.05,
    max_attempts=3,
    request_timeout_seconds=2,
    poll_interval_seconds=0.01,
)
Subscriber = Callable[..., tuple[SubscriptionView, ThreadedReceiver]]


def record(sessions: sessionmaker[Session], n: int) -> str:
    with transaction(sessions) as session:
        event = LifeEventIn(
            kind="death",
            national_id=citizen(n),
            payload={"death_date": "2024-03-01", "name": "王大明"},
        )
        return record_life_event(session, event).id


def rows(sessions: sessionmaker[Session]) -> list[tuple[int, str, int]]:
    with transaction(sessions) as session:
        query = select(Delivery).order_by(Delivery.id)
        return [(d.seq, d.status, d.attempts) for d in session.scalars(query)]


def agency_status(sessions: sessionmaker[Session], n: int) -> dict[str, str]:
    with transaction(sessions) as session:
        latest = outbox.citizen_events(session, citizen(n))[0]
        return {a.agency_code: a.status for a in latest.agencies}


def test_every_agency_gets_its_fields_and_the_citizen_is_told_once(
    sessions: sessionmaker[Session], push_subscriber: Subscriber
) -> None:
    tax, tax_receiver = push_subscriber("taipei-city.tax_office", fields=("death_date", "name"))
    land, land_receiver = push_subscriber("taipei-city.land_office", fields=("death_date",))
    with tax_receiver as tax_end, land_receiver as land_end:
        event_id = record(sessions, 1)
        assert deliver_all(sessions, FAST, timeout=10) == 0
    assert agency_status(sessions, 1) == {
        "taipei-city.land_office": "processed",
        "taipei-city.tax_office": "processed",
    }
    assert [e for e, _, _ in read_applied(tax_end.db_path)] == [event_id]
    assert [e for e, _, _ in read_applied(land_end.db_path)] == [event_id]
    with transaction(sessions) as session:
        messages = outbox.citizen_messages(session, citizen(1))
    assert len(messages) == 1 and "2" in messages[0].body_en
    del tax, land


def test_a_push_with_a_wrong_signature_is_refused_by_the_receiver(
    push_subscriber: Subscriber,
) -> None:
    _, receiver = push_subscriber("taipei-city.tax_office")
    body = b'{"id": "e", "subject": "x", "seq": 1}'
    with receiver as end:
        forged = signed_headers("guessed", body, "e", 1)
        answer = httpx.post(end.url, content=body, headers=forged)
    assert answer.status_code == 401
    assert read_applied(end.db_path) == []


def test_a_failing_event_holds_back_that_citizens_later_events_only(
    sessions: sessionmaker[Session], push_subscriber: Subscriber
) -> None:
    _, receiver = push_subscriber("taipei-city.tax_office")
    with receiver as end:
        end.set_fault(status=500, remaining=1)
        first = record(sessions, 1)
        second = record(sessions, 1)
        other = record(sessions, 2)
        # One post at a time, in claim order, so the single 500 lands on citizen 1's first event.
        slow_start = FAST.model_copy(update={"backoff_base_seconds": 5, "concurrency": 1})
        with Worker(sessions, slow_start) as worker:
            worker.run_once()
            assert rows(sessions) == [(1, "pending", 1), (2, "pending", 0), (1, "processed", 1)]
        assert deliver_all(sessions, FAST.model_copy(update={"max_attempts": 5}), timeout=15) == 0
    applied = read_applied(end.db_path)
    assert [e for e, _, _ in applied] == [other, first, second]


def test_dead_letters_after_max_attempts_then_replay_delivers(
    sessions: sessionmaker[Session], push_subscriber: Subscriber
) -> None:
    _, receiver = push_subscriber("taipei-city.tax_office")
    with receiver as end:
        end.set_fault(status=503)
        record(sessions, 1)
        deliver_all(sessions, FAST, timeout=10)
        assert rows(sessions) == [(1, "dead", 3)]
        assert agency_status(sessions, 1) == {"taipei-city.tax_office": "failed"}
        with transaction(sessions) as session:
            (dead,) = outbox.list_dead_letters(session)
        assert (dead.attempts, dead.last_status_code) == (3, 503)
        end.set_fault()
        with transaction(sessions) as session:
            assert outbox.replay_dead_letter(session, dead.id, "admin")
            assert not outbox.replay_dead_letter(session, dead.id, "admin"), "replays once"
        assert deliver_all(sessions, FAST, timeout=10) == 0
    assert agency_status(sessions, 1) == {"taipei-city.tax_office": "processed"}
    with transaction(sessions) as session:
        assert outbox.list_dead_letters(session) == []


def test_a_killed_workers_claims_are_taken_over_after_the_lease(
    sessions: sessionmaker[Session], push_subscriber: Subscriber
) -> None:
    _, receiver = push_subscriber("taipei-city.tax_office")
    # a lease long enough that a loaded CI machine cannot let it lapse between two claims
    short = FAST.model_copy(update={"lease_seconds": 1.5, "request_timeout_seconds": 0.1})
    with receiver as end:
        record(sessions, 1)
        assert len(claim_due(sessions, "dead-worker", short)) == 1
        assert claim_due(sessions, "live-worker", short) == [], "leased rows are not taken"
        time.sleep(1.6)
        assert len(claim_due(sessions, "live-worker", short)) == 1
        time.sleep(1.6)
        assert deliver_all(sessions, short, timeout=10) == 0
    assert len(read_applied(end.db_path)) == 1


def test_received_then_acknowledged_later(
    sessions: sessionmaker[Session], push_subscriber: Subscriber
) -> None:
    _, receiver = push_subscriber("taipei-city.tax_office", ack="none")
    with receiver:
        event_id = record(sessions, 1)
        deliver_all(sessions, FAST, timeout=10)
    assert agency_status(sessions, 1) == {"taipei-city.tax_office": "delivered"}
    with transaction(sessions) as session:
        result = outbox.acknowledge(session, "taipei-city.tax_office", [event_id, "nope"])
        again = outbox.acknowledge(session, "taipei-city.tax_office", [event_id])
    assert (result.processed, result.unknown, again.processed) == (
        (event_id,),
        ("nope",),
        (event_id,),
    )
    assert agency_status(sessions, 1) == {"taipei-city.tax_office": "processed"}
    with transaction(sessions) as session:
        assert len(outbox.citizen_messages(session, citizen(1))) == 1


def test_an_unreachable_receiver_is_retried_then_dead(
    sessions: sessionmaker[Session], subscribe: Callable[..., SubscriptionView]
) -> None:
    subscribe("taipei-city.tax_office", url="http://127.0.0.1:9/webhook")
    record(sessions, 1)
    deliver_all(sessions, FAST, timeout=10)
    with transaction(sessions) as session:
        (failure,) = session.scalars(select(Delivery)).all()
    assert (failure.status, failure.attempts, failure.last_status_code) == ("dead", 3, None)
    # in words, Traditional Chinese first, with what the system said; no exception class name
    assert (failure.last_error or "").startswith("無法連線")
    assert "could not connect" in (failure.last_error or "")
    assert "Connection refused" in (failure.last_error or "")
    assert "ConnectError" not in (failure.last_error or "")
