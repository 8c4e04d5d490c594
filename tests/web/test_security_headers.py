"""Every answer carries the browser-side defences, and large bodies are refused unread.

Headers: a Content-Security-Policy that forbids inline script and framing, ``nosniff``, a
Referrer-Policy, and ``Cache-Control: no-store`` on everything dynamic (pages and API answers
may carry personal data); static files may be cached. Checked on every route of the app, as
an anonymous caller and, for answers with personal data, as the signed-in clerk.

Body limit: a declared ``Content-Length`` over the limit is refused before the app runs, a
body streamed without one is stopped as soon as it passes the limit, each with 413 and a
problem document; the scan upload has its own, larger limit.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from onceonly.config import Settings
from onceonly.web.app import create_app
from onceonly.web.security import too_large_problem
from tests.web.conftest import ROLES, DemoClient
from tests.web.test_route_auth import endpoints

LIMIT = 1024 * 1024


def assert_hardened(response: Response, where: str, cacheable: bool = False) -> None:
    csp = response.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (where, csp)
    assert "'unsafe-inline'" not in directives.get("script-src", "'unsafe-inline'"), where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") in ("no-referrer", "same-origin"), where
    if not cacheable:
        assert "no-store" in response.headers.get("cache-control", ""), (where, response.headers)


def test_every_route_answers_with_the_security_headers(tmp_path: Any) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="x"))
    checked = 0
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        for endpoint in endpoints(app.routes):
            if endpoint.method == "WEBSOCKET":
                continue
            for accept in ("application/json", "text/html"):
                body = None if endpoint.method == "GET" else {}
                answer = client.request(
                    endpoint.method, endpoint.url, json=body, headers={"Accept": accept}
                )
                where = f"{endpoint.method} {endpoint.path.split('{path')[0].rstrip('/')}"
                static = endpoint.path.startswith("/static/")
                public = endpoint.path in ("/.well-known/jwks.json", "/favicon.ico")
                assert_hardened(answer, where, cacheable=static or public)
                checked += 1
    assert checked > 150


def test_https_answers_tell_the_browser_to_stay_on_https(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="x")
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert "max-age=" in client.get("/healthz").headers["strict-transport-security"]
    with TestClient(create_app(settings)) as client:
        assert "strict-transport-security" not in client.get("/healthz").headers


def test_answers_with_personal_data_are_not_stored(demo_client: DemoClient) -> None:
    clerk = demo_client.headers(ROLES["clerk"])
    for path in ("/api/v1/cases", "/api/v1/cases/queue", "/api/v1/auth/whoami"):
        answer = demo_client.client.get(path, headers=clerk)
        assert answer.status_code == 200, answer.text
        assert_hardened(answer, f"GET {path}")
    page = demo_client.client.get("/counter", headers={**clerk, "Accept": "text/html"})
    assert_hardened(page, "GET /counter")


def test_the_citizen_sign_in_page_has_no_inline_script(demo_client: DemoClient) -> None:
    """The card sign-in signs with WebCrypto from a static file the policy allows."""
    page = demo_client.client.get("/citizen/login", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert '<script src="/static/citizen-signin.js"' in page.text
    scripts = page.text.split("<script")[1:]
    assert all(s.startswith((' src="/static/', ' type="application/json"')) for s in scripts)
    assert demo_client.client.get("/static/citizen-signin.js").status_code == 200


def _asgi_post(app: Any, path: str, chunks: int, chunk: bytes, length: int | None) -> Any:
    """POST ``chunks`` pieces of ``chunk`` straight through ASGI; returns (status, headers,
    body, pieces the app pulled)."""
    headers = [(b"content-type", b"application/json"), (b"accept", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= chunks:
            await asyncio.sleep(3600)  # a client that stops sending
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # In a thread of its own: a browser test earlier in this worker may leave its event loop
    # running in the main thread (Playwright's sync API), where asyncio.run() is refused.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(app(scope, receive, send), 30)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body, pulled


@pytest.fixture
def app(tmp_path: Any) -> Any:
    made = create_app(Settings(data_dir=tmp_path, secret_key="x"))
    yield made
    made.state.engine.dispose()


def test_a_declared_large_body_is_refused_before_it_is_read(app: Any) -> None:
    ten_mb = 10 * 1024 * 1024
    status, headers, body, pulled = _asgi_post(
        app, "/api/v1/evidence-requests", 160, b"x" * 65536, ten_mb
    )
    assert status == 413
    assert headers[b"content-type"] == b"application/problem+json"
    problem = json.loads(body)
    assert problem["type"].endswith("/too-large")
    assert problem["limit_bytes"] == LIMIT
    assert pulled == 0, "the body was read before it was refused"


def test_a_streamed_large_body_is_stopped_at_the_limit(app: Any) -> None:
    piece = 65536
    status, _headers, body, pulled = _asgi_post(
        app, "/api/v1/evidence-requests", 160, b" " * piece, None
    )
    assert status == 413
    assert json.loads(body)["type"].endswith("/too-large")
    assert pulled <= LIMIT // piece + 1, f"read {pulled} pieces of a body over the limit"


def test_a_large_page_form_is_a_page_in_words(app: Any) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(
            "/login", content=b"a=" + b"x" * (2 * LIMIT), headers={"Accept": "text/html"}
        )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert too_large_problem(LIMIT, "zh-TW").title in answer.text


def test_the_scan_upload_takes_more_than_the_general_limit(demo_client: DemoClient) -> None:
    clerk = demo_client.headers(ROLES["clerk"])
    scan = b"%PDF-1.4\n" + b"0" * (3 * LIMIT)
    answer = demo_client.client.post(
        "/api/v1/cases/TPE-UDD-NO-SUCH-CASE/paper",
        data={"evidence_type": "household_registration"},
        files={"file": ("scan.pdf", scan, "application/pdf")},
        headers=clerk,
    )
    assert answer.status_code == 404, answer.text
    too_big = demo_client.client.post(
        "/api/v1/cases/TPE-UDD-NO-SUCH-CASE/paper",
        data={"evidence_type": "household_registration"},
        files={"file": ("scan.pdf", scan * 4, "application/pdf")},
        headers=clerk,
    )
    assert too_big.status_code == 413
