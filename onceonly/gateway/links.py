"""The platform node's side: which owners answer through their own gateway, and how to ask one.

``<data_dir>/gateways.json`` names this node's TLS identity (its certificate, key, the CA and
the CRL file) and, per gateway, its id (the audience of every request), its endpoint, the
owners behind it and their public keys (the only keys of those owners the node holds). A
piece of such an owner goes there as a whole; the gateway decides by the owner's own rules,
signs with the owner's key and audits; here the transcript is verified against the keys the
owner published before the clerk sees it. A gateway that cannot be reached is the plain
"owner not answering", as for a connector on this node.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onceonly.config import Settings
from onceonly.exchange.schemas import EvidenceAsk, EvidenceResult
from onceonly.federation.peer_http import PeerClients, PeerTimeout, PeerUnreachable
from onceonly.federation.remote import AnswerRefused, Revocations, _result, checked_answer
from onceonly.federation.signing import HEADER, NodeCredentials
from onceonly.gateway.server import EVIDENCE_PATH
from onceonly.gateway.setup import DATASETS
from onceonly.pki.trust import CertificateRefused, TrustAnchor, certificate_from_pem

LINKS_NAME = "gateways.json"


@dataclass(frozen=True)
class GatewayLink:
    id: str
    endpoint: str
    owners: tuple[str, ...]
    jwks: dict[str, Any]


@dataclass(frozen=True)
class GatewayLinks:
    node: str
    cert: str
    key: str
    ca: str
    crl: str
    gateways: tuple[GatewayLink, ...]
    timeout_seconds: float | None = None

    def gateway_of(self, owner: str) -> GatewayLink | None:
        return next((g for g in self.gateways if owner in g.owners), None)

    @classmethod
    def read(cls, settings: Settings) -> GatewayLinks | None:
        path = settings.data_dir / LINKS_NAME
        if not path.exists():
            return None
        data = json.loads(path.read_text("utf-8"))
        gateways = tuple(
            GatewayLink(g["id"], g["endpoint"], tuple(g["owners"]), g["jwks"])
            for g in data.pop("gateways", [])
        )
        return cls(**data, gateways=gateways)

    def write(self, settings: Settings) -> Path:
        path = settings.data_dir / LINKS_NAME
        data = {
            "node": self.node,
            "cert": self.cert,
            "key": self.key,
            "ca": self.ca,
            "crl": self.crl,
            "timeout_seconds": self.timeout_seconds,
            "gateways": [
                {"id": g.id, "endpoint": g.endpoint, "owners": list(g.owners), "jwks": g.jwks}
                for g in self.gateways
            ],
        }
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
        return path


class Gateways:
    """The owners' gateways, one more way of answering a piece
    (:class:`onceonly.exchange.fanout.RemoteNodes`)."""

    def __init__(self, settings: Settings, links: GatewayLinks) -> None:
        self.links = links
        self.credentials = NodeCredentials.load(links.node, links.cert, links.key)
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=links.ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(links.cert, links.key)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        self.revocations = Revocations(context)
        """The gateway's certificate is checked against the CRL in the handshake."""
        timeout = links.timeout_seconds or max(0.5, settings.provider_timeout_seconds - 0.2)
        self.client = PeerClients(context, timeout)

    def close(self) -> None:
        self.client.close()

    def is_remote(self, owner: str) -> bool:
        return self.links.gateway_of(owner) is not None

    def holders_elsewhere(self, dataset: str) -> dict[str, list[str]]:
        """Gateway id -> the owners behind it answering ``dataset`` (as the gateway published
        them with its keys): a dataset searched in every jurisdiction is asked of each such
        gateway once, like another node."""
        return holders_of(self.links, dataset)

    def peer_keys(self) -> list[dict[str, Any]]:
        return [key for g in self.links.gateways for key in g.jwks.get("keys", [])]

    def _trust(self) -> TrustAnchor:
        ca = Path(self.links.ca).read_bytes()
        crl_path = Path(self.links.crl)
        crl = crl_path.read_bytes() if crl_path.exists() else b""
        if crl:
            self.revocations.update(ca.decode(), crl.decode())
        return TrustAnchor.from_pem(ca, crl or None)

    def forward(
        self,
        owner: str,
        *,
        dataset: str,
        ask: EvidenceAsk,
        request_id: str,
        case_id: str,
        application_item: str,
        subject: str,
        actor: dict[str, str],
        about: str | None = None,
    ) -> EvidenceResult:
        """The gateway's answer for one piece, transcripts verified; refusals as results."""
        gateway = self.links.gateway_of(owner)
        assert gateway is not None
        try:
            trust = self._trust()
            trust.check(certificate_from_pem(self.credentials.cert_pem), self.links.node)
        except (OSError, ValueError, CertificateRefused) as exc:
            return _result(owner, ask, dataset, "failed", "gateway.own_cert_refused",
                           detail=str(exc)[:200])  # fmt: skip
        body = json.dumps(
            {
                "request_id": request_id,
                "case_id": case_id,
                "application_item": application_item,
                "subject": subject,
                "ask": ask.model_dump(mode="json"),
                "actor": actor,
                **({"about": about} if about else {}),
            },
            ensure_ascii=False,
        ).encode()
        signature = self.credentials.sign("POST", EVIDENCE_PATH, body, audience=gateway.id)
        try:
            response = self.client.post(
                gateway.endpoint.rstrip("/") + EVIDENCE_PATH,
                body,
                headers={HEADER: signature, "Content-Type": "application/json"},
            )
        except PeerTimeout:
            return _result(owner, ask, dataset, "unavailable", "exchange.owner_unavailable",
                           reason="timeout", retry_after=30)  # fmt: skip
        except PeerUnreachable as exc:
            tls = exc.tls
            if tls is not None:
                return _result(owner, ask, dataset, "failed", "gateway.tls_refused",
                               gateway=gateway.id, detail=tls)  # fmt: skip
            return _result(owner, ask, dataset, "unavailable", "exchange.owner_unavailable",
                           reason="down", retry_after=60)  # fmt: skip
        try:
            return checked_answer(
                response,
                jwks=gateway.jwks,
                issuers=gateway.owners,
                holder=gateway.id,
                request_id=request_id,
                subject=about or subject,
                ask=ask,
                dataset=dataset,
            )
        except AnswerRefused as refused:
            key = "gateway.refused" if refused.by_peer else "gateway.transcript_refused"
            return _result(
                owner, ask, dataset, "failed", key, gateway=gateway.id, **refused.details
            )


def holders_of(links: GatewayLinks, dataset: str) -> dict[str, list[str]]:
    """:meth:`Gateways.holders_elsewhere` without the network: only owners linked to that
    gateway count, whatever else its file names."""
    found: dict[str, list[str]] = {}
    for gateway in links.gateways:
        answered = gateway.jwks.get(DATASETS)
        answered = answered if isinstance(answered, dict) else {}
        owners = sorted(o for o in gateway.owners if dataset in (answered.get(o) or ()))
        if owners:
            found[gateway.id] = owners
    return found


def linked_owners(settings: Settings) -> dict[str, list[str]]:
    """The owners behind gateways linked to this node, with the datasets each answers (as
    their gateways publish them): a federation node registers them as its own, so the
    directory lists them and their keys, marked ``gateway`` custody."""
    links = GatewayLinks.read(settings)
    owners: dict[str, list[str]] = {}
    for gateway in links.gateways if links is not None else ():
        answered = gateway.jwks.get(DATASETS)
        answered = answered if isinstance(answered, dict) else {}
        for owner in gateway.owners:
            owners[owner] = sorted(answered.get(owner) or ())
    return owners


def connect(settings: Settings, local_owners: set[str]) -> Gateways | None:
    """The owners' gateways this node reaches, or ``None`` when it lists none."""
    links = GatewayLinks.read(settings)
    return Gateways(settings, links) if links is not None and links.gateways else None
