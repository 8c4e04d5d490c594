"""POST /api/v1/notify/events against the demo's household register: the regressions of
issue 16 (a second death, a death of nobody) and the idempotency key over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user, get_user
from onceonly.db import transaction
from onceonly.domain.national_id import make_national_id
from onceonly.web.app import create_app
from tests.conftest import DemoEnv


class Office:
    def __init__(self, env: DemoEnv) -> None:
        self.env = env
        self.app = create_app(env.settings)
        self.client = TestClient(self.app)

    def headers(self, agency: str, key: str | None = None) -> dict[str, str]:
        with transaction(self.app.state.sessions) as db:
            name = f"t-{agency}"
            user = get_user(db, name) or create_user(
                db, name, "correct horse battery", "clerk", agency, "測試"
            )
            token, _ = issue_api_token(db, user, "test", 1)
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def death(
        self, national_id: str, day: str, key: str | None = None, agency: str = ""
    ) -> httpx.Response:
        return self.client.post(
            "/api/v1/notify/events?lang=en",
            json={"kind": "death", "national_id": national_id, "payload": {"death_date": day}},
            headers=self.headers(agency or "taipei-city.household_office", key),
        )


@pytest.fixture
def office(demo_env: DemoEnv) -> Iterator[Office]:
    result = Office(demo_env)
    yield result
    result.client.close()
    exchange = getattr(result.app.state, "exchange", None)
    if exchange is not None:
        exchange.close()


def test_a_death_is_recorded_once_and_only_of_a_registered_living_person(
    office: Office,
) -> None:
    person = office.env.sample("low_income_applicant")
    first = office.death(person, "2026-01-02", key="death-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["reference"].startswith("TUO-") and body["jurisdiction"] == "taipei-city"
    assert all(r["name"] != r["agency_code"] for r in body["recipients"])

    same = office.death(person, "2026-01-02", key="death-1")
    assert same.status_code == 201 and same.json()["id"] == body["id"]
    assert same.json()["replayed"] is True
    changed = office.death(person, "2026-01-03", key="death-1")
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"

    again = office.death(person, "2026-01-03", key="death-2")
    assert again.status_code == 422, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["errors"] == [
        {
            "field": "national_id",
            "reason": "This person's death is already recorded; it cannot be recorded twice",
            "code": "conflict",
        }
    ]

    dead = office.death(office.env.sample("deceased"), "2026-03-14")
    assert dead.status_code == 422
    assert dead.json()["errors"][0]["field"] == "national_id"

    nobody = make_national_id("Z", 1, 9_999_999)
    unknown = office.death(nobody, "2026-01-02")
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["errors"][0] == {
        "field": "national_id",
        "reason": "The household register holds no such person",
        "code": "not_found",
    }


def test_only_a_household_office_records_events(office: Office) -> None:
    person = office.env.sample("low_income_applicant")
    refused = office.death(person, "2026-01-02", agency="taipei-city.tax_office")
    assert refused.status_code == 403
