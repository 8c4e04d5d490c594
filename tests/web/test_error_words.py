"""Every error a person or a system can be answered with is in words, in their language.

A newcomer's walk of the demo: a bare ``GET /logout`` or a form's address opened on its own
answered a page reading only the framework's English "Method Not Allowed"; the 404 page read
"找不到資源" over "Not Found"; and every page's ``/favicon.ico`` was a logged 404.
"""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from onceonly.errors import Problem
from onceonly.i18n import LANGUAGES, catalogue, t
from tests.counter.support import Visitor
from tests.web.conftest import DemoClient

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
STARLETTE_PHRASES = ("Method Not Allowed", "Not Found", "Bad Request", "Unsupported Media Type")

PAGE_STATUSES = (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503)
"""Every status a page of the app answers with (raised as a Problem by the capabilities, or
by the framework: 400 unreadable body, 404 no route, 405 wrong method)."""


def page_title(status: int, lang: str) -> str:
    """A page's title for ``status``: its own when the API's would not suit a person."""
    key = f"web.http.{status}.page_title"
    return t(key if key in catalogue() else f"web.http.{status}.title", lang)


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert found, page[:500]
    return found.group(1).strip()


@pytest.fixture
def anyone(demo_client: DemoClient) -> TestClient:
    return demo_client.client


def test_a_form_address_opened_on_its_own_says_what_to_do(anyone: TestClient) -> None:
    for lang in LANGUAGES:
        page = anyone.get(f"/counter/cases/TPE-X1/decide?lang={lang}", headers=HTML)
        assert page.status_code == 405 and page.headers["allow"] == "POST"
        assert not any(phrase in page.text for phrase in STARLETTE_PHRASES)
        assert heading(page.text) == page_title(405, lang)
        assert t("web.error.next.405", lang) in page.text
        # ... and leads to the page the form is on
        assert 'href="/counter/cases/TPE-X1"' in page.text


def test_the_api_gets_a_problem_document_in_words(anyone: TestClient) -> None:
    for lang in LANGUAGES:
        wrong = anyone.get(f"/api/v1/citizen/sign-in/begin?lang={lang}", headers=JSON)
        assert wrong.status_code == 405
        assert wrong.headers["content-type"].startswith("application/problem+json")
        problem = wrong.json()
        assert problem["type"].endswith("/method-not-allowed") and problem["status"] == 405
        assert problem["title"] == t("web.http.405.title", lang)
        assert "GET" in problem["detail"] and "POST" in problem["detail"]
        missing = anyone.get(f"/api/v1/no-such-thing?lang={lang}", headers=JSON).json()
        assert missing["type"].endswith("/not-found")
        assert missing["title"] == t("problem.not_found", lang)
        assert missing["detail"] == t("web.http.404.api", lang)
        for answer in (wrong.text, str(missing)):
            assert not any(phrase in answer for phrase in STARLETTE_PHRASES)


def test_a_missing_page_says_what_to_do(anyone: TestClient) -> None:
    for lang in LANGUAGES:
        page = anyone.get(f"/no/such/page?lang={lang}", headers=HTML)
        assert page.status_code == 404
        assert "Not Found" not in page.text
        assert heading(page.text) == page_title(404, lang)
        assert t("web.http.404.page", lang) in page.text
        assert t("web.error.next.404", lang) in page.text


def test_an_unreadable_form_is_answered_in_words(anyone: TestClient) -> None:
    sent = anyone.post(
        "/verify",
        content=b"garbage",
        headers={**HTML, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert sent.status_code == 400, sent.text[:300]
    assert heading(sent.text) == page_title(400, "zh-TW")
    assert "Invalid multipart" not in sent.text and "Bad Request" not in sent.text


@pytest.mark.parametrize("status", PAGE_STATUSES)
def test_every_status_a_page_answers_has_a_title_and_what_to_do(
    demo_client: DemoClient, status: int
) -> None:
    app: FastAPI = demo_client.app

    def framework() -> None:
        raise HTTPException(status)

    def capability() -> None:
        raise Problem(status, "example", "example title", "example detail")

    app.add_api_route(f"/test-http/{status}", framework, include_in_schema=False)
    app.add_api_route(f"/test-problem/{status}", capability, include_in_schema=False)
    for lang in LANGUAGES:
        next_step = t(f"web.error.next.{status}", lang)
        page = demo_client.client.get(f"/test-http/{status}?lang={lang}", headers=HTML)
        assert page.status_code == status
        assert heading(page.text) == page_title(status, lang)
        text = html.unescape(page.text)
        assert next_step in text and t(f"web.http.{status}.page", lang) in text
        api = demo_client.client.get(f"/test-http/{status}?lang={lang}", headers=JSON).json()
        assert api["title"] == t(f"web.http.{status}.title", lang)
        assert api["detail"] == t(f"web.http.{status}.api", lang, method="GET", allowed="")
        page = demo_client.client.get(f"/test-problem/{status}?lang={lang}", headers=HTML)
        assert heading(page.text) == "example title" and next_step in html.unescape(page.text)


def test_a_status_without_words_of_its_own_still_gets_some(demo_client: DemoClient) -> None:
    def teapot() -> None:
        raise HTTPException(418)

    demo_client.app.add_api_route("/test-teapot", teapot, include_in_schema=False)
    page = demo_client.client.get("/test-teapot?lang=en", headers=HTML)
    assert page.status_code == 418 and "I'm a teapot" not in page.text
    assert heading(page.text) == t("web.http.other.title", "en", status=418)
    assert t("web.error.next.other", "en") in page.text


def test_opening_logout_offers_the_sign_out_button(demo_client: DemoClient) -> None:
    with TestClient(demo_client.app, follow_redirects=False) as stranger:
        away = stranger.get("/logout", headers=HTML)
        assert away.status_code == 303 and away.headers["location"] == "/login"
    with TestClient(demo_client.app) as browser:
        person = Visitor(browser).sign_in("tpe-udd-clerk")
        page = person.get("/logout")
        assert page.status_code == 200
        assert heading(page.text) == t("web.logout.title", "zh-TW")
        forms = re.findall(
            r'<form method="post" action="/logout"[^>]*>(.*?)</form>', page.text, re.S
        )
        assert len(forms) >= 2 and all(f'value="{person.csrf}"' in f for f in forms)
        assert person.get("/account").status_code == 200  # opening it signed no one out
        out = person.post("/logout", follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert person.get("/account", follow_redirects=False).status_code == 303


def test_the_site_has_an_icon(anyone: TestClient) -> None:
    icon = anyone.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert icon.content[:4] == b"\x00\x00\x01\x00" and len(icon.content) < 2048
    assert "max-age" in icon.headers["cache-control"]
