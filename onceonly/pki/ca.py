"""The federation's certificate authority: a root CA, node and agency certificates, a CRL.

The CA lives in one folder (``ca.pem``, ``ca.key`` mode 0600, ``issued.json`` listing every
certificate with its serial and revocation). Node certificates serve mutual TLS between nodes
and sign requests; their SAN holds ``127.0.0.1``/``localhost`` (plus any host asked for) and a
URI ``urn:onceonly:node:<id>`` that names the node, so a certificate cannot speak for another
node. Keys are ECDSA P-256: every TLS stack accepts them and they also sign JWS (ES256).
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NODE_URI_PREFIX = "urn:onceonly:node:"
AGENCY_URI_PREFIX = "urn:onceonly:agency:"
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "unspecified": x509.ReasonFlags.unspecified,
}
CRL_VALID = timedelta(days=7)


class PkiError(Exception):
    """A CA operation that cannot be done, and why (missing CA, unknown serial, ...)."""


@dataclass(frozen=True)
class IssuedCert:
    serial: str
    """Hex serial number, as ``openssl x509 -serial`` prints it."""
    kind: str
    name: str
    not_after: str
    cert_path: str
    revoked_at: str | None = None
    reason: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)


def _index_path(ca_dir: Path) -> Path:
    return ca_dir / "issued.json"


def _read_index(ca_dir: Path) -> list[IssuedCert]:
    path = _index_path(ca_dir)
    if not path.exists():
        return []
    return [IssuedCert(**row) for row in json.loads(path.read_text("utf-8"))]


def _write_index(ca_dir: Path, rows: list[IssuedCert]) -> None:
    path = _index_path(ca_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in rows], indent=2), "utf-8")
    tmp.replace(path)


def root_certificate(
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    *,
    signs_data: bool = False,
) -> x509.Certificate:
    """A self-signed root that may issue certificates and CRLs (path length 0: no
    intermediates); ``signs_data`` lets it sign other things too (digitalSignature)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=signs_data,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def init_ca(ca_dir: Path, name: str = "onceonly federation root CA", days: int = 3650) -> Path:
    """Create the root CA in ``ca_dir``; refuses to overwrite an existing one."""
    ca_dir = Path(ca_dir)
    if (ca_dir / "ca.pem").exists():
        raise PkiError(f"{ca_dir / 'ca.pem'} exists already")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = root_certificate(
        key, subject, now - timedelta(minutes=5), now + timedelta(days=days), signs_data=True
    )
    ca_dir.mkdir(parents=True, exist_ok=True)
    _write_private(ca_dir / "ca.key", key)
    (ca_dir / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_index(ca_dir, [])
    return ca_dir / "ca.pem"


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    except FileNotFoundError as exc:
        raise PkiError(f"no CA in {ca_dir}: run `onceonly pki init-ca` first") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError("the CA key is not an EC key")
    return cert, key


def _issue(
    ca_dir: Path,
    out_dir: Path,
    kind: str,
    name: str,
    san: list[x509.GeneralName],
    usages: list[x509.ObjectIdentifier],
    days: int,
) -> IssuedCert:
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, kind),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path = out_dir / f"{name}.pem"
    _write_private(out_dir / f"{name}.key", key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued = IssuedCert(
        serial=format(serial, "x"),
        kind=kind,
        name=name,
        not_after=cert.not_valid_after_utc.isoformat(),
        cert_path=str(cert_path.resolve()),
    )
    _write_index(ca_dir, [*_read_index(ca_dir), issued])
    return issued


def issue_node(
    ca_dir: Path, node_id: str, out_dir: Path, hosts: list[str] | None = None, days: int = 365
) -> IssuedCert:
    """A node certificate (TLS server and client, request signing) for ``node_id``."""
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_id),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    for host in hosts or []:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return _issue(ca_dir, out_dir, "node", node_id, names, usages, days)


def issue_agency(ca_dir: Path, agency: str, out_dir: Path, days: int = 365) -> IssuedCert:
    """An agency certificate (for an agency system calling its node, and for signing)."""
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(AGENCY_URI_PREFIX + agency)]
    return _issue(ca_dir, out_dir, "agency", agency, names, [ExtendedKeyUsageOID.CLIENT_AUTH], days)


def list_issued(ca_dir: Path) -> list[IssuedCert]:
    return _read_index(Path(ca_dir))


def revoke(ca_dir: Path, serial: str, reason: str = "unspecified") -> IssuedCert:
    """Mark the certificate ``serial`` revoked; the next CRL lists it."""
    if reason not in REVOCATION_REASONS:
        raise PkiError(f"reason must be one of {', '.join(REVOCATION_REASONS)}")
    _load_ca(Path(ca_dir))  # names a missing CA instead of "no such serial"
    rows = _read_index(Path(ca_dir))
    wanted = serial.lower().lstrip("0") or "0"
    for index, row in enumerate(rows):
        if row.serial.lstrip("0") == wanted:
            if row.revoked_at:
                return row
            rows[index] = IssuedCert(
                **{**asdict(row), "revoked_at": _now().isoformat(), "reason": reason}
            )
            _write_index(Path(ca_dir), rows)
            return rows[index]
    raise PkiError(f"no certificate with serial {serial} was issued by this CA")


def build_crl(ca_dir: Path) -> bytes:
    """The CRL (PEM) listing every revoked certificate, signed by the CA, valid a week."""
    ca_cert, ca_key = _load_ca(Path(ca_dir))
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + CRL_VALID)
    )
    for row in _read_index(Path(ca_dir)):
        if not row.revoked_at:
            continue
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(row.serial, 16))
            .revocation_date(datetime.fromisoformat(row.revoked_at))
            .add_extension(x509.CRLReason(REVOCATION_REASONS[row.reason or "unspecified"]), False)
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)
