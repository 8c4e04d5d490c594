"""The gateway's listener: a one-owner exchange behind mutual TLS (the federation listener's
machinery: :class:`onceonly.federation.listener.PeerListener`, request signatures with an
audience, the TLS client certificate bound to the signer, the CRL checked in the handshake)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.exchange.service import Exchange
from onceonly.federation.listener import PeerListener, TlsPeers
from onceonly.federation.node import NodeConfig
from onceonly.federation.nonces import DurableNonceStore
from onceonly.federation.peer import ForwardedAsk, answer_now, audit_refusal, malformed
from onceonly.federation.signing import HEADER, RequestRefused, verify_request
from onceonly.i18n import catalogue
from onceonly.pki.trust import TrustAnchor
from onceonly.providers.registry import providers_from
from onceonly.web.security import BodyLimit, BodyLimitMiddleware

EVIDENCE_PATH = "/gateway/v1/evidence"
CONFIG_NAME = "gateway.json"


@dataclass(frozen=True)
class GatewayConfig:
    """Who the gateway is (its certificate names ``id``; requests must be addressed to it),
    whom it answers (``platforms``: node ids), its TLS files and its connector files."""

    id: str
    platforms: tuple[str, ...]
    cert: str
    key: str
    ca: str
    crl: str
    connectors: tuple[str, ...]
    refresh_seconds: float = 2.0
    """How often the CRL file is read again (a revocation takes effect within this)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, settings: Settings) -> Path:
        path = settings.data_dir / CONFIG_NAME
        data = asdict(self) | {
            "platforms": list(self.platforms),
            "connectors": list(self.connectors),
        }
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
        return path

    @classmethod
    def read(cls, settings: Settings) -> GatewayConfig | None:
        path = settings.data_dir / CONFIG_NAME
        if not path.exists():
            return None
        data = json.loads(path.read_text("utf-8"))
        data["platforms"] = tuple(data["platforms"])
        data["connectors"] = tuple(data["connectors"])
        return cls(**data)

    def listener_config(self) -> NodeConfig:
        """The TLS side as the federation listener reads it."""
        return NodeConfig(
            id=self.id,
            name=self.id,
            jurisdictions=(),
            endpoint="",
            cert=self.cert,
            key=self.key,
            ca=self.ca,
            directory_url="",
            directory_jwk={},
            refresh_seconds=self.refresh_seconds,
        )


@dataclass(frozen=True)
class TrustFiles:
    """The CA and the CRL in force, as files the agency's IT team replaces (no directory)."""

    ca_pem: str
    crl_pem: str


class LocalTrust:
    """Reads the CA and CRL files each time: what :class:`PeerListener` asks of a snapshot."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config

    def current(self) -> TrustFiles:
        crl = Path(self.config.crl)
        return TrustFiles(Path(self.config.ca).read_text(), crl.read_text() if crl.exists() else "")

    def anchor(self) -> TrustAnchor:
        files = self.current()
        return TrustAnchor.from_pem(files.ca_pem.encode(), files.crl_pem.encode() or None)


class GatewayState:
    """The gateway's own database (its owner's rules, its audit, its nonces, its keys'
    public halves), its connectors and its one-owner exchange."""

    def __init__(self, settings: Settings, config: GatewayConfig) -> None:
        self.settings = settings
        self.config = config
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions = make_session_factory(self.engine)
        self.snapshots = LocalTrust(config)
        self.nonces = DurableNonceStore(self.sessions)
        self.tls_peers = TlsPeers()
        providers = providers_from([Path(p) for p in config.connectors])
        self.exchange = Exchange(settings, self.sessions, providers)

    def owners(self) -> Sequence[str]:
        return sorted(self.exchange.providers.owners())


def _authenticate(state: GatewayState, request: Request, raw: bytes) -> str:
    """The platform node that sent this request, once every check passed."""
    try:
        trust = state.snapshots.anchor()
    except (OSError, ValueError) as exc:
        raise RequestRefused("snapshot", str(exc)) from exc
    claims = verify_request(
        request.headers.get(HEADER),
        "POST",
        EVIDENCE_PATH,
        raw,
        trust,
        state.nonces,
        audience=state.config.id,
        peer=state.tls_peers.certificate(request.scope.get("client")),
    )
    sender = str(claims["node"])
    if sender not in state.config.platforms:
        raise RequestRefused("unknown_node", sender, sender)
    return sender


def _checked_and_answered(
    state: GatewayState, config: GatewayConfig, request: Request, raw: bytes
) -> JSONResponse:
    try:
        sender = _authenticate(state, request, raw)
    except RequestRefused as exc:
        return audit_refusal(state.sessions, exc, EVIDENCE_PATH, raw)
    try:
        asked = ForwardedAsk.model_validate_json(raw)
    except ValidationError as exc:
        return audit_refusal(state.sessions, malformed(exc, sender), EVIDENCE_PATH, raw)
    return answer_now(state.exchange, None, sender, config.id, asked, raw)


def create_gateway_app(settings: Settings, config: GatewayConfig) -> FastAPI:
    """The gateway of the owner(s) whose connectors ``config`` names."""
    state = GatewayState(settings, config)
    app = FastAPI(title=f"onceonly gateway {config.id}", docs_url=None, redoc_url=None)
    app.state.peer = state
    # the route holds the body whole: bounded like the platform's own (413 beyond it)
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimit(settings.max_body_bytes))

    @app.post(EVIDENCE_PATH)
    async def evidence(request: Request) -> JSONResponse:
        """Checked and answered in one worker thread: the nonce and the audit entries are
        committed database writes, kept off the event loop."""
        raw = await request.body()
        return await run_in_threadpool(_checked_and_answered, state, config, request, raw)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "gateway": config.id, "owners": list(state.owners())}

    @app.on_event("startup")
    def warm_up() -> None:
        catalogue()
        with state.sessions() as session:
            state.exchange.catalog.check(session)

    @app.on_event("shutdown")
    def close() -> None:
        with contextlib.suppress(Exception):
            state.exchange.close()
        state.engine.dispose()

    return app


def gateway_listener(app: FastAPI, config: GatewayConfig, host: str, port: int) -> PeerListener:
    """The uvicorn server with mutual TLS and the CRL reloaded every ``refresh_seconds``."""
    return PeerListener(config.listener_config(), app, host, port)
