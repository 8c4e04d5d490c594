"""The demo certificate authority and the demo citizen cards (示範自然人憑證).

Real citizens sign in with the 自然人憑證 smart card issued by MOICA (內政部憑證管理中心): the
card holds a private key that never leaves it and an X.509 certificate naming the holder. The
demo cannot hand out smart cards, so the project runs its own CA and writes each demo
citizen's "card" as files::

    data_dir/pki/demo-ca/ca-cert.pem, ca-key.pem     the demo CA (ECDSA P-256)
    data_dir/cards/<national ID>/card.pem             certificate + private key, one file
    data_dir/cards/<national ID>/cert.pem, key.pem    the same, separately

The certificate's subject carries the national ID as ``serialNumber`` (as MOICA certificates
carry an identifier of the holder) and the name as ``CN``. Keys are ECDSA P-256 because every
browser's WebCrypto signs with it, so the sign-in page can sign the challenge in the page.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onceonly.config import Settings
from onceonly.domain.national_id import validate_national_id
from onceonly.pki.ca import root_certificate

CA_NAME = "onceonly 示範自然人憑證管理中心 Demo Citizen CA"
CA_YEARS = 20
CARD_YEARS = 5


@dataclass(frozen=True)
class DemoCA:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    directory: Path

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca-cert.pem"


@dataclass(frozen=True)
class DemoCard:
    national_id: str
    name: str
    directory: Path
    serial: str
    """Hex serial number of the certificate."""
    created: bool

    @property
    def card_file(self) -> Path:
        """The one file a citizen picks on the sign-in page (certificate and key)."""
        return self.directory / "card.pem"


@dataclass(frozen=True)
class DemoPki:
    ca: DemoCA
    cards: list[DemoCard]


def ca_dir(settings: Settings) -> Path:
    return settings.data_dir / "pki" / "demo-ca"


def cards_dir(settings: Settings) -> Path:
    return settings.data_dir / "cards"


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(
        partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644
    )
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_ca_certificate(settings: Settings) -> x509.Certificate | None:
    """The demo CA's certificate (the trust anchor of card sign-in), if the CA exists."""
    path = ca_dir(settings) / "ca-cert.pem"
    return x509.load_pem_x509_certificate(path.read_bytes()) if path.is_file() else None


def ensure_demo_ca(settings: Settings) -> DemoCA:
    """The demo CA, created on first use (a self-signed P-256 root valid for 20 years)."""
    directory = ca_dir(settings)
    cert_path, key_path = directory / "ca-cert.pem", directory / "ca-key.pem"
    if cert_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return DemoCA(x509.load_pem_x509_certificate(cert_path.read_bytes()), key, directory)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TW"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "onceonly demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    now = datetime.now(UTC)
    not_after = now + timedelta(days=365 * CA_YEARS)
    certificate = root_certificate(key, name, now - timedelta(days=1), not_after)
    _write(key_path, _private_pem(key), private=True)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    return DemoCA(certificate, key, directory)


def issue_demo_card(
    settings: Settings,
    national_id: str,
    name: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    replace: bool = False,
) -> DemoCard:
    """Write a demo card for ``national_id`` (kept if one exists, unless ``replace``)."""
    national_id = validate_national_id(national_id)
    directory = cards_dir(settings) / national_id
    existing = directory / "cert.pem"
    if existing.is_file() and not replace:
        certificate = x509.load_pem_x509_certificate(existing.read_bytes())
        return DemoCard(national_id, name, directory, format(certificate.serial_number, "x"), False)
    ca = ensure_demo_ca(settings)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TW"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, national_id),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365 * CARD_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = _private_pem(key)
    _write(directory / "key.pem", key_pem, private=True)
    _write(directory / "card.pem", cert_pem + key_pem, private=True)
    _write(directory / "cert.pem", cert_pem)
    return DemoCard(national_id, name, directory, format(certificate.serial_number, "x"), True)


def ensure_demo_cards(settings: Settings, citizens: Iterable[tuple[str, str]]) -> list[DemoCard]:
    """A card for each (national ID, name), made only where none exists yet."""
    ensure_demo_ca(settings)
    return [issue_demo_card(settings, nid, name) for nid, name in citizens]


def ensure_demo_pki(settings: Settings) -> DemoPki:
    """The demo CA and a card for every sample citizen of the demo registries (idempotent).

    This is what ``onceonly demo`` calls once the registries exist; a second call makes
    nothing new and returns the same CA and cards. The sample citizens are read from the
    registries' ``manifest.json`` as a file, so the citizen portal needs no demo code.
    """
    manifest = json.loads((settings.registries_dir / "manifest.json").read_text("utf-8"))
    samples = manifest.get("sample_citizens", {}).values()
    people = sorted({(c["national_id"], c["name"]) for c in samples})
    ca = ensure_demo_ca(settings)
    return DemoPki(ca, ensure_demo_cards(settings, people))


def read_card(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A card's certificate and key, from its folder or its ``card.pem`` file."""
    path = Path(directory)
    data = (path / "card.pem").read_bytes() if path.is_dir() else path.read_bytes()
    certificate = x509.load_pem_x509_certificate(data)
    key = serialization.load_pem_private_key(data, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: the card key is not an ECDSA key")
    return certificate, key
