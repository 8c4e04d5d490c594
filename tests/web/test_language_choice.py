"""A reader's language choice sticks and the header's switch keeps their place.

A newcomer's walk of the demo: ``/?lang=en`` then the catalog was Chinese again (only the
counter pages and sign-in remembered the choice); the switch, a bare ``?lang=en``, dropped
the page's filters and, on a form's answer, led to its POST-only address (405).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from tests.conftest import DemoEnv
from tests.counter.support import Visitor
from tests.web.conftest import DemoClient

HTML = {"Accept": "text/html"}
Visit = Callable[[str], Visitor]
_SWITCH = re.compile(r'<a href="([^"]*)" hreflang="(en|zh-TW)"')


def switch_of(page: str) -> tuple[str, str]:
    """The header's language switch: (its address, the language it switches to)."""
    found = _SWITCH.search(page)
    assert found, "no language switch in the header"
    return html.unescape(found.group(1)), found.group(2)


def lang_cookies(response: Any) -> list[SimpleCookie]:
    headers = response.headers.get_list("set-cookie")
    cookies = [SimpleCookie(h) for h in headers]
    return [c for c in cookies if "lang" in c]


@pytest.fixture
def anyone(demo_client: DemoClient) -> TestClient:
    return demo_client.client


@pytest.fixture
def visit(demo_client: DemoClient) -> Iterator[Callable[[str], Visitor]]:
    """``visit("tpe-auditor")``: someone signed in with that demo account, in a browser of
    their own."""
    clients: list[TestClient] = []

    def make(username: str) -> Visitor:
        clients.append(TestClient(demo_client.app))
        return Visitor(clients[-1]).sign_in(username)

    yield make
    for client in clients:
        client.close()


def test_english_chosen_on_any_page_stays_on_the_next(anyone: TestClient) -> None:
    front = anyone.get("/", params={"lang": "en"}, headers=HTML)
    assert front.status_code == 200 and 'lang="en"' in front.text
    catalog = anyone.get("/catalog", headers=HTML)
    assert catalog.status_code == 200 and '<html lang="en">' in catalog.text

    anyone.cookies.clear()
    verify = anyone.get("/verify", params={"lang": "en"}, headers=HTML)
    assert verify.status_code == 200 and '<html lang="en">' in verify.text
    privacy = anyone.get("/privacy", headers=HTML)
    assert '<html lang="en">' in privacy.text and "Privacy notice" in privacy.text

    back = anyone.get("/privacy", params={"lang": "zh-TW"}, headers=HTML)
    assert '<html lang="zh-TW">' in back.text
    assert '<html lang="zh-TW">' in anyone.get("/catalog", headers=HTML).text


def test_the_cookie_is_safe_and_set_once(anyone: TestClient) -> None:
    first = anyone.get("/catalog?lang=en", headers=HTML)
    (cookie,) = lang_cookies(first)
    morsel = cookie["lang"]
    assert morsel.value == "en" and morsel["path"] == "/"
    assert morsel["samesite"].lower() == "lax" and morsel["httponly"]
    assert lang_cookies(anyone.get("/catalog?lang=en", headers=HTML)) == []  # already so
    # only a language the site has; nothing else is written into the cookie
    anyone.cookies.clear()
    for odd in ("fr", "en;path=/x", "<b>", ""):
        assert lang_cookies(anyone.get("/catalog", params={"lang": odd}, headers=HTML)) == []
    # an API answer never sets it (its callers say their language per request)
    api = anyone.get("/api/v1/catalog/datasets?lang=en", headers={"Accept": "application/json"})
    assert api.status_code == 200 and lang_cookies(api) == []


def test_the_switch_keeps_the_filters(visit: Visit, demo_env: DemoEnv) -> None:
    auditor = visit("tpe-auditor")
    subject = demo_env.sample("low_income_applicant")
    page = auditor.get(f"/audit?subject={subject}&per_page=20")
    assert page.status_code == 200
    href, target = switch_of(page.text)
    assert target == "en" and href.startswith("/audit?")
    assert f"subject={subject}" in href and "per_page=20" in href and href.endswith("lang=en")
    english = auditor.get(href)
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert f'value="{subject}"' in english.text  # still filtered
    again, target = switch_of(english.text)
    assert target == "zh-TW" and again.count("lang=") == 1 and f"subject={subject}" in again


def test_the_switch_on_a_forms_answer_leads_to_a_page(visit: Visit, demo_env: DemoEnv) -> None:
    clerk = visit("tpe-udd-clerk")
    opened = clerk.open_case("public-housing-low-income", demo_env.sample("low_income_applicant"))
    number = clerk.case_number(opened)
    refused = clerk.post(f"/counter/cases/{number}/decide", {"decision": "", "reason": ""})
    assert refused.status_code == 422, refused.text[:300]
    href, _ = switch_of(refused.text)
    assert href == f"/counter/cases/{number}?lang=en"
    followed = clerk.get(href)
    assert followed.status_code == 200 and '<html lang="en">' in followed.text
    # a form answered at an address that is a page too keeps that address
    with TestClient(clerk.client.app) as someone:
        failed = someone.post("/login?next=/audit", data={"username": "x"}, headers=HTML)
    assert failed.status_code in (403, 422)
    assert switch_of(failed.text)[0] == "/login?next=%2Faudit&lang=en"


def _request(app: FastAPI, method: str, path: str, query: str = "") -> Request:
    return Request(
        {"type": "http", "method": method, "path": path, "query_string": query.encode(),
         "headers": [], "app": app, "root_path": ""}
    )  # fmt: skip


def test_the_switch_stays_on_this_site(demo_client: DemoClient) -> None:
    from onceonly.web.language_choice import lang_href

    app = demo_client.app
    assert lang_href(_request(app, "GET", "//evil.example/x"), "en") == "/evil.example/x?lang=en"
    assert lang_href(_request(app, "GET", "/\\evil.example"), "en") == "/%5Cevil.example?lang=en"
    hostile = lang_href(_request(app, "GET", "/catalog", 'q="><script>&lang=zh-TW'), "en")
    assert hostile == "/catalog?q=%22%3E%3Cscript%3E&lang=en"
    # a form posted somewhere no page is: the nearest page above it, else the front page
    assert (
        lang_href(_request(app, "POST", "/account/api-tokens", "x=1"), "en") == "/account?lang=en"
    )
    assert lang_href(_request(app, "POST", "/nowhere/at/all"), "en") == "/?lang=en"
