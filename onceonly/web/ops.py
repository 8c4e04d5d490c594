"""What a service manager, a load balancer and Prometheus ask of the server: ``/healthz``
(the process answers), ``/readyz`` (database, connectors and keys reachable), ``/metrics``,
and the request-id middleware that ties log lines and audit entries to one HTTP request.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from onceonly.config import Settings
from onceonly.db import utcnow
from onceonly.domain.errors import DomainValueError
from onceonly.i18n import both, normalise_language, t
from onceonly.observability import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    REQUEST_ID_HEADER,
    accepted_request_id,
    new_request_id,
    reset_request_id,
    set_request_id,
)

access_log = logging.getLogger("onceonly.access")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _loggable(path: str) -> str:
    """The (percent-decoded) path with control characters spelled ``\\xNN``: a ``%0a`` in
    a URL must not start a log line of its own in the plain-text log."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", path)


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestContextMiddleware:
    """Gives each request an id (the trusted proxy's ``X-Request-ID``, else a new one), echoes
    it in the answer, counts and times the request by route template and logs one access
    line; the id is the current request id while the app runs, so audit entries carry it."""

    def __init__(self, app: ASGIApp, trusted_proxies: list[str]) -> None:
        self.app = app
        self.trusted = set(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else None
        offered = None
        if peer in self.trusted:
            for name, value in scope.get("headers", []):
                if name == b"x-request-id":
                    offered = accepted_request_id(value.decode("latin-1"))
        request_id = offered or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            label = template or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, label, str(status)).inc()
            HTTP_LATENCY.labels(method, label).observe(elapsed)
            path = _loggable(scope.get("path", ""))
            access_log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "route": label,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    # the forwarding headers of a trusted proxy have named the client by now
                    "client": (scope.get("client") or (None,))[0],
                    "peer": peer,
                },
            )
            reset_request_id(token)


# --- readiness ----------------------------------------------------------------------------

Check = Callable[[], list[dict[str, str]]]
"""A readiness check: the failures it found, each ``{"check", "target", "zh-TW", "en"}``."""


def _failure(check: str, target: str, key: str, /, **params: Any) -> dict[str, str]:
    return {"check": check, "target": target, **both(key, **params)}


def database_check(app: FastAPI) -> list[dict[str, str]]:
    try:
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "not reachable" to a probe
        return [_failure("database", "database", "deploy.ready.database", reason=_short(error))]
    return []


def _short(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def ping(provider: Any) -> None:
    """Raise unless ``provider``'s source answers: its own ``ping()``, else for an SQL source
    a ``SELECT 1`` on the engine it reads through (an HTTP source without ``ping`` is not
    asked: a probe must not call an owner's service for nothing)."""
    own = getattr(provider, "ping", None)
    if own is not None:
        own()
        return
    engine_of = getattr(provider, "_engine_or_fail", None)  # SQL connectors
    if engine_of is not None:
        with engine_of().connect() as connection:
            connection.execute(text("SELECT 1"))


def connectors_check(app: FastAPI) -> list[dict[str, str]]:
    """Each connector that can be pinged answers; a node with none configured is ready."""
    from onceonly.exchange.service import exchange_for

    try:
        providers = list(exchange_for(app.state).providers)
    except FileNotFoundError:
        return []  # no connectors configured yet
    except DomainValueError as error:  # said in words where raised: a node key of a wrong kind
        reason = {"zh-TW": error.message_zh, "en": error.message_en}
        return [_failure("exchange", "*", "deploy.ready.exchange_load", reason=reason)]
    except Exception as error:
        return [_failure("connectors", "*", "deploy.ready.connectors_load", reason=_short(error))]
    failures = []
    for provider in providers:
        try:
            ping(provider)
        except Exception as error:
            owner = getattr(provider, "owner", "?")
            failures.append(
                _failure(
                    "connectors",
                    owner,
                    "deploy.ready.connector",
                    owner=owner,
                    reason=getattr(error, "reason", None) or _short(error),
                )
            )
    return failures


def keys_check(app: FastAPI) -> list[dict[str, str]]:
    """Every active signing key's private half can be read and matches what is published."""
    from onceonly.exchange import keys

    settings: Settings = app.state.settings
    if not os.access(settings.keys_dir, os.R_OK | os.X_OK):
        where = str(settings.keys_dir)
        return [_failure("keys", where, "deploy.ready.keys_dir", path=where)]
    failures = []
    with app.state.sessions() as session:
        active = [k for k in keys.list_keys(session, settings) if k.active]
    for key in active:
        if key.public_jwk.get(keys.CUSTODY) == "gateway":
            continue  # the owner's gateway holds the private half, as it should
        try:
            if not key.pem_path.is_file():
                raise keys.SigningKeyUnavailable(f"{key.pem_path}: missing")
            key.private_key()
        except keys.SigningKeyUnavailable as error:
            failures.append(
                _failure(
                    "keys",
                    key.agency_code,
                    "deploy.ready.key",
                    owner=key.agency_code,
                    reason=_short(error),
                )
            )
    return failures


READY_CHECKS: dict[str, Callable[[FastAPI], list[dict[str, str]]]] = {
    "database": database_check,
    "connectors": connectors_check,
    "keys": keys_check,
}


def readiness(app: FastAPI, pool: ThreadPoolExecutor) -> tuple[bool, list[dict[str, str]]]:
    """Run every check at once, each within the settings' ``ready_timeout_seconds``."""
    calls = {name: pool.submit(check, app) for name, check in READY_CHECKS.items()}
    deadline = time.monotonic() + app.state.settings.ready_timeout_seconds
    failures: list[dict[str, str]] = []
    for name, call in calls.items():
        try:
            failures += call.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            failures.append(_failure(name, name, "deploy.ready.timeout", check=name))
        except Exception as error:
            failures.append(_failure(name, name, "deploy.ready.error", reason=_short(error)))
    return not failures, failures


# --- metrics ------------------------------------------------------------------------------


class NotifyBacklogCollector(Collector):
    """The tell-us-once queue's depth and the age of its oldest waiting delivery, read from
    the database at scrape time (one number for the whole node, whichever worker answers)."""

    def __init__(
        self,
        backlog: Callable[[Session], tuple[int, datetime | None]],
        sessions: sessionmaker[Session],
    ) -> None:
        self.backlog = backlog
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "onceonly_notify_queue_depth", "Deliveries waiting to be pushed or acknowledged."
        )
        lag = GaugeMetricFamily(
            "onceonly_notify_queue_lag_seconds",
            "Age of the oldest delivery still waiting (0 when none waits).",
        )
        try:
            with self.sessions() as session:
                count, oldest = self.backlog(session)
        except Exception:  # a scrape must not fail because the database blinked
            return
        depth.add_metric([], count)
        lag.add_metric([], max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
        yield depth
        yield lag


class _ProcessMetrics(Collector):
    """The default registry's metrics (this process's own) inside an app's registry."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def metrics_registry(extra: list[Collector]) -> CollectorRegistry:
    """This process's metrics, or every worker's added up in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    for collector in extra:
        registry.register(collector)
    return registry


def may_read_metrics(request: Request, settings: Settings) -> bool:
    """With ``metrics_token`` set, only its bearer; else only a loopback peer whose request
    did not come through the reverse proxy (no forwarding headers): Prometheus on the same
    machine scrapes each worker's port directly, the public never reaches it."""
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode())
    forwarded = any(h in request.headers for h in ("x-forwarded-for", "x-real-ip", "forwarded"))
    return _loopback(request.client.host if request.client else None) and not forwarded


def install_ops_routes(
    app: FastAPI,
    settings: Settings,
    backlog: Callable[[Session], tuple[int, datetime | None]] | None = None,
) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` and the request-id middleware; ``backlog``
    (given by the app factory) reads the tell-us-once queue for the metrics."""
    # The proxy's forwarding headers name the client for everything inside (sign-in throttles,
    # logs); the request-id middleware outside them still sees the proxy as the peer.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(RequestContextMiddleware, trusted_proxies=settings.trusted_proxies)
    pool = ThreadPoolExecutor(max_workers=len(READY_CHECKS), thread_name_prefix="readyz")
    extra: list[Collector] = []
    if backlog is not None:
        extra.append(NotifyBacklogCollector(backlog, app.state.sessions))
    registry = metrics_registry(extra)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Alive: the process answers (restart it if not); says nothing of its dependencies."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        ready, failures = readiness(app, pool)
        if ready:
            return JSONResponse({"status": "ready", "checks": list(READY_CHECKS)})
        lang = settings.language
        if may_read_metrics(request, settings):
            detail = "; ".join(f[normalise_language(lang)] for f in failures)
            shown: list[dict[str, str]] = failures
        else:  # paths, hosts and driver errors are the operator's, not the public's
            names = list(dict.fromkeys(f["check"] for f in failures))
            detail = t("deploy.ready.hidden", lang, checks=", ".join(names))
            shown = [{"check": name} for name in names]
        body = {
            "type": "https://onceonly.example/problems/not-ready",
            "title": t("deploy.ready.title", lang),
            "status": 503,
            "detail": detail,
            "failures": shown,
        }
        return JSONResponse(
            body, 503, media_type="application/problem+json", headers={"Retry-After": "5"}
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not may_read_metrics(request, settings):
            body = {
                "type": "https://onceonly.example/problems/forbidden",
                "title": t("deploy.metrics.forbidden", settings.language),
                "status": 403,
            }
            return JSONResponse(body, 403, media_type="application/problem+json")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.on_event("shutdown")
    def stop_pool() -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    _match_first(app, {"/healthz", "/readyz", "/metrics"})


def _match_first(app: FastAPI, paths: set[str]) -> None:
    """Put these routes ahead of every other. Routes are tried in order, and a route after
    the API's and the pages' (about 170) was found only after a failed match against each,
    about 0.2 ms of the event loop per request: for the load balancer's probe, polled all
    day, most of what it cost."""
    routes = app.router.routes
    first = [route for route in routes if getattr(route, "path", None) in paths]
    routes[:] = first + [route for route in routes if route not in first]
