"""Checking a peer's certificate: issued by the federation CA, in its validity period, not on
the CRL, and naming the node it claims to be. Each refusal carries a code for the reason."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from onceonly.pki.ca import NODE_URI_PREFIX


class CertificateRefused(Exception):
    """A certificate that must not be trusted; ``code`` names why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class TrustAnchor:
    """The CA certificate and the CRL in force (both from the directory's snapshot)."""

    ca: x509.Certificate
    crl: x509.CertificateRevocationList | None

    @classmethod
    def from_pem(cls, ca_pem: bytes, crl_pem: bytes | None) -> TrustAnchor:
        """The anchor of a CA and CRL as PEM; the same two give the same (immutable) anchor,
        parsed and its CRL signature checked once: every forwarded request asks for it."""
        return _anchor(ca_pem, crl_pem)

    def revoked(self, serial: int) -> x509.RevokedCertificate | None:
        if self.crl is None:
            return None
        return self.crl.get_revoked_certificate_by_serial_number(serial)

    def check(self, cert: x509.Certificate, node_id: str | None = None) -> str:
        """The node id the certificate names, after every check passed."""
        if cert.issuer != self.ca.subject or not isinstance(
            self.ca.public_key(), ec.EllipticCurvePublicKey
        ):
            raise CertificateRefused("unknown_ca", cert.issuer.rfc4514_string())
        if not _signed_by(self.ca, cert):
            raise CertificateRefused("unknown_ca", "signature does not verify")
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise CertificateRefused("cert_expired", cert.not_valid_after_utc.isoformat())
        entry = self.revoked(cert.serial_number)
        if entry is not None:
            reason = "unspecified"
            with contextlib.suppress(x509.ExtensionNotFound):
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
            raise CertificateRefused(
                "cert_revoked", f"serial {format(cert.serial_number, 'x')} ({reason})"
            )
        named = node_of_certificate(cert)
        if node_id is not None and named != node_id:
            raise CertificateRefused("wrong_node", f"certificate names {named!r}, not {node_id!r}")
        return named or ""


@functools.lru_cache(maxsize=256)
def _signed_by(ca: x509.Certificate, cert: x509.Certificate) -> bool:
    """Whether ``ca``'s key signed ``cert``: a fact about two unchanging certificates, so it
    is worked out once, not in every forwarded request on both nodes. Time and revocation
    are not facts of that kind; :meth:`TrustAnchor.check` asks them every time."""
    public = ca.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        public.verify(
            cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
        )
    except InvalidSignature:
        return False
    return True


@functools.lru_cache(maxsize=256)
def certificate_from_pem(pem: bytes) -> x509.Certificate:
    """The parsed certificate, once per distinct PEM (a node's own and its peers' are parsed
    on every forwarded request otherwise). Raises ``ValueError`` on a malformed one."""
    return x509.load_pem_x509_certificate(pem)


@functools.lru_cache(maxsize=256)
def certificate_from_der(der: bytes) -> x509.Certificate:
    """:func:`certificate_from_pem` for DER (a TLS peer's, a signature's ``x5c``)."""
    return x509.load_der_x509_certificate(der)


@functools.lru_cache(maxsize=8)
def _anchor(ca_pem: bytes, crl_pem: bytes | None) -> TrustAnchor:
    ca = x509.load_pem_x509_certificate(ca_pem)
    crl = x509.load_pem_x509_crl(crl_pem) if crl_pem else None
    if crl is not None and not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
        raise CertificateRefused("crl_bad_signature", "the CRL is not signed by the CA")
    return TrustAnchor(ca, crl)


@functools.lru_cache(maxsize=256)
def node_of_certificate(cert: x509.Certificate) -> str | None:
    """The node id a certificate names (its ``SubjectAlternativeName`` URI). Remembered per
    certificate (equal certificates hash alike): every forwarded request asks it twice."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(NODE_URI_PREFIX):
            return uri[len(NODE_URI_PREFIX) :]
    return None
