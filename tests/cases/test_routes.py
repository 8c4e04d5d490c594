"""The cases JSON API with real sign-in tokens: a whole case, relay included, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts import users as accounts
from onceonly.accounts.api_tokens import issue_api_token
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.web.app import create_app
from tests import scans
from tests.cases.conftest import ITEM, SUBJECT, SWD, UDD, all_issued

SCAN = scans.pdf()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def headers(settings: Settings) -> dict[str, dict[str, str]]:
    """Bearer headers of a clerk at each agency and an administrator."""
    engine = make_engine(settings.resolved_database_url)
    result = {}
    with make_session_factory(engine)() as db:
        for name, role, agency in (
            ("udd-clerk", "clerk", UDD.agency),
            ("swd-clerk", "clerk", SWD.agency),
            ("sys-admin", "admin", UDD.agency),
        ):
            user = accounts.create_user(db, name, "correct horse battery", role, agency, name)
            token, _ = issue_api_token(db, user, "tests", 1)
            result[name] = {"Authorization": f"Bearer {token}"}
        db.commit()
    engine.dispose()
    return result


def test_a_case_from_counter_to_closing_over_http(
    client: TestClient, headers: dict[str, dict[str, str]], settings: Settings
) -> None:
    udd, swd = headers["udd-clerk"], headers["swd-clerk"]
    opened = client.post(
        "/api/v1/cases",
        json={"application_item": ITEM, "subject": SUBJECT, "contact_mobile": "0912345678"},
        headers=udd,
    )
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    assert number.startswith("TPE-UDD-")

    from onceonly.cases import service
    from onceonly.db import transaction

    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        service.record_evidence(db, UDD, number, all_issued(number))
    engine.dispose()

    paper = client.post(
        f"/api/v1/cases/{number}/paper",
        data={"evidence_type": "household_income_below"},
        files={"file": ("收入清單.pdf", SCAN, "application/pdf")},
        headers=udd,
    )
    assert paper.status_code == 200, paper.text
    download = client.get(f"/api/v1/cases/{number}/paper/household_income_below", headers=udd)
    assert download.content == SCAN
    assert download.headers["content-type"] == "application/pdf"

    refused = client.post(f"/api/v1/cases/{number}/close", headers=udd)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["action"] == "close" and refused.json()["state"] == "gathering"

    relay = client.post(
        f"/api/v1/cases/{number}/relay",
        json={"to_agency": SWD.agency, "note": "請社會局核定"},
        headers=udd,
    )
    assert relay.status_code == 200 and relay.json()["agency"] == SWD.agency
    assert client.post(f"/api/v1/cases/{number}/close", headers=udd).status_code == 403
    queue = client.get("/api/v1/cases/queue", headers=swd).json()
    assert [row["number"] for row in queue] == [number]
    fetch = client.post(f"/api/v1/cases/{number}/evidence", json={}, headers=swd)
    assert fetch.status_code == 200, fetch.text
    assert fetch.json()["fetch"] is None, "the receiver sees the relayed evidence unfetched"

    missing = client.post(
        f"/api/v1/cases/{number}/decide", json={"decision": "maybe", "reason": "x"}, headers=swd
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "decision"
    record = client.post(
        f"/api/v1/cases/{number}/paper",
        data={"evidence_type": "household_income_below"},
        files={"file": ("x.pdf", scans.pdf(note=b"again"), "application/pdf")},
        headers=swd,
    )
    assert record.json()["state"] == "gathering"
    decided = client.post(
        f"/api/v1/cases/{number}/decide",
        json={"decision": "approved", "reason": "資格符合"},
        headers=swd,
    )
    assert decided.status_code == 200 and decided.json()["decision"] == "approved"
    closed = client.post(f"/api/v1/cases/{number}/close", headers=swd)
    assert closed.json()["state"] == "closed"

    summary = client.get(f"/api/v1/cases/{number}/summary", headers=udd).json()
    assert summary["measures"]["evidence_online"] == 4
    assert summary["measures"]["agencies_involved"] >= 2
    kinds = [e["kind"] for e in client.get(f"/api/v1/cases/{number}/timeline", headers=swd).json()]
    assert kinds.count("relayed") == 1 and kinds[-2:] == ["closed", "notification_sent"]

    found = client.get("/api/v1/cases", params={"subject": SUBJECT, "state": "closed"}, headers=udd)
    assert [row["number"] for row in found.json()["items"]] == [number]
    assert found.json()["items"][0]["subject_masked"] == "A12345****"

    outbox = client.get("/api/v1/admin/sms-outbox", headers=headers["sys-admin"])
    assert outbox.status_code == 200
    assert len(outbox.json()) == sum(k == "notification_sent" for k in kinds)
    assert client.get("/api/v1/admin/sms-outbox", headers=udd).status_code == 403
    notes = client.get(
        "/api/v1/admin/notifications", params={"status": "sent"}, headers=headers["sys-admin"]
    )
    assert {n["event"] for n in notes.json()} == {
        "opened",
        "gathering",
        "relayed",
        "decided",
        "closed",
    }


def test_the_api_refuses_strangers_and_bad_input(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    assert client.get("/api/v1/cases").status_code == 401
    bad = client.post(
        "/api/v1/cases",
        json={"application_item": ITEM, "subject": "A12345678", "contact_email": "x"},
        headers=headers["udd-clerk"],
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"subject", "contact_email"}
    assert (
        client.get("/api/v1/cases/TPE-UDD-115-000404", headers=headers["udd-clerk"]).status_code
        == 404
    )
    assert client.get("/api/v1/cases", headers=headers["sys-admin"]).status_code == 403
