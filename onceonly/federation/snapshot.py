"""The directory's signed snapshot: who the member nodes are, what they serve, their keys, the
rules approved across nodes, the CA certificate and the CRL.

A snapshot is a compact JWS (EdDSA) signed by the directory's Ed25519 key, with ``iat`` and
``exp``. Nodes pin the directory's public key; a snapshot signed by anything else, or past its
``exp``, is refused with the reason. Nodes keep the last good one on disk, so they keep working
while the directory is down, until that copy expires.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from onceonly.exchange.fanout import HoldersUnknown
from onceonly.federation.jose import registry
from onceonly.i18n import LANGUAGES, both, taipei_time

TYP = "onceonly-directory-snapshot+jwt"
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


class SnapshotRefused(HoldersUnknown):
    """A snapshot that must not be used: ``code`` is ``malformed``, ``bad_signature``,
    ``expired``, ``not_yet_valid`` or ``unavailable`` (no usable copy at all); ``why`` says it
    in words (by default the code's own message, ``federation.snapshot.<code>``). The exchange
    sees it as :class:`~onceonly.exchange.fanout.HoldersUnknown` (it never imports this)."""

    def __init__(self, code: str, detail: str = "", why: Mapping[str, str] | None = None) -> None:
        super().__init__(code, detail, why or both(f"federation.snapshot.{code}"))


def _at(moment: datetime) -> dict[str, str]:
    return {lang: taipei_time(moment, lang) for lang in LANGUAGES}


@dataclass(frozen=True)
class NodeEntry:
    id: str
    name: str
    jurisdictions: tuple[str, ...]
    endpoint: str
    cert_pem: str
    agencies: dict[str, list[str]]
    """Agency code -> datasets it serves on this node (central replicas excluded)."""
    jwks: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """A verified snapshot; ``token`` is the JWS it came from, kept for the disk cache."""

    serial: int
    issued_at: datetime
    expires_at: datetime
    nodes: tuple[NodeEntry, ...]
    datasets: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    ca_pem: str
    crl_pem: str
    token: str

    def node(self, node_id: str) -> NodeEntry | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def node_serving(self, jurisdiction: str) -> NodeEntry | None:
        return next((n for n in self.nodes if jurisdiction in n.jurisdictions), None)

    def node_of_agency(self, agency: str) -> NodeEntry | None:
        return next((n for n in self.nodes if agency in n.agencies), None)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at


def sign_snapshot(key: OKPKey, payload: dict[str, Any]) -> str:
    header = {"alg": "EdDSA", "typ": TYP, "kid": key.thumbprint()}
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return jws.serialize_compact(header, body, key, registry=registry("EdDSA"))


def verify_snapshot(
    token: str, directory_key: dict[str, Any], now: datetime | None = None
) -> Snapshot:
    """Check the directory's signature and the validity period; raises :class:`SnapshotRefused`."""
    key = OKPKey.import_key(directory_key)
    try:
        header = jws.extract_compact(token.encode(), registry=registry("EdDSA")).protected
    except (JoseError, ValueError) as exc:
        raise SnapshotRefused("malformed", str(exc)) from exc
    if header.get("alg") != "EdDSA" or header.get("typ") != TYP:
        raise SnapshotRefused("malformed", "not a directory snapshot")
    try:
        payload = json.loads(
            jws.deserialize_compact(token, key, registry=registry("EdDSA")).payload
        )
    except (JoseError, ValueError) as exc:
        raise SnapshotRefused("bad_signature", str(exc)) from exc
    now = now or datetime.now(UTC)
    issued = datetime.fromtimestamp(int(payload["iat"]), UTC)
    expires = datetime.fromtimestamp(int(payload["exp"]), UTC)
    if now >= expires:
        raise SnapshotRefused(
            "expired", expires.isoformat(), both("federation.snapshot.expired", when=_at(expires))
        )
    if issued.timestamp() - 120 > now.timestamp():
        why = both("federation.snapshot.not_yet_valid", when=_at(issued))
        raise SnapshotRefused("not_yet_valid", issued.isoformat(), why)
    return Snapshot(
        serial=int(payload["serial"]),
        issued_at=issued,
        expires_at=expires,
        nodes=tuple(
            NodeEntry(
                id=n["id"],
                name=n.get("name", n["id"]),
                jurisdictions=tuple(n["jurisdictions"]),
                endpoint=n["endpoint"],
                cert_pem=n["cert_pem"],
                agencies={k: list(v) for k, v in n["agencies"].items()},
                jwks=n["jwks"],
            )
            for n in payload["nodes"]
        ),
        datasets=list(payload.get("datasets", [])),
        rules=list(payload.get("rules", [])),
        ca_pem=payload["ca_pem"],
        crl_pem=payload["crl_pem"],
        token=token,
    )
