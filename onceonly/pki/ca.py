"""The federation's certificate authority: a root CA, node and agency certificates, a CRL.

The CA lives in one folder (``ca.pem``, ``ca.key`` mode 0600, ``issued.json`` listing every
certificate with its serial and revocation, ``ca.json`` with the CRL's address, ``crl.pem`` the
CRL in force). Node certificates serve mutual TLS between nodes and sign requests; their SAN
holds ``127.0.0.1``/``localhost`` (plus any host asked for) and a URI
``urn:onceonly:node:<id>`` that names the node, so a certificate cannot speak for another
node. Keys are ECDSA P-256: every TLS stack accepts them and they also sign JWS (ES256).

Every certificate carries what RFC 5280 profiles expect (KeyUsage, Subject and Authority Key
Identifiers, a CRL Distribution Point), and the CRL carries a CRL Number and the Authority Key
Identifier (§5.2). The CRL is issued only when the revocations change or its nextUpdate nears,
each time with a larger number (persisted, so it never goes back), not on every request.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onceonly.i18n import both, one_line

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
CRL_RENEW = timedelta(days=3)
"""A CRL is issued anew once its nextUpdate is this close, so relying parties never hold an
expired one while the directory is reachable."""
BACKDATE = timedelta(minutes=5)
"""thisUpdate / notBefore lie this far back, so a relying party whose clock is a little behind
still accepts what was just issued."""
DEFAULT_CRL_URL = "http://127.0.0.1:8600/v1/crl"
"""Where ``onceonly directory serve`` (port 8600 by default) publishes the CRL (DER)."""


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


def _key_usage(
    *, digital_signature: bool = False, signs_certificates: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


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
            _key_usage(digital_signature=signs_data, signs_certificates=True), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def init_ca(
    ca_dir: Path,
    name: str = "onceonly federation root CA",
    days: int = 3650,
    crl_url: str = DEFAULT_CRL_URL,
) -> Path:
    """Create the root CA in ``ca_dir``; refuses to overwrite an existing one. ``crl_url`` is
    where relying parties fetch the CRL (the directory's ``/v1/crl``), written into every
    certificate this CA issues."""
    ca_dir = Path(ca_dir)
    if crl_url_problem(crl_url):
        raise PkiError(one_line(both("pki.bad_crl_url", url=crl_url)))
    if (ca_dir / "ca.pem").exists():
        raise PkiError(one_line(both("pki.ca_exists", path=ca_dir / "ca.pem")))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = root_certificate(
        key, subject, now - BACKDATE, now + timedelta(days=days), signs_data=True
    )
    ca_dir.mkdir(parents=True, exist_ok=True)
    _write_private(ca_dir / "ca.key", key)
    (ca_dir / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (ca_dir / "ca.json").write_text(json.dumps({"crl_url": crl_url}), "utf-8")
    _write_index(ca_dir, [])
    return ca_dir / "ca.pem"


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def is_host_name(text: str) -> bool:
    """Whether ``text`` is a DNS host name a TLS client can match (RFC 1123 labels, ASCII;
    an internationalised name in its ``xn--`` form): no scheme, port, path or space, which
    would make a certificate no client ever accepts for that host."""
    name = text.lower().removesuffix(".")
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    return all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def crl_url_problem(url: str) -> bool:
    """Whether ``url`` cannot be where relying parties fetch the CRL: it must be an http or
    https URL with a host (a CRL is signed, so plain http is the usual choice)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return True
    return parts.scheme not in ("http", "https") or not parts.hostname or " " in url


def crl_url_of(ca_dir: Path) -> str:
    """The CRL distribution point of this CA (the default for CAs made before it was kept)."""
    path = Path(ca_dir) / "ca.json"
    if not path.exists():
        return DEFAULT_CRL_URL
    return str(json.loads(path.read_text("utf-8")).get("crl_url") or DEFAULT_CRL_URL)


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    except FileNotFoundError as exc:
        raise PkiError(one_line(both("pki.no_ca", path=ca_dir))) from exc
    except (ValueError, TypeError) as exc:  # not PEM, or a key that needs a password
        raise PkiError(one_line(both("pki.ca_unreadable", path=ca_dir))) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(one_line(both("pki.ca_key_not_ec", path=ca_dir)))
    return cert, key


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI naming the CA by its own Subject Key Identifier (RFC 5280 §4.2.1.1)."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
"""A node id or agency code a certificate may name: it also names the files written, so no
path separator, no leading dot, nothing empty."""


def _issue(
    ca_dir: Path,
    out_dir: Path,
    kind: str,
    name: str,
    san: list[x509.GeneralName],
    usages: list[x509.ObjectIdentifier],
    days: int,
) -> IssuedCert:
    if not NAME_RE.fullmatch(name):
        raise PkiError(one_line(both("pki.bad_name", name=name)))
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    serial = x509.random_serial_number()
    distribution = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(crl_url_of(ca_dir))],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
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
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_authority_key_id(ca_cert), False)
        .add_extension(x509.CRLDistributionPoints([distribution]), False)
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
            if not is_host_name(host):
                raise PkiError(one_line(both("pki.bad_host", host=host))) from None
            names.append(x509.DNSName(host.lower()))
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
        raise PkiError(
            one_line(both("pki.bad_reason", reason=reason, allowed=", ".join(REVOCATION_REASONS)))
        )
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
            current_crl(Path(ca_dir))
            return rows[index]
    raise PkiError(one_line(both("pki.no_serial", serial=serial)))


@contextmanager
def _crl_lock(ca_dir: Path) -> Iterator[None]:
    """One issuer of the CRL at a time, across processes (the directory, ``pki revoke``)."""
    with open(ca_dir / ".crl.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0


def _revoked_rows(ca_dir: Path) -> dict[int, IssuedCert]:
    return {int(r.serial, 16): r for r in _read_index(ca_dir) if r.revoked_at}


def _still_good(
    crl: x509.CertificateRevocationList,
    ca_cert: x509.Certificate,
    revoked: dict[int, IssuedCert],
    now: datetime,
) -> bool:
    """The CRL on disk lists exactly today's revocations, is this CA's, and is not near its
    nextUpdate."""
    next_update = crl.next_update_utc
    return (
        crl.issuer == ca_cert.subject
        and crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
        and {entry.serial_number for entry in crl} == set(revoked)
        and next_update is not None
        and now < next_update - CRL_RENEW
    )


def current_crl(ca_dir: Path, now: datetime | None = None) -> bytes:
    """The CRL in force (PEM), issued anew only when the revocations changed or its nextUpdate
    is within :data:`CRL_RENEW`; each new one has a larger CRL Number and a later thisUpdate."""
    ca_dir = Path(ca_dir)
    ca_cert, ca_key = _load_ca(ca_dir)
    now = now or _now()
    path = ca_dir / "crl.pem"
    state_path = ca_dir / "crl.json"
    with _crl_lock(ca_dir):
        revoked = _revoked_rows(ca_dir)
        previous = x509.load_pem_x509_crl(path.read_bytes()) if path.exists() else None
        if previous is not None and _still_good(previous, ca_cert, revoked, now):
            return path.read_bytes()
        state = json.loads(state_path.read_text("utf-8")) if state_path.exists() else {}
        number = max(int(state.get("number", 0)), _crl_number(previous) if previous else 0) + 1
        this_update = (now - BACKDATE).replace(microsecond=0)  # as the CRL encodes it
        if previous is not None and previous.last_update_utc >= this_update:
            # strictly later than the last one: TLS stacks holding both pick the newest
            this_update = previous.last_update_utc + timedelta(seconds=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(this_update)
            .next_update(this_update + CRL_VALID)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(_authority_key_id(ca_cert), critical=False)
        )
        for serial, row in sorted(revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(datetime.fromisoformat(row.revoked_at or now.isoformat()))
                .add_extension(
                    x509.CRLReason(REVOCATION_REASONS[row.reason or "unspecified"]), False
                )
                .build()
            )
        pem = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        # the number first: a crash between the two writes skips a number, never repeats one
        _write_atomically(state_path, json.dumps({"number": number}).encode())
        _write_atomically(path, pem)
        return pem


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_crl(ca_dir: Path) -> bytes:
    """The CRL in force (PEM); see :func:`current_crl`."""
    return current_crl(ca_dir)
