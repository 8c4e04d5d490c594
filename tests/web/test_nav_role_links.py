"""The header's links are the signed-in person's work: a node administrator finds the audit
log and what citizens were sent (``/admin/mail``, ``/admin/sms``) there, an auditor the audit
log, in words of the page's language; and no role is shown a link its role check refuses."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.web.app import create_app
from tests.conftest import DemoEnv, citizen_headers, post_login

STAFF = {
    "clerk": "tpe-udd-clerk",
    "household-clerk": "tpe-hh-clerk",
    "owner": "tpe-social-owner",
    "auditor": "tpe-auditor",
    "tenant-admin": "tpe-city-admin",
    "platform-admin": "admin",
}
"""Who plays each role: demo accounts, password ``onceonly-demo``."""

ADMIN_LINKS = {
    "en": {
        "/audit": "Audit log",
        "/admin/mail": "Caught e-mail",
        "/admin/sms": "Text message outbox",
    },
    "zh-TW": {"/audit": "稽核紀錄", "/admin/mail": "攔截的電子郵件", "/admin/sms": "簡訊寄件匣"},
}
"""The links in question and their words."""


@pytest.fixture
def app_client(demo_env: DemoEnv) -> Iterator[tuple[TestClient, DemoEnv]]:
    app = create_app(demo_env.settings)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client, demo_env
    exchange = getattr(app.state, "exchange", None)
    if exchange is not None:
        exchange.close()


def _sign_in(client: TestClient, env: DemoEnv, role: str) -> dict[str, str]:
    """Sign ``role`` in as a browser does; the headers its requests then carry."""
    client.cookies.clear()
    if role == "citizen":
        factory = make_session_factory(make_engine(env.settings.resolved_database_url))
        with transaction(factory) as db:
            return citizen_headers(db, "A123456789", "王小明")
    login = post_login(client, {"username": STAFF[role], "password": "onceonly-demo"})
    assert login.status_code == 303, (role, login.text[:300])
    return {}


def _nav(page: str) -> dict[str, str]:
    """The header navigation's links: address -> words."""
    nav = page.split('<header class="site">', 1)[1].split("</nav>", 1)[0]
    return {
        href: html.unescape(re.sub(r"<[^>]+>", "", words)).strip()
        for href, words in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', nav, re.S)
    }


@pytest.mark.parametrize("role", [*STAFF, "citizen"])
def test_every_header_link_leads_somewhere_the_role_may_go(
    app_client: tuple[TestClient, DemoEnv], role: str
) -> None:
    client, env = app_client
    headers = _sign_in(client, env, role)
    for lang, words in ADMIN_LINKS.items():
        page = client.get(f"/account?lang={lang}", headers=headers)
        assert page.status_code == 200, (role, page.text[:300])
        links = _nav(page.text)
        if role.endswith("admin"):
            for href, text in words.items():
                assert links.get(href) == text, (role, lang, href, links)
        elif role == "auditor":
            assert links.get("/audit") == words["/audit"], (role, lang, links)
            assert "/admin/mail" not in links and "/admin/sms" not in links, (role, links)
        else:
            assert not set(words) & set(links), (role, lang, links)
        for href in links:
            if not href.startswith("/") or href == "/":
                continue
            answer = client.get(href, headers={**headers, "Accept": "text/html"})
            assert answer.status_code not in (401, 403), (role, href, answer.status_code)
            assert answer.status_code < 500, (role, href, answer.status_code)
