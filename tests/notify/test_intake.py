"""Reporting a life event: checked against the household register (through a fake register
here; ``test_events_api.py`` uses the demo's), idempotency keys, who will be told, and the
reference number."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.catalog.loader import load_catalog
from onceonly.db import as_utc, transaction
from onceonly.errors import Problem
from onceonly.notify.events import LifeEventIn
from onceonly.notify.intake import (
    find_by_reference,
    preview_event,
    reference_of,
    reference_prefix,
    report_event,
)
from onceonly.notify.models import Delivery, LifeEvent
from onceonly.notify.register import RegisteredPerson, same_address
from onceonly.notify.subscriptions import SubscriptionView
from onceonly.providers.base import ProviderUnavailable
from tests.notify.conftest import citizen

OFFICE = "taipei-city.household_office"
HOME = "臺北市大安區龍泉里5鄰羅斯福路三段120號3樓"


class FakeRegister:
    def __init__(self, *people: RegisteredPerson, down: bool = False) -> None:
        self.people = {p.national_id: p for p in people}
        self.down = down

    def person(self, national_id: str) -> RegisteredPerson | None:
        if self.down:
            raise ProviderUnavailable("central.moi_household", "down")
        return self.people.get(national_id)


def alive(n: int, jurisdiction: str = "taipei-city", address: str = HOME) -> RegisteredPerson:
    return RegisteredPerson(citizen(n), "王小明", address, jurisdiction, True)


@pytest.fixture
def catalog_loaded(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        load_catalog(session)


def report(
    sessions: sessionmaker[Session],
    register: FakeRegister,
    kind: str,
    n: int,
    payload: dict[str, Any],
    key: str | None = None,
    caller: str = OFFICE,
) -> Any:
    with transaction(sessions) as session:
        return report_event(
            session,
            LifeEventIn(kind=kind, national_id=citizen(n), payload=payload),
            register,
            caller,
            idempotency_key=key,
            lang="en",
        )


def refusal(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(Problem) as caught:
        call()
    assert caught.value.status == 422, caught.value
    return {e.field: e.reason for e in caught.value.errors}


def events(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        return int(session.scalar(select(func.count()).select_from(LifeEvent)) or 0)


@pytest.mark.usefixtures("catalog_loaded")
def test_a_second_death_of_the_same_person_is_refused(sessions: sessionmaker[Session]) -> None:
    register = FakeRegister(alive(1))
    report(sessions, register, "death", 1, {"death_date": "2024-03-01"})
    errors = refusal(lambda: report(sessions, register, "death", 1, {"death_date": "2024-03-02"}))
    assert "already recorded" in errors["national_id"]
    assert events(sessions) == 1


@pytest.mark.usefixtures("catalog_loaded")
def test_a_death_the_register_already_holds_or_of_nobody_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    dead = RegisteredPerson(citizen(2), "張", HOME, "taipei-city", False)
    register = FakeRegister(dead)
    errors = refusal(lambda: report(sessions, register, "death", 2, {"death_date": "2024-03-01"}))
    assert "already recorded" in errors["national_id"]
    errors = refusal(lambda: report(sessions, register, "death", 3, {"death_date": "2024-03-01"}))
    assert errors["national_id"] == "The household register holds no such person"
    assert events(sessions) == 0


@pytest.mark.usefixtures("catalog_loaded")
def test_a_moves_old_address_must_be_the_registered_one(sessions: sessionmaker[Session]) -> None:
    register = FakeRegister(alive(4))
    errors = refusal(
        lambda: report(
            sessions,
            register,
            "address_change",
            4,
            {
                "new_address": "臺北市信義區松仁路100號",
                "old_address": "臺北市中山區南京東路一段1號",
            },
        )
    )
    assert (
        "old_address" in next(iter(errors)) and "not the address" in errors["payload.old_address"]
    )
    # The same address spelled otherwise (台, full-width digits, no 里/鄰) is the registered one.
    accepted = report(
        sessions,
        register,
        "address_change",
        4,
        {
            "new_address": "臺北市信義區松仁路100號",
            "old_address": "台北市大安區羅斯福路三段１２０號3F",
        },
    )
    assert accepted.event.jurisdiction == "taipei-city"


@pytest.mark.usefixtures("catalog_loaded")
def test_a_move_between_cities_reaches_the_agencies_of_both(
    sessions: sessionmaker[Session], subscribe: Callable[..., SubscriptionView]
) -> None:
    for agency, jurisdiction in (
        ("taipei-city.tax_office", "taipei-city"),
        ("kaohsiung-city.tax_office", "kaohsiung-city"),
    ):
        subscribe(agency, kinds=("move_out", "move_in"), url="http://127.0.0.1:9/x", fields=())
        with transaction(sessions) as session:
            from onceonly.notify.models import Subscription

            row = session.scalars(
                select(Subscription).where(Subscription.agency_code == agency)
            ).one()
            row.jurisdiction = jurisdiction
    register = FakeRegister(alive(5))
    out = report(
        sessions,
        register,
        "move_out",
        5,
        {"moved_out_on": "2024-05-01", "old_address": HOME, "to_jurisdiction": "kaohsiung-city"},
    )
    into = report(
        sessions,
        register,
        "move_in",
        5,
        {
            "moved_in_on": "2024-05-02",
            "new_address": "高雄市前鎮區中華五路789號",
            "from_jurisdiction": "taipei-city",
        },
        caller="kaohsiung-city.household_office",
    )
    assert [r.agency_code for r in out.recipients] == ["taipei-city.tax_office"]
    assert [r.agency_code for r in into.recipients] == ["kaohsiung-city.tax_office"]
    assert into.recipients[0].name("zh-TW").startswith("高雄市")
    errors = refusal(
        lambda: report(
            sessions,
            register,
            "move_out",
            5,
            {"moved_out_on": "2024-05-01", "old_address": HOME, "to_jurisdiction": "taipei-city"},
        )
    )
    assert "payload.to_jurisdiction" in errors


@pytest.mark.usefixtures("catalog_loaded")
def test_a_birth_names_a_registered_parent_and_happens_once(
    sessions: sessionmaker[Session],
) -> None:
    register = FakeRegister(alive(6, "kaohsiung-city"))
    payload = {"birth_date": "2024-06-01", "mother_national_id": citizen(6)}
    accepted = report(sessions, register, "birth", 7, payload)
    assert accepted.event.jurisdiction == "kaohsiung-city"
    errors = refusal(lambda: report(sessions, register, "birth", 7, payload))
    assert "national_id" in errors
    errors = refusal(
        lambda: report(
            sessions,
            register,
            "birth",
            8,
            {"birth_date": "2024-06-01", "father_national_id": citizen(9)},
        )
    )
    assert errors["payload.father_national_id"] == "The household register holds no such person"


@pytest.mark.usefixtures("catalog_loaded")
def test_the_same_idempotency_key_answers_the_same_and_another_body_is_refused(
    sessions: sessionmaker[Session], subscribe: Callable[..., SubscriptionView]
) -> None:
    subscribe("taipei-city.tax_office", kinds=("divorce",), url="http://127.0.0.1:9/x", fields=())
    register = FakeRegister(alive(10))
    first = report(sessions, register, "divorce", 10, {"divorce_date": "2024-01-02"}, key="k-1")
    again = report(sessions, register, "divorce", 10, {"divorce_date": "2024-01-02"}, key="k-1")
    assert (again.event.id, again.reference, again.replayed) == (
        first.event.id,
        first.reference,
        True,
    )
    assert [r.agency_code for r in again.recipients] == ["taipei-city.tax_office"]
    errors = refusal(
        lambda: report(sessions, register, "divorce", 10, {"divorce_date": "2024-01-03"}, key="k-1")
    )
    assert "different content" in errors["Idempotency-Key"]
    # Keys belong to the caller: another office's k-1 is its own.
    other = report(
        sessions,
        FakeRegister(alive(11)),
        "divorce",
        11,
        {"divorce_date": "2024-01-02"},
        key="k-1",
        caller="central.moi_household",
    )
    assert other.event.id != first.event.id
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2


@pytest.mark.usefixtures("catalog_loaded")
def test_only_household_offices_report_and_a_register_that_is_down_is_a_503(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(Problem) as caught:
        report(
            sessions,
            FakeRegister(alive(12)),
            "death",
            12,
            {"death_date": "2024-01-01"},
            caller="taipei-city.tax_office",
        )
    assert caught.value.status == 403
    with pytest.raises(Problem) as caught:
        report(sessions, FakeRegister(down=True), "death", 12, {"death_date": "2024-01-01"})
    assert caught.value.status == 503 and caught.value.retry_after
    assert events(sessions) == 0


@pytest.mark.usefixtures("catalog_loaded")
def test_the_reference_finds_the_event_and_the_preview_records_nothing(
    sessions: sessionmaker[Session], subscribe: Callable[..., SubscriptionView]
) -> None:
    subscribe(
        "taipei-city.land_office", kinds=("name_change",), url="http://127.0.0.1:9/x", fields=()
    )
    register = FakeRegister(alive(13))
    with transaction(sessions) as session:
        told = preview_event(
            session,
            LifeEventIn(
                kind="name_change", national_id=citizen(13), payload={"new_name": "王大明"}
            ),
            register,
            OFFICE,
            lang="en",
        )
    assert [r.agency_code for r in told] == ["taipei-city.land_office"]
    assert told[0].name("zh-TW").startswith("臺北市") and told[0].name("en") != told[0].agency_code
    assert events(sessions) == 0
    accepted = report(sessions, register, "name_change", 13, {"new_name": "王大明"})
    assert accepted.reference == reference_of(accepted.event.id)
    with transaction(sessions) as session:
        for spelling in (accepted.reference, accepted.reference.lower().replace("-", "")[3:]):
            found = find_by_reference(session, spelling)
            assert found is not None and found.id == accepted.event.id
        assert find_by_reference(session, "TUO-0000-0000-0000") is None
        assert find_by_reference(session, "nonsense") is None


def test_addresses_compare_however_they_are_spelled() -> None:
    assert same_address("台北市大安區羅斯福路3段120號三樓", HOME)
    assert not same_address("臺北市大安區羅斯福路三段122號3樓", HOME)
    assert same_address("not an address", "not  an address")


@pytest.mark.usefixtures("catalog_loaded")
def test_two_deaths_sent_at_the_same_moment_record_one(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both would pass the checks unless the first holds the subject until it commits: the
    first report waits between its check and its write, long enough for the second."""
    import threading
    import time

    from onceonly.notify import register as register_module

    checked = register_module._recorded_death
    slow = threading.Event()

    def slow_check(session: Session, national_id: str) -> bool:
        answer = checked(session, national_id)
        if not slow.is_set():
            slow.set()
            time.sleep(0.5)
        return answer

    monkeypatch.setattr(register_module, "_recorded_death", slow_check)
    register = FakeRegister(alive(20))
    outcomes: list[str] = []

    def one(day: str) -> None:
        try:
            report(sessions, register, "death", 20, {"death_date": day})
            outcomes.append("recorded")
        except Problem as problem:
            outcomes.append(str(problem.status))
        except Exception as exc:  # e.g. "database is locked": the promise is broken too
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=one, args=(d,)) for d in ("2024-03-01", "2024-03-02")]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["422", "recorded"]
    assert events(sessions) == 1


@given(st.uuids(), st.booleans(), st.booleans())
def test_a_reference_number_leads_back_to_its_event_however_it_is_typed(
    event_id: uuid.UUID, lower: bool, bare: bool
) -> None:
    reference = reference_of(str(event_id))
    typed = reference.lower() if lower else reference
    typed = typed.replace("-", "").removeprefix("TUO").removeprefix("tuo") if bare else typed
    prefix = reference_prefix(typed)
    assert prefix is not None and str(event_id).startswith(prefix)


@given(st.text(max_size=30))
def test_anything_else_is_no_reference(text: str) -> None:
    prefix = reference_prefix(text)
    assert prefix is None or len(prefix) == 13


@pytest.mark.usefixtures("catalog_loaded")
def test_a_payload_value_that_is_not_text_is_refused(sessions: sessionmaker[Session]) -> None:
    errors = refusal(
        lambda: report(sessions, FakeRegister(alive(21)), "name_change", 21, {"new_name": ["x"]})
    )
    assert errors == {"payload.new_name": "This field must be text"}


@pytest.mark.usefixtures("catalog_loaded")
def test_a_payload_value_longer_than_an_address_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    """A citizen's mailing address of 60,000 characters was stored, sent to every agency and
    read again by each statistics request, anonymous ones too (parsing it took minutes)."""
    from onceonly.notify.events import MAX_PAYLOAD_TEXT
    from onceonly.notify.kinds import CITIZEN

    long = "臺北市信義區" + "1" * MAX_PAYLOAD_TEXT

    def own_report() -> Any:
        with transaction(sessions) as session:
            return report_event(
                session,
                LifeEventIn(
                    kind="mailing_address",
                    national_id=citizen(22),
                    payload={"mailing_address": long},
                ),
                FakeRegister(alive(22)),
                f"citizen:{citizen(22)}",
                source=CITIZEN,
                lang="en",
            )

    assert refusal(own_report) == {
        "payload.mailing_address": f"At most {MAX_PAYLOAD_TEXT} characters"
    }
    errors = refusal(
        lambda: report(sessions, FakeRegister(alive(23)), "name_change", 23, {"new_name": long})
    )
    assert errors == {"payload.new_name": f"At most {MAX_PAYLOAD_TEXT} characters"}
    assert events(sessions) == 0


@pytest.mark.usefixtures("catalog_loaded")
@pytest.mark.parametrize(
    "occurred_at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),  # before year 1 in UTC
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))),  # after 9999
        datetime(9999, 1, 1, tzinfo=UTC),  # not happened yet
        datetime(1800, 1, 1, tzinfo=UTC),
    ],
)
def test_an_event_that_cannot_have_happened_then_is_refused(
    sessions: sessionmaker[Session], occurred_at: datetime
) -> None:
    """PostgreSQL stored years before 1 and after 9999 in UTC; reading the citizen's events
    back (the portal, the counter, every agency's feed) then failed with a 500."""

    def reported() -> Any:
        with transaction(sessions) as session:
            return report_event(
                session,
                LifeEventIn(
                    kind="name_change",
                    national_id=citizen(24),
                    payload={"new_name": "王小明"},
                    occurred_at=occurred_at,
                ),
                FakeRegister(alive(24)),
                OFFICE,
                lang="en",
            )

    errors = refusal(reported)
    assert list(errors) == ["occurred_at"] and "1912-01-01" in errors["occurred_at"]
    assert events(sessions) == 0


@pytest.mark.usefixtures("catalog_loaded")
def test_one_key_sent_at_once_about_two_people_is_a_422_not_a_500(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is per person, so two calls with one key about two people both found no
    earlier use; the second's insert broke the key's unique constraint: a 500."""
    first = report(sessions, FakeRegister(alive(25)), "name_change", 25, {"new_name": "甲"}, "k")
    real_scalar = Session.scalar

    def blind(self: Session, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if "notify_intake_keys" in str(statement):
            return None  # the other call had not committed its key when this one looked
        return real_scalar(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "scalar", blind)
    errors = refusal(
        lambda: report(
            sessions, FakeRegister(alive(26)), "name_change", 26, {"new_name": "乙"}, "k"
        )
    )
    assert list(errors) == ["Idempotency-Key"]
    monkeypatch.undo()
    assert events(sessions) == 1 and first.event.national_id == citizen(25)


@pytest.mark.usefixtures("catalog_loaded")
def test_when_an_event_happened_is_kept_as_the_same_instant(
    sessions: sessionmaker[Session],
) -> None:
    """SQLite kept 10:00+08:00's digits and dropped the offset: read back, it was 10:00 UTC."""
    with transaction(sessions) as session:
        accepted = report_event(
            session,
            LifeEventIn(
                kind="name_change",
                national_id=citizen(27),
                payload={"new_name": "王小明"},
                occurred_at=datetime(2024, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=8))),
            ),
            FakeRegister(alive(27)),
            OFFICE,
            lang="en",
        )
    with sessions() as session:
        row = session.get(LifeEvent, accepted.event.id)
        assert row is not None
        assert as_utc(row.occurred_at) == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)
