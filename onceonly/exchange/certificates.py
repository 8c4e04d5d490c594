"""The X.509 certificates a PDF transcript's PAdES seal carries (:mod:`onceonly.exchange.pdf`).

Two, in a chain of two:

- the owner key's certificate, *self-issued*: subject = issuer = the agency, its public key
  the published Ed25519 JWK (so its thumbprint is the ``kid``), signed by the key itself (a
  key file or a PKCS#11 token alike), a CA for nothing but the seal below (path length 0).
  Kept beside the key file as ``<kid>.crt``;
- the seal certificate, issued by that key to the owner's P-256 seal key
  (:class:`onceonly.exchange.keys.SealKey`), which signs the PDF, because the PDF readers
  people use check ECDSA but not Ed25519. Kept as ``<kid>.seal.crt``.

No outside authority vouches for either; a reader trusts the seal because the chain ends in
the key the node publishes at ``/.well-known/jwks.json`` for that agency. A GCA-issued
certificate for the seal key would slot in beside it unchanged.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from onceonly.exchange.keys import SealKey, SigningKey

CERT_VALID_YEARS = 10


def certificate_path(key: SigningKey) -> str:
    return str(key.pem_path.with_suffix(".crt"))


def _raw_public(key: SigningKey) -> bytes:
    import base64

    x = str(key.public_jwk["x"])
    return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))


def _name(key: SigningKey, agency_name: str) -> asn1_x509.Name:
    return asn1_x509.Name.build(
        {
            "country_name": "TW",
            "organization_name": agency_name,
            "organizational_unit_name": "onceonly transcript signing key",
            "common_name": key.agency_code,
        },
        use_printable=False,
    )


def _time(moment: datetime) -> asn1_x509.Time:
    """UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)."""
    return asn1_x509.Time({"utc_time" if moment.year < 2050 else "general_time": moment})


def make_certificate(key: SigningKey, agency_name: str) -> asn1_x509.Certificate:
    """A self-issued X.509 certificate for ``key``, signed by the key itself (a key file or a
    token alike), allowed to certify the key's seal key only (a CA with path length 0).
    Valid from the key's creation for :data:`CERT_VALID_YEARS`."""
    name = _name(key, agency_name)
    start = key.created_at.astimezone(UTC).replace(microsecond=0)
    public = asn1_keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ed25519"}, "public_key": _raw_public(key)}
    )
    key_id = hashlib.sha1(_raw_public(key)).digest()  # RFC 5280 §4.2.1.2 method (1)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": int.from_bytes(hashlib.sha256(key.kid.encode()).digest()[:16]) >> 1,
            "signature": {"algorithm": "ed25519"},
            "issuer": name,
            "validity": {
                "not_before": _time(start),
                "not_after": _time(start + timedelta(days=365 * CERT_VALID_YEARS)),
            },
            "subject": name,
            "subject_public_key_info": public,
            "extensions": [
                {
                    "extn_id": "basic_constraints",
                    "critical": True,
                    "extn_value": {"ca": True, "path_len_constraint": 0},
                },
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "non_repudiation", "key_cert_sign"},
                },
                {"extn_id": "key_identifier", "critical": False, "extn_value": key_id},
            ],
        }
    )
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "ed25519"},
            "signature_value": key.sign(tbs.dump()),
        }
    )


def certificate_for(key: SigningKey, agency_name: str) -> asn1_x509.Certificate:
    """The key's certificate from beside the key file, made and kept there on first use."""
    path = key.pem_path.with_suffix(".crt")
    try:
        cert = asn1_x509.Certificate.load(_read_pem(path.read_bytes()))
        if cert.public_key.dump() == _public_info(key).dump() and cert.ca:
            return cert
    except FileNotFoundError:
        pass
    except ValueError:
        pass  # unreadable (or made before it certified seal keys): make it again
    cert = make_certificate(key, agency_name)
    _keep(path, cert)
    return cert


def _keep(path: Path, cert: asn1_x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(certificate_pem(cert))
    os.replace(temporary, path)


def seal_certificate_path(key: SigningKey) -> Path:
    return key.pem_path.with_name(f"{key.kid}.seal.crt")


def _seal_info(seal: SealKey) -> asn1_keys.PublicKeyInfo:
    der = seal.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return asn1_keys.PublicKeyInfo.load(der)


def make_seal_certificate(
    key: SigningKey, seal: SealKey, owner: asn1_x509.Certificate, agency_name: str
) -> asn1_x509.Certificate:
    """The seal key's certificate, issued (signed) by the owner's Ed25519 ``key`` whose
    certificate is ``owner``. Its common name is the agency's name in words: what a PDF
    reader shows as the signer."""
    public = _seal_info(seal)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    end = min(owner.not_valid_after, now + timedelta(days=365 * CERT_VALID_YEARS))
    subject = asn1_x509.Name.build(
        {
            "country_name": "TW",
            "organization_name": agency_name,
            "organizational_unit_name": key.agency_code,
            "common_name": agency_name,
        },
        use_printable=False,
    )
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": int.from_bytes(os.urandom(16)) >> 1,
            "signature": {"algorithm": "ed25519"},
            "issuer": owner.subject,
            "validity": {"not_before": _time(now), "not_after": _time(end)},
            "subject": subject,
            "subject_public_key_info": public,
            "extensions": [
                {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "non_repudiation"},
                },
                {
                    "extn_id": "key_identifier",
                    "critical": False,
                    "extn_value": hashlib.sha1(public["public_key"].contents).digest(),
                },
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": {"key_identifier": owner.key_identifier},
                },
            ],
        }
    )
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "ed25519"},
            "signature_value": key.sign(tbs.dump()),
        }
    )


def seal_certificate_for(
    key: SigningKey, seal: SealKey, agency_name: str
) -> tuple[asn1_x509.Certificate, asn1_x509.Certificate]:
    """The seal key's certificate and the owner key's that issued it, both kept beside the
    key file; made there on first use (or when the seal key changed)."""
    owner = certificate_for(key, agency_name)
    path = seal_certificate_path(key)
    try:
        cert = asn1_x509.Certificate.load(_read_pem(path.read_bytes()))
        if (
            cert.public_key.dump() == _seal_info(seal).dump()
            and cert.issuer == owner.subject
            and cert.not_valid_after > datetime.now(UTC)
        ):
            return cert, owner
    except (FileNotFoundError, ValueError):
        pass
    cert = make_seal_certificate(key, seal, owner, agency_name)
    _keep(path, cert)
    return cert, owner


def issued_by(cert: asn1_x509.Certificate, owner: asn1_x509.Certificate) -> bool:
    """Whether ``owner``'s Ed25519 key signed ``cert`` (a seal certificate)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if owner.public_key.algorithm != "ed25519" or cert.signature_algo != "ed25519":
        return False
    public = Ed25519PublicKey.from_public_bytes(owner.public_key["public_key"].native)
    try:
        public.verify(cert.signature, cert["tbs_certificate"].dump())
    except InvalidSignature:
        return False
    return cert.issuer == owner.subject


def _public_info(key: SigningKey) -> asn1_keys.PublicKeyInfo:
    return asn1_keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ed25519"}, "public_key": _raw_public(key)}
    )


def certificate_pem(cert: asn1_x509.Certificate) -> bytes:
    from asn1crypto import pem

    return bytes(pem.armor("CERTIFICATE", cert.dump()))


def _read_pem(data: bytes) -> bytes:
    from asn1crypto import pem

    if pem.detect(data):
        _, _, der = pem.unarmor(data)
        return bytes(der)
    return data


def stored_certificate(key: SigningKey) -> asn1_x509.Certificate | None:
    """The key's certificate if one was made, for the verification page to hand out."""
    try:
        return asn1_x509.Certificate.load(_read_pem(key.pem_path.with_suffix(".crt").read_bytes()))
    except (OSError, ValueError):
        return None


def stored_seal_certificate(key: SigningKey) -> asn1_x509.Certificate | None:
    """The key's seal certificate if one was made (the one that signs its PDFs)."""
    try:
        return asn1_x509.Certificate.load(_read_pem(seal_certificate_path(key).read_bytes()))
    except (OSError, ValueError):
        return None
