"""A real federation on loopback for the tests that need one: a CA, the directory and three
nodes (臺北市; 新北市; 基隆市+宜蘭縣), each a separate uvicorn process with mutual TLS."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.audit.models import AuditEntry
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.federated.cluster import (
    DEMO_NODES,
    FederationLayout,
    NodePlan,
    build_federation,
    start_directory,
    start_node,
    stop,
)
from onceonly.demo.registries.manifest import RegistryManifest
from onceonly.federation.node import NodeConfig
from onceonly.federation.signing import NodeCredentials
from tests.casework import open_case

ITEM = "public-housing-low-income"
LOW_INCOME = "is_low_income_household"


@dataclass
class Federation:
    layout: FederationLayout
    manifest: RegistryManifest
    processes: dict[str, Popen[bytes]] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    cases: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    def sample(self, key: str) -> str:
        return str(self.manifest.sample(key).national_id)

    def start(self, name: str) -> None:
        log = self.layout.root / "logs" / f"{name}.log"
        if name == "directory":
            self.processes[name] = start_directory(self.layout, log)
        else:
            self.processes[name] = start_node(self.layout.node(name), log)

    def stop(self, name: str) -> None:
        stop(self.processes.pop(name))

    def token(self, node: str, username: str) -> str:
        if (node, username) not in self.tokens:
            engine = make_engine(self.layout.node(node).settings.resolved_database_url)
            with transaction(make_session_factory(engine)) as db:
                user = get_user(db, username)
                assert user is not None, username
                self.tokens[(node, username)], _ = issue_api_token(db, user, "test", 1)
            engine.dispose()
        return self.tokens[(node, username)]

    def case(self, node: str, username: str, item: str, subject: str) -> str:
        """An open case at ``node`` of the clerk's agency (evidence is asked only for one)."""
        key = (node, username, item, subject)
        if key not in self.cases:
            engine = make_engine(self.layout.node(node).settings.resolved_database_url)
            try:
                sessions = make_session_factory(engine)
                self.cases[key] = open_case(sessions, username, item, subject)
            finally:
                engine.dispose()
        return self.cases[key]

    def ask(
        self,
        node: str,
        username: str,
        subject: str,
        evidence: list[str] | None = None,
        item: str = ITEM,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "case_id": self.case(node, username, item, subject),
            "application_item": item,
            "subject": subject,
        }
        if evidence:
            body["evidence"] = [{"type": e} for e in evidence]
        return httpx.post(
            self.layout.node(node).url + "/api/v1/evidence-requests",
            json=body,
            headers={"Authorization": f"Bearer {self.token(node, username)}"},
            timeout=30,
        )

    def audit(self, node: str, request_id: str | None = None) -> list[AuditEntry]:
        engine = make_engine(self.layout.node(node).settings.resolved_database_url)
        with make_session_factory(engine)() as session:
            query = select(AuditEntry).order_by(AuditEntry.seq)
            if request_id:
                query = query.where(AuditEntry.request_id == request_id)
            rows = list(session.scalars(query))
        engine.dispose()
        return rows


def credentials(federation: Federation, node: str) -> NodeCredentials:
    """``node``'s certificate and key, to sign requests as it would."""
    config = NodeConfig.read(federation.layout.node(node).settings)
    assert config is not None
    return NodeCredentials.load(config.id, config.cert, config.key)


def peer_client(federation: Federation, node: str, cert: Path | None = None) -> httpx.Client:
    """A mutual-TLS client presenting ``node``'s certificate (or ``cert``), as a peer does."""
    config = NodeConfig.read(federation.layout.node(node).settings)
    assert config is not None
    context = ssl.create_default_context(cafile=config.ca)
    if cert is None:
        context.load_cert_chain(config.cert, config.key)
    else:
        context.load_cert_chain(cert, cert.with_suffix(".key"))
    return httpx.Client(verify=context, timeout=10)


def tls_hello(port: int, ca_pem: str | Path, cert: Path | None, tls12: bool = False) -> str:
    """``GET /healthz`` on a listener over TLS presenting ``cert`` (or none): the status line
    when the handshake is accepted, else the TLS alert the client read (``SSLError.reason``).
    A refusal without an alert shows as ``UNEXPECTED_EOF_WHILE_READING``, ``eof`` or
    ``reset``. With ``tls12`` the refusal comes in the handshake itself; with TLS 1.3 the
    client finishes first and reads the alert with its first response."""
    context = ssl.create_default_context(cafile=str(ca_pem))
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(cert, cert.with_suffix(".key"))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            first = tls.recv(4096)
    except ssl.SSLError as exc:
        return str(exc.reason or exc)
    except ConnectionResetError:
        return "reset"
    return first.decode("latin-1").split("\r\n")[0] if first else "eof"


def forwarded_body(
    federation: Federation,
    request_id: str,
    subject: str | None = None,
    evidence_type: str = LOW_INCOME,
    agency: str = "taipei-city.urban_development",
    role: str = "clerk",
) -> bytes:
    """What 臺北市's node forwards when its clerk asks about ``subject`` (a 宜蘭縣 resident)
    for ``evidence_type`` (low income); ``role``: what the node says its asker is."""
    return json.dumps(
        {
            "request_id": request_id,
            "case_id": "TPE-FED-9",
            "application_item": ITEM,
            "subject": subject or federation.sample("yilan_resident"),
            "ask": {"type": evidence_type},
            "actor": {
                "username": "tpe-udd-clerk",
                "badge": "B-1",
                "role": role,
                "agency": agency,
            },
        }
    ).encode()


def refusals(federation: Federation, node: str) -> list[str]:
    """The codes of the refusals ``node`` audited, oldest first."""
    return [e.details["code"] for e in federation.audit(node) if e.event == "federation.refused"]


def piece(response: httpx.Response, evidence_type: str) -> dict[str, Any]:
    data = response.json()
    results = {r["evidence_type"]: r for r in data["results"]}
    return dict(results[evidence_type])


def _running(root: Path, plans: Sequence[NodePlan], people: int) -> Iterator[Federation]:
    layout = build_federation(root, people=people, plans=plans, refresh_seconds=0.5)
    (root / "logs").mkdir()
    result = Federation(layout, RegistryManifest.read(root / "registries-all"))
    try:
        result.start("directory")
        for node in layout.nodes:
            result.start(node.plan.id)
        yield result
    finally:
        for name in list(result.processes):
            result.stop(name)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    yield from _running(tmp_path_factory.mktemp("federation"), DEMO_NODES, 200)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """The lighter federation: the directory, 臺北市 and the regional node of 基隆市 and
    宜蘭縣 (each the other's backup partner), 60 people."""
    plans = [plan for plan in DEMO_NODES if plan.id in ("taipei", "north-regional")]
    yield from _running(tmp_path_factory.mktemp("pair"), plans, 60)


def dump(response: httpx.Response) -> str:
    return json.dumps(response.json(), ensure_ascii=False)[:2000]
