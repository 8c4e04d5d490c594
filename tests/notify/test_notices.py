"""The person is told by SMS and e-mail when every agency has processed a report, and when one
cannot be told for good, with what to do; each notice once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases.models import SmsOutboxMessage
from onceonly.catalog.loader import load_catalog
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.demo.ports import free_port
from onceonly.errors import Problem
from onceonly.notify import outbox
from onceonly.notify.events import LifeEventIn
from onceonly.notify.intake import checked_contact, report_event
from onceonly.notify.models import Notice
from onceonly.notify.notices import send_notices
from onceonly.notify.subscriptions import SubscriptionView
from onceonly.notify.worker import NotifySettings, deliver_all
from tests.notify.conftest import ThreadedReceiver, citizen
from tests.notify.test_intake import OFFICE, FakeRegister, alive


@pytest.fixture(autouse=True)
def catalog_loaded(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        load_catalog(session)


def _death(sessions: sessionmaker[Session], n: int, mobile: str) -> str:
    with transaction(sessions) as session:
        accepted = report_event(
            session,
            LifeEventIn(kind="death", national_id=citizen(n), payload={"death_date": "2024-03-01"}),
            FakeRegister(alive(n)),
            OFFICE,
            contact=checked_contact(None, mobile, "en", "en"),
            lang="en",
        )
    return accepted.event.id


def _texts(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with transaction(sessions) as session:
        return [(m.to, m.text) for m in session.scalars(select(SmsOutboxMessage))]


def test_done_and_failed_notices(
    sessions: sessionmaker[Session],
    subscribe: Callable[..., SubscriptionView],
    tmp_path: Path,
) -> None:
    port = free_port()
    done = subscribe(
        "taipei-city.tax_office",
        kinds=("death",),
        url=f"http://127.0.0.1:{port}/webhook",
        fields=(),
    )
    event_id = _death(sessions, 2, "0912 345 678")
    with ThreadedReceiver(done.secret or "", tmp_path / "r.sqlite", port=port):
        assert deliver_all(sessions, NotifySettings(poll_interval_seconds=0.01), timeout=10) == 0
    texts = _texts(sessions)
    assert len(texts) == 1 and texts[0][0] == "0912345678"
    assert "all 1 agencies have processed it" in texts[0][1] and "TUO-" in texts[0][1]

    closed = free_port()
    subscribe(
        "taipei-city.land_office", kinds=("death",), url=f"http://127.0.0.1:{closed}/x", fields=()
    )
    failing = _death(sessions, 3, "0922333444")
    tuning = NotifySettings(poll_interval_seconds=0.01, max_attempts=1)
    deliver_all(sessions, tuning, timeout=10)
    texts = _texts(sessions)
    failed = [text for to, text in texts if to == "0922333444"]
    assert len(failed) == 1 and "Taipei City" in failed[0] and "household office" in failed[0]
    with transaction(sessions) as session:
        messages = outbox.citizen_messages(session, citizen(3))
        assert [m.kind for m in messages] == ["failed"]
        assert "contact" in messages[0].body("en")
        # telling again (a second dead delivery, a second run) writes nothing more
        delivery = session.scalars(
            select(outbox.Delivery).where(outbox.Delivery.event_id == failing)
        ).first()
        assert delivery is not None
        assert outbox.tell_citizen_of_failure(session, delivery.id) is False
    assert send_notices(sessions, Settings()).sent == []
    with transaction(sessions) as session:
        statuses = {n.event_id: n.status for n in session.scalars(select(Notice))}
    assert statuses == {event_id: "sent", failing: "sent"}


def test_a_bad_contact_is_refused_naming_the_field() -> None:
    with pytest.raises(Problem) as caught:
        checked_contact("not-an-address", "12345", "en", "en")
    assert {e.field for e in caught.value.errors} == {"contact_email", "contact_mobile"}
    assert checked_contact("", " ", None, "en") is None
