"""Recording events: sequence numbers, the transactional outbox, minimisation, validation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import transaction
from onceonly.domain.errors import DomainValueError
from onceonly.errors import Problem
from onceonly.notify.events import LifeEventIn, record_life_event, report_change, typed_value
from onceonly.notify.models import Delivery, LifeEvent
from onceonly.notify.subscriptions import revoke_subscription
from tests.notify.conftest import citizen

URL = "http://127.0.0.1:9/webhook"


def death(n: int, **extra: object) -> LifeEventIn:
    return LifeEventIn(
        kind="death",
        national_id=citizen(n),
        payload={"death_date": "2024-03-01", "name": "王大明"},
        **extra,  # type: ignore[arg-type]
    )


def test_sequence_numbers_are_per_citizen_and_gapless(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        seqs = [record_life_event(session, death(n % 2)).seq for n in range(5)]
    assert seqs == [1, 1, 2, 2, 3]


def test_a_rolled_back_event_leaves_no_row_and_no_gap(
    sessions: sessionmaker[Session], subscribe: Callable[..., object]
) -> None:
    subscribe("taipei-city.tax_office", url=URL)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        record_life_event(session, death(1))
        raise RuntimeError("the registration change failed")
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(LifeEvent)) == 0
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert record_life_event(session, death(1)).seq == 1


def test_concurrent_events_about_one_citizen_get_distinct_consecutive_numbers(
    sessions: sessionmaker[Session], subscribe: Callable[..., object]
) -> None:
    subscribe("taipei-city.tax_office", url=URL)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def record() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                with transaction(sessions) as session:
                    record_life_event(session, death(7))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with transaction(sessions) as session:
        seqs = sorted(session.scalars(select(LifeEvent.seq)))
        delivered_seqs = sorted(session.scalars(select(Delivery.seq)))
    assert seqs == list(range(1, 25))
    assert delivered_seqs == seqs


def test_outbox_rows_only_for_approved_subscriptions_that_want_the_kind(
    sessions: sessionmaker[Session], subscribe: Callable[..., object]
) -> None:
    wants = subscribe("taipei-city.tax_office", kinds=("death",), fields=("death_date",), url=URL)
    subscribe(
        "taipei-city.land_office", kinds=("death",), fields=("death_date",), url=URL, approve=False
    )
    subscribe("taipei-city.social_welfare", kinds=("address_change",), fields=(), url=URL)
    revoked = subscribe("taipei-city.urban_development", kinds=("death",), fields=(), url=URL)
    with transaction(sessions) as session:
        revoke_subscription(session, revoked.id, "owner")  # type: ignore[attr-defined]
    with transaction(sessions) as session:
        view = record_life_event(session, death(1))
        rows = list(session.scalars(select(Delivery)))
    assert view.deliveries == 1
    assert [r.subscription_id for r in rows] == [wants.id]  # type: ignore[attr-defined]
    body = rows[0].payload
    assert body["data"] == {"death_date": "2024-03-01"}, "the name is not in the subscription"
    assert (body["id"], body["seq"], body["kind"], body["subject"]) == (
        view.id,
        1,
        "death",
        citizen(1),
    )


def test_jurisdiction_filter(
    sessions: sessionmaker[Session], subscribe: Callable[..., object]
) -> None:
    with transaction(sessions) as session:
        from onceonly.notify.subscriptions import (
            SubscriptionRequest,
            approve_subscription,
            request_subscription,
        )

        sub = request_subscription(
            session,
            SubscriptionRequest(
                "kaohsiung-city.tax_office",
                ["death"],
                "household-registration-act",
                ["death_date"],
                "push",
                URL,
                jurisdiction="kaohsiung-city",
            ),
            "t",
        )
        approve_subscription(session, sub.id, "owner")
    with transaction(sessions) as session:
        assert record_life_event(session, death(1, jurisdiction="taipei-city")).deliveries == 0
        assert record_life_event(session, death(2, jurisdiction="kaohsiung-city")).deliveries == 1


def test_a_retried_call_with_the_same_event_id_records_once(
    sessions: sessionmaker[Session],
) -> None:
    event_id = str(uuid.uuid4())
    with transaction(sessions) as session:
        first = record_life_event(session, death(1, event_id=event_id))
    with transaction(sessions) as session:
        again = record_life_event(session, death(1, event_id=event_id))
        count = session.scalar(select(func.count()).select_from(LifeEvent))
    assert (first.id, again.id, again.seq, count) == (event_id, event_id, 1, 1)


def test_citizen_reports_share_the_sequence(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        record_life_event(
            session,
            LifeEventIn(
                kind="address_change",
                national_id=citizen(3),
                payload={"new_address": "臺北市中正區重慶南路一段122號"},
            ),
        )
        view = report_change(session, citizen(3), "contact_details", {"phone": "0912345678"})
    assert (view.seq, view.source) == (2, "citizen")


@pytest.mark.parametrize(
    ("event", "source_is_citizen", "field"),
    [
        (
            LifeEventIn(
                kind="death", national_id="A123456788", payload={"death_date": "2024-01-01"}
            ),
            False,
            "national_id",
        ),
        (
            LifeEventIn(kind="death", national_id=citizen(1), payload={}),
            False,
            "payload.death_date",
        ),
        (
            LifeEventIn(
                kind="death", national_id=citizen(1), payload={"death_date": "x", "salary": 1}
            ),
            False,
            "payload.salary",
        ),
        (LifeEventIn(kind="adoption", national_id=citizen(1), payload={}), False, "kind"),
        (
            LifeEventIn(
                kind="mailing_address", national_id=citizen(1), payload={"mailing_address": "x"}
            ),
            False,
            "kind",
        ),
        (
            LifeEventIn(
                kind="death", national_id=citizen(1), payload={"death_date": "x"}, event_id="nope"
            ),
            False,
            "event_id",
        ),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    sessions: sessionmaker[Session], event: LifeEventIn, source_is_citizen: bool, field: str
) -> None:
    with pytest.raises(Problem) as caught, transaction(sessions) as session:
        record_life_event(session, event, lang="en")
    assert caught.value.status == 422
    assert field in [e.field for e in caught.value.errors]
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(LifeEvent)) == 0


def test_citizen_report_needs_some_detail(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(Problem) as caught, transaction(sessions) as session:
        report_change(session, citizen(1), "contact_details", {})
    assert [e.field for e in caught.value.errors] == ["payload"]


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"death_date": "2024-13-45"}, "payload.death_date", "month must be 1-12"),
        ({"death_date": "2099-01-01"}, "payload.death_date", "in the future"),
        ({"death_date": "yesterday"}, "payload.death_date", "unrecognised date format"),
    ],
)
def test_an_impossible_date_is_refused_and_nobody_is_told(
    sessions: sessionmaker[Session], payload: dict[str, str], field: str, reason: str
) -> None:
    event = LifeEventIn(kind="death", national_id=citizen(1), payload=payload)
    with pytest.raises(Problem) as caught, transaction(sessions) as session:
        record_life_event(session, event, lang="en")
    [error] = [e for e in caught.value.errors if e.field == field]
    assert reason in error.reason
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_dates_are_stored_as_iso_and_people_it_names_must_exist_as_ids(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        view = record_life_event(
            session,
            LifeEventIn(
                kind="death", national_id=citizen(1), payload={"death_date": "民國113年3月1日"}
            ),
        )
    assert view.payload == {"death_date": "2024-03-01"}
    bad_spouse = LifeEventIn(
        kind="marriage",
        national_id=citizen(2),
        payload={"marriage_date": "2024-05-20", "spouse_national_id": "A123456788"},
    )
    with pytest.raises(Problem) as caught, transaction(sessions) as session:
        record_life_event(session, bad_spouse)
    assert [e.field for e in caught.value.errors] == ["payload.spouse_national_id"]


@settings(max_examples=80)
@given(st.one_of(st.text(max_size=16), st.dates().map(date.isoformat)))
def test_a_stored_date_is_always_an_iso_date_not_after_today(text: str) -> None:
    today = date(2026, 7, 1)  # a fixed "today": the expectation must not move with the clock
    try:
        stored = typed_value("death_date", text, today=today)
    except DomainValueError as refused:
        assert refused.message_en and refused.message_zh
        return
    assert date.fromisoformat(stored) <= today
    assert typed_value("death_date", stored, today=today) == stored
