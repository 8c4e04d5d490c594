"""The central directory (the report's neutral "shepherd"): member nodes, what they serve, their
keys, datasets with each node's extension fields, the access rules owners approved across nodes,
and the CRL, published as signed snapshots.

It keeps its own small SQLite database (it is not a node and holds no personal data) and signs
with its own Ed25519 key; nodes pin that key's public half (``directory.jwk.json``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from joserfc.jwk import OKPKey
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine

from onceonly.db import UTCDateTime, make_engine
from onceonly.federation.snapshot import sign_snapshot
from onceonly.federation.witnessing import mount_directory_witness
from onceonly.outbound import OutboundPolicy
from onceonly.pki import ca

DEFAULT_VALID = timedelta(hours=24)

_metadata = MetaData()
_nodes = Table(
    "directory_nodes",
    _metadata,
    Column("id", String(80), primary_key=True),
    Column("document", JSON, nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
)
_serials = Table(
    "directory_serial",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("serial", Integer, nullable=False),
)
_log = Table(
    "directory_log",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("event", String(40), nullable=False),
    Column("detail", Text, nullable=False),
)

REQUIRED_KEYS = ("id", "jurisdictions", "endpoint", "cert_pem", "agencies", "jwks")


class RegistrationInvalid(ValueError):
    """A node registration document missing something or naming a jurisdiction twice."""


class Directory:
    """The directory's state in ``home`` (database and signing key) and the CA it publishes."""

    def __init__(
        self,
        home: Path,
        ca_dir: Path,
        valid: timedelta = DEFAULT_VALID,
        policy: OutboundPolicy | None = None,
    ) -> None:
        """``policy`` judges the endpoints nodes register, which every other node will call
        (by default the operator's allow-list: no internal address)."""
        self.policy = policy or OutboundPolicy.from_env()
        self.home = Path(home)
        self.ca_dir = Path(ca_dir)
        self.valid = valid
        self.home.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(f"sqlite:///{(self.home / 'directory.sqlite').resolve()}")
        _metadata.create_all(self.engine)
        self.key = self._load_key()

    @staticmethod
    def exists_at(home: Path) -> bool:
        """Whether ``home`` holds a directory (its signing key), as made by the first use."""
        return (Path(home) / "directory.key").is_file()

    def _load_key(self) -> OKPKey:
        path = self.home / "directory.key"
        if path.exists():
            return OKPKey.import_key(path.read_bytes())
        key = OKPKey.generate_key("Ed25519")
        path.write_bytes(key.as_pem(private=True))
        path.chmod(0o600)
        (self.home / "directory.jwk.json").write_text(json.dumps(self.public_jwk_of(key)))
        return key

    @staticmethod
    def public_jwk_of(key: OKPKey) -> dict[str, Any]:
        public = key.as_dict(private=False)
        return {"kty": public["kty"], "crv": public["crv"], "x": public["x"]}

    def public_jwk(self) -> dict[str, Any]:
        return self.public_jwk_of(self.key)

    def _note(self, connection: Any, event: str, detail: str) -> None:
        connection.execute(_log.insert().values(at=datetime.now(UTC), event=event, detail=detail))

    def add_node(self, document: dict[str, Any]) -> None:
        """Register (or update) a member node from its registration document."""
        missing = [k for k in REQUIRED_KEYS if not document.get(k)]
        if missing:
            raise RegistrationInvalid(f"registration lacks {', '.join(missing)}")
        refused = self.policy.refusal(str(document["endpoint"]), "en")
        if refused:
            raise RegistrationInvalid(f"endpoint {document['endpoint']}: {refused}")
        with self.engine.begin() as connection:
            for row in connection.execute(select(_nodes)):
                if row.id == document["id"]:
                    continue
                taken = set(row.document["jurisdictions"]) & set(document["jurisdictions"])
                if taken:
                    raise RegistrationInvalid(
                        f"{', '.join(sorted(taken))} already served by node {row.id}"
                    )
            connection.execute(_nodes.delete().where(_nodes.c.id == document["id"]))
            connection.execute(
                _nodes.insert().values(
                    id=document["id"], document=document, registered_at=datetime.now(UTC)
                )
            )
            self._note(connection, "node.registered", document["id"])

    def remove_node(self, node_id: str) -> bool:
        with self.engine.begin() as connection:
            gone = connection.execute(_nodes.delete().where(_nodes.c.id == node_id)).rowcount
            if gone:  # a name that is no member removes nothing, and is no event
                self._note(connection, "node.removed", node_id)
        return bool(gone)

    def nodes(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [
                dict(r.document) for r in connection.execute(select(_nodes).order_by(_nodes.c.id))
            ]

    def _next_serial(self) -> int:
        with self.engine.begin() as connection:
            current = connection.execute(select(_serials.c.serial)).scalar()
            if current is None:
                connection.execute(_serials.insert().values(id=1, serial=1))
                return 1
            connection.execute(_serials.update().values(serial=current + 1))
            return int(current) + 1

    def snapshot(self, now: datetime | None = None, valid: timedelta | None = None) -> str:
        """A freshly signed snapshot of everything nodes need, with the CA's current CRL."""
        now = now or datetime.now(UTC)
        nodes = self.nodes()
        datasets: dict[str, dict[str, Any]] = {}
        rules: list[dict[str, Any]] = []
        for node in nodes:
            for dataset in node.get("datasets", []):
                entry = datasets.setdefault(
                    dataset["code"],
                    {
                        "code": dataset["code"],
                        "owner_scope": dataset.get("owner_scope"),
                        "core_fields": dataset.get("core_fields", []),
                        "extensions": {},
                    },
                )
                entry["extensions"].update(dataset.get("extensions", {}))
            rules.extend({**rule, "node": node["id"]} for rule in node.get("rules", []))
        payload = {
            "serial": self._next_serial(),
            "iat": int(now.timestamp()),
            "exp": int((now + (valid or self.valid)).timestamp()),
            "nodes": [
                {
                    "id": n["id"],
                    "name": n.get("name", n["id"]),
                    "jurisdictions": n["jurisdictions"],
                    "endpoint": n["endpoint"],
                    "cert_pem": n["cert_pem"],
                    "agencies": n["agencies"],
                    "jwks": n["jwks"],
                }
                for n in nodes
            ],
            "datasets": [datasets[code] for code in sorted(datasets)],
            "rules": rules,
            "ca_pem": (self.ca_dir / "ca.pem").read_text(),
            "crl_pem": ca.current_crl(self.ca_dir).decode(),
        }
        return sign_snapshot(self.key, payload)


def create_directory_app(directory: Directory) -> FastAPI:
    """The directory's HTTP face. Everything it serves is public and signed (snapshot, CRL)."""
    app = FastAPI(title="onceonly directory", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/snapshot")
    def snapshot() -> Response:
        return Response(directory.snapshot(), media_type="application/jose")

    @app.get("/v1/crl.pem")
    def crl() -> PlainTextResponse:
        return PlainTextResponse(ca.current_crl(directory.ca_dir).decode())

    @app.get("/v1/crl")
    def crl_der() -> Response:
        """The CRL distribution point named in every certificate: DER, as RFC 5280 §4.2.1.13
        asks of an HTTP URI."""
        crl = x509.load_pem_x509_crl(ca.current_crl(directory.ca_dir))
        return Response(
            crl.public_bytes(serialization.Encoding.DER), media_type="application/pkix-crl"
        )

    @app.get("/v1/directory-key")
    def key() -> JSONResponse:
        return JSONResponse(directory.public_jwk())

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    mount_directory_witness(app, directory.home)  # witnesses the nodes' audit checkpoints
    return app
