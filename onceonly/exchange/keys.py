"""Each owning agency's Ed25519 signing keys: private halves on disk, public halves published.

The private key of a key id ``kid`` lives in ``Settings.keys_dir / <agency> / <kid>.pem``
(PKCS#8, mode 0600) and never enters the database; the public key is a JWK in
``signing_keys`` and is published at ``/.well-known/jwks.json``. ``kid`` is the key's RFC 7638
thumbprint, so anyone can check that a published key matches its id.

Rotation retires the active key without unpublishing it: every transcript it signed still
verifies until it expires, and only the new key signs from then on.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey
from sqlalchemy import JSON, CheckConstraint, Index, String, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from onceonly.config import Settings
from onceonly.db import Base, UTCDateTime, utcnow

ALGORITHM: Final = "EdDSA"
CURVE: Final = "Ed25519"
CUSTODY: Final = "x-onceonly-custody"
"""Where a published key's private half lives: ``node`` (this node signs in the owner's name,
for an agency without its own gateway) or ``gateway`` (only the owner's gateway can sign)."""
_AGENCY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")
NODE_AGENCY_PREFIX: Final = "platform."
"""The node's own keys (its audit log's, its witness's) are under agency codes with this
prefix; they are never handed over to an owner's gateway."""


def reserved_agency(agency_code: str) -> bool:
    """Whether ``agency_code`` names one of the node's own keys rather than an owner's."""
    return agency_code.startswith(NODE_AGENCY_PREFIX)


class SigningKeyRecord(Base):
    """The public half of a signing key and its life cycle (active, then retired)."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        Index(
            "uq_signing_keys_one_active",
            "agency_code",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(120), index=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigningKeyUnavailable(Exception):
    """The private key file of a key is missing or does not match its published half."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    agency_code: str
    public_jwk: dict[str, Any]
    status: str
    created_at: datetime
    retired_at: datetime | None
    pem_path: Path

    @property
    def active(self) -> bool:
        return self.status == "active"

    def private_key(self) -> OKPKey:
        """The private key, read from disk once per process and then kept in memory."""
        return _load_private_key(self.pem_path, self.kid)

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature of ``data``: by the token holding the key when one was
        registered for it (:func:`register_signer`), else with the private key file."""
        signer = _signers.get(self.kid)
        if signer is not None:
            return signer(data)
        private = self.private_key().private_key
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyUnavailable(f"{self.pem_path} is not an Ed25519 key")
        return private.sign(data)

    def published(self) -> dict[str, Any]:
        """This key as a member of the published JWK Set."""
        return _jwk_member(self.kid, self.agency_code, self.public_jwk)

    @property
    def seal_path(self) -> Path:
        """Where this key's PDF seal key lives as a file: beside the key file."""
        return self.pem_path.with_name(f"{self.kid}.seal.pem")


@dataclass(frozen=True)
class SealKey:
    """The owner's PDF seal key (ECDSA P-256), beside its Ed25519 key and certified by it.

    PDF readers (Adobe, poppler/NSS, pdf.js) do not check Ed25519 in CMS, so a PDF
    transcript is sealed with this key instead; the JWS transcripts stay Ed25519. ``sign``
    returns a DER ECDSA signature with SHA-256 over ``data``, from the key file or the token
    that holds it."""

    public_key: ec.EllipticCurvePublicKey
    sign: Callable[[bytes], bytes]


def _jwk_member(kid: str, agency_code: str, public_jwk: dict[str, Any]) -> dict[str, Any]:
    custody = public_jwk.get(CUSTODY, "node")
    return {
        **public_jwk,
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
        "agency": agency_code,
        CUSTODY: custody,
    }


_cache: dict[Path, OKPKey] = {}
_cache_lock = threading.Lock()
_signers: dict[str, Callable[[bytes], bytes]] = {}
_seals: dict[str, SealKey] = {}


def register_signer(kid: str, sign: Callable[[bytes], bytes], seal: SealKey | None = None) -> None:
    """Key ``kid`` signs through ``sign`` in this process (a PKCS#11 token: the private key
    never leaves it, so there is no file to read); ``seal`` is its PDF seal key in the same
    token. Without one, no PDF is sealed for the key: never with a file beside a token key."""
    _signers[kid] = sign
    if seal is None:
        _seals.pop(kid, None)
    else:
        _seals[kid] = seal


def seal_key(key: SigningKey) -> SealKey | None:
    """The PDF seal key of ``key``, if this process can seal with it: the token's registered
    for the key, else a key file beside the key file, made on first use. ``None`` when the
    owner key is in a token without a seal key, or not here at all."""
    if key.kid in _signers:
        return _seals.get(key.kid)
    if not key.pem_path.is_file():
        return None
    private = _load_or_make_seal(key.seal_path)

    def sign(data: bytes) -> bytes:
        return private.sign(data, ec.ECDSA(hashes.SHA256()))

    return SealKey(private.public_key(), sign)


def _load_or_make_seal(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 key in ``path``; made there first if there is none. Two processes making it
    at once both end up with the one linked first (the file appears whole or not at all)."""
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        made = ec.generate_private_key(ec.SECP256R1())
        pem = made.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.unlink(missing_ok=True)
        _write_private(temporary, pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _load_or_make_seal(path)
        finally:
            temporary.unlink(missing_ok=True)
        return made
    except ValueError as error:
        raise SigningKeyUnavailable(f"{path}: {error}") from error
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise SigningKeyUnavailable(f"{path} is not a P-256 key")
    return loaded


def can_sign_here(key: SigningKey) -> bool:
    """Whether this process holds ``key``'s private half: a registered token or a key file."""
    return key.kid in _signers or key.pem_path.is_file()


def can_seal_here(key: SigningKey) -> bool:
    """Whether :func:`seal_key` would give a seal key for ``key``, without making one: a page
    asks before it offers a PDF."""
    if key.kid in _signers:
        return key.kid in _seals
    return key.pem_path.is_file()


def install_kid(public_jwk: dict[str, Any]) -> str:
    """The kid (RFC 7638 thumbprint) of an Ed25519 public JWK."""
    return str(OKPKey.import_key({n: public_jwk[n] for n in ("kty", "crv", "x")}).thumbprint())


def install_public_key(session: Session, agency_code: str, public_jwk: dict[str, Any]) -> str:
    """Make a key made elsewhere (in a token) the agency's active key here; the key active
    before is retired (it still verifies what it signed). Returns its kid."""
    public = {name: public_jwk[name] for name in ("kty", "crv", "x")}
    kid = install_kid(public)
    existing = session.get(SigningKeyRecord, kid)
    if existing is not None and existing.agency_code != agency_code:
        raise ValueError(f"key {kid} already belongs to {existing.agency_code}")
    old = _active_record(session, agency_code)
    if old is not None and old.kid != kid:
        old.status = "retired"
        old.retired_at = utcnow()
        session.flush()
    if existing is None:
        session.add(
            SigningKeyRecord(
                kid=kid,
                agency_code=agency_code,
                public_jwk=public,
                status="active",
                created_at=utcnow(),
                retired_at=None,
            )
        )
    elif existing.status != "active":
        existing.status, existing.retired_at = "active", None
    session.flush()
    return kid


def _load_private_key(path: Path, kid: str) -> OKPKey:
    with _cache_lock:
        key = _cache.get(path)
        if key is None:
            try:
                key = OKPKey.import_key(path.read_bytes())
            except (OSError, ValueError) as error:
                raise SigningKeyUnavailable(f"{path}: {error}") from error
            if key.thumbprint() != kid:
                raise SigningKeyUnavailable(f"{path} does not hold key {kid}")
            _cache[path] = key
        return key


def _agency_dir(settings: Settings, agency_code: str) -> Path:
    if not _AGENCY_CODE.fullmatch(agency_code):
        raise ValueError(f"agency code {agency_code!r} cannot name a key folder")
    return settings.keys_dir / agency_code


def _view(settings: Settings, record: SigningKeyRecord) -> SigningKey:
    return SigningKey(
        kid=record.kid,
        agency_code=record.agency_code,
        public_jwk=dict(record.public_jwk),
        status=record.status,
        created_at=record.created_at,
        retired_at=record.retired_at,
        pem_path=_agency_dir(settings, record.agency_code) / f"{record.kid}.pem",
    )


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


def _create(session: Session, settings: Settings, agency_code: str) -> SigningKey:
    directory = _agency_dir(settings, agency_code)
    key = OKPKey.generate_key(CURVE)
    kid = key.thumbprint()
    public = key.as_dict(private=False)
    record = SigningKeyRecord(
        kid=kid,
        agency_code=agency_code,
        public_jwk={name: public[name] for name in ("kty", "crv", "x")},
        status="active",
        created_at=utcnow(),
        retired_at=None,
    )
    _write_private(directory / f"{kid}.pem", key.as_pem(private=True))
    session.add(record)
    session.flush()
    with _cache_lock:
        _cache[directory / f"{kid}.pem"] = key
    return _view(settings, record)


def _active_record(session: Session, agency_code: str) -> SigningKeyRecord | None:
    return session.scalars(
        select(SigningKeyRecord).where(
            SigningKeyRecord.agency_code == agency_code, SigningKeyRecord.status == "active"
        )
    ).first()


def active_key(session: Session, settings: Settings, agency_code: str) -> SigningKey | None:
    """The key the agency signs with now, if it has one."""
    record = _active_record(session, agency_code)
    return _view(settings, record) if record else None


def ensure_key(session: Session, settings: Settings, agency_code: str) -> SigningKey:
    """The agency's active key, created (and published) first if it has none.

    Two requests racing to make an agency's first key both end up with the one that won.
    """
    existing = active_key(session, settings, agency_code)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            return _create(session, settings, agency_code)
    except IntegrityError:
        winner = active_key(session, settings, agency_code)
        if winner is None:
            raise
        return winner


def active_keys(
    session: Session, settings: Settings, agency_codes: Iterable[str]
) -> dict[str, SigningKey]:
    """The active key of each agency that has one, in one query."""
    return {
        record.agency_code: _view(settings, record)
        for record in session.scalars(
            select(SigningKeyRecord).where(
                SigningKeyRecord.agency_code.in_(set(agency_codes)),
                SigningKeyRecord.status == "active",
            )
        )
    }


def ensure_keys(
    session: Session, settings: Settings, agency_codes: Iterable[str]
) -> dict[str, SigningKey]:
    """:func:`ensure_key` for several agencies, in one query when they all have a key (the
    evidence exchange signs for every owner that answered, on every request)."""
    wanted = set(agency_codes)
    found = active_keys(session, settings, wanted)
    for code in wanted - set(found):
        found[code] = ensure_key(session, settings, code)
    return found


def hand_over(
    session: Session, settings: Settings, agency_code: str, members: Iterable[dict[str, Any]]
) -> list[str]:
    """The owner now signs at its own gateway: its keys held here are retired (they stay
    published, so what they signed still verifies) and their private files deleted, and the
    gateway's public keys (JWK Set members) are published with custody ``gateway``, the
    first one active so this node never makes a key of its own for the owner again.
    Returns the kids added. The node's own keys (:func:`reserved_agency`) are refused."""
    if reserved_agency(agency_code):
        raise ValueError(f"{agency_code} is this node's own key, never an owner's")
    for record in session.scalars(
        select(SigningKeyRecord).where(SigningKeyRecord.agency_code == agency_code)
    ):
        if record.public_jwk.get(CUSTODY) == "gateway":
            continue
        if record.status == "active":
            record.status = "retired"
            record.retired_at = utcnow()
        view = _view(settings, record)
        path = view.pem_path
        path.unlink(missing_ok=True)
        view.seal_path.unlink(missing_ok=True)
        with _cache_lock:
            _cache.pop(path, None)
    session.flush()
    added: list[str] = []
    for member in members:
        if member.get("agency") != agency_code:
            continue
        public = {name: member[name] for name in ("kty", "crv", "x")}
        kid = OKPKey.import_key(public).thumbprint()
        if kid != member.get("kid") or session.get(SigningKeyRecord, kid) is not None:
            continue
        active = not added and _active_record(session, agency_code) is None
        session.add(
            SigningKeyRecord(
                kid=kid,
                agency_code=agency_code,
                public_jwk=public | {CUSTODY: "gateway"},
                status="active" if active else "retired",
                created_at=utcnow(),
                retired_at=None if active else utcnow(),
            )
        )
        session.flush()
        added.append(kid)
    return added


def rotate_key(session: Session, settings: Settings, agency_code: str) -> SigningKey:
    """Make a new active key; the old one is retired but stays published."""
    old = _active_record(session, agency_code)
    if old is not None:
        old.status = "retired"
        old.retired_at = utcnow()
        session.flush()
    return _create(session, settings, agency_code)


def list_keys(
    session: Session, settings: Settings, agency_code: str | None = None
) -> list[SigningKey]:
    """Every key ever made (active and retired), oldest first."""
    query = select(SigningKeyRecord).order_by(
        SigningKeyRecord.agency_code, SigningKeyRecord.created_at
    )
    if agency_code:
        query = query.where(SigningKeyRecord.agency_code == agency_code)
    return [_view(settings, record) for record in session.scalars(query)]


def published_jwks(session: Session) -> dict[str, Any]:
    """The RFC 7517 JWK Set of every key that may have signed a transcript still in use."""
    records = session.scalars(
        select(SigningKeyRecord).order_by(SigningKeyRecord.agency_code, SigningKeyRecord.created_at)
    )
    return {"keys": [_jwk_member(r.kid, r.agency_code, r.public_jwk) for r in records]}
