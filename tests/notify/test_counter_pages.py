"""The household clerk's tell-us-once pages: choose, check and see who will be told, send
once (the confirmation carries an Idempotency-Key), find it again by reference."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from onceonly.web.app import create_app
from tests.conftest import DemoEnv, post_login


@pytest.fixture
def clerk(demo_env: DemoEnv) -> Iterator[TestClient]:
    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False) as client:
        assert (
            post_login(
                client, {"username": "tpe-hh-clerk", "password": "onceonly-demo"}
            ).status_code
            == 303
        )
        yield client
    exchange = getattr(app.state, "exchange", None)
    if exchange is not None:
        exchange.close()


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_a_death_at_the_counter_shows_who_will_be_told_and_a_reference(
    clerk: TestClient, demo_env: DemoEnv
) -> None:
    person = demo_env.sample("low_income_applicant")
    form = clerk.get("/counter/tell-us-once?kind=death&lang=en")
    assert form.status_code == 200 and "Date of death" in form.text
    token = _csrf(form.text)
    body = {"csrf_token": token, "kind": "death", "national_id": person, "death_date": "2026-01-02"}
    preview = clerk.post("/counter/tell-us-once/preview?lang=en", data=body)
    assert preview.status_code == 200, preview.text
    for name in ("Taipei City", "National Health Insurance Administration", "Bureau of Labor"):
        assert name in preview.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', preview.text)
    assert key
    sent = clerk.post(
        "/counter/tell-us-once?lang=en", data=body | {"idempotency_key": key.group(1)}
    )
    assert sent.status_code == 303
    again = clerk.post(
        "/counter/tell-us-once?lang=en", data=body | {"idempotency_key": key.group(1)}
    )
    assert again.headers["location"] == sent.headers["location"]  # a double click: one event
    page = clerk.get(sent.headers["location"] + "&lang=en")
    assert page.status_code == 200
    reference = re.search(r"TUO-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", page.text)
    assert reference and "central.nhia" not in page.text
    assert "National Health Insurance Administration" in page.text
    found = clerk.get(f"/counter/tell-us-once?reference={reference.group(0).lower()}&lang=en")
    assert found.status_code == 200 and reference.group(0) in found.text

    twice = clerk.post(
        "/counter/tell-us-once/preview?lang=en", data=body | {"death_date": "2026-01-03"}
    )
    assert twice.status_code == 422
    assert "already recorded" in twice.text


def test_bad_fields_are_named_on_the_form(clerk: TestClient) -> None:
    form = clerk.get("/counter/tell-us-once?kind=move_out&lang=en")
    body = {
        "csrf_token": _csrf(form.text),
        "kind": "move_out",
        "national_id": "A123456788",
        "moved_out_on": "2024-13-01",
    }
    page = clerk.post("/counter/tell-us-once/preview?lang=en", data=body)
    assert page.status_code == 422
    assert 'id="f-national_id-error"' in page.text
    assert 'id="f-moved_out_on-error"' in page.text
    assert 'id="f-old_address-error"' in page.text
    missing = clerk.get("/counter/tell-us-once?reference=TUO-0000-0000-0000&lang=en")
    assert missing.status_code == 404 and "No report with reference" in missing.text


def test_the_household_clerk_finds_the_page_from_the_counter(clerk: TestClient) -> None:
    assert 'href="/counter/tell-us-once"' in clerk.get("/counter").text


def test_the_office_that_recorded_a_report_finds_it_and_no_other_city_does(
    demo_env: DemoEnv,
) -> None:
    """A 新北市 office registering the death of a person registered in 臺北市 gets a reference
    it could not look up (the event and its agencies are 臺北市's); 宜蘭縣's office still
    cannot."""
    person = demo_env.sample("low_income_applicant")  # registered in 臺北市
    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False) as client:
        login = post_login(client, {"username": "nwt-hh-clerk", "password": "onceonly-demo"})
        assert login.status_code == 303
        token = _csrf(client.get("/counter/tell-us-once?kind=death").text)
        body = {"csrf_token": token, "kind": "death", "national_id": person}
        body |= {"death_date": "2026-01-02", "idempotency_key": "nwt-1"}
        sent = client.post("/counter/tell-us-once", data=body)
        assert sent.status_code == 303, sent.text
        page = client.get(sent.headers["location"])
        assert page.status_code == 200
        reference = re.search(r"TUO-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", page.text)
        assert reference
        client.cookies.clear()
        login = post_login(client, {"username": "ila-hh-clerk", "password": "onceonly-demo"})
        assert login.status_code == 303
        other = client.get(f"/counter/tell-us-once?reference={reference.group(0)}")
        assert other.status_code == 404
    exchange = getattr(app.state, "exchange", None)
    if exchange is not None:
        exchange.close()
