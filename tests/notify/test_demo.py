"""The demo: a death registered in the demo jurisdiction reaches social welfare, the tax office
and the land office there and motor vehicles, health and labour insurance nationally; each
receiver marks it processed, and the citizen's status says so. A death elsewhere reaches only
the national agencies."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import transaction
from onceonly.demo.ports import free_port
from onceonly.notify import outbox
from onceonly.notify.demo import DEMO_AGENCY_KINDS, seed_demo_notify
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.receiver import read_applied
from onceonly.notify.worker import NotifySettings, deliver_all
from tests.notify.conftest import ThreadedReceiver, citizen


def test_a_death_reaches_six_agencies_with_their_acknowledgements(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ports = {kind: free_port() for kind in DEMO_AGENCY_KINDS}
    urls = {kind: f"http://127.0.0.1:{port}/webhook" for kind, port in ports.items()}
    with transaction(sessions) as session:
        subscriptions = seed_demo_notify(session, "kaohsiung-city", urls)
    with transaction(sessions) as session:
        again = seed_demo_notify(session, "kaohsiung-city", urls)
    assert [s.id for s in again] == [s.id for s in subscriptions]
    assert all(s.status == "approved" and s.secret for s in subscriptions)

    with ExitStack() as stack:
        receivers = [
            stack.enter_context(
                ThreadedReceiver(
                    s.secret or "",
                    tmp_path / f"{s.id}.sqlite",
                    port=int((s.webhook_url or "").rsplit(":", 1)[1].split("/")[0]),
                )
            )
            for s in subscriptions
        ]
        with transaction(sessions) as session:
            death = record_life_event(
                session,
                LifeEventIn(
                    kind="death",
                    national_id=citizen(5),
                    jurisdiction="kaohsiung-city",
                    payload={"death_date": "2024-05-01", "name": "陳美玲"},
                ),
            )
            elsewhere = record_life_event(
                session,
                LifeEventIn(
                    kind="death",
                    national_id=citizen(6),
                    jurisdiction="taipei-city",
                    payload={"death_date": "2024-05-01"},
                ),
            )
        assert (death.deliveries, elsewhere.deliveries) == (6, 3)
        assert deliver_all(sessions, NotifySettings(poll_interval_seconds=0.01), timeout=10) == 0
    for receiver, subscription in zip(receivers, subscriptions, strict=True):
        local = subscription.jurisdiction is not None
        expected = {death.id} if local else {death.id, elsewhere.id}
        assert {e for e, _, _ in read_applied(receiver.db_path)} == expected
    with transaction(sessions) as session:
        (status,) = outbox.citizen_events(session, citizen(5))
        messages = outbox.citizen_messages(session, citizen(5))
    assert status.all_processed
    assert sorted(a.agency_code for a in status.agencies) == [
        "central.bli",
        "central.motor_vehicles",
        "central.nhia",
        "kaohsiung-city.land_office",
        "kaohsiung-city.social_welfare",
        "kaohsiung-city.tax_office",
    ]
    assert "6" in messages[0].body("zh-TW")


def test_a_demo_served_on_other_ports_moves_its_receivers_with_it(
    sessions: sessionmaker[Session],
) -> None:
    """Two demos on one machine must never deliver to each other's receivers: the receivers'
    ports follow the web port, and a data directory served again on another port moves the
    subscriptions' webhooks along (their ids and secrets stay)."""
    from onceonly.notify.demo import demo_receiver_urls

    first, second = demo_receiver_urls(8000), demo_receiver_urls(9000)
    assert set(first.values()).isdisjoint(second.values())
    with transaction(sessions) as session:
        before = seed_demo_notify(session, "taipei-city", first)
    with transaction(sessions) as session:
        after = seed_demo_notify(session, "taipei-city", second)
    assert [(s.id, s.secret) for s in after] == [(s.id, s.secret) for s in before]
    assert sorted(s.webhook_url or "" for s in after) == sorted(second.values())
