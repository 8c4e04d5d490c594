"""A form's redirect says what was done with ``?done=<code>``; a link with any other code (sent
to a clerk or an owner to see what the page does) shows nothing, and the page still opens."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from onceonly.web.app import create_app
from tests.casework import open_case
from tests.conftest import DemoEnv, post_login


def _signed_in(demo_env: DemoEnv, username: str) -> TestClient:
    client = TestClient(create_app(demo_env.settings), raise_server_exceptions=False)
    signed = post_login(client, {"username": username, "password": "onceonly-demo"})
    assert signed.status_code in (200, 303), signed.text
    return client


@pytest.mark.parametrize("crafted", ["<script>alert(1)</script>", "nosuch", "approved.x"])
def test_a_crafted_done_code_shows_nothing_and_the_page_opens(
    demo_env: DemoEnv, crafted: str
) -> None:
    owner = _signed_in(demo_env, "tpe-social-owner")
    page = owner.get("/owners/rules", params={"done": crafted, "lang": "en"})
    assert page.status_code == 200, page.text[:300]
    assert 'class="notice" role="status"' not in page.text
    assert "<script>alert(1)</script>" not in page.text

    clerk = _signed_in(demo_env, "tpe-udd-clerk")
    number = open_case(
        clerk.app.state.sessions,  # type: ignore[attr-defined]
        "tpe-udd-clerk",
        "public-housing-low-income",
        demo_env.sample("low_income_applicant"),
    )
    case = clerk.get(f"/counter/cases/{number}", params={"done": crafted})
    assert case.status_code == 200, case.text[:300]
    assert 'class="notice" role="status"' not in case.text


def test_a_known_done_code_still_says_what_was_done(demo_env: DemoEnv) -> None:
    owner = _signed_in(demo_env, "tpe-social-owner")
    page = owner.get("/owners/rules", params={"done": "revoked", "lang": "en"})
    assert page.status_code == 200
    assert "The rule is revoked; the next request is refused." in page.text
