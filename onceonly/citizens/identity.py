"""How a citizen proves who they are: identity providers behind one small interface.

:class:`IdentityProvider` has two steps, the shape every web sign-in has:

``begin``
    make a one-time challenge and say what the client must do with it;
``complete``
    check the client's answer and return the verified national ID and name.

:class:`CardIdentityProvider` is the citizen digital certificate (自然人憑證): ``begin``
returns a text to sign; the card (WebCrypto in the sign-in page, or
``onceonly citizen sign-challenge``) signs it with ECDSA P-256 / SHA-256; ``complete`` checks
the signature, that the certificate was issued by the trusted CA, is within its validity and
not revoked, and that the challenge is fresh and unused.

An OpenID Connect provider (e.g. a national login service) fits the same interface:
``begin`` stores ``state``, ``nonce`` and a PKCE verifier in :class:`SignInChallenge` and
returns ``redirect_url`` (the provider's authorisation endpoint with those parameters);
``complete`` receives the callback's ``{"state", "code"}``, loads the challenge by ``state``,
exchanges the code at the token endpoint, checks the ID token's signature against the
provider's JWKS and its ``iss``, ``aud``, ``exp`` and ``nonce``, and returns the national ID
from the agreed claim. Add it to :func:`providers`; a callback route
(``/citizen/sign-in/oidc/callback``) calls its ``complete`` and then opens the session exactly
as ``/api/v1/citizen/sign-in/complete`` does for the card (``ensure_citizen`` +
``create_session``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from onceonly.citizens.cards import load_ca_certificate
from onceonly.citizens.models import CardRevocation, SignInChallenge
from onceonly.config import Settings
from onceonly.db import as_utc, utcnow
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import validate_national_id
from onceonly.i18n import t

CHALLENGE_SECONDS = 120
CHALLENGE_PREFIX = "onceonly-citizen-sign-in"


class SignInFailed(Exception):
    """The answer does not prove who the citizen is; ``code`` says why (for people: ``reason``)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)

    def reason(self, lang: str | None) -> str:
        return t(f"citizens.signin.failed.{self.code}", lang, **self.params)


@dataclass(frozen=True)
class SignInStart:
    provider: str
    challenge_id: str
    expires_at: datetime
    challenge: str | None = None
    """The text the client signs (card providers)."""
    redirect_url: str | None = None
    """Where to send the browser (redirecting providers such as OpenID Connect)."""


@dataclass(frozen=True)
class VerifiedIdentity:
    national_id: str
    name: str
    provider: str
    credential: str
    """What proved it, e.g. the certificate's serial number."""


class IdentityProvider(Protocol):
    name: str

    def begin(self, session: Session, *, audience: str) -> SignInStart: ...

    def complete(
        self, session: Session, response: Mapping[str, Any], *, audience: str
    ) -> VerifiedIdentity: ...


def _b64decode(value: str) -> bytes:
    value = value.strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def challenge_text(challenge_id: str, nonce: str, audience: str) -> str:
    """What the card signs: bound to this challenge and to the site that asked for it."""
    return f"{CHALLENGE_PREFIX}|{audience}|{challenge_id}|{nonce}"


def _subject_value(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _raw_to_der(signature: bytes) -> bytes:
    """WebCrypto gives ECDSA signatures as r || s (64 bytes for P-256); X.509 wants DER."""
    if len(signature) != 64:
        raise SignInFailed("bad_signature")
    return encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )


class CardIdentityProvider:
    """Sign-in with a citizen certificate issued by the configured CA (the demo CA here)."""

    name = "card"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def begin(self, session: Session, *, audience: str) -> SignInStart:
        now = utcnow()
        challenge_id = secrets.token_urlsafe(24)
        text = challenge_text(challenge_id, secrets.token_urlsafe(32), audience)
        expires = now + timedelta(seconds=CHALLENGE_SECONDS)
        session.add(
            SignInChallenge(
                id=challenge_id,
                provider=self.name,
                challenge=text,
                created_at=now,
                expires_at=expires,
            )
        )
        session.flush()
        return SignInStart(self.name, challenge_id, expires, challenge=text)

    def _use_challenge(
        self, session: Session, challenge_id: str, audience: str, now: datetime
    ) -> str:
        row = session.get(SignInChallenge, challenge_id, with_for_update=True)
        if row is None or row.provider != self.name:
            raise SignInFailed("unknown_challenge")
        if row.used_at is not None:
            raise SignInFailed("used_challenge")
        if as_utc(row.expires_at) <= now:
            raise SignInFailed("expired_challenge")
        if row.challenge.split("|")[1] != audience:
            raise SignInFailed("wrong_audience", audience=audience)
        row.used_at = now
        session.flush()
        return row.challenge

    def _check_certificate(
        self, session: Session, certificate: x509.Certificate, now: datetime
    ) -> None:
        anchor = load_ca_certificate(self.settings)
        if anchor is None:
            raise SignInFailed("no_ca")
        try:
            if certificate.issuer != anchor.subject:
                raise ValueError("issuer")
            certificate.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise SignInFailed("untrusted") from error
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise SignInFailed(
                "expired_card", until=certificate.not_valid_after_utc.date().isoformat()
            )
        serial = format(certificate.serial_number, "x")
        if session.get(CardRevocation, serial) is not None:
            raise SignInFailed("revoked_card", serial=serial)

    def complete(
        self, session: Session, response: Mapping[str, Any], *, audience: str
    ) -> VerifiedIdentity:
        """``response``: ``challenge_id``, ``certificate`` (PEM) and ``signature`` (base64url
        of the raw r || s ECDSA signature over the challenge text)."""
        now = utcnow()
        try:
            certificate = x509.load_pem_x509_certificate(str(response["certificate"]).encode())
            signature = _raw_to_der(_b64decode(str(response["signature"])))
            challenge_id = str(response["challenge_id"])
        except (KeyError, ValueError, TypeError) as error:
            raise SignInFailed("malformed") from error
        text = self._use_challenge(session, challenge_id, audience, now)
        self._check_certificate(session, certificate, now)
        public = certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise SignInFailed("bad_signature")
        try:
            public.verify(signature, text.encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as error:
            raise SignInFailed("bad_signature") from error
        try:
            national_id = validate_national_id(_subject_value(certificate, NameOID.SERIAL_NUMBER))
        except DomainValueError as error:
            raise SignInFailed("no_national_id") from error
        name = _subject_value(certificate, NameOID.COMMON_NAME) or national_id
        return VerifiedIdentity(
            national_id, name, self.name, format(certificate.serial_number, "x")
        )


def sign_challenge(key: ec.EllipticCurvePrivateKey, challenge: str) -> str:
    """What the card does (for the CLI and tests): raw r || s, base64url without padding."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(key.sign(challenge.encode(), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def revoke_card(session: Session, serial: str, national_id: str, reason: str = "") -> None:
    """Stop a certificate from signing in (idempotent)."""
    serial = serial.lower().lstrip("0") or "0"
    if session.get(CardRevocation, serial) is None:
        session.add(
            CardRevocation(
                serial=serial, national_id=national_id, revoked_at=utcnow(), reason=reason
            )
        )
        session.flush()


def providers(settings: Settings) -> dict[str, IdentityProvider]:
    """The identity providers this node offers, by name."""
    return {"card": CardIdentityProvider(settings)}
