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
    assert "臺北市政府社會局" in page.text and "pending" in page.text
    english = portal.client.get("/me/reports?lang=en")
    assert "Some agencies are still working on it" in english.text


def test_reports_need_a_citizen_sign_in(portal: Portal) -> None:
    response = portal.client.get("/me/reports", headers={"accept": "application/json"})
    assert response.status_code in (401, 303)
