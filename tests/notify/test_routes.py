"""The HTTP surface: subscriptions reviewed by the owner, the pull feed with its cursor,
acknowledgements, the citizen's status and the administrators' page with replay."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.notify import outbox
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.worker import NotifySettings, deliver_all
from onceonly.web.app import create_app
from tests.conftest import post_login
from tests.notify.conftest import citizen

PASSWORD = "correct horse battery"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def app_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def token_for(
    sessions: sessionmaker[Session], username: str, role: str, agency: str
) -> dict[str, str]:
    with transaction(sessions) as session:
        user = create_user(session, username, PASSWORD, role, agency, "測試")
        token, _ = issue_api_token(session, user, "notify", 30)
    return {"Authorization": f"Bearer {token}"}


def record_death(sessions: sessionmaker[Session], n: int) -> str:
    with transaction(sessions) as session:
        event = LifeEventIn(
            kind="death", national_id=citizen(n), payload={"death_date": "2024-03-01", "name": "王"}
        )
        return record_life_event(session, event).id


def test_subscription_review_and_pull_feed_with_acks(
    client: TestClient, app_sessions: sessionmaker[Session]
) -> None:
    agency = token_for(app_sessions, "tax-system", "clerk", "taipei-city.tax_office")
    owner = token_for(app_sessions, "moi-owner", "owner", "central.moi_household")
    other_owner = token_for(app_sessions, "land-owner", "owner", "taipei-city.land_office")

    bad = client.post(
        "/api/v1/notify/subscriptions",
        headers=agency,
        json={"event_kinds": ["death"], "legal_basis": "", "mode": "push"},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"legal_basis", "webhook_url"}

    made = client.post(
        "/api/v1/notify/subscriptions",
        headers=agency,
        json={
            "event_kinds": ["death"],
            "legal_basis": "household-registration-act",
            "fields": ["death_date"],
            "mode": "pull",
        },
    )
    assert made.status_code == 201, made.text
    sub = made.json()
    assert (sub["status"], sub["agency_code"]) == ("pending", "taipei-city.tax_office")
    assert sub["secret"]
    listed = client.get("/api/v1/notify/subscriptions", headers=agency).json()
    assert [s["secret"] for s in listed] == [None], "the secret is shown once"

    record_death(app_sessions, 1)  # before approval: nobody is told
    refused = client.post(f"/api/v1/notify/subscriptions/{sub['id']}/approve", headers=other_owner)
    assert refused.status_code == 403
    assert (
        client.post(f"/api/v1/notify/subscriptions/{sub['id']}/approve", headers=agency).status_code
        == 403
    )
    approved = client.post(f"/api/v1/notify/subscriptions/{sub['id']}/approve", headers=owner)
    assert approved.json()["status"] == "approved"
    assert (
        client.post(f"/api/v1/notify/subscriptions/{sub['id']}/approve", headers=owner).status_code
        == 409
    )

    first, second = record_death(app_sessions, 2), record_death(app_sessions, 2)
    page = client.get("/api/v1/notify/feed", headers=agency).json()
    assert [e["id"] for e in page["events"]] == [first, second]
    assert [e["seq"] for e in page["events"]] == [1, 2]
    assert page["events"][0]["data"] == {"death_date": "2024-03-01"}
    one = client.get("/api/v1/notify/feed", headers=agency, params={"limit": 1}).json()
    assert one["next_cursor"] == page["events"][0]["position"]
    rest = client.get(
        "/api/v1/notify/feed", headers=agency, params={"cursor": one["next_cursor"]}
    ).json()
    assert [e["id"] for e in rest["events"]] == [second]
    done = client.get(
        "/api/v1/notify/feed", headers=agency, params={"cursor": rest["next_cursor"]}
    ).json()
    assert done == {"events": [], "next_cursor": rest["next_cursor"]}

    auditor = token_for(app_sessions, "auditor", "auditor", "central.ndc")
    status = client.get(f"/api/v1/notify/citizens/{citizen(2)}/events", headers=auditor).json()
    assert [a["status"] for e in status["events"] for a in e["agencies"]] == [
        "delivered",
        "delivered",
    ]

    acked = client.post(
        "/api/v1/notify/acks", headers=agency, json={"event_ids": [first, second, "x"]}
    )
    assert acked.json() == {"processed": [first, second], "unknown": ["x"]}
    status = client.get(f"/api/v1/notify/citizens/{citizen(2)}/events", headers=auditor).json()
    assert all(e["all_processed"] for e in status["events"])
    assert len(status["messages"]) == 2
    with app_sessions() as session:  # told to whoever reported it: the dead read nothing
        bodies = [m.body_zh for m in outbox.citizen_messages(session, citizen(2))]
    assert all(b.startswith("您通報的死亡") for b in bodies), bodies

    revoked = client.post(f"/api/v1/notify/subscriptions/{sub['id']}/revoke", headers=owner)
    assert revoked.json()["status"] == "revoked"
    record_death(app_sessions, 3)
    after = client.get(
        "/api/v1/notify/feed", headers=agency, params={"cursor": rest["next_cursor"]}
    )
    assert after.json()["events"] == []


def test_only_the_agencys_system_confirms_receipt_by_its_cursor(
    client: TestClient, app_sessions: sessionmaker[Session]
) -> None:
    """A GET with the agency's browser session (a link on another site opened by its staff,
    SameSite=lax lets it through) confirmed every delivery up to any cursor it named."""
    agency = token_for(app_sessions, "tax-system", "clerk", "taipei-city.tax_office")
    owner = token_for(app_sessions, "moi-owner", "owner", "central.moi_household")
    auditor = token_for(app_sessions, "auditor", "auditor", "central.ndc")
    made = client.post(
        "/api/v1/notify/subscriptions",
        headers=agency,
        json={"event_kinds": ["death"], "legal_basis": "household-registration-act",
              "fields": ["death_date"], "mode": "pull"},
    ).json()  # fmt: skip
    client.post(f"/api/v1/notify/subscriptions/{made['id']}/approve", headers=owner)
    record_death(app_sessions, 4)

    def statuses() -> list[str]:
        url = f"/api/v1/notify/citizens/{citizen(4)}/events"
        found = client.get(url, headers=auditor).json()
        return [a["status"] for e in found["events"] for a in e["agencies"]]

    browser = TestClient(client.app, follow_redirects=False)
    assert post_login(browser, {"username": "tax-system", "password": PASSWORD}).status_code == 303
    seen = browser.get("/api/v1/notify/feed", params={"cursor": 10**9})
    assert seen.status_code == 200
    assert statuses() == ["pending"], "a person's look confirms nothing"
    client.get("/api/v1/notify/feed", headers=agency, params={"cursor": 10**9})
    assert statuses() == ["delivered"]


def test_feed_needs_a_pull_subscription_and_a_signed_in_caller(
    client: TestClient, app_sessions: sessionmaker[Session]
) -> None:
    assert client.get("/api/v1/notify/feed").status_code == 401
    agency = token_for(app_sessions, "land-system", "clerk", "taipei-city.land_office")
    answer = client.get("/api/v1/notify/feed", headers=agency)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_admin_sees_dead_letters_and_replays_them(
    client: TestClient, app_sessions: sessionmaker[Session]
) -> None:
    agency = token_for(app_sessions, "welfare-system", "clerk", "taipei-city.social_welfare")
    owner = token_for(app_sessions, "moi-owner", "owner", "central.moi_household")
    sub = client.post(
        "/api/v1/notify/subscriptions",
        headers=agency,
        json={
            "event_kinds": ["death"],
            "legal_basis": "household-registration-act",
            "fields": ["death_date"],
            "mode": "push",
            "webhook_url": "http://127.0.0.1:9/down",
        },
    ).json()
    client.post(f"/api/v1/notify/subscriptions/{sub['id']}/approve", headers=owner)
    record_death(app_sessions, 1)
    deliver_all(app_sessions, NotifySettings(max_attempts=1, request_timeout_seconds=1), timeout=5)

    with transaction(app_sessions) as session:
        create_user(session, "root", PASSWORD, "admin", "central.ndc", "管理者")
    post_login(client, url="/login", data={"username": "root", "password": PASSWORD, "next": "/"})
    page = client.get("/admin/notify", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "taipei-city.social_welfare" in page.text and "無法連線" in page.text
    assert "ConnectError" not in page.text, "why a delivery failed is in words"
    assert citizen(1) not in page.text, "administrators see masked national IDs"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    action = re.search(r'action="(/admin/notify/dead-letters/\d+/replay)"', page.text)
    assert csrf and action
    replayed = client.post(action.group(1), data={"csrf_token": csrf.group(1)})
    assert replayed.status_code == 303
    again = client.get("/admin/notify?lang=en", headers={"accept": "text/html"})
    assert "The dead-letter queue is empty." in again.text
    client.cookies.delete("lang")  # English chosen just above sticks: back to Chinese
    assert client.post(action.group(1), data={"csrf_token": csrf.group(1)}).status_code == 404

    citizen_page = client.get(f"/notify/citizens/{citizen(1)}", headers={"accept": "text/html"})
    assert citizen_page.status_code == 200
    assert "傳送中" not in citizen_page.text, "the platform's operator sees no citizen's events"
    assert "平臺營運者不檢視個別民眾的通報紀錄" in citizen_page.text  # said, not "no reports yet"
    assert "目前沒有通報紀錄" not in citizen_page.text


def _has_offset(value: str) -> bool:
    return value.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", value) is not None


def test_subscription_times_carry_their_time_zone(
    client: TestClient, app_sessions: sessionmaker[Session]
) -> None:
    """ISO 8601 with an offset: a reader in UTC+8 must not guess whether 08:00 is local."""
    agency = token_for(app_sessions, "tax-system", "clerk", "taipei-city.tax_office")
    owner = token_for(app_sessions, "moi-owner", "owner", "central.moi_household")
    made = client.post(
        "/api/v1/notify/subscriptions",
        headers=agency,
        json={
            "event_kinds": ["death"],
            "legal_basis": "household-registration-act",
            "mode": "pull",
        },
    )
    assert made.status_code == 201, made.text
    assert _has_offset(made.json()["requested_at"]), made.json()
    decided = client.post(
        f"/api/v1/notify/subscriptions/{made.json()['id']}/approve", headers=owner, json={}
    )
    assert decided.status_code == 200, decided.text
    listed = client.get("/api/v1/notify/subscriptions", headers=owner).json()
    for sub in [decided.json(), *listed]:
        assert _has_offset(sub["requested_at"]) and _has_offset(sub["decided_at"]), sub
