"""``HEAD`` answers as ``GET`` does, without the body.

Load balancers, uptime monitors and ``curl -I`` ask with ``HEAD``; FastAPI's routes take only
the methods they name, so ``HEAD /healthz`` was a 405 and a monitor saw the node down. Every
address with a ``GET`` answers ``HEAD`` with the same status and headers (``Content-Type``,
``Content-Length``, ``Location``, the security headers, the language cookie) and no body; an
address without one still answers 405 with its ``Allow``, an unknown one 404. The body is
dropped by the app, not left to the server: an ASGI client (as here) gets none either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from onceonly.config import Settings
from onceonly.web.app import create_app
from onceonly.web.head_requests import HeadAsGetMiddleware
from tests.web.conftest import ROLES, DemoClient

PAGE = {"Accept": "text/html"}
PER_REQUEST = {"x-request-id", "set-cookie"}
"""Headers whose value is new on every request (compared by cookie name below)."""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path, secret_key="x"))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def _cookie_names(response: httpx.Response) -> list[str]:
    return [c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")]


def assert_head_as_get(
    client: TestClient, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """HEAD ``path`` answers GET's status and headers with an empty body; the HEAD answer."""
    client.cookies.clear()  # each asks as a newcomer: the cookies set are compared
    got = client.get(path, headers=headers)
    client.cookies.clear()
    head = client.head(path, headers=headers)
    assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
    assert head.content == b"", path
    assert got.content != b"", path
    assert head.headers["content-length"] == str(len(got.content)), path
    assert head.headers["content-type"] == got.headers["content-type"], path
    same = {k: v for k, v in got.headers.items() if k not in PER_REQUEST}
    assert {k: v for k, v in head.headers.items() if k not in PER_REQUEST} == same, path
    assert _cookie_names(head) == _cookie_names(got), path
    assert head.headers["x-request-id"], path  # the request-id middleware ran
    return head


def test_healthz_answers_head_as_get(client: TestClient) -> None:
    head = assert_head_as_get(client, "/healthz")
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == "15"  # {"status":"ok"}
    assert "no-store" in head.headers["cache-control"]  # the security headers too


def test_readyz_answers_head_with_the_status_of_get(client: TestClient) -> None:
    """Not migrated here, so not ready: a monitor asking with HEAD sees the 503 too."""
    head = assert_head_as_get(client, "/readyz")
    assert head.status_code == 503
    assert head.headers["retry-after"] == "5"


def test_pages_answer_head_as_get(client: TestClient) -> None:
    for path in ("/", "/login", "/privacy", "/favicon.ico", "/api/docs", "/static/site.css"):
        head = assert_head_as_get(client, path, PAGE)
        assert head.status_code == 200, path
    assert client.head("/", headers=PAGE).headers["content-type"].startswith("text/html")


def test_head_keeps_the_language_cookie(client: TestClient) -> None:
    head = assert_head_as_get(client, "/?lang=en", PAGE)
    assert "lang=en" in head.headers["set-cookie"]


def test_head_of_a_page_behind_sign_in_answers_what_get_answers(client: TestClient) -> None:
    page = assert_head_as_get(client, "/counter", PAGE)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fcounter"
    api = assert_head_as_get(client, "/api/v1/cases")
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"


def test_head_as_a_signed_in_caller_answers_as_get(demo_client: DemoClient) -> None:
    clerk = demo_client.headers(ROLES["clerk"])
    head = assert_head_as_get(demo_client.client, "/api/v1/cases", clerk)
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/json"


def test_head_of_a_post_only_path_is_405_with_allow(client: TestClient) -> None:
    head = assert_head_as_get(client, "/api/v1/evidence-requests")
    assert head.status_code == 405
    assert head.headers["allow"] == "POST"


def test_head_of_an_unknown_path_is_404(client: TestClient) -> None:
    head = assert_head_as_get(client, "/no-such-page")
    assert head.status_code == 404
    assert head.headers["content-type"] == "application/problem+json"


def test_the_access_log_names_the_head_and_its_route(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="onceonly.access"):
        client.head("/healthz")
    (line,) = [vars(r) for r in caplog.records if r.name == "onceonly.access"]
    assert (line["method"], line["route"], line["status"]) == ("HEAD", "/healthz", 200)


# --- the middleware alone ------------------------------------------------------------------


async def _run(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _http(method: str) -> Scope:
    scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
    return {**scope, "asgi": {"version": "3.0", "spec_version": "2.4"}}  # no disconnect watch


async def _streamed(scope: Scope, receive: Receive, send: Send) -> None:
    async def chunks() -> Any:
        for chunk in (b"one,", b"two,", b"three"):
            yield chunk

    await StreamingResponse(chunks(), media_type="text/csv")(scope, receive, send)


@pytest.mark.anyio
async def test_a_streamed_answer_to_head_ends_in_one_empty_body() -> None:
    scope = _http("HEAD")
    sent = await _run(HeadAsGetMiddleware(_streamed), scope)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert sent[1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert scope["method"] == "HEAD"  # as the layers outside it read it afterwards
    got = await _run(HeadAsGetMiddleware(_streamed), _http("GET"))
    assert b"".join(m.get("body", b"") for m in got) == b"one,two,three"


@pytest.mark.anyio
async def test_other_scopes_pass_untouched() -> None:
    seen: list[tuple[Scope, Any]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, send))

    async def send(message: Message) -> None:
        pass

    async def receive() -> Message:
        return {}

    middleware = HeadAsGetMiddleware(inner)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/"}, _http("POST")):
        before = dict(scope)
        await middleware(scope, receive, send)
        assert seen[-1] == (scope, send)
        assert scope == before


def test_the_app_installs_it_innermost(tmp_path: Path) -> None:
    """Inside the request id, the security headers and the language cookie, which then see
    (and log) the HEAD and add their headers to its answer."""
    app: FastAPI = create_app(Settings(data_dir=tmp_path, secret_key="x"))
    assert app.user_middleware[-1].cls is HeadAsGetMiddleware
    app.state.engine.dispose()


def test_a_405_names_head_where_get_is_allowed(client: TestClient) -> None:
    refused = client.post("/healthz")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"
