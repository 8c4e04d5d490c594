"""The platform's operator decides nobody's access to a citizen's data.

The operator (``admin`` of 國家發展委員會) once made owner accounts of national agencies on
``/admin/users`` (``onceonly.accounts.tenancy.NODE_WIDE_ROLES``). An owner reads nobody's
data itself, but decides who does: the operator's system owner at 財政部財政資訊中心 approved a
rule it had filed itself, letting every city's urban development clerks read raw incomes
where the real owner had allowed a yes/no answer; its person owner at 內政部戶政司 revoked the
rules asking for the citizen's consent. Now national owners are made at the shell only, the
operator resets and mints tokens for none, only a person approves a rule, and disabling or
making an account is on the tenant's audit record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.password_rules import OPERATOR
from onceonly.accounts.users import create_user, get_user
from onceonly.db import transaction
from onceonly.web.app import create_app
from tests.conftest import DemoEnv

HTML = {"Accept": "text/html"}
ITEM = "public-housing-low-income"
RAW_INCOME = ["total_income", "salary_income", "interest_income", "household_size"]
WIDE_RULE = {
    "owner_agency": "central.fia",
    "dataset": "income",
    "application_item": ITEM,
    "legal_basis": "tax-collection-act-art33",
    "requesting_agency_kind": "urban_development",
    "fields": ["national_id", "tax_year", *RAW_INCOME],
    "consent_required": False,
    "preview_required": False,
    "purpose": "系統維運測試",
}


@dataclass
class Node:
    app: Any
    client: TestClient

    def token(self, username: str) -> dict[str, str]:
        """A token as the node's own tools issue it (``onceonly users issue-token``)."""
        with transaction(self.app.state.sessions) as db:
            user = get_user(db, username)
            assert user is not None, username
            token, _ = issue_api_token(db, user, "test", 1)
        return {"Authorization": f"Bearer {token}"}

    def user(self, username: str) -> Any:
        with transaction(self.app.state.sessions) as db:
            return get_user(db, username)

    def raw_income(self, clerk: dict[str, str], citizen: str) -> Any:
        case = self.client.post(
            "/api/v1/cases",
            headers=clerk,
            json={"application_item": ITEM, "subject": citizen, "acknowledged": ["open_case"]},
        )
        assert case.status_code in (200, 201), case.text
        ask = {
            "case_id": case.json()["number"],
            "application_item": ITEM,
            "subject": citizen,
            "evidence": [{"type": "income", "fields": RAW_INCOME}],
        }
        return self.client.post("/api/v1/evidence-requests", headers=clerk, json=ask)


@pytest.fixture
def node(demo_env: DemoEnv) -> Iterator[Node]:
    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield Node(app, client)


def test_the_operator_makes_resets_and_mints_for_no_national_owner(node: Node) -> None:
    operator = node.token("admin")
    for username, system in (("ops-fia-system", "1"), ("ops-moi-owner", "")):
        made = node.client.post(
            "/admin/users?lang=en",
            headers=operator | HTML,
            data={
                "username": username,
                "display_name": "維運",
                "role": "owner",
                "agency_code": "central.fia",
                "system": system,
                "password": "" if system else "a long enough password",
            },
        )
        assert made.status_code == 422, made.text[-400:]
        assert "data owners are made by the node&#39;s operator" in made.text
        assert node.user(username) is None
    offered = node.client.get("/admin/users", headers=operator | HTML).text
    assert 'value="owner"' not in offered and 'value="admin"' in offered
    reset = node.client.post(
        "/admin/users/password?lang=en",
        headers=operator | HTML,
        data={"reset_username": "fia-owner", "reset_password": "the operator chose this"},
    )
    assert reset.status_code == 422 and "set-password" in reset.text
    with transaction(node.app.state.sessions) as db:  # made at the shell, as it now must be
        create_user(db, "fia-batch", None, "owner", "central.fia", "批次系統", set_by=OPERATOR)
    minted = node.client.post(
        "/api/v1/auth/tokens", headers=operator, json={"username": "fia-batch", "name": "x"}
    )
    assert minted.status_code in (403, 422), minted.text
    assert "token" not in minted.json()


def test_only_a_person_at_the_owner_approves_a_rule(node: Node, demo_env: DemoEnv) -> None:
    with transaction(node.app.state.sessions) as db:
        create_user(db, "fia-batch", None, "owner", "central.fia", "批次系統", set_by=OPERATOR)
    system = node.token("fia-batch")
    clerk = node.token("tpe-udd-clerk")
    citizen = demo_env.sample("low_income_applicant")
    filed = node.client.post("/api/v1/access-rules", headers=node.token("admin"), json=WIDE_RULE)
    assert filed.status_code == 201, filed.text
    rule = filed.json()["id"]

    approved = node.client.post(
        f"/api/v1/access-rules/{rule}/approve?lang=en", headers=system, json={"reason": "ok"}
    )
    assert approved.status_code == 403, approved.text
    assert approved.json()["type"].endswith("/system-approver")
    assert "must be approved by a person" in approved.json()["detail"]
    listed = node.client.get("/api/v1/access-rules", headers=node.token("fia-owner")).json()
    assert [r["status"] for r in listed if r["id"] == rule] == ["pending"]
    refused = node.raw_income(clerk, citizen)
    assert refused.status_code == 403, refused.text
    assert [r["fields"] for r in refused.json()["results"]] == [None]

    # narrowing is a system's to do: the owner's kill switch
    rejected = node.client.post(
        f"/api/v1/access-rules/{rule}/reject", headers=system, json={"reason": "未經書面申請"}
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    # and the real owner, a person, still decides as before
    again = node.client.post("/api/v1/access-rules", headers=node.token("admin"), json=WIDE_RULE)
    person = node.client.post(
        f"/api/v1/access-rules/{again.json()['id']}/approve",
        headers=node.token("fia-owner"),
        json={"reason": "依書面申請"},
    )
    assert person.status_code == 200 and person.json()["status"] == "approved"
    allowed = node.raw_income(clerk, citizen)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["results"][0]["status"] == "issued"


def test_disabling_and_making_accounts_is_on_the_tenants_record(node: Node) -> None:
    target = node.user("tpe-social-owner")
    operator = node.token("admin")
    off = node.client.post(
        f"/admin/users/{target.id}/active", headers=operator | HTML, data={"active": "0"}
    )
    assert off.status_code == 303, off.text[-400:]
    on = node.client.post(
        f"/admin/users/{target.id}/active", headers=operator | HTML, data={"active": "1"}
    )
    assert on.status_code == 303
    city_admin = node.token("tpe-city-admin")
    made = node.client.post(
        "/admin/users",
        headers=city_admin | HTML,
        data={
            "username": "tpe-udd-system",
            "display_name": "櫃檯系統",
            "role": "clerk",
            "agency_code": "taipei-city.urban_development",
            "system": "1",
        },
    )
    assert made.status_code == 303, made.text[-400:]
    entries = node.client.get(
        "/api/v1/audit/entries?lang=en&per_page=10", headers=node.token("tpe-auditor")
    ).json()["items"]
    said = {e["event"]: e for e in entries}
    assert {"account.disabled", "account.enabled", "account.made"} <= set(said)
    assert said["account.disabled"]["actor_agency"] == "central.ndc"
    badge = target.badge
    assert f"Disabled account {badge} (Data owner)" in said["account.disabled"]["reason_en"]
    assert "Made agency system account" in said["account.made"]["reason_en"]
