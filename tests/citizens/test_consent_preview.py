"""Consent and preview from the clerk's side and the citizen's: no consent stops the request
with the reason; consent (for one case or standing) lets it through until it is revoked or
expires; evidence a rule wants previewed is held until the citizen approves it, and the clerk
then gets exactly what the citizen saw. The demo's own rules ask for both on
求職交通補助金: consent for the item, preview of the welfare answer."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from onceonly.db import as_utc, transaction, utcnow
from onceonly.policy.models import Consent
from onceonly.policy.service import grant_consent
from tests.citizens.conftest import CONSENT_ITEM, LABOUR_CLERK, Portal

CASE = "TPE-LAB-115-000042"


def _statuses(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return {r["evidence_type"]: r["status"] for r in body["results"]}


def test_no_consent_stops_the_request_and_consent_lets_it_through(portal: Portal) -> None:
    refused = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert refused.status_code == 403
    assert "尚未在「我的資料」入口同意" in refused.json()["detail"]

    portal.sign_in()
    page = portal.client.get("/me/consents", headers={"Accept": "text/html"}).text
    number = portal.case(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert number in page and "只同意這一案" in page
    granted = portal.client.post(
        "/me/consents",
        data={"application_item": CONSENT_ITEM, "case_id": number, "csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    allowed = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert allowed.status_code == 200, allowed.text
    assert _statuses(allowed) == {
        "household_registration": "issued",
        "is_low_income_household": "awaiting_preview",
    }
    other_case = portal.ask(LABOUR_CLERK, CONSENT_ITEM, "TPE-LAB-115-000043")
    assert other_case.status_code == 403

    found = re.search(r'action="/me/consents/(\d+)/revoke', portal.client.get("/me/consents").text)
    assert found is not None
    consent_id = int(found.group(1))
    revoked = portal.client.post(
        f"/me/consents/{consent_id}/revoke",
        data={"csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    after = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert after.status_code == 403 and "撤回同意" in after.json()["detail"]


def test_a_standing_consent_that_expired_says_so(portal: Portal) -> None:
    with transaction(portal.app.state.sessions) as db:
        grant_consent(db, portal.nid, CONSENT_ITEM, None, utcnow() - timedelta(days=1))
    refused = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert refused.status_code == 403 and "到期" in refused.json()["detail"]
    portal.sign_in()
    standing = portal.client.post(
        "/me/consents",
        data={"application_item": CONSENT_ITEM, "csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert standing.status_code == 303
    another_case = portal.ask(LABOUR_CLERK, CONSENT_ITEM, "TPE-LAB-115-000099")
    assert another_case.status_code == 200
    assert _statuses(another_case)["household_registration"] == "issued"
    past = portal.client.post(
        "/me/consents",
        data={"application_item": CONSENT_ITEM, "until": "2001-01-01", "csrf_token": portal.csrf()},
    )
    assert past.status_code == 422


def test_previewed_evidence_is_released_only_after_the_citizen_approves(portal: Portal) -> None:
    with transaction(portal.app.state.sessions) as db:
        grant_consent(db, portal.nid, CONSENT_ITEM)
    first = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert first.status_code == 200, first.text
    statuses = _statuses(first)
    assert statuses["household_registration"] == "issued"
    assert statuses["is_low_income_household"] == "awaiting_preview"
    held = next(r for r in first.json()["results"] if r["status"] == "awaiting_preview")
    assert held["answer"] is None and held["transcripts"] == []
    assert "預覽" in held["reason"]["zh-TW"]

    waiting = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert _statuses(waiting)["is_low_income_household"] == "awaiting_preview"

    portal.sign_in()
    page = portal.client.get("/me/previews", headers={"Accept": "text/html"}).text
    assert "是否為低收入戶" in page or "低收入" in page
    preview_id = int(page.split('id="preview-')[1].split('"')[0])
    approved = portal.client.post(
        f"/me/previews/{preview_id}/approve",
        data={"csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert approved.status_code == 303

    released = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    result = next(r for r in released.json()["results"] if r["dataset"] == "welfare_status")
    assert result["status"] == "issued" and result["answer"] is True
    assert result["transcripts"] and f"P-{preview_id}" in result["reason"]["en"]
    again = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert _statuses(again)["is_low_income_household"] == "awaiting_preview"

    page = portal.client.get("/me/previews", headers={"Accept": "text/html"}).text
    newest = int(page.split('id="preview-')[1].split('"')[0])
    declined = portal.client.post(
        f"/me/previews/{newest}/decline", data={"csrf_token": portal.csrf()}
    )
    assert declined.status_code == 200
    refused = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    result = next(r for r in refused.json()["results"] if r["dataset"] == "welfare_status")
    assert result["status"] == "denied" and "拒絕" in result["reason"]["zh-TW"]
    twice = portal.client.post(f"/me/previews/{newest}/approve", data={"csrf_token": portal.csrf()})
    assert twice.status_code == 409


def test_a_consent_ends_at_the_end_of_its_day_in_taiwan_on_every_database(
    portal: Portal,
) -> None:
    """SQLite kept the end of the day in Taiwan's digits without the offset: the consent held
    eight hours longer than the citizen chose, and 9999-12-31 broke the consents page."""
    portal.sign_in()
    for until in ("2099-06-30", "9998-12-31"):
        granted = portal.client.post(
            "/me/consents",
            data={"application_item": CONSENT_ITEM, "until": until, "csrf_token": portal.csrf()},
            follow_redirects=False,
        )
        assert granted.status_code == 303
    with portal.app.state.sessions() as db:
        stored = sorted(
            as_utc(c.expires_at)
            for c in db.scalars(select(Consent).where(Consent.subject == portal.nid))
            if c.expires_at is not None
        )
    taiwan = ZoneInfo("Asia/Taipei")
    assert stored == [
        datetime.combine(date(2099, 6, 30), time.max, taiwan),
        datetime.combine(date(9998, 12, 31), time.max, taiwan),
    ]
    page = portal.client.get("/me/consents", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "9998-12-31 23:59" in page.text
    last = portal.client.post(
        "/me/consents",
        data={"application_item": CONSENT_ITEM, "until": "9999-12-31", "csrf_token": portal.csrf()},
    )
    assert last.status_code == 422


def test_a_day_off_the_calendar_is_a_422_on_who_looked(portal: Portal) -> None:
    """``/me?until=9999-12-31`` asked for the day after the calendar's last: a 500."""
    portal.sign_in()
    for query, field in (("until=9999-12-31", "until"), ("since=0001-01-01", "since")):
        for path in ("/me", "/me/accesses.json"):
            answer = portal.client.get(f"{path}?{query}", headers={"Accept": "application/json"})
            assert answer.status_code == 422, (path, query)
            assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_who_looked_filters_by_taiwan_days_as_utc_instants() -> None:
    """Stored times are UTC and SQLite compares their digits: a bound of 00:00+08:00 kept
    its digits and the day's first eight hours fell outside the filter."""
    from onceonly.citizens.routes import _midnight

    start = _midnight(date(2026, 3, 1))
    assert start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC) and start.utcoffset() == timedelta(0)
