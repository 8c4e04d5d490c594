"""Every route of the full app refuses callers without credentials, except the public list.

The routes are read from the app itself, so a route added tomorrow is checked tomorrow: an API
route must answer 401 with a problem document, a page must answer 401 or send the browser to
``/login``. A public-list entry that names no route any more fails too, so the list cannot rot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from onceonly.accounts.deps import SESSION_COOKIE
from onceonly.config import Settings
from onceonly.web.app import create_app
from onceonly.web.public_routes import PUBLIC_PREFIXES, PUBLIC_ROUTES, is_public, under_prefix

SAMPLE_VALUES = {
    "StringConvertor": "dummy",
    "PathConvertor": "dummy/path",
    "IntegerConvertor": "1",
    "FloatConvertor": "1.5",
    "UUIDConvertor": str(uuid.UUID(int=1)),
}
"""A value each kind of path parameter accepts, so the request reaches the route."""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    """The path template as declared, e.g. ``/api/v1/auth/tokens/{token_id}``."""
    url: str
    """The template with sample values filled in."""


def _flattened(routes: Sequence[BaseRoute]) -> Iterator[tuple[BaseRoute, Any]]:
    """Each declared route with a view of it as served (path, methods, path parameters).

    FastAPI 0.16x keeps included routers as one lazy entry and flattens them with
    ``iter_route_contexts``; older releases list every route in ``app.routes``.
    """
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        for route in routes:
            yield route, route
        return
    for context in iterate(routes):
        yield context.original_route, context


def _sample_url(route: Any, prefix: str = "") -> str:
    values = {}
    for name, convertor in route.param_convertors.items():
        kind = type(convertor).__name__
        assert kind in SAMPLE_VALUES, f"{route.path}: teach this test a value for {kind}"
        values[name] = SAMPLE_VALUES[kind]
    return prefix + route.path_format.format(**values)


def endpoints(routes: Sequence[BaseRoute], prefix: str = "") -> list[Endpoint]:
    """Every (method, path) the app answers, mounted sub-apps included."""
    found: list[Endpoint] = []
    for declared, served in _flattened(routes):
        if isinstance(declared, Mount):
            if isinstance(declared.app, StaticFiles):
                path = f"{prefix}{served.path}/{{path:path}}"
                found.append(Endpoint("GET", path, f"{prefix}{served.path}/site.css"))
            else:
                assert declared.routes, f"mount {served.path}: teach this test how to call it"
                found += endpoints(declared.routes, prefix + served.path)
        elif isinstance(declared, Route):  # APIRoute is a Route too
            for method in sorted(served.methods or ()):
                if method != "HEAD":  # HEAD follows GET
                    url = _sample_url(served, prefix)
                    found.append(Endpoint(method, prefix + served.path, url))
        elif isinstance(declared, WebSocketRoute):
            found.append(Endpoint("WEBSOCKET", prefix + served.path, _sample_url(served, prefix)))
        else:
            kind = type(declared).__name__
            raise AssertionError(f"unknown route type {kind}: teach this test to call it")
    return found


def _refusal(client: TestClient, endpoint: Endpoint) -> str | None:
    """Why ``endpoint`` failed to refuse an anonymous caller, or None when it refused."""
    if endpoint.method == "WEBSOCKET":
        return "websocket routes are not checked yet: add their authentication and a check here"
    body = {} if endpoint.method not in ("GET", "HEAD") else None
    api = endpoint.url.startswith("/api/")
    attempts = [
        ("API client", {"Accept": "application/json"}, {}),
        ("forged session cookie", {"Accept": "application/json"}, {SESSION_COOKIE: "forged"}),
        ("browser", {"Accept": "text/html"}, {}),
    ]
    for who, headers, cookies in attempts:
        client.cookies.clear()
        for name, value in cookies.items():
            client.cookies.set(name, value)
        response = client.request(endpoint.method, endpoint.url, json=body, headers=headers)
        if response.status_code == 401:
            if api or who != "browser":
                problem = response.json() if "json" in response.headers["content-type"] else {}
                if not str(problem.get("type", "")).endswith("/unauthenticated"):
                    return f"{who}: 401 without an 'unauthenticated' problem document"
            continue
        location = response.headers.get("location", "")
        redirects_to_login = response.status_code in (302, 303, 307) and (
            location == "/login" or location.startswith("/login?")
        )
        if who == "browser" and not api and redirects_to_login:
            continue
        return f"{who}: answered {response.status_code} {response.text[:120]!r}"
    return None


def unprotected(app: FastAPI) -> list[str]:
    """Every non-public endpoint that does not refuse an anonymous caller, with the reason."""
    failures = []
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        for endpoint in endpoints(app.routes):
            if is_public(endpoint.method, endpoint.path):
                continue
            reason = _refusal(client, endpoint)
            if reason is not None:
                failures.append(f"{endpoint.method} {endpoint.path}: {reason}")
    return failures


def stale_public_entries(app: FastAPI) -> list[str]:
    """Public-list entries that no route of the app matches any more."""
    declared = {(e.method, e.path) for e in endpoints(app.routes)}
    stale = [f"{m} {p}" for m, p in sorted(PUBLIC_ROUTES) if (m, p) not in declared]
    stale += [
        f"{m} {p}/..."
        for m, p in sorted(PUBLIC_PREFIXES)
        if not any(m == dm and under_prefix(dp, p) for dm, dp in declared)
    ]
    return stale


def test_every_route_outside_the_public_list_requires_authentication(settings: Settings) -> None:
    app = create_app(settings)
    checked = [e for e in endpoints(app.routes) if not is_public(e.method, e.path)]
    assert any(e.path.startswith("/api/") for e in checked), "the app has protected API routes"
    assert any(not e.path.startswith("/api/") for e in checked), "and protected pages"
    failures = unprotected(app)
    assert failures == [], "routes answering without authentication:\n" + "\n".join(failures)


def test_public_list_names_only_routes_that_exist(settings: Settings) -> None:
    stale = stale_public_entries(create_app(settings))
    assert stale == [], "remove from onceonly/web/public_routes.py:\n" + "\n".join(stale)


def test_the_check_catches_an_open_route_and_a_stale_entry(settings: Settings) -> None:
    app = create_app(settings)
    app.add_api_route(
        "/api/v1/oops/{item_id}", lambda item_id: {"secret": item_id}, methods=["GET"]
    )
    app.add_api_route("/oops", lambda: {"secret": 1}, methods=["POST"])
    failures = unprotected(app)
    assert any(
        f.startswith("GET /api/v1/oops/{item_id}: API client: answered 200") for f in failures
    )
    assert any(f.startswith("POST /oops:") for f in failures)

    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/healthz"]
    assert "GET /healthz" in stale_public_entries(app)
