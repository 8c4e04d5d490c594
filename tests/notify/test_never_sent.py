"""``outbox.citizen_events`` tells a delivery that will never be sent (dead with no dead letter,
of a revoked subscription: what migration 0031 left) from one the worker gave up on (dead
with a dead letter an administrator replays), whatever the subscription's status, without
reading the words in ``last_error``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import transaction
from onceonly.notify import outbox
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.models import DeadLetter, Delivery
from onceonly.notify.subscriptions import OWNER_AGENCY, SubscriptionView, revoke_subscription
from tests.notify.conftest import citizen

AGENCIES = (
    "taipei-city.tax_office",  # void: revoked, dead, no dead letter
    "taipei-city.land_office",  # given up on, subscription revoked since
    "taipei-city.social_welfare",  # given up on, subscription approved
    "new-taipei-city.tax_office",  # dead, no dead letter, subscription still approved
)


def test_only_a_dead_delivery_of_a_revoked_subscription_without_a_letter_is_never_sent(
    sessions: sessionmaker[Session], subscribe: Callable[..., SubscriptionView]
) -> None:
    subs = {code: subscribe(code, url="https://example.gov.tw/hook") for code in AGENCIES}
    with transaction(sessions) as db:
        event = record_life_event(
            db,
            LifeEventIn(kind="death", national_id=citizen(7), payload={"death_date": "2025-01-02"}),
        )
        ids = {
            d.agency_code: d.id
            for d in db.scalars(select(Delivery).where(Delivery.event_id == event.id))
        }
        for code in AGENCIES[:2]:
            revoke_subscription(db, subs[code].id, "test", OWNER_AGENCY)
        db.execute(
            update(Delivery)
            .where(Delivery.id.in_(list(ids.values())))
            .values(status="dead", last_error="any words", feed_position=None)
        )
        for code in AGENCIES[1:3]:
            db.add(DeadLetter(delivery_id=ids[code], attempts=8, last_error="HTTP 503"))

    with transaction(sessions) as db:
        [status] = outbox.citizen_events(db, citizen(7))
    shown = {a.agency_code: (a.status, a.never_sent) for a in status.agencies}
    assert shown == {
        AGENCIES[0]: ("failed", True),
        AGENCIES[1]: ("failed", False),
        AGENCIES[2]: ("failed", False),
        AGENCIES[3]: ("failed", False),
    }
    assert {a["agency_code"]: a["never_sent"] for a in status.as_dict()["agencies"]} == {
        code: code == AGENCIES[0] for code in AGENCIES
    }
    assert not status.all_processed and not status.processed_where_sent
