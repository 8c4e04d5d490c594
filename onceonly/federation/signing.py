"""Signed requests between nodes, on top of mutual TLS.

The sender signs (ES256, with its node certificate's key, the certificate in ``x5c``) the
method, the path, the SHA-256 of the body, the node it is meant for (``aud``), a nonce and the
time. The receiver refuses, each with its own code: no or malformed signature, a certificate
not from the federation CA, expired or on the CRL, a certificate naming another node, a node
not in the directory, a bad signature, a request meant for another node (``wrong_audience``:
a node cannot pass on what it was sent as if the sender had asked the next node), a TLS
connection authenticated as another node than the signer (``peer_mismatch``), a body or path
that differs from what was signed (``tampered``), a time more than :data:`MAX_SKEW` away from
its own clock (``clock_skew``), and a nonce seen before (``replay``; remembered in the
database, :mod:`onceonly.federation.nonces`, so also after a restart).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from onceonly.domain.errors import DomainValueError
from onceonly.federation.jose import registry
from onceonly.federation.models import NONCE_MAX_LENGTH
from onceonly.i18n import both
from onceonly.pki.trust import (
    CertificateRefused,
    TrustAnchor,
    certificate_from_der,
    certificate_from_pem,
    node_of_certificate,
)

HEADER = "X-Onceonly-Signature"
TYP = "onceonly-request+jwt"
MAX_SKEW = 120
"""Seconds a request's time may differ from the receiver's clock."""


class RequestRefused(Exception):
    """Why a node refused a request from another node."""

    def __init__(self, code: str, detail: str = "", sender: str = "?") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.sender = sender
        """The node the request came from, when that much was established."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def body_digest(body: bytes) -> str:
    return digest_text(hashlib.sha256(body).digest())


def digest_text(sha256: bytes) -> str:
    """A body's SHA-256 as a request signs it (``body_sha256``), for a body hashed as it
    arrived rather than held whole."""
    return _b64(sha256)


def node_key_refusal(key: object, *, certificate: bool = False) -> str | None:
    """The message key saying why ``key`` (a private key, or the public key of a certificate
    when ``certificate``) cannot be a node's, ``None`` when it can. A node signs every request
    to another node with ES256, which is ECDSA on P-256 only, and its peers check that
    signature with its certificate's key: any other key loads, and TLS takes it, but the first
    signed request fails. ``federation init`` and :meth:`NodeCredentials.load` both ask this."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return None
    return "federation.init.cert_not_p256" if certificate else "federation.init.key_not_p256"


@dataclass(frozen=True)
class NodeCredentials:
    """A node's certificate and key, loaded once."""

    node_id: str
    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, node_id: str, cert_path: str, key_path: str) -> NodeCredentials:
        """The credentials in these files; a key that is not P-256 (a configuration older than
        the check at ``init``, or edited by hand) is refused with the words ``init`` uses, in
        both languages, as a :class:`DomainValueError` the ``onceonly`` command explains."""
        with open(cert_path, "rb") as cert_file, open(key_path, "rb") as key_file:
            key = serialization.load_pem_private_key(key_file.read(), None)
            refusal = node_key_refusal(key)
            if refusal is not None:
                words = both(refusal, path=key_path)
                raise DomainValueError(refusal, words["zh-TW"], words["en"], "key")
            # node_key_refusal found it an EC private key
            return cls(node_id, cert_file.read(), cast(ec.EllipticCurvePrivateKey, key))

    @functools.cached_property
    def _protected(self) -> str:
        """The JWS header, the same on every request of this node: made once."""
        cert = certificate_from_pem(self.cert_pem)
        der = cert.public_bytes(serialization.Encoding.DER)
        header = {"alg": "ES256", "typ": TYP, "x5c": [base64.b64encode(der).decode()]}
        return _b64(json.dumps(header, separators=(",", ":")).encode())

    def sign(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        audience: str,
        now: float | None = None,
        nonce: str = "",
    ) -> str:
        """The signature header for a request to the node ``audience``, and only to it: a
        compact JWS (RFC 7515, ES256), written here rather than by joserfc, which took four
        times as long on every forwarded request."""
        claims = {
            "node": self.node_id,
            "aud": audience,
            "method": method.upper(),
            "path": path,
            "body_sha256": body_digest(body),
            "nonce": nonce or uuid.uuid4().hex,
            "ts": int(now if now is not None else time.time()),
        }
        signing_input = f"{self._protected}.{_b64(json.dumps(claims, sort_keys=True).encode())}"
        der = self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class Nonces(Protocol):
    """Where a receiver remembers the nonces it accepted, per sending node."""

    def first_use(self, peer: str, nonce: str) -> bool:
        """Record ``nonce`` of ``peer``; ``False`` when it was already recorded."""
        ...


class NonceStore:
    """Nonces seen within the replay window, in this process's memory only.

    For checks inside one process (tests, tools). A node's listener must use
    :class:`onceonly.federation.nonces.DurableNonceStore`: this one forgets everything on
    restart, so a request captured on the wire could be replayed, within its time window,
    to a node that just restarted.
    """

    def __init__(self, ttl: float = 2 * MAX_SKEW) -> None:
        self.ttl = ttl
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def first_use(self, peer: str, nonce: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {n: t for n, t in self._seen.items() if t > now}
            expiry = self._seen.get((peer, nonce))
            if expiry is not None and expiry > now:
                return False
            self._seen[(peer, nonce)] = now + self.ttl
            return True


def same_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) == b.public_key().public_bytes(serialization.Encoding.DER, spki)


@functools.lru_cache(maxsize=256)
def _verifying_key(cert: x509.Certificate) -> ECKey:
    """The key of a node's certificate (the same few certificates sign every request; importing
    the key cost more than checking the signature)."""
    return ECKey.import_key(
        cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def verify_request(
    token: str | None,
    method: str,
    path: str,
    body: bytes,
    trust: TrustAnchor,
    nonces: Nonces,
    *,
    audience: str,
    peer: x509.Certificate | None,
    now: float | None = None,
) -> dict[str, Any]:
    """The signed claims (``node`` is the sender) once every check passed: both halves,
    :func:`signer_claims` and :func:`check_claims`."""
    claims = signer_claims(token, trust, audience=audience, peer=peer)
    return check_claims(claims, method, path, body_digest(body), nonces, now=now)


def signer_claims(
    token: str | None, trust: TrustAnchor, *, audience: str, peer: x509.Certificate | None
) -> dict[str, Any]:
    """The signed claims once it is shown who signed them, for whom and over whose TLS
    connection: what a receiver can know before it reads the body, so that it need not take
    in a large body from a node it would refuse anyway. Never enough to act on: method, path,
    body, time and nonce are checked by :func:`check_claims`.

    ``audience`` is the receiving node's own id; ``peer`` the certificate the TLS client
    presented (``None`` when it presented none): it must name the signing node and hold the
    signing key, so only the signer itself can deliver its request."""
    if not token:
        raise RequestRefused("missing_signature")
    try:
        header = jws.extract_compact(token.encode(), registry=registry("ES256")).protected
        chain = header.get("x5c") or []
        cert = certificate_from_der(base64.b64decode(chain[0]))
    except (JoseError, ValueError, IndexError, TypeError) as exc:
        raise RequestRefused("malformed", str(exc)) from exc
    if header.get("alg") != "ES256" or header.get("typ") != TYP:
        raise RequestRefused("malformed", "not a signed onceonly request")
    try:
        named = trust.check(cert)
    except CertificateRefused as exc:
        raise RequestRefused(exc.code, exc.detail) from exc
    try:
        verified = jws.deserialize_compact(token, _verifying_key(cert), registry=registry("ES256"))
        claims: dict[str, Any] = json.loads(verified.payload)
    except (JoseError, ValueError) as exc:
        raise RequestRefused("bad_signature", str(exc)) from exc
    if claims.get("node") != named:
        raise RequestRefused(
            "wrong_node", f"signed as {claims.get('node')!r}, cert of {named!r}", named
        )
    if claims.get("aud") != audience:
        raise RequestRefused(
            "wrong_audience",
            f"signed by {named!r} for {claims.get('aud')!r}, received by {audience!r}",
            named,
        )
    if peer is None:
        raise RequestRefused("peer_mismatch", "no TLS client certificate", named)
    if node_of_certificate(peer) != named or not same_key(peer, cert):
        raise RequestRefused(
            "peer_mismatch",
            f"signed by {named!r}, TLS client certificate of {node_of_certificate(peer)!r}",
            named,
        )
    return claims


def check_claims(
    claims: dict[str, Any],
    method: str,
    path: str,
    digest: str,
    nonces: Nonces,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """``claims`` (from :func:`signer_claims`) once they sign this method, path and body
    (``digest``: :func:`body_digest`), are fresh and their nonce is new."""
    named = claims["node"]
    if (
        claims.get("method") != method.upper()
        or claims.get("path") != path
        or claims.get("body_sha256") != digest
    ):
        raise RequestRefused("tampered", "method, path or body differ from what was signed", named)
    moment = now if now is not None else time.time()
    sent = claims.get("ts")
    if not isinstance(sent, int) or abs(moment - sent) > MAX_SKEW:
        raise RequestRefused("clock_skew", f"{(sent or 0) - moment:+.0f} s", named)
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= NONCE_MAX_LENGTH:
        raise RequestRefused("malformed", f"a nonce is 16 to {NONCE_MAX_LENGTH} characters", named)
    if not nonces.first_use(named, nonce):
        raise RequestRefused("replay", f"nonce {nonce!r} already used", named)
    return claims
