"""Issue 12, hole 7 (one item): a clerk files rule requests only for their own agency, never
on behalf of another agency nor for a kind of agency nationwide; a tenant's administrator only
for agencies of that tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from onceonly.accounts.users import create_user
from onceonly.db import transaction
from tests.conftest import DemoEnv
from tests.exchange.support import Counter

URL = "/api/v1/access-rules"
BASE: dict[str, Any] = {
    "owner_agency": "taipei-city.social_welfare",
    "dataset": "welfare_status",
    "application_item": "temporary-work-allowance",
    "legal_basis": "social-assistance-act",
    "predicates": ["is_low_income_household"],
}


@pytest.fixture
def api(demo_env: DemoEnv) -> Iterator[Counter]:
    result = Counter(demo_env)
    yield result
    result.client.close()


def _file(api: Counter, username: str, **body: Any) -> Any:
    return api.client.post(URL, json=BASE | body, headers=api.headers(username))


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"requesting_agency": "taipei-city.urban_development"}, "requesting_agency"),
        ({"requesting_agency": "keelung-city.labour"}, "requesting_agency"),
        ({"requesting_agency_kind": "labour"}, "requesting_jurisdiction"),
        (
            {"requesting_agency_kind": "labour", "requesting_jurisdiction": "keelung-city"},
            "requesting_jurisdiction",
        ),
        (
            {"requesting_agency_kind": "fire", "requesting_jurisdiction": "taipei-city"},
            "requesting_agency_kind",
        ),
    ],
)
def test_a_clerk_cannot_file_for_another_agency_or_nationwide(
    api: Counter, body: dict[str, Any], field: str
) -> None:
    response = _file(api, "tpe-labour-clerk", **body)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in _fields(response)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"requesting_agency": "taipei-city.labour"},
        {"requesting_agency_kind": "labour", "requesting_jurisdiction": "taipei-city"},
    ],
)
def test_a_clerk_files_for_their_own_agency_or_kind_at_home(
    api: Counter, body: dict[str, Any]
) -> None:
    response = _file(api, "tpe-labour-clerk", **body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"


def test_a_tenants_administrator_files_only_inside_the_tenant(api: Counter) -> None:
    with transaction(api.app.state.sessions) as db:
        create_user(db, "tpe-admin-x", "onceonly-demo-x", "admin", "taipei-city.labour", "管理")
    home = _file(api, "tpe-admin-x", requesting_agency="taipei-city.fire")
    assert home.status_code == 201, home.text
    away = _file(api, "tpe-admin-x", requesting_agency="keelung-city.fire")
    assert away.status_code == 403 and _fields(away) == ["requesting_agency"]
    nationwide = _file(api, "tpe-admin-x", requesting_agency_kind="fire")
    assert nationwide.status_code == 403 and _fields(nationwide) == ["requesting_jurisdiction"]


def test_rule_parameter_choices_are_checked_and_kept(api: Counter) -> None:
    body = {
        "owner_agency": "central.fia",
        "dataset": "income",
        "application_item": "public-housing-low-income",
        "legal_basis": "tax-collection-act-art33",
        "predicates": ["household_income_below"],
    }
    ok = _file(
        api,
        "tpe-udd-clerk",
        **body,
        predicate_params={"household_income_below": {"threshold": [19013, 20379]}},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["predicate_params"] == {
        "household_income_below": {"threshold": [19013, 20379]}
    }
    for bad, field in (
        ({"household_income_below": {"threshold": ["many"]}}, "predicate_params"),
        ({"household_income_below": {"ceiling": [1]}}, "predicate_params"),
        ({"is_low_income_household": {"on": ["2026-01-01"]}}, "predicate_params"),
    ):
        refused = _file(api, "tpe-udd-clerk", **body, predicate_params=bad)
        assert refused.status_code == 422, refused.text
        assert _fields(refused) == [field]
