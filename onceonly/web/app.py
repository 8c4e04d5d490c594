"""The application factory: one FastAPI app serving the API, the pages and the well-known keys.

Each capability owns an ``APIRouter`` in its ``routes`` module; :data:`ROUTERS` lists them in
one place so a newcomer sees the whole surface at a glance.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

import onceonly
from onceonly.accounts.deps import OptionalUser
from onceonly.accounts.homes import home_of
from onceonly.cases.service import MAX_PAPER_BYTES
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.i18n import catalogue
from onceonly.sqlite_checkpoints import Checkpointer, is_sqlite_file
from onceonly.web.errors import install_error_handlers
from onceonly.web.head_requests import HeadAsGetMiddleware
from onceonly.web.language_choice import LanguageCookieMiddleware
from onceonly.web.openapi import install_openapi
from onceonly.web.security import (
    BodyLimit,
    BodyLimitMiddleware,
    NulRefusalMiddleware,
    SecurityHeadersMiddleware,
)
from onceonly.web.templating import render

logger = logging.getLogger(__name__)

ROUTERS: list[str] = [
    "onceonly.exchange.routes",
    "onceonly.catalog.routes",
    "onceonly.accounts.routes",
    "onceonly.audit.routes",
    "onceonly.audit.tree_routes",
    "onceonly.audit.tlog_routes",
    "onceonly.citizens.routes",
    "onceonly.exchange.wellknown",
    "onceonly.exchange.verify",
    "onceonly.policy.routes",
    "onceonly.cases.routes",
    "onceonly.cases.outbox_pages",
    "onceonly.notify.routes",
    "onceonly.notify.pages",
    "onceonly.counter.routes",
    "onceonly.owners.routes",
    "onceonly.consolidate.routes",
    "onceonly.survey.routes",
    "onceonly.stats.routes",
    "onceonly.open311.routes",
    "onceonly.open311.pages",
    "onceonly.hotline.routes",
]
"""Modules exposing ``router``; order decides the order in the OpenAPI document and the order
a request's path is matched in: the evidence request, the product's hot path and the first
thing an integrator reads, comes first (each router passed costs it ~8 µs)."""

SWAGGER_UI_FILES = ("swagger_ui", "static")
"""Swagger UI's distribution files inside the swagger-ui-py package, served under /static/."""

ICON_CACHE = {"Cache-Control": "public, max-age=86400"}

UPLOAD_PATHS = re.compile(r"/(api/v1|counter)/cases/[^/]+/paper")
"""The counter's scan upload, the one route that takes files."""
UPLOAD_OVERHEAD_BYTES = 256 * 1024
"""Room for the multipart framing and form fields around a scan of the largest size allowed."""


def install_audit_publishing(app: FastAPI, settings: Settings) -> None:
    """Publish the audit key from start-up (before any tree head is signed) and, when
    ``audit_publish_seconds`` is set, push new checkpoints to the witnesses meanwhile."""
    from onceonly.audit.publish import Publisher
    from onceonly.audit.tree_heads import ensure_audit_key

    publisher = Publisher(app.state.sessions, settings)

    @app.on_event("startup")
    def publish_audit_key() -> None:
        try:
            with transaction(app.state.sessions) as session:
                ensure_audit_key(session, settings)
        except SQLAlchemyError as error:  # a database not migrated yet: the routes will say so
            logger.warning("audit key not published at start-up: %s", error)
        if settings.audit_publish_seconds > 0:
            publisher.start()

    @app.on_event("shutdown")
    def stop_publishing() -> None:
        if publisher.running:
            publisher.stop()


def install_checkpoints(app: FastAPI, engine: Engine) -> None:
    """On SQLite, the WAL is copied back by a thread of the app, not by a request
    (:mod:`onceonly.sqlite_checkpoints`)."""
    if not is_sqlite_file(engine):
        return
    checkpointer = Checkpointer(engine)

    @app.on_event("startup")
    def start_checkpoints() -> None:
        checkpointer.start()

    @app.on_event("shutdown")
    def stop_checkpoints() -> None:
        checkpointer.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="onceonly",
        version=onceonly.__version__,
        summary=(
            "Certificate-free service: signed, minimised evidence from the agency that owns it."
        ),
        description=(
            "Answers and problem documents are in Traditional Chinese or in English, as the "
            "caller chooses: `?lang=en`, else a `lang` cookie, else the `Accept-Language` "
            "header (the highest weighted of `zh` and `en`); Traditional Chinese otherwise."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served below, from this site's own files (no CDN)
        redoc_url=None,
    )
    engine = make_engine(settings.resolved_database_url)
    install_checkpoints(app, engine)  # before the engine's first connection
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    _wire_exchange(app)
    install_error_handlers(app)
    upload_limit = max(settings.max_body_bytes, MAX_PAPER_BYTES + UPLOAD_OVERHEAD_BYTES)
    app.add_middleware(HeadAsGetMiddleware)  # innermost: every other layer sees the HEAD
    app.add_middleware(NulRefusalMiddleware)  # inside the body limit: reads only small bodies
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimit(settings.max_body_bytes, [(UPLOAD_PATHS, upload_limit)]),
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(LanguageCookieMiddleware)  # ?lang= on any page is remembered

    for module_name in ROUTERS:
        app.include_router(importlib.import_module(module_name).router)
    install_openapi(app)

    static_dir = Path(__file__).parent / "static"
    # Swagger UI's files come from the installed swagger-ui-py package (with its licence), so
    # /api/docs works without internet and under the site's CSP.
    static = StaticFiles(directory=static_dir, packages=[SWAGGER_UI_FILES])
    app.mount("/static", static, name="static")

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        return render(request, "api_docs.html", spec_url=app.openapi_url)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, user: OptionalUser) -> Response:
        if user is not None and user.auth_method == "session":
            return RedirectResponse(home_of(user.role, user.agency_code), status_code=303)
        return render(request, "home.html")

    @app.get("/privacy", response_class=HTMLResponse, include_in_schema=False)
    def privacy(request: Request) -> HTMLResponse:
        return render(request, "privacy.html")

    @app.get("/accessibility", response_class=HTMLResponse, include_in_schema=False)
    def accessibility(request: Request) -> HTMLResponse:
        return render(request, "accessibility.html")

    @app.get("/logout", response_class=HTMLResponse, include_in_schema=False)
    def logout_page(request: Request, user: OptionalUser) -> Response:
        """The address opened (a bookmark, typed): the sign-out button, never signing out by
        itself (that is the form's POST, with its anti-forgery token: a link or an image
        elsewhere must not sign anyone out). Nobody signed in here: the sign-in page, where
        signing out ends too."""
        if user is None or user.auth_method != "session":
            return RedirectResponse("/login", status_code=303)
        return render(request, "logout.html", user=user)

    icon = (static_dir / "favicon.ico").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """Where every browser looks for the site's icon (a logged 404 on each page until it
        had one): 153 bytes from memory, kept a day."""
        return Response(icon, media_type="image/x-icon", headers=ICON_CACHE)

    install_audit_publishing(app, settings)

    @app.on_event("startup")
    def load_messages() -> None:
        """Every page and answer is in words: load them before the first request, which
        would otherwise pay for reading every message file (and so would every request
        racing it)."""
        catalogue()

    from onceonly.notify.outbox import pending_backlog
    from onceonly.web.ops import install_ops_routes

    # last, so the request id wraps every other middleware and the error handlers
    install_ops_routes(app, settings, backlog=pending_backlog)
    return app


def _wire_exchange(app: FastAPI) -> None:
    """The exchange (core) asks the workflows built on it through small protocols: the case
    a request names (:class:`onceonly.policy.purpose.CaseLookup`), the citizen's previews
    (:class:`onceonly.policy.previews.PreviewBook`) and the ways to owners not answered here
    (:data:`onceonly.exchange.fanout.ConnectRemote`: owners' gateways, then other nodes).
    Read by ``exchange_for``. The audit (core) asks which citizen an account stands for
    (``app.state.subject_of``)."""
    from onceonly.cases.service import CaseBook
    from onceonly.citizens.accounts import national_id_of
    from onceonly.citizens.previews import CitizenPreviews
    from onceonly.exchange.fanout import connect_all
    from onceonly.federation import remote
    from onceonly.gateway import links

    app.state.case_lookup = CaseBook()
    app.state.preview_book = CitizenPreviews()
    app.state.connect_remote = connect_all(links.connect, remote.connect)
    app.state.subject_of = national_id_of
