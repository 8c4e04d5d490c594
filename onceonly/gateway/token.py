"""The owner's signing key in a PKCS#11 token (an HSM, or SoftHSM2 in tests), through
python-pkcs11.

The key pair is made inside the token (:func:`generate_key`): the private half is
``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``, so no one, the gateway included, can read it
out; the gateway only asks the token to sign (``CKM_EDDSA``, Ed25519, the transcripts' own
algorithm). The PIN comes from a file or an environment variable, never the command line
(where any user of the machine could read it in the process list).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ecdsa_signature, encode_named_curve_parameters

from onceonly.exchange.keys import CURVE, SealKey
from onceonly.i18n import both, one_line

PIN_ENV = "ONCEONLY_PKCS11_PIN"
ED25519_OID = "1.3.101.112"
SEAL_CURVE = "secp256r1"
SEAL_SUFFIX = ".seal"
"""The seal key's label is the signing key's with this suffix."""
_PRIVATE = {
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.PRIVATE: True,
    Attribute.SIGN: True,
}


class TokenError(Exception):
    """The token, the key or the PIN is not there or not usable; says which, in words."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.text = both(f"gateway.token.{code}", **params)
        super().__init__(one_line(self.text))


def read_pin(pin_file: Path | None) -> str:
    """The user PIN from ``pin_file`` (first line) or ``$ONCEONLY_PKCS11_PIN``."""
    if pin_file is not None:
        try:
            lines = pin_file.read_text("utf-8").splitlines()
        except OSError as exc:
            raise TokenError("pin_file", path=pin_file, reason=exc.strerror) from exc
        if not lines or not lines[0].strip():
            raise TokenError("pin_empty", path=pin_file)
        return lines[0].strip()
    pin = os.environ.get(PIN_ENV, "")
    if not pin:
        raise TokenError("no_pin", env=PIN_ENV)
    return pin


def _public_jwk(point: bytes) -> dict[str, Any]:
    """The JWK of an Ed25519 public key from ``CKA_EC_POINT`` (a DER OCTET STRING of the
    32-byte key, as SoftHSM2 gives it, or the bare 32 bytes)."""
    raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
    if len(raw) != 32:
        raise TokenError("not_ed25519", size=len(point))
    return {"kty": "OKP", "crv": CURVE, "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


def _open(module: Path, token_label: str, pin: str) -> Any:
    try:
        token = pkcs11.lib(str(module)).get_token(token_label=token_label)
        return token.open(user_pin=pin, rw=True)
    except pkcs11.exceptions.NoSuchToken as exc:
        raise TokenError("no_token", label=token_label, module=module) from exc
    except pkcs11.exceptions.PinIncorrect as exc:
        raise TokenError("wrong_pin", label=token_label) from exc
    except (OSError, RuntimeError, pkcs11.exceptions.PKCS11Error) as exc:
        raise unusable(module, exc) from exc


_LOADING = "OS exception while loading "
_TROUBLE = {
    "token_absent": (
        pkcs11.exceptions.TokenNotPresent,
        pkcs11.exceptions.TokenNotRecognised,
        pkcs11.exceptions.DeviceRemoved,
        pkcs11.exceptions.SlotIDInvalid,
    ),
    "pin_locked": (pkcs11.exceptions.PinLocked,),
    "pin_expired": (pkcs11.exceptions.PinExpired, pkcs11.exceptions.UserPinNotInitialized),
    "device_error": (
        pkcs11.exceptions.DeviceError,
        pkcs11.exceptions.DeviceMemory,
        pkcs11.exceptions.GeneralError,
        pkcs11.exceptions.FunctionFailed,
        pkcs11.exceptions.HostMemory,
    ),
    "sessions_full": (pkcs11.exceptions.SessionCount,),
    "read_only": (pkcs11.exceptions.TokenWriteProtected, pkcs11.exceptions.SessionReadOnly),
}
"""The token's refusals an operator meets, each told in words of its own (the library's
exceptions mostly carry no message; their class names are no words for anyone)."""


def unusable(module: Path, exc: BaseException) -> TokenError:
    """What went wrong with the PKCS#11 library or its token, in words: the library that
    could not be loaded (and the system's reason), a known refusal of the token, or the
    library's own message."""
    text = str(exc)
    if text.startswith(_LOADING):  # python-pkcs11: "OS exception while loading <path>: why"
        reason = text[len(_LOADING) :].removeprefix(f"{module}:").strip()
        return TokenError("no_library", module=module, reason=reason)
    if isinstance(exc, OSError):
        return TokenError("no_library", module=module, reason=exc.strerror or text)
    for code, kinds in _TROUBLE.items():
        if isinstance(exc, kinds):
            return TokenError(code, module=module)
    if text:
        return TokenError("unusable", module=module, detail=text)
    return TokenError("unusable_silent", module=module)


def generate_key(module: Path, token_label: str, key_label: str, pin: str) -> dict[str, Any]:
    """Make an Ed25519 key pair inside the token, and its P-256 seal key pair beside it (the
    private halves sensitive and never extractable); the Ed25519 public JWK. Refuses a label
    already in use."""
    session = _open(module, token_label, pin)
    try:
        for label in (key_label, key_label + SEAL_SUFFIX):
            if list(session.get_objects({Attribute.LABEL: label})):
                raise TokenError("label_taken", token=token_label, label=label)
        params = session.create_domain_parameters(
            KeyType.EC_EDWARDS,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
            local=True,
        )
        public, _ = params.generate_keypair(store=True, label=key_label, private_template=_PRIVATE)
        seal_params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(SEAL_CURVE)}, local=True
        )
        seal_params.generate_keypair(
            store=True, label=key_label + SEAL_SUFFIX, private_template=_PRIVATE
        )
        return _public_jwk(bytes(public[Attribute.EC_POINT]))
    finally:
        session.close()


def _seal_public(point: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key from ``CKA_EC_POINT`` (a DER OCTET STRING of the uncompressed
    point, or the bare point)."""
    raw = point[2:] if len(point) == 67 and point[:2] == b"\x04\x41" else point
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


class TokenKey:
    """One logged-in session on the token and the key labelled ``key_label`` in it."""

    def __init__(
        self,
        session: Any,
        private: Any,
        public_jwk: dict[str, Any],
        seal_private: Any = None,
        seal_public: ec.EllipticCurvePublicKey | None = None,
    ) -> None:
        self.session, self.private, self.public_jwk = session, private, public_jwk
        self._seal_private, self._seal_public = seal_private, seal_public
        self._lock = threading.Lock()  # a PKCS#11 session serves one call at a time

    @classmethod
    def open(cls, module: Path, token_label: str, key_label: str, pin: str) -> TokenKey:
        session = _open(module, token_label, pin)
        try:
            private = session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC_EDWARDS, label=key_label
            )
            public = session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC_EDWARDS, label=key_label
            )
            jwk = _public_jwk(bytes(public[Attribute.EC_POINT]))
        except pkcs11.exceptions.NoSuchKey as exc:
            session.close()
            raise TokenError("no_key", label=key_label) from exc
        except pkcs11.exceptions.MultipleObjectsReturned as exc:
            session.close()
            raise TokenError("many_keys", label=key_label) from exc
        try:  # a token keyed before seal keys has none: it signs JWS, but no PDF
            seal_private = session.get_key(
                object_class=ObjectClass.PRIVATE_KEY,
                key_type=KeyType.EC,
                label=key_label + SEAL_SUFFIX,
            )
            seal_public = _seal_public(
                bytes(
                    session.get_key(
                        object_class=ObjectClass.PUBLIC_KEY,
                        key_type=KeyType.EC,
                        label=key_label + SEAL_SUFFIX,
                    )[Attribute.EC_POINT]
                )
            )
        except pkcs11.exceptions.NoSuchKey:
            seal_private, seal_public = None, None
        return cls(session, private, jwk, seal_private, seal_public)

    def sign(self, data: bytes) -> bytes:
        with self._lock:
            return bytes(self.private.sign(data, mechanism=Mechanism.EDDSA))

    def seal_sign(self, data: bytes) -> bytes:
        """A DER ECDSA signature with SHA-256 over ``data`` by the seal key (the token signs
        the digest, ``CKM_ECDSA``)."""
        digest = hashlib.sha256(data).digest()
        with self._lock:
            raw = bytes(self._seal_private.sign(digest, mechanism=Mechanism.ECDSA))
        return bytes(encode_ecdsa_signature(raw))

    @property
    def seal(self) -> SealKey | None:
        """The token's seal key, to register beside its signing key; ``None`` if it has none."""
        if self._seal_private is None or self._seal_public is None:
            return None
        return SealKey(self._seal_public, self.seal_sign)

    def close(self) -> None:
        self.session.close()
