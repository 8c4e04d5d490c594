"""Asking another node: the requesting side of cross-node evidence.

The exchange hands a piece here when its owner is an agency this node does not host. The piece
goes, over mutual TLS and signed, to the node the directory says hosts that owner; that node
decides by its owners' rules, fetches, signs with the owner's key and audits under the same
request id. Back here every transcript is verified against the keys that node published in the
snapshot before the clerk sees it. Whatever goes wrong ends as a result with a reason the
clerk can read (and the exchange audits it), never as a lost request.
"""

from __future__ import annotations

import json
import logging
import ssl
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from onceonly.config import Settings
from onceonly.exchange.minimise import merge_records
from onceonly.exchange.schemas import EvidenceAsk, EvidenceResult, Reason
from onceonly.exchange.transcript import TranscriptInvalid, verify_transcript
from onceonly.federation.node import NodeConfig, SnapshotCache
from onceonly.federation.peer_http import PeerClients, PeerResponse, PeerTimeout, PeerUnreachable
from onceonly.federation.signing import HEADER, NodeCredentials
from onceonly.federation.snapshot import NodeEntry, Snapshot, SnapshotRefused
from onceonly.i18n import both, catalogue
from onceonly.pki.trust import CertificateRefused, TrustAnchor, certificate_from_pem
from onceonly.policy.predicates import same_value

EVIDENCE_PATH = "/federation/v1/evidence"
log = logging.getLogger(__name__)


def tls_context(config: NodeConfig, server: bool = False) -> ssl.SSLContext:
    """Mutual TLS with the federation CA only (no public CAs), TLS 1.2 or newer."""
    purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
    context = ssl.create_default_context(purpose, cafile=config.ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.cert, config.key)
    if server:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Revocations:
    """Keeps a context's CRL in step with the directory's snapshot."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.loaded: str | None = None

    def update(self, ca_pem: str, crl_pem: str) -> bool:
        """Load ``crl_pem`` if it is new and signed by the CA; whether it was loaded."""
        if crl_pem == self.loaded:
            return False
        try:
            TrustAnchor.from_pem(ca_pem.encode(), crl_pem.encode())
        except (CertificateRefused, ValueError) as exc:
            log.warning("CRL not loaded: %s", exc)
            return False
        # ``cadata`` takes certificates only; a file may hold CRLs (X509_load_cert_crl_file)
        with tempfile.TemporaryDirectory(prefix="onceonly-crl-") as folder:
            path = Path(folder) / "crl.pem"
            path.write_text(crl_pem)
            self.context.load_verify_locations(cafile=path)
        self.loaded = crl_pem
        return True

    def refresh(self, snapshots: SnapshotCache) -> bool:
        try:
            snapshot = snapshots.current()
        except SnapshotRefused as exc:
            log.warning("no snapshot, the CRL in force stays: %s", exc)
            return False
        return self.update(snapshot.ca_pem, snapshot.crl_pem)


def _result(
    owner: str, ask: EvidenceAsk, dataset: str, status: str, key: str, **params: Any
) -> EvidenceResult:
    retry = params.pop("retry_after", None)
    cause = params.pop("cause", None)
    return EvidenceResult(
        evidence_type=ask.type,
        dataset=dataset,
        predicate=ask.type if ask.type != dataset else None,
        status=status,  # type: ignore[arg-type]
        owners=[owner],
        reason=Reason.model_validate(both(key, owner=owner, **params)),
        retry_after=retry,
        cause=cause,
    )


def _cert_refused(
    owner: str,
    ask: EvidenceAsk,
    dataset: str,
    key: str,
    exc: CertificateRefused,
    node: str = "",
) -> EvidenceResult:
    """A certificate that is revoked, expired or not the federation's: refused (``denied``,
    no retry hint), since asking again cannot help until a certificate is reissued."""
    side = "own" if key.startswith("federation.own_") else "partner"
    cause = f"{side}_certificate_refused"
    if exc.code == "cert_revoked":
        key, cause = key.replace("_refused", "_revoked"), f"{side}_certificate_revoked"
    return _result(
        owner, ask, dataset, "denied", key, node=node, code=exc.code, detail=exc.detail, cause=cause
    )


def _tls_cause(detail: str) -> str:
    """Whose certificate a refused handshake was about: the peer's alert that it revoked ours,
    or our check that theirs is revoked (anything else: theirs not trusted)."""
    text = detail.upper()
    if "ALERT_CERTIFICATE_REVOKED" in text:
        return "own_certificate_revoked"
    if "REVOKED" in text:
        return "partner_certificate_revoked"
    return "partner_certificate_refused"


class RemoteNodes:
    """The exchange's way to the other nodes, as the directory's snapshot lists them."""

    def __init__(self, settings: Settings, config: NodeConfig, local_owners: set[str]) -> None:
        self.config = config
        self.snapshots = SnapshotCache(settings, config)
        self.credentials = NodeCredentials.load(config.id, config.cert, config.key)
        self.local_owners = local_owners
        timeout = config.peer_timeout_seconds or max(0.5, settings.provider_timeout_seconds - 0.2)
        context = tls_context(config)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        self.revocations = Revocations(context)
        """The server's certificate is checked against the CRL in the handshake too."""
        self.client = PeerClients(context, timeout)

    def close(self) -> None:
        self.client.close()
        self.snapshots.close()

    def is_remote(self, owner: str) -> bool:
        """An owner this node does not host: central data is replicated to every node."""
        return bool(owner) and owner not in self.local_owners and not owner.startswith("central.")

    def holders_elsewhere(self, dataset: str) -> dict[str, list[str]]:
        """The agencies of other nodes holding ``dataset``, by node id, as the snapshot in force
        lists them: where a dataset searched in every jurisdiction (land, buildings) must be
        asked too, once per node (that node asks each of its own offices). Raises
        :class:`SnapshotRefused` when no snapshot can be trusted: an answer such as "owns no
        home" must then not be given from this node's offices alone."""
        snapshot = self.snapshots.current()
        found = {
            node.id: sorted(a for a, held in node.agencies.items() if dataset in held)
            for node in snapshot.nodes
            if node.id != self.config.id
        }
        return {node: agencies for node, agencies in found.items() if agencies}

    def peer_keys(self) -> list[dict[str, Any]]:
        """The other nodes' transcript-signing keys (JWK Set members) from the snapshot in
        force, so pages can verify transcripts signed elsewhere. None when no snapshot can be
        trusted: such transcripts then show as unverifiable, never as valid."""
        try:
            snapshot = self.snapshots.current()
        except SnapshotRefused:
            return []
        return [
            key
            for node in snapshot.nodes
            if node.id != self.config.id
            for key in node.jwks.get("keys", [])
        ]

    def post_signed(
        self, snapshot: Snapshot, node: NodeEntry, path: str, body: bytes
    ) -> PeerResponse:
        """``body`` signed for ``node`` alone and posted to its listener over mutual TLS, the
        listener's certificate checked against the snapshot's CRL in the handshake."""
        self.revocations.update(snapshot.ca_pem, snapshot.crl_pem)
        signature = self.credentials.sign("POST", path, body, audience=node.id)
        return self.client.post(
            node.endpoint.rstrip("/") + path,
            body,
            headers={HEADER: signature, "Content-Type": "application/json"},
        )

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
        """The owner node's answer for one piece, transcripts verified; refusals as results."""
        try:
            snapshot = self.snapshots.current()
            trust = TrustAnchor.from_pem(snapshot.ca_pem.encode(), snapshot.crl_pem.encode())
        except SnapshotRefused as exc:
            return _result(
                owner,
                ask,
                dataset,
                "failed",
                "federation.snapshot_refused",
                why=exc.why,
                retry_after=60,
            )
        node = snapshot.node_of_agency(owner)
        if node is None:
            return _result(
                owner, ask, dataset, "unavailable", "federation.no_node", retry_after=3600
            )
        try:
            trust.check(certificate_from_pem(self.credentials.cert_pem), self.config.id)
        except CertificateRefused as exc:
            return _cert_refused(owner, ask, dataset, "federation.own_cert_refused", exc)
        try:
            trust.check(certificate_from_pem(node.cert_pem.encode()), node.id)
        except CertificateRefused as exc:
            return _cert_refused(
                owner, ask, dataset, "federation.peer_cert_refused", exc, node.name
            )
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
        try:
            response = self.post_signed(snapshot, node, EVIDENCE_PATH, body)
        except PeerTimeout:
            return _result(
                owner,
                ask,
                dataset,
                "unavailable",
                "federation.peer_timeout",
                node=node.name,
                retry_after=30,
            )
        except PeerUnreachable as exc:
            tls = exc.tls
            if tls is not None:
                return _result(
                    owner,
                    ask,
                    dataset,
                    "failed",
                    "federation.peer_tls_refused",
                    node=node.name,
                    detail=tls,
                    cause=_tls_cause(tls),
                )
            return _result(
                owner,
                ask,
                dataset,
                "unavailable",
                "federation.peer_down",
                node=node.name,
                retry_after=60,
            )
        try:
            return checked_answer(
                response,
                jwks=node.jwks,
                issuers=node.agencies,
                holder=node.id,
                request_id=request_id,
                subject=about or subject,
                ask=ask,
                dataset=dataset,
            )
        except AnswerRefused as refused:
            key = "federation.peer_refused" if refused.by_peer else "federation.transcript_refused"
            return _result(owner, ask, dataset, "failed", key, node=node.name, **refused.details)


class AnswerRefused(Exception):
    """A peer's answer not taken: the peer refused (``by_peer``), or a transcript in it did not
    verify, came from an owner the peer does not hold, or answered another request."""

    def __init__(self, by_peer: bool, **details: str | Mapping[str, str]) -> None:
        details = {name: _bounded(value) for name, value in details.items()}
        detail = details.get("detail", "")
        super().__init__(detail if isinstance(detail, str) else detail.get("en", ""))
        self.by_peer = by_peer
        self.details = details
        """Parameters of the message a clerk reads; a mapping is one text per language. Each
        is cut at :data:`PEER_TEXT_LIMIT`: the peer chose much of it (a key id, an issuer, its
        own problem's words), and a clerk's reason is no place for a page of its text."""


PEER_TEXT_LIMIT = 200


def _bounded(value: str | Mapping[str, str]) -> str | Mapping[str, str]:
    if isinstance(value, str):
        return value[:PEER_TEXT_LIMIT]
    return {lang: text[:PEER_TEXT_LIMIT] for lang, text in value.items()}


_STATUS_WORDS = {400: "invalid", 422: "invalid", 401: "not_allowed", 403: "not_allowed",
                 404: "not_found", 409: "conflict", 429: "busy"}  # fmt: skip


def _refusal_words(code: str, status: int) -> dict[str, str]:
    """Why a peer refused, as a clerk reads it: the words of this federation's own refusal
    for its code (a node or a gateway refuses with :class:`~onceonly.federation.signing.
    RequestRefused`'s codes), else the kind of its HTTP status; never the code itself, which
    the peer chose."""
    if f"federation.refused.{code}" in catalogue():
        return both(f"federation.refused.{code}")
    kind = _STATUS_WORDS.get(status) or ("failed" if status >= 500 else "other")
    return both(f"federation.peer_status.{kind}")


def checked_answer(
    response: PeerResponse,
    *,
    jwks: dict[str, Any],
    issuers: Collection[str],
    holder: str,
    request_id: str,
    subject: str,
    ask: EvidenceAsk,
    dataset: str,
) -> EvidenceResult:
    """The answer of another node or an owner's gateway, with every transcript verified
    against the keys that peer publishes, issued by an owner it holds, for this very request,
    subject and question (``dataset``, and ``ask``'s predicate with its parameters);
    :class:`AnswerRefused` otherwise. What the answer says (yes or no, the record) is taken
    from the signed transcripts, never from the peer's unsigned JSON beside them, and an
    answer said to be issued must carry them: a peer could otherwise say "yes" beside a
    transcript saying "no", or answer another question than the one asked."""
    if response.status_code != 200:
        problem = json_object(response)
        raise AnswerRefused(
            True,
            why=_refusal_words(str(problem.get("code") or ""), response.status_code),
            detail=str(problem.get("detail") or problem.get("title") or ""),
        )
    try:
        result = EvidenceResult.model_validate(json_object(response).get("result"))
    except ValueError as exc:
        raise AnswerRefused(False, detail=both("federation.answer.not_a_result")) from exc
    signed = []
    for issued in result.transcripts:
        try:
            verified = verify_transcript(issued.jws, jwks)
        except TranscriptInvalid as exc:
            why = {"zh-TW": exc.reason_zh, "en": exc.reason_en}
            raise AnswerRefused(False, detail=why) from exc
        if verified.claims.issuer not in issuers:
            why = both("federation.answer.not_held", issuer=verified.claims.issuer, holder=holder)
            raise AnswerRefused(False, detail=why)
        if verified.claims.request_id != request_id or verified.claims.subject != subject:
            raise AnswerRefused(False, detail=both("federation.answer.other_request"))
        if not _answers(verified.claims, ask, dataset):
            raise AnswerRefused(False, detail=both("federation.answer.other_question"))
        signed.append(verified.claims)
    if result.status == "issued" and not signed:
        raise AnswerRefused(False, detail=both("federation.answer.unsigned"))
    if not signed:
        return result
    if ask.type != dataset:  # a predicate: it holds only if it holds at each owner
        asked = [c.predicate or {} for c in signed]  # every one answers it (_answers)
        details = [dict(p["detail"]) for p in asked if p.get("detail")]
        return result.model_copy(
            update={
                "answer": all(bool(p.get("answer")) for p in asked),
                "answer_detail": details[0] if len(details) == 1 else None,
                "fields": None,
            }
        )
    merged = merge_records(c.fields or {} for c in signed)
    return result.model_copy(update={"fields": merged, "answer": None, "answer_detail": None})


def _answers(claims: Any, ask: EvidenceAsk, dataset: str) -> bool:
    """Whether a signed transcript answers the question asked: the dataset, and for a
    predicate its code and every parameter it was asked with."""
    if claims.dataset != dataset:
        return False
    if ask.type == dataset:  # the record itself
        return claims.predicate is None
    asked = claims.predicate or {}
    if asked.get("code") != ask.type:
        return False
    given = asked.get("params") or {}
    return all(same_value(given.get(name), value) for name, value in (ask.params or {}).items())


def json_object(response: PeerResponse) -> dict[str, Any]:
    """A peer's JSON answer when it is an object, else empty (a proxy's HTML page)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def connect(settings: Settings, local_owners: set[str]) -> RemoteNodes | None:
    """The way to other nodes when this deployment is a federation node, else ``None``."""
    config = NodeConfig.read(settings)
    if config is None:
        return None
    return RemoteNodes(settings, config, local_owners)
