"""Every look at a person's household-register record by tell-us-once is on the record.

The preview (``POST /api/v1/notify/events/preview``) answered any household office of any
city whether a person was registered and alive, already dead or unknown, which city held them
and whether an address was theirs, and wrote nothing to the audit log. Now each person the
register is asked about gets a ``notify.register_check`` entry with them as subject, for a
preview and a report alike, refused or not, which the citizen's "who looked at my data" page
lists in words; and a wrong old address is answered without saying which part is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user, get_user
from onceonly.audit.log import AuditEntryView, EntryFilter, find_entries
from onceonly.catalog.loader import load_catalog
from onceonly.citizens.accesses import Access, AccessFilter, list_accesses
from onceonly.db import transaction
from onceonly.domain.national_id import make_national_id
from onceonly.errors import Problem
from onceonly.i18n import t
from onceonly.notify.events import LifeEventIn
from onceonly.notify.intake import preview_event, report_event
from onceonly.notify.register_log import REGISTER_CHECK_EVENT, Reader
from onceonly.web.app import create_app
from tests.conftest import DemoEnv, post_login
from tests.notify.conftest import citizen
from tests.notify.test_intake import HOME, FakeRegister, alive

OTHER_CITY = "new-taipei-city.household_office"


class Offices:
    """The demo app, with API tokens for household clerks of any city."""

    def __init__(self, env: DemoEnv) -> None:
        self.env = env
        self.app = create_app(env.settings)
        self.client = TestClient(self.app)

    def headers(self, agency: str) -> dict[str, str]:
        with transaction(self.app.state.sessions) as db:
            name = f"t-{agency}"
            user = get_user(db, name) or create_user(
                db, name, "correct horse battery", "clerk", agency, "測試"
            )
            token, _ = issue_api_token(db, user, "test", 1)
        return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}

    def post(self, path: str, agency: str, kind: str, subject: str, **payload: Any) -> Any:
        answer: httpx.Response = self.client.post(
            f"/api/v1/notify/events{path}?lang=en",
            json={"kind": kind, "national_id": subject, "payload": payload},
            headers=self.headers(agency),
        )
        return answer

    def accesses(self, national_id: str) -> list[Access]:
        """The citizen's page, through the service the portal calls."""
        with transaction(self.app.state.sessions) as db:
            found, _ = list_accesses(db, national_id, AccessFilter(), "en")
        return [a for a in found if a.event == REGISTER_CHECK_EVENT]

    def entries(self, national_id: str) -> list[AuditEntryView]:
        with transaction(self.app.state.sessions) as db:
            found, _ = find_entries(db, EntryFilter(subject=national_id), limit=100)
        return [e for e in found if e.event == REGISTER_CHECK_EVENT]


@pytest.fixture
def offices(demo_env: DemoEnv) -> Iterator[Offices]:
    result = Offices(demo_env)
    with result.client:
        yield result
    exchange = getattr(result.app.state, "exchange", None)
    if exchange is not None:
        exchange.close()


def test_a_preview_and_a_report_by_another_city_are_on_the_citizen_s_page(
    offices: Offices,
) -> None:
    person = offices.env.sample("low_income_applicant")  # registered in Taipei
    assert offices.accesses(person) == []
    preview = offices.post("/preview", OTHER_CITY, "death", person, death_date="2026-01-02")
    assert preview.status_code == 200, preview.text
    assert preview.json(), "the preview still says who would be told"
    shown = offices.accesses(person)
    assert len(shown) == 1, "the preview alone is on the page"
    report = offices.post("", OTHER_CITY, "death", person, death_date="2026-01-02")
    assert report.status_code == 201, report.text

    shown = offices.accesses(person)
    assert len(shown) == 2
    for look in shown:
        assert look.agency == OTHER_CITY and look.agency_name not in ("", OTHER_CITY)
        assert look.badge and look.role == "clerk" and not look.by_citizen
        assert look.dataset == "household_registration" and look.dataset_name
        assert look.event_text == t("citizens.event.notify.register_check", "en")
        assert "not in the city or county you are registered in" in look.reason
    report_look, preview_look = shown  # newest first
    assert "to preview a report of death registration (nothing was recorded)" in (
        preview_look.reason
    )
    assert "before recording a report of death registration" in report_look.reason
    for entry in offices.entries(person):
        assert entry.details["credential"]["kind"] == "token"
        assert entry.details["other_city"] is True
        assert entry.details["registered_in"] == "taipei-city"
        assert entry.details["office_jurisdiction"] == "new-taipei-city"
        assert entry.details["outcome"] == "passed"
    assert [e.details["preview"] for e in offices.entries(person)] == [False, True]


def test_a_refused_preview_is_logged_although_nothing_is_recorded(offices: Offices) -> None:
    """The refusal is the answer a prober wants (already dead, no such person): the request
    ends in a 422 and its transaction is rolled back, but the look stays on the record."""
    dead = offices.env.sample("deceased")
    nobody = make_national_id("Z", 1, 9_999_999)
    for subject, code in ((dead, "conflict"), (nobody, "not_found")):
        answer = offices.post("/preview", OTHER_CITY, "death", subject, death_date="2026-01-02")
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["code"] == code
        (entry,) = offices.entries(subject)
        assert entry.details["outcome"] == "refused"
        assert entry.details["refused"] == [{"field": "national_id", "code": code}]
        assert entry.details["registered"] is (subject == dead)
        assert "was refused" in entry.reason_en
    assert len(offices.accesses(dead)) == 1
    refused_report = offices.post("", OTHER_CITY, "death", dead, death_date="2026-01-02")
    assert refused_report.status_code == 422
    assert [e.details["preview"] for e in offices.entries(dead)] == [False, True]


def test_a_move_in_confirming_the_city_is_logged(offices: Offices) -> None:
    person = offices.env.sample("low_income_applicant")
    payload = {"moved_in_on": "2026-01-02", "new_address": "新北市板橋區文化路一段100號"}
    wrong = offices.post(
        "/preview", OTHER_CITY, "move_in", person, from_jurisdiction="yilan-county", **payload
    )
    assert wrong.status_code == 422
    right = offices.post(
        "/preview", OTHER_CITY, "move_in", person, from_jurisdiction="taipei-city", **payload
    )
    assert right.status_code == 200, right.text
    outcomes = [e.details["outcome"] for e in offices.entries(person)]
    assert outcomes == ["passed", "refused"]
    # a move in is by nature told to another city's office: not called out to the citizen
    assert all("not in the city" not in a.reason for a in offices.accesses(person))


def test_the_counter_s_preview_is_logged_with_the_clerk_s_session(offices: Offices) -> None:
    person = offices.env.sample("low_income_applicant")
    with TestClient(offices.app, follow_redirects=False) as browser:
        signed_in = post_login(browser, {"username": "tpe-hh-clerk", "password": "onceonly-demo"})
        assert signed_in.status_code == 303
        form = browser.get("/counter/tell-us-once?kind=death&lang=en")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        body = {"csrf_token": token.group(1), "kind": "death", "national_id": person}
        for day, status in (("2026-01-02", 200), ("2999-01-02", 422), ("2026-01-02", 200)):
            answer = browser.post(
                "/counter/tell-us-once/preview?lang=en", data=body | {"death_date": day}
            )
            assert answer.status_code == status, answer.text
    entries = offices.entries(person)
    assert len(entries) == 2, "a date in the future is refused before the register is asked"
    for entry in entries:
        assert entry.details["credential"]["kind"] == "session"
        assert (entry.actor_role, entry.actor_agency) == ("clerk", "taipei-city.household_office")
        assert entry.details["other_city"] is False
    assert all("not in the city" not in a.reason for a in offices.accesses(person))


# The address check, through the service with a register of our own.

READER = Reader("ntpc-clerk", OTHER_CITY, "clerk", "B-0042", {"kind": "session", "id": 1})
WRONG_ADDRESSES = [
    "新北市板橋區文化路一段100號",  # another city
    "臺北市信義區松仁路100號",  # another district
    "臺北市大安區新生南路三段120號3樓",  # another road
    "臺北市大安區羅斯福路三段122號3樓",  # another number
    "臺北市大安區羅斯福路三段120號5樓",  # another floor
]


@pytest.fixture
def sessions_with_catalog(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        load_catalog(session)
    return sessions


def _preview(sessions: sessionmaker[Session], kind: str, payload: dict[str, str]) -> Any:
    with transaction(sessions) as session:
        return preview_event(
            session,
            LifeEventIn(kind=kind, national_id=citizen(1), payload=payload),
            FakeRegister(alive(1)),
            OTHER_CITY,
            lang="en",
            reader=READER,
        )


def _refusal(sessions: sessionmaker[Session], kind: str, payload: dict[str, str]) -> Any:
    with pytest.raises(Problem) as caught:
        _preview(sessions, kind, payload)
    return [e.as_dict() for e in caught.value.errors]


def _checks(sessions: sessionmaker[Session]) -> list[AuditEntryView]:
    with transaction(sessions) as session:
        found, _ = find_entries(session, EntryFilter(subject=citizen(1)), limit=100)
    return [e for e in found if e.event == REGISTER_CHECK_EVENT]


def test_a_wrong_old_address_says_not_which_part_and_each_guess_is_logged(
    sessions_with_catalog: sessionmaker[Session],
) -> None:
    sessions = sessions_with_catalog
    mismatch = [
        {
            "field": "payload.old_address",
            "reason": "The old address is not the address in the household register",
            "code": "mismatch",
        }
    ]
    new = {"new_address": "臺北市信義區松仁路100號"}
    for guess in WRONG_ADDRESSES:
        assert _refusal(sessions, "address_change", {**new, "old_address": guess}) == mismatch
        # a move out "to" the registered city would have said the city was right
        move_out = {"moved_out_on": "2024-05-01", "old_address": guess}
        for city in ("taipei-city", "kaohsiung-city"):
            answer = _refusal(sessions, "move_out", {**move_out, "to_jurisdiction": city})
            assert answer == mismatch, (guess, city)
    assert _preview(sessions, "address_change", {**new, "old_address": HOME}) is not None

    checks = _checks(sessions)
    assert len(checks) == 3 * len(WRONG_ADDRESSES) + 1, "every guess is one entry"
    refused = [c for c in checks if c.details["outcome"] == "refused"]
    assert len(refused) == 3 * len(WRONG_ADDRESSES)
    for entry in refused:
        assert entry.details["refused"] == [{"field": "payload.old_address", "code": "mismatch"}]
        assert entry.actor_badge == "B-0042" and entry.actor_agency == OTHER_CITY
        assert entry.details["credential"] == {"kind": "session", "id": 1}
        assert all(guess not in str(entry.as_document()) for guess in WRONG_ADDRESSES)
    with transaction(sessions) as session:
        page, _ = list_accesses(session, citizen(1), AccessFilter(), "en")
    assert len(page) == len(checks)


def test_a_citizen_s_own_report_is_not_logged_as_a_look(
    sessions_with_catalog: sessionmaker[Session],
) -> None:
    """The citizen reads only their own record: no one else looked."""
    with transaction(sessions_with_catalog) as session:
        preview_event(
            session,
            LifeEventIn(
                kind="mailing_address",
                national_id=citizen(1),
                payload={"mailing_address": HOME},
            ),
            FakeRegister(alive(1)),
            f"citizen:{citizen(1)}",
            source="citizen",
            lang="en",
        )
    assert _checks(sessions_with_catalog) == []


def test_a_report_names_the_parents_it_checked(
    sessions_with_catalog: sessionmaker[Session],
) -> None:
    """A birth asks the register about the child and each parent: three entries."""
    mother = alive(2)
    child = make_national_id("E", 2, 5555)
    with transaction(sessions_with_catalog) as session:
        report_event(
            session,
            LifeEventIn(
                kind="birth",
                national_id=child,
                payload={"birth_date": "2024-05-01", "mother_national_id": mother.national_id},
            ),
            FakeRegister(mother),
            OTHER_CITY,
            lang="en",
            reader=READER,
        )
        found, _ = find_entries(session, EntryFilter(), limit=100)
    looked = {e.subject: e.details["as"] for e in found if e.event == REGISTER_CHECK_EVENT}
    assert looked == {child: "subject", mother.national_id: "mother_national_id"}
