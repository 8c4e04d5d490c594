"""Off-site backup (異地備援): ship the node's database, encrypted for a partner node and signed
by this one, and prove at the partner that it restores completely.

A backup is every table of the platform database (rows as JSON, gzip), with a manifest of row
counts and the audit log's head (and the newest signed tree head when there is one). It is
encrypted for the partner's node certificate key (ephemeral ECDH P-256, HKDF-SHA256,
AES-256-GCM, the header as associated data) and signed by the source node (ES256 over the
header and the ciphertext's digest, certificate in ``x5c``), so the partner can read it and
anyone can tell who made it and that it was not altered. The restore drill decrypts, checks the
signature against the federation CA, restores into a scratch SQLite database and compares.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import (
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    TypeDecorator,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onceonly.audit.log import head as audit_head
from onceonly.audit.verify import verify_database
from onceonly.db import make_engine, make_session_factory, snapshot
from onceonly.federation.jose import registry
from onceonly.i18n import both, one_line
from onceonly.pki.trust import CertificateRefused, TrustAnchor

FORMAT = "onceonly-backup-1"
SUFFIX = ".obk"


class BackupInvalid(Exception):
    """A backup that cannot be read, trusted or shipped, and why."""


class PartnerNotAgreed(BackupInvalid):
    """The partner refused to keep this node's backup: its operator has not agreed to keep
    this node's (it is not in the partner's ``accept_backups_from``). Told to the operator
    in words, each language in :attr:`words`, not as the partner's HTTP answer: what to do
    is to ask the partner's operators, not to retry."""

    def __init__(self, partner: str, node: str) -> None:
        self.words = both("backup.partner_not_agreed", partner=partner, node=node)
        super().__init__(one_line(self.words))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, bytes | memoryview):
        return {"$b": _b64(bytes(value))}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    return value


def _decode(value: Any, column_type: Any) -> Any:
    if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime: what it stores as
        column_type = column_type.impl
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "$dt" and isinstance(column_type, DateTime):
            return datetime.fromisoformat(raw)
        if tag == "$d" and isinstance(column_type, Date):
            return date.fromisoformat(raw)
        if tag == "$b" and isinstance(column_type, LargeBinary):
            return base64.b64decode(raw)
        if tag == "$n" and isinstance(column_type, Numeric):
            return Decimal(raw)
    return value


def _tree_head(session: Any) -> dict[str, Any] | None:
    try:
        from onceonly.audit.tree_heads import latest_tree_head
    except ImportError:
        return None
    try:
        head = latest_tree_head(session)
    except Exception:  # the Merkle tables may not exist in an older database
        session.rollback()
        return None
    if head is None:
        return None
    return {"size": head.tree_size, "root": head.root_hash}


NODE_LOCAL_TABLES = frozenset({"cache_versions"})
"""Tables a backup leaves out: the restoring node's schema makes its own (the per-process
cache counters start afresh wherever the data lands)."""


def dump_database(url: str, source: str) -> tuple[dict[str, Any], bytes]:
    """The manifest and the gzip'd JSON of every table of the platform database."""
    from onceonly.models import Base

    engine = make_engine(url)
    tables: dict[str, list[dict[str, Any]]] = {}
    try:
        with snapshot(engine) as connection:
            for table in Base.metadata.sorted_tables:
                if table.name in NODE_LOCAL_TABLES:
                    continue
                rows = connection.execute(select(table)).mappings()
                tables[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
            with Session(bind=connection) as session:
                head = audit_head(session)
                tree = _tree_head(session)
    finally:
        engine.dispose()
    manifest = {
        "format": FORMAT,
        "source": source,
        "created_at": datetime.now(UTC).isoformat(),
        "row_counts": {name: len(rows) for name, rows in tables.items()},
        "audit_head": {"seq": head.seq, "entry_hash": head.entry_hash},
        "tree_head": tree,
    }
    body = gzip.compress(json.dumps({"manifest": manifest, "tables": tables}).encode())
    return manifest, body


def _derive(shared: bytes, salt: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, b"onceonly-backup").derive(shared)


def seal(
    manifest: dict[str, Any],
    body: bytes,
    partner_cert_pem: bytes,
    sender_cert_pem: bytes,
    sender_key_pem: bytes,
) -> bytes:
    """The envelope: encrypted for the partner's certificate key, signed by the sender."""
    partner = x509.load_pem_x509_certificate(partner_cert_pem).public_key()
    if not isinstance(partner, ec.EllipticCurvePublicKey):
        raise BackupInvalid("the partner's certificate has no EC key")
    ephemeral = ec.generate_private_key(partner.curve)
    salt, nonce = os.urandom(16), os.urandom(12)
    header = {
        "format": FORMAT,
        "manifest": manifest,
        "epk": _b64(
            ephemeral.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
        "salt": _b64(salt),
        "nonce": _b64(nonce),
        "recipient_serial": format(
            x509.load_pem_x509_certificate(partner_cert_pem).serial_number, "x"
        ),
    }
    aad = json.dumps(header, sort_keys=True).encode()
    key = _derive(ephemeral.exchange(ec.ECDH(), partner), salt)
    ciphertext = AESGCM(key).encrypt(nonce, body, aad)
    sender = x509.load_pem_x509_certificate(sender_cert_pem)
    signed = {
        "header_sha256": hashlib.sha256(aad).hexdigest(),
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
    }
    signature = jws.serialize_compact(
        {"alg": "ES256", "x5c": [_b64(sender.public_bytes(serialization.Encoding.DER))]},
        json.dumps(signed, sort_keys=True).encode(),
        ECKey.import_key(sender_key_pem),
        algorithms=["ES256"],
    )
    envelope = {"header": header, "signature": signature, "ciphertext": _b64(ciphertext)}
    return json.dumps(envelope).encode()


@dataclass
class Opened:
    manifest: dict[str, Any]
    body: bytes
    signer: str


def open_envelope(data: bytes, own_key_pem: bytes, trust: TrustAnchor) -> Opened:
    """Check the sender's signature (certificate from the federation CA) and decrypt."""
    try:
        envelope = json.loads(data)
        header = envelope["header"]
        ciphertext = base64.b64decode(envelope["ciphertext"])
        token = envelope["signature"]
        x5c = jws.extract_compact(token.encode(), registry=registry("ES256")).protected["x5c"][0]
        cert = x509.load_der_x509_certificate(base64.b64decode(x5c))
    except (ValueError, KeyError, TypeError, JoseError) as exc:
        raise BackupInvalid(f"not a backup envelope: {exc}") from exc
    try:
        signer = trust.check(cert)
    except CertificateRefused as exc:
        raise BackupInvalid(f"signer's certificate refused: {exc}") from exc
    public = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        signed = json.loads(
            jws.deserialize_compact(
                token, ECKey.import_key(public), registry=registry("ES256")
            ).payload
        )
    except (JoseError, ValueError) as exc:
        raise BackupInvalid(f"bad signature: {exc}") from exc
    aad = json.dumps(header, sort_keys=True).encode()
    if (
        signed.get("header_sha256") != hashlib.sha256(aad).hexdigest()
        or signed.get("ciphertext_sha256") != hashlib.sha256(ciphertext).hexdigest()
    ):
        raise BackupInvalid("the backup differs from what its source signed")
    own = serialization.load_pem_private_key(own_key_pem, None)
    if not isinstance(own, ec.EllipticCurvePrivateKey):
        raise BackupInvalid("this node's key is not an EC key")
    epk = serialization.load_der_public_key(base64.b64decode(header["epk"]))
    assert isinstance(epk, ec.EllipticCurvePublicKey)
    key = _derive(own.exchange(ec.ECDH(), epk), base64.b64decode(header["salt"]))
    try:
        body = AESGCM(key).decrypt(base64.b64decode(header["nonce"]), ciphertext, aad)
    except Exception as exc:
        raise BackupInvalid("cannot decrypt: not encrypted for this node") from exc
    return Opened(header["manifest"], body, signer)


@dataclass
class DrillReport:
    source: str
    created_at: str
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Table -> (rows in the manifest, rows restored)."""
    audit_ok: bool = False
    audit_reason: str = ""
    head_expected: dict[str, Any] = field(default_factory=dict)
    head_restored: dict[str, Any] = field(default_factory=dict)
    tree_expected: dict[str, Any] | None = None
    tree_restored: dict[str, Any] | None = None

    @property
    def counts_ok(self) -> bool:
        return all(a == b for a, b in self.tables.values())

    @property
    def ok(self) -> bool:
        return (
            self.counts_ok
            and self.audit_ok
            and self.head_expected == self.head_restored
            and self.tree_expected == self.tree_restored
        )


def restore(body: bytes, url: str) -> tuple[dict[str, Any], Engine]:
    """Load a backup body into the empty database ``url`` (schema made from the models)."""
    from onceonly.models import Base

    document = json.loads(gzip.decompress(body))
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            rows = document["tables"].get(table.name) or []
            if not rows:
                continue
            types = {c.name: c.type for c in table.columns}
            decoded = [{k: _decode(v, types.get(k)) for k, v in row.items()} for row in rows]
            connection.execute(insert(table), decoded)
    return document["manifest"], engine


def restore_drill(opened: Opened, scratch_dir: Path | None = None) -> DrillReport:
    """Restore into a scratch SQLite database and compare with what the source recorded."""
    from onceonly.models import Base

    manifest = opened.manifest
    report = DrillReport(source=manifest["source"], created_at=manifest["created_at"])
    with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
        url = f"sqlite:///{Path(scratch) / 'restore.sqlite'}"
        _, engine = restore(opened.body, url)
        try:
            with engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    if table.name in NODE_LOCAL_TABLES:
                        continue
                    restored = connection.execute(
                        select(func.count()).select_from(table)
                    ).scalar_one()
                    expected = manifest["row_counts"].get(table.name, 0)
                    report.tables[table.name] = (expected, int(restored))
                connection.execute(text("SELECT 1"))
            with make_session_factory(engine)() as session:
                result = verify_database(session)
                report.audit_ok = result.ok
                report.audit_reason = result.reason_en
                head = audit_head(session)
                report.head_restored = {"seq": head.seq, "entry_hash": head.entry_hash}
                report.tree_restored = _tree_head(session)
        finally:
            engine.dispose()
    report.head_expected = manifest["audit_head"]
    report.tree_expected = manifest.get("tree_head")
    return report


BACKUPS_PATH = "/federation/v1/backups"


def backups_dir(settings: Any) -> Path:
    from onceonly.federation.node import federation_dir

    return federation_dir(settings) / "backups"


def ship_backup(settings: Any, to: str | None = None, tenant: str | None = None) -> dict[str, Any]:
    """Dump this node's database (or only ``tenant``'s share of it:
    :mod:`onceonly.federation.tenant_backup`), seal it for the partner and send it there
    (mutual TLS, signed request). Returns the partner's receipt."""
    import httpx

    from onceonly.federation.node import NodeConfig, SnapshotCache
    from onceonly.federation.remote import tls_context
    from onceonly.federation.signing import HEADER, NodeCredentials
    from onceonly.federation.snapshot import SnapshotRefused
    from onceonly.federation.tenant_backup import check_hosted, dump_tenant

    config = NodeConfig.read(settings)
    if config is None:
        raise BackupInvalid("not a federation node")
    if tenant is not None:
        check_hosted(settings, config.jurisdictions, tenant)  # before any network
    partner_id = to or config.backup_partner
    if not partner_id:
        raise BackupInvalid("no partner: pass --to NODE")
    try:
        snapshot = SnapshotCache(settings, config).current()
    except SnapshotRefused as exc:
        raise BackupInvalid(f"no valid directory snapshot ({exc.code}: {exc.detail})") from exc
    partner = snapshot.node(partner_id)
    if partner is None:
        raise BackupInvalid(f"the directory lists no node {partner_id}")
    trust = TrustAnchor.from_pem(snapshot.ca_pem.encode(), snapshot.crl_pem.encode())
    try:
        trust.check(x509.load_pem_x509_certificate(partner.cert_pem.encode()), partner.id)
    except CertificateRefused as exc:
        raise BackupInvalid(f"partner certificate refused: {exc}") from exc
    if tenant is None:
        manifest, body = dump_database(settings.resolved_database_url, config.id)
    else:
        manifest, body = dump_tenant(settings, config.id, tenant)
    envelope = seal(
        manifest,
        body,
        partner.cert_pem.encode(),
        Path(config.cert).read_bytes(),
        Path(config.key).read_bytes(),
    )
    credentials = NodeCredentials.load(config.id, config.cert, config.key)
    try:
        with httpx.Client(verify=tls_context(config), timeout=60) as client:
            response = client.post(
                partner.endpoint.rstrip("/") + BACKUPS_PATH,
                content=envelope,
                headers={
                    HEADER: credentials.sign("POST", BACKUPS_PATH, envelope, audience=partner.id)
                },
            )
    except httpx.HTTPError as exc:
        raise BackupInvalid(f"{partner_id} cannot be reached: {exc}") from exc
    if response.status_code == 403 and _refusal_code(response) == "backup_not_agreed":
        raise PartnerNotAgreed(partner_id, config.id)
    if response.status_code != 200:
        raise BackupInvalid(f"{partner_id} refused the backup: {response.text[:300]}")
    receipt: dict[str, Any] = response.json()
    return receipt | {"rows": sum(manifest["row_counts"].values()), "bytes": len(envelope)}


def _refusal_code(response: Any) -> str:
    """The ``code`` of the partner's problem document (``""`` when it sent none)."""
    try:
        problem = response.json()
    except ValueError:
        return ""
    return str(problem.get("code") or "") if isinstance(problem, dict) else ""


KEPT_PER_SENDER = 7
"""How many of one partner's backups are kept (the newest): a week of nightly backups, and no
member node can fill this node's disk by sending backups without end."""


def incoming_file(settings: Any) -> Path:
    """A new file for a backup still arriving: beside those kept, so that keeping it is a
    rename on the same file system, and never taken for one (not ``*.obk``, not in a
    sender's folder)."""
    folder = backups_dir(settings) / ".incoming"
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(suffix=".part", dir=folder)
    os.close(descriptor)
    return Path(name)


def store_backup(settings: Any, sender: str, envelope: bytes | Path) -> Path:
    """Keep a partner's backup as received (still encrypted) under ``backups/<sender>/``,
    with its :data:`KEPT_PER_SENDER` newest; older ones are deleted once this one is whole.
    ``envelope`` is the backup, or the :func:`incoming_file` it was written to (moved)."""
    folder = backups_dir(settings) / sender
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}{SUFFIX}"
    if isinstance(envelope, Path):
        envelope.replace(path)
    else:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(envelope)
        tmp.replace(path)
    for older in sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.name)[:-KEPT_PER_SENDER]:
        older.unlink(missing_ok=True)
    return path


def latest_backup(settings: Any, source: str | None = None) -> Path | None:
    root = backups_dir(settings)
    candidates = sorted((p for p in root.glob(f"{source or '*'}/*{SUFFIX}")), key=lambda p: p.name)
    return candidates[-1] if candidates else None
