"""``POST /api/v1/cases/{number}/evidence`` against the real exchange, demo registries and
approved rules: the sample low-income citizen's case needs no paper at all."""

from __future__ import annotations

import email
from collections.abc import Callable
from email.policy import default as default_policy

import pytest
from fastapi.testclient import TestClient

from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.demo.registries import generate_registries
from onceonly.demo.rules import seed_demo_rules
from onceonly.providers.registry import load_providers
from onceonly.web.app import create_app
from tests.cases.conftest import ITEM, ITEM_NAME, SWD, MailBox
from tests.cases.test_routes import headers  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(
    not hasattr(catalog, "dataset_of_evidence_type"),
    reason="the exchange's catalog lookups (dataset_of_evidence_type) are not written yet",
)


@pytest.fixture
def demo_settings(settings: Settings) -> tuple[Settings, str]:
    manifest = generate_registries(
        settings.registries_dir, people=300, jurisdictions=["taipei-city"]
    )
    providers = load_providers(settings.registries_dir)
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            assert seed_demo_rules(db, ["taipei-city"], providers) > 0
    finally:
        providers.close()
        engine.dispose()
    return settings, manifest.sample("low_income_applicant").national_id


def test_the_counter_fetches_everything_online_and_the_receiver_does_not_fetch_again(
    demo_settings: tuple[Settings, str],
    headers: dict[str, dict[str, str]],  # noqa: F811
    smtp_server: Callable[[int], MailBox],
) -> None:
    settings, subject = demo_settings
    port = free_port()
    box = smtp_server(port)
    app_settings = settings.model_copy(update={"smtp_port": port})
    udd, swd = headers["udd-clerk"], headers["swd-clerk"]
    with TestClient(create_app(app_settings)) as client:
        number = client.post(
            "/api/v1/cases",
            json={"application_item": ITEM, "subject": subject, "contact_email": "lin@example.tw"},
            headers=udd,
        ).json()["number"]
        fetched = client.post(f"/api/v1/cases/{number}/evidence", json={}, headers=udd)
        assert fetched.status_code == 200, fetched.text
        body = fetched.json()
        assert [r["status"] for r in body["fetch"]["results"]] == ["issued"] * 4
        evidence = body["case"]["evidence"]
        assert all(e["satisfied_by"] == "online" for e in evidence)
        assert all(e["transcripts"][0]["jws"].count(".") == 2 for e in evidence)
        assert body["case"]["state"] == "gathering"

        relayed = client.post(
            f"/api/v1/cases/{number}/relay",
            json={"to_agency": SWD.agency, "note": "請核定租金補貼"},
            headers=udd,
        )
        assert relayed.status_code == 200
        again = client.post(f"/api/v1/cases/{number}/evidence", json={}, headers=swd).json()
        assert again["fetch"] is None
        decided = client.post(
            f"/api/v1/cases/{number}/decide",
            json={"decision": "approved", "reason": "資格符合"},
            headers=swd,
        )
        assert decided.status_code == 200, decided.text
        summary = client.get(f"/api/v1/cases/{number}/summary", headers=swd).json()
    assert summary["measures"]["evidence_online"] == 4
    assert summary["measures"]["paper_required"] == 0
    subjects = [
        email.message_from_bytes(raw, policy=default_policy)["Subject"] for _, raw in box.messages
    ]
    assert subjects[0] == f"【案件收件通知】案號 {number}"
    assert subjects[-1].startswith(f"【案件審核結果】案號 {number}")
    first = email.message_from_bytes(box.messages[0][1], policy=default_policy)
    assert ITEM_NAME in first.get_content()
