"""Each owner key's X.509 certificate, which PAdES signatures need (:mod:`onceonly.exchange.pdf`).

The certificate is *self-issued*: subject = issuer = the agency, its public key the published
JWK (so its thumbprint is the ``kid``), signed by the key itself (a key file or a PKCS#11
token alike), made on first use and kept beside the key file as ``<kid>.crt``. No authority
vouches for it; a reader trusts it because its key is the one the node publishes at
``/.well-known/jwks.json``. A GCA-issued certificate for the same key can replace the file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from onceonly.exchange.keys import SigningKey

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
    token alike). Valid from the key's creation for :data:`CERT_VALID_YEARS`."""
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
                    "extn_value": {"ca": False},
                },
                {
                    "extn_id": "key_usage",
                    "critical": True,
                    "extn_value": {"digital_signature", "non_repudiation"},
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
        if cert.public_key.dump() == _public_info(key).dump():
            return cert
    except FileNotFoundError:
        pass
    except ValueError:
        pass  # unreadable: make it again
    cert = make_certificate(key, agency_name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(f".crt.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(certificate_pem(cert))
    os.replace(temporary, path)
    return cert


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
