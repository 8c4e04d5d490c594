"""A signed-in browser-less visitor of the pages: TestClient with the session cookie and the
form's anti-forgery token, as a person's browser would have them."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import post_login

PASSWORD = "onceonly-demo"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def sign_in(self, username: str) -> Visitor:
        response = post_login(
            self.client,
            url="/login",
            data={"username": username, "password": PASSWORD, "next": "/account"},
            follow_redirects=True,
        )
        assert response.status_code == 200, response.text
        found = _CSRF.search(response.text)
        assert found, "no anti-forgery token on the account page"
        self.csrf = found.group(1)
        return self

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={"Accept": "text/html"}, **kw)

    def post(self, url: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
        body = {"csrf_token": self.csrf, **(data or {})}
        kw.setdefault("follow_redirects", True)
        return self.client.post(url, data=body, headers={"Accept": "text/html"}, **kw)

    def open_case(self, item: str, subject: str, **extra: str) -> Any:
        response = self.post(
            "/counter/cases", {"application_item": item, "subject": subject, **extra}
        )
        return response

    @staticmethod
    def case_number(response: Any) -> str:
        found = re.search(r"/counter/cases/([A-Z0-9-]+)", str(response.url))
        assert found, response.url
        return found.group(1)
