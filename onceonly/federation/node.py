"""This deployment as a member of the federation: its identity, its certificate, the directory
it trusts, and the last good snapshot it keeps on disk.

A node is configured by ``<data_dir>/federation/node.json`` (written by
``onceonly federation init``); without that file the deployment is a stand-alone node and the
exchange never routes anything away.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from onceonly.call_failures import failure_kind
from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.exchange.keys import published_jwks
from onceonly.federation.snapshot import Snapshot, SnapshotRefused, verify_snapshot
from onceonly.i18n import both
from onceonly.pki.trust import TrustAnchor
from onceonly.policy.service import list_rules
from onceonly.providers.registry import ProviderDirectory

log = logging.getLogger(__name__)

CONFIG_NAME = "node.json"
SNAPSHOT_NAME = "snapshot.jws"


def federation_dir(settings: Settings) -> Path:
    return settings.data_dir / "federation"


@dataclass(frozen=True)
class NodeConfig:
    id: str
    name: str
    jurisdictions: tuple[str, ...]
    endpoint: str
    """Base URL peers reach this node's federation listener at (``https://127.0.0.1:port``)."""
    cert: str
    key: str
    ca: str
    directory_url: str
    directory_jwk: dict[str, Any]
    refresh_seconds: float = 10.0
    """How often the snapshot is fetched again (a revocation takes effect within this)."""
    peer_timeout_seconds: float | None = None
    """Defaults to the exchange's provider timeout."""
    backup_partner: str | None = None
    """The node this one ships its off-site backups to (``onceonly backup ship``)."""
    accept_backups_from: tuple[str, ...] = ()
    """The nodes whose off-site backups this node agreed to keep; the listener refuses any
    other member's (:func:`onceonly.federation.peer.backup_sender`), as keeping them costs this
    node's disk and was never agreed. Empty: this node keeps no one's backups. Not
    ``backup_partner``: partners may form a ring, where a node keeps the backups of one
    neighbour and ships its own to the other."""
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, settings: Settings) -> Path:
        path = federation_dir(settings) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["jurisdictions"] = list(self.jurisdictions)
        data["accept_backups_from"] = list(self.accept_backups_from)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
        return path

    @classmethod
    def read(cls, settings: Settings) -> NodeConfig | None:
        path = federation_dir(settings) / CONFIG_NAME
        if not path.exists():
            return None
        data = json.loads(path.read_text("utf-8"))
        data["jurisdictions"] = tuple(data["jurisdictions"])
        # a node.json written before the setting existed keeps no one's backups
        data["accept_backups_from"] = tuple(data.get("accept_backups_from") or ())
        return cls(**data)


def fetch_failure(exc: Exception, url: str) -> dict[str, str]:
    """Why the directory's snapshot could not be fetched, in words: not reached, too slow, an
    HTTP status, an answer that is not a snapshot, or the snapshot's own refusal."""
    if isinstance(exc, SnapshotRefused):
        return exc.why
    if isinstance(exc, httpx.HTTPStatusError):
        return both("federation.snapshot.fetch_status", url=url, status=exc.response.status_code)
    if isinstance(exc, httpx.HTTPError):  # the call itself, judged as every call is
        key = _FETCH_FAILURE.get(failure_kind(exc), "federation.snapshot.fetch_failed")
        return both(key, url=url)
    return both("federation.snapshot.fetch_unreadable", url=url)


_FETCH_FAILURE = {
    "call_failure.connect": "federation.snapshot.fetch_unreachable",
    "call_failure.timeout": "federation.snapshot.fetch_timeout",
    "call_failure.tls": "federation.snapshot.fetch_tls",
}
""":func:`onceonly.call_failures.failure_kind` -> how a snapshot fetch that failed so is told."""


class SnapshotCache:
    """The directory's snapshot as this node last verified it.

    Fetched again every ``refresh_seconds``. While the copy held is younger than twice that,
    the fetch runs on a thread of its own and requests go on with the copy held: no request
    waits for the directory (before, every request of a node queued behind each fetch, up to
    its two-second timeout). An older copy (a quiet node) is fetched before it is used. When
    the directory cannot be reached (or serves something that does not verify) the copy on
    disk is used until it expires, then requests across nodes stop with the reason
    ``expired``.
    """

    def __init__(self, settings: Settings, config: NodeConfig) -> None:
        self.config = config
        self.path = federation_dir(settings) / SNAPSHOT_NAME
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._fetched = 0.0
        self._refreshing = False
        self.last_error: dict[str, str] | None = None
        """Why the directory's snapshot was last not taken, in words (each language)."""
        self._client: httpx.Client | None = None
        """Kept between fetches: a new client builds a TLS context each time, which cost more
        CPU than the fetch itself."""

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _fetch(self) -> Snapshot:
        if self._client is None:
            self._client = httpx.Client(timeout=2.0)
        response = self._client.get(self.config.directory_url.rstrip("/") + "/v1/snapshot")
        response.raise_for_status()
        snapshot = verify_snapshot(response.text, self.config.directory_jwk)
        if self._snapshot is None or snapshot.serial >= self._snapshot.serial:
            tmp = self.path.with_suffix(f".{threading.get_ident()}.tmp")  # one per fetcher
            tmp.write_text(snapshot.token, "utf-8")
            tmp.replace(self.path)
        return snapshot

    def _from_disk(self) -> Snapshot:
        if not self.path.exists():
            fetch = self.last_error or both("federation.snapshot.not_fetched")
            why = both("federation.snapshot.unavailable", fetch=fetch)
            raise SnapshotRefused("unavailable", fetch["en"], why)
        return verify_snapshot(self.path.read_text("utf-8"), self.config.directory_jwk)

    def _obtain(self) -> tuple[Snapshot, dict[str, str] | None]:
        """The directory's snapshot, else the copy on disk (with why the directory's was not
        taken); raises :class:`SnapshotRefused` when neither can be trusted."""
        try:
            return self._fetch(), None
        except (httpx.HTTPError, SnapshotRefused, ValueError, KeyError) as exc:
            self.last_error = fetch_failure(exc, self.config.directory_url)
            return self._from_disk(), self.last_error

    def _keep(self, snapshot: Snapshot | None, error: dict[str, str] | None) -> None:
        self._snapshot = snapshot
        self.last_error = error
        if snapshot is not None:
            self._fetched = time.monotonic()

    def _load(self) -> Snapshot:
        """:meth:`_obtain`, kept (the lock held by the caller); none is kept on refusal."""
        try:
            snapshot, error = self._obtain()
        except SnapshotRefused:
            self._keep(None, self.last_error)
            raise
        self._keep(snapshot, error)
        return snapshot

    def _refresh_behind(self) -> None:
        """A fetch on its own thread, the lock taken only to keep the result."""
        try:
            snapshot, error = self._obtain()
        except SnapshotRefused as exc:
            log.warning("directory snapshot not refreshed: %s", exc)
            with self._lock:
                self._keep(None, self.last_error)
        else:
            with self._lock:
                self._keep(snapshot, error)
        finally:
            self._refreshing = False

    def current(self) -> Snapshot:
        """A verified, unexpired snapshot; raises :class:`SnapshotRefused` when there is none."""
        refresh = self.config.refresh_seconds
        with self._lock:
            held = self._snapshot
            age = time.monotonic() - self._fetched
            if held is not None and not held.expired():
                if age < refresh:
                    return held
                if age < 2 * refresh:
                    if not self._refreshing:
                        self._refreshing = True
                        threading.Thread(
                            target=self._refresh_behind, name="snapshot-refresh", daemon=True
                        ).start()
                    return held
            return self._load()

    def refresh(self) -> Snapshot:
        """The directory's snapshot now (as a command or a test asks for it)."""
        with self._lock:
            return self._load()

    def trust(self) -> TrustAnchor:
        snapshot = self.current()
        return TrustAnchor.from_pem(snapshot.ca_pem.encode(), snapshot.crl_pem.encode())


def registration(
    session: Session, settings: Settings, config: NodeConfig, providers: ProviderDirectory
) -> dict[str, Any]:
    """The document the directory registers this node from: identity, endpoint, certificate,
    the agencies it hosts with their datasets and published keys, the datasets' extension
    fields of its jurisdictions, and the rules its owners approved for other nodes."""
    from onceonly.gateway.links import linked_owners  # the gateway package reaches back here

    hosted = {
        owner: sorted(providers.for_owner(owner).datasets())  # type: ignore[union-attr]
        for owner in providers.owners()
        if not owner.startswith("central.")
    }
    for owner, answered in linked_owners(settings).items():
        if not owner.startswith("central."):  # central data is every node's, by connector
            hosted.setdefault(owner, answered)
    jwks = published_jwks(session)
    datasets = []
    for dataset in catalog.list_datasets(session):
        datasets.append(
            {
                "code": dataset.code,
                "owner_scope": dataset.owner_scope,
                "core_fields": [f.name for f in dataset.fields],
                "extensions": {
                    code: [f.name for f in fields]
                    for code, fields in dataset.extensions.items()
                    if code in config.jurisdictions
                },
            }
        )
    rules = [
        {
            "id": rule.id,
            "owner_agency": rule.owner_agency,
            "dataset": rule.dataset,
            "application_item": rule.application_item,
            "requesting_agency": rule.requesting_agency,
            "requesting_agency_kind": rule.requesting_agency_kind,
            "requesting_jurisdiction": rule.requesting_jurisdiction,
            "fields": list(rule.fields),
            "predicates": list(rule.predicates),
            "legal_basis": rule.legal_basis,
        }
        for rule in list_rules(session, status="approved")
        if rule.owner_agency in hosted
        and rule.requesting_jurisdiction not in (*config.jurisdictions, None)
    ]
    return {
        "id": config.id,
        "name": config.name,
        "jurisdictions": list(config.jurisdictions),
        "endpoint": config.endpoint,
        "cert_pem": Path(config.cert).read_text(),
        "agencies": hosted,
        "jwks": {"keys": [k for k in jwks["keys"] if k.get("agency") in hosted]},
        "datasets": datasets,
        "rules": rules,
    }
