"""Tell-us-once in the portal: the citizen (or, for a death, the family signing in with the
person's card in this demo) sees the report and which agencies have processed it."""

from __future__ import annotations

from onceonly.db import transaction
from onceonly.notify.demo import seed_demo_notify
from onceonly.notify.events import LifeEventIn, record_life_event
from tests.citizens.conftest import Portal


def test_the_citizen_sees_each_agencys_status_of_a_report(portal: Portal) -> None:
    sessions = portal.app.state.sessions
    with transaction(sessions) as session:
        seed_demo_notify(session, "taipei-city")
        record_life_event(
            session,
            LifeEventIn(
                kind="death",
                national_id=portal.nid,
                jurisdiction="taipei-city",
                payload={"death_date": "2026-06-01"},
            ),
        )
    assert portal.sign_in().status_code == 200
    page = portal.client.get("/me/reports")
    assert page.status_code == 200
    assert "我的通報與各機關辦理情形" in page.text
    assert "仍有機關處理中" in page.text
    assert "臺北市政府社會局" in page.text and "傳送中" in page.text
    assert "死亡登記" in page.text and "TUO-" in page.text
    assert "taipei-city.social_welfare" not in page.text
    english = portal.client.get("/me/reports?lang=en")
    assert "Some agencies are still working on it" in english.text


def test_reports_need_a_citizen_sign_in(portal: Portal) -> None:
    response = portal.client.get("/me/reports", headers={"accept": "application/json"})
    assert response.status_code in (401, 303)


def test_the_citizen_reports_a_new_mailing_address_once(portal: Portal) -> None:
    import re

    with transaction(portal.app.state.sessions) as session:
        seed_demo_notify(session, "taipei-city")
    assert portal.sign_in().status_code == 200
    form = portal.client.get("/me/reports?kind=mailing_address&lang=en")
    assert form.status_code == 200 and "Mailing address" in form.text
    csrf = portal.csrf()
    body = {"csrf_token": csrf, "kind": "mailing_address", "mailing_address": ""}
    refused = portal.client.post("/me/reports/preview?lang=en", data=body)
    assert refused.status_code == 422 and 'id="f-mailing_address-error"' in refused.text

    body["mailing_address"] = "臺北市大安區復興南路一段390號5樓"
    preview = portal.client.post("/me/reports/preview?lang=en", data=body)
    assert preview.status_code == 200, preview.text
    for name in ("Taipei City", "Motor Vehicles", "National Health Insurance", "Labor Insurance"):
        assert name in preview.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', preview.text)
    assert key
    sent = portal.client.post(
        "/me/reports?lang=en", data=body | {"idempotency_key": key.group(1)}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    page = portal.client.get(sent.headers["location"])
    assert "change of mailing address" in page.text.lower() or "mailing" in page.text.lower()
    assert re.search(r"TUO-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", page.text)
    assert "Motor Vehicles Offices" in page.text and "central.motor_vehicles" not in page.text
