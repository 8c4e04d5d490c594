"""A data owner's account reads no citizen's life events, whoever made it.

The platform's operator (``admin`` of 國家發展委員會) could make owner accounts of national
agencies on the web (now only the node's operator at the shell can). It once made a *system*
owner at 內政部戶政司, issued it a token, and with it used the tell-us-once preview as an oracle on
anyone's registration, recorded a death of a living citizen that six agencies were told of,
and asked for a pull subscription to every event, approved it itself and read every
citizen's life events from the feed. Now reporting, previewing, subscribing, the feed and
acknowledgements are a clerk's; an owner approves only another agency's subscription, as a
person; and a subscription approved otherwise (stored from before) is revoked by migration
0031, so it is told nothing and its feed rows are never served again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select

from onceonly import migrations
from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.password_rules import OPERATOR
from onceonly.accounts.users import create_user, get_user
from onceonly.db import transaction
from onceonly.notify.models import Delivery, Subscription
from onceonly.notify.subscriptions import (
    OWNER_AGENCY,
    SubscriptionRequest,
    approve_subscription,
    request_subscription,
)
from onceonly.web.app import create_app
from tests.conftest import DemoEnv

PASSWORD = "correct horse battery"
ALL_KINDS = ["death", "address_change", "name_change", "birth", "marriage", "divorce"]
PULL_EVERYTHING = {
    "event_kinds": ALL_KINDS,
    "legal_basis": "household-registration-act",
    "mode": "pull",
    "fields": ["death_date", "new_address", "new_name", "old_name"],
}
NEW_ADDRESS = "臺北市大安區和平東路二段100號5樓"
DEATH = {"death_date": "2026-01-01"}


@dataclass
class Node:
    env: DemoEnv
    app: Any
    client: TestClient

    def token(self, username: str) -> dict[str, str]:
        """A token for ``username`` as the node's own tools issue it."""
        with transaction(self.app.state.sessions) as db:
            user = get_user(db, username)
            assert user is not None, username
            token, _ = issue_api_token(db, user, "test", 1)
        return {"Authorization": f"Bearer {token}"}

    def account(self, username: str, role: str, agency: str, *, person: bool = True) -> None:
        """An account made at the node (``onceonly users create``)."""
        with transaction(self.app.state.sessions) as db:
            create_user(db, username, PASSWORD if person else None, role, agency, "測試")

    def preview_death(self, headers: dict[str, str], national_id: str) -> Any:
        return self.client.post(
            "/api/v1/notify/events/preview",
            headers=headers,
            json={"kind": "death", "national_id": national_id, "payload": DEATH},
        )

    def record_death(self, headers: dict[str, str], national_id: str) -> Any:
        return self.client.post(
            "/api/v1/notify/events",
            headers=headers,
            json={"kind": "death", "national_id": national_id, "payload": DEATH},
        )

    def record_move(self, headers: dict[str, str], national_id: str) -> Any:
        return self.client.post(
            "/api/v1/notify/events",
            headers=headers,
            json={
                "kind": "address_change",
                "national_id": national_id,
                "payload": {"new_address": NEW_ADDRESS},
            },
        )

    def data_fixed(self) -> None:
        """The node's database upgraded from 0030 on, as a node stored before migration 0031
        is (on SQLite the demo's copy is at the head already, on PostgreSQL not stamped)."""
        url = self.env.settings.database_url
        assert url is not None
        command.stamp(migrations.alembic_config(url), "0030_carried_read_once", purge=True)
        migrations.upgrade(url)

    def deliveries(self, subscription_id: int) -> list[Delivery]:
        with transaction(self.app.state.sessions) as db:
            query = select(Delivery).where(Delivery.subscription_id == subscription_id)
            return list(db.scalars(query))


@pytest.fixture
def node(demo_env: DemoEnv) -> Iterator[Node]:
    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield Node(demo_env, app, client)


def system_owner(node: Node) -> dict[str, str]:
    """The attack's first two steps: a system owner account at the household-registration
    owner, and a token for it. The operator may no longer make one on the web
    (``tests/policy/test_operator_owner_decides_nothing.py``); the node's operator still
    may at the shell, and such an account must read nobody either."""
    refused = node.client.post(
        "/admin/users",
        headers=node.token("admin"),
        data={
            "username": "ops-hh-system",
            "display_name": "ops",
            "role": "owner",
            "agency_code": OWNER_AGENCY,
            "system": "1",
        },
    )
    assert refused.status_code == 422, refused.text
    with transaction(node.app.state.sessions) as db:
        create_user(db, "ops-hh-system", None, "owner", OWNER_AGENCY, "ops", set_by=OPERATOR)
    return node.token("ops-hh-system")


def refused_for_role(answer: Any) -> bool:
    body = answer.json()
    return answer.status_code == 403 and body.get("required_roles") == ["clerk"]


def test_the_operators_owner_account_looks_up_records_and_subscribes_to_no_one(
    node: Node,
) -> None:
    owner = system_owner(node)
    living = node.env.sample("low_income_applicant")
    dead = node.env.sample("deceased")

    # (a) no oracle: the preview answers the same for the living, the dead and nobody
    for national_id in (living, dead, "A123456789"):
        assert refused_for_role(node.preview_death(owner, national_id))

    # (b) no forged death
    assert refused_for_role(node.record_death(owner, living))
    clerk = node.token("tpe-hh-clerk")
    assert node.preview_death(clerk, living).status_code == 200  # still alive on the register

    # (c) no subscription of its own, no feed, no acknowledgements
    asked = node.client.post("/api/v1/notify/subscriptions", headers=owner, json=PULL_EVERYTHING)
    assert refused_for_role(asked)
    assert refused_for_role(node.client.get("/api/v1/notify/feed", headers=owner))
    acks = node.client.post("/api/v1/notify/acks", headers=owner, json={"event_ids": ["x"]})
    assert refused_for_role(acks)

    # nor approving a subscription of its own agency, had one been asked (by a clerk of
    # 內政部戶政司 made at the node): refused for the agency and for the system account
    node.account("moi-hh-clerk", "clerk", OWNER_AGENCY)
    mine = node.client.post(
        "/api/v1/notify/subscriptions", headers=node.token("moi-hh-clerk"), json=PULL_EVERYTHING
    )
    assert mine.status_code == 201, mine.text
    approve = f"/api/v1/notify/subscriptions/{mine.json()['id']}/approve"
    refused = node.client.post(approve, headers=owner, json={"reason": "ok"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("own-subscription")

    # a household office records a real change afterwards; nobody at 內政部戶政司 is told
    moved = node.record_move(clerk, node.env.sample("land_elsewhere"))
    assert moved.status_code == 201, moved.text
    assert OWNER_AGENCY not in {r["agency_code"] for r in moved.json()["recipients"]}
    feed = node.client.get("/api/v1/notify/feed", headers=node.token("moi-hh-clerk"))
    assert feed.status_code == 200 and feed.json()["events"] == []


def test_the_owner_approves_no_subscription_of_its_own_agency_in_words(node: Node) -> None:
    node.account("moi-hh-clerk", "clerk", OWNER_AGENCY)
    asked = node.client.post(
        "/api/v1/notify/subscriptions", headers=node.token("moi-hh-clerk"), json=PULL_EVERYTHING
    )
    approve = f"/api/v1/notify/subscriptions/{asked.json()['id']}/approve"
    person = node.token("moi-household-owner")  # a person at 內政部戶政司, not a system

    refused = node.client.post(approve, headers=person, json={})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["type"].endswith("own-subscription")
    assert "自己申請" in body["detail"] and OWNER_AGENCY in body["detail"]
    english = node.client.post(approve + "?lang=en", headers=person, json={})
    assert "Your own agency" in english.json()["detail"]
    with transaction(node.app.state.sessions) as db:
        assert db.get(Subscription, asked.json()["id"]).status == "pending"  # type: ignore[union-attr]


def test_a_system_account_approves_no_subscription_in_words(node: Node) -> None:
    owner = system_owner(node)
    asked = node.client.post(
        "/api/v1/notify/subscriptions", headers=node.token("tpe-tax-clerk"), json=PULL_EVERYTHING
    )
    assert asked.status_code == 201, asked.text
    approve = f"/api/v1/notify/subscriptions/{asked.json()['id']}/approve"

    refused = node.client.post(approve, headers=owner, json={})
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["type"].endswith("system-approver")
    assert "承辦人本人" in body["detail"]
    english = node.client.post(approve + "?lang=en", headers=owner, json={})
    assert "approved by a person" in english.json()["detail"]
    with transaction(node.app.state.sessions) as db:
        assert db.get(Subscription, asked.json()["id"]).status == "pending"  # type: ignore[union-attr]


def test_a_household_clerk_reports_and_a_person_at_the_owner_approves_anothers_subscription(
    node: Node,
) -> None:
    clerk = node.token("tpe-hh-clerk")
    tax = node.token("tpe-tax-clerk")
    living = node.env.sample("low_income_applicant")

    told = node.preview_death(clerk, living)
    assert told.status_code == 200, told.text
    assert told.json(), "the demo's agencies are told of a death"

    asked = node.client.post("/api/v1/notify/subscriptions", headers=tax, json=PULL_EVERYTHING)
    assert asked.status_code == 201, asked.text
    sub = asked.json()["id"]
    person = node.token("moi-household-owner")
    listed = node.client.get("/api/v1/notify/subscriptions", headers=person)
    assert sub in {s["id"] for s in listed.json()}  # the owner reads the requests it decides
    approved = node.client.post(
        f"/api/v1/notify/subscriptions/{sub}/approve", headers=person, json={"reason": "依法"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["decided_by"] == "moi-household-owner"

    moved = node.record_move(clerk, node.env.sample("land_elsewhere"))
    assert moved.status_code == 201, moved.text
    died = node.record_death(clerk, living)
    assert died.status_code == 201, died.text
    feed = node.client.get("/api/v1/notify/feed", headers=tax)
    assert feed.status_code == 200, feed.text
    assert [e["kind"] for e in feed.json()["events"]] == ["address_change", "death"]
    assert {e["subscription_id"] for e in feed.json()["events"]} == {sub}
    acked = node.client.post(
        "/api/v1/notify/acks",
        headers=tax,
        json={"event_ids": [e["id"] for e in feed.json()["events"]]},
    )
    assert acked.status_code == 200 and len(acked.json()["processed"]) == 2


@pytest.mark.parametrize("approver", ["own-agency", "system"])
def test_a_subscription_approved_so_before_the_check_is_revoked_and_serves_nothing(
    node: Node, approver: str
) -> None:
    """Stored from before the check, such a subscription was told of events and its agency
    read them; migration 0031 revokes it in words, and the feed serves none of its rows
    again, neither those read nor those waiting, nor does a cursor past them confirm any."""
    if approver == "own-agency":
        node.account("moi-hh-person", "owner", OWNER_AGENCY)
        decided_by = "moi-hh-person"
    else:
        node.account("other-system", "owner", "central.fia", person=False)
        decided_by = "other-system"
    node.account("moi-hh-clerk", "clerk", OWNER_AGENCY)
    reader = node.token("moi-hh-clerk")
    clerk = node.token("tpe-hh-clerk")
    with transaction(node.app.state.sessions) as db:
        sub = request_subscription(
            db,
            SubscriptionRequest(agency_code=OWNER_AGENCY, **PULL_EVERYTHING),
            requested_by="ops-hh-system",
        ).id
        # approved as the code before the fix let this account do
        approve_subscription(db, sub, decided_by, None)

    # before the fix: told of a move, read and confirmed; then told of another
    read = node.record_move(clerk, node.env.sample("land_elsewhere"))
    assert read.status_code == 201, read.text
    page = node.client.get("/api/v1/notify/feed", headers=reader).json()
    assert len(page["events"]) == 1
    node.client.get("/api/v1/notify/feed", headers=reader, params={"cursor": page["next_cursor"]})
    waiting = node.record_move(clerk, node.env.sample("low_income_applicant"))
    assert waiting.status_code == 201, waiting.text
    assert [d.status for d in node.deliveries(sub)] == ["delivered", "pending"]

    node.data_fixed()

    with transaction(node.app.state.sessions) as db:
        fixed = db.get(Subscription, sub)
        assert fixed is not None and fixed.status == "revoked" and fixed.decided_by == decided_by
        words = "申請機關自己的帳號" if approver == "own-agency" else "機關系統帳號"
        assert words in (fixed.revoke_reason or "") and "ask again" in (fixed.revoke_reason or "")
    assert [d.status for d in node.deliveries(sub)] == ["delivered", "dead"]

    # not told of new events
    told = node.preview_death(clerk, node.env.sample("low_income_applicant"))
    assert OWNER_AGENCY not in {r["agency_code"] for r in told.json()}
    moved = node.record_move(clerk, node.env.sample("land_elsewhere"))
    assert moved.status_code == 201, moved.text
    assert OWNER_AGENCY not in {r["agency_code"] for r in moved.json()["recipients"]}
    assert len(node.deliveries(sub)) == 2

    # and no row it got before is served, nor confirmed by a cursor past them
    feed = node.client.get("/api/v1/notify/feed", headers=reader)
    assert feed.status_code == 200 and feed.json() == {"events": [], "next_cursor": 0}
    node.client.get("/api/v1/notify/feed", headers=reader, params={"cursor": 10**6})
    assert [d.status for d in node.deliveries(sub)] == ["delivered", "dead"]
