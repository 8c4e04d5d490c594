"""``/api/docs`` works without internet: Swagger UI's files come from this site (the
swagger-ui-py package), the page names no other host, and it runs under the site's own CSP."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from onceonly.config import Settings
from onceonly.web.app import create_app
from onceonly.web.security import CSP


def test_the_api_docs_page_loads_everything_from_this_site(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path, secret_key="x"))) as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "http" not in CSP
        html = page.text
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "an external host"
        assert "<script>" not in html, "inline script would need 'unsafe-inline'"
        assets = re.findall(r"(?:src|href)=\"(/[^\"]+)\"", html)
        assert {"/static/swagger-ui-bundle.js", "/static/swagger-ui.css"} <= set(assets)
        for asset in assets:
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 0, asset
        started = client.get("/static/api-docs.js").text
        assert "/openapi.json" in html and "SwaggerUIBundle" in started
        assert client.get("/openapi.json").json()["openapi"].startswith("3.")
