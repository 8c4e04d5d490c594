"""Setting a gateway up: its own database (migrated, the catalog loaded), the owner's signing
key made here, and the owner's rules as a file moved from the platform to the gateway.

The gateway keeps the owner's rules in its own small database, in the same ``access_rules``
table the platform uses: the same decision (:func:`onceonly.policy.service.decide`) runs on
them, with the same validity dates and revocation, and rule changes are audited there. A rules
file (``export_rules``/``import_rules``) is how they move; from then on the owner's copy at the
gateway is the one that decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from onceonly import migrations
from onceonly.catalog import service as catalog
from onceonly.catalog.loader import load_catalog
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.exchange import keys
from onceonly.policy.models import AccessRule

DATASETS: Final = "x-onceonly-datasets"
"""The JWK Set member (RFC 7517 allows more members) naming the datasets each owner behind the
gateway answers: the platform asks the gateway for those searched in every jurisdiction."""


def prepare_gateway(
    settings: Settings,
    owners: Iterable[str],
    token_keys: Mapping[str, dict[str, Any]] | None = None,
    datasets: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Migrate the gateway's database, load the catalog once, make each owner's signing key
    here (private half in ``keys_dir``, mode 0600) unless ``token_keys`` gives its public JWK
    in a PKCS#11 token (then that key is the owner's active one and no file is made); the JWK
    Set to give the platform, naming the ``datasets`` each owner answers (:data:`DATASETS`)."""
    settings.ensure_dirs()
    url = settings.resolved_database_url
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with transaction(sessions) as session:
            if not catalog.list_jurisdictions(session):
                load_catalog(session)
            wanted = sorted(set(owners))
            for owner, public in (token_keys or {}).items():
                keys.install_public_key(session, owner, public)
            keys.ensure_keys(session, settings, wanted)
            members = keys.published_jwks(session)["keys"]
        published: dict[str, Any] = {  # the keys are kept here, at the owner's gateway
            "keys": [{**m, keys.CUSTODY: "gateway"} for m in members if m["agency"] in wanted]
        }
        if datasets:
            published[DATASETS] = {o: sorted(set(d)) for o, d in datasets.items() if o in wanted}
        return published
    finally:
        engine.dispose()


_COLUMNS = [c.key for c in inspect(AccessRule).columns if c.key != "id"]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def export_rules(session: Session, owner: str) -> list[dict[str, Any]]:
    """Every rule of ``owner`` (any status), as JSON-ready rows."""
    rules = session.scalars(select(AccessRule).where(AccessRule.owner_agency == owner))
    return [{c: _plain(getattr(r, c)) for c in _COLUMNS} for r in rules]


def import_rules(session: Session, rows: Sequence[dict[str, Any]], owners: Iterable[str]) -> int:
    """Add ``rows`` (from :func:`export_rules`) for ``owners`` only; how many were added."""
    allowed = set(owners)
    added = 0
    for row in rows:
        if row.get("owner_agency") not in allowed:
            continue
        values = {c: row.get(c) for c in _COLUMNS if c in row}
        for name in ("valid_from", "valid_until"):
            if isinstance(text := values.get(name), str):
                values[name] = date.fromisoformat(text)
        for name in ("requested_at", "decided_at", "revoked_at"):
            if isinstance(text := values.get(name), str):
                values[name] = datetime.fromisoformat(text)
        session.add(AccessRule(**values))
        added += 1
    session.flush()
    return added
