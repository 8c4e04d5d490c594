"""Per-tenant backups: one jurisdiction's share of a regional node, and nothing of the others.

``onceonly backup ship --tenant yilan-county`` seals, in the same envelope as a whole-node
backup (:mod:`onceonly.federation.backup`), only the rows of that tenant and the stores of its
agencies. Every table is classified in :data:`TABLE_RULES`; a table without a rule is left out
and named in the manifest, so a table added tomorrow is excluded until someone decides.

The audit log is shared by every tenant of the node and hash-chained across all of them, so a
filtered copy cannot be verified as a chain on its own. What the backup carries instead:

* the tenant's entries in full (requester or an owner in the tenant, as its auditors see them);
* the *leaf list*: every entry's ``entry_hash`` in order, which reveals nothing of another
  tenant's entries (a SHA-256 over a document with a random request id and a time);
* a signed tree head over the whole log, signed at the moment of the dump, and the platform
  audit key's public JWK.

The restore drill then proves: each tenant entry hashes to its leaf and links to the leaf
before it (``prev_hash``); the Merkle root (RFC 9162) of the leaf list equals the signed root;
the signature is the platform audit key's; the tenant's entry count matches the source's.
So no tenant entry can be altered, dropped from the middle or invented without detection, and
the partner holds no other tenant's personal data.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, exists, func, literal, or_, select
from sqlalchemy.engine import Connection, Engine

from onceonly import i18n
from onceonly.accounts.tenancy import Scope
from onceonly.audit.merkle import entry_leaf, mth
from onceonly.audit.models import GENESIS_HASH
from onceonly.audit.verify import compute_hash, entry_document
from onceonly.db import make_engine, make_session_factory, snapshot
from onceonly.federation.backup import FORMAT, BackupInvalid, Opened, _encode, restore

TENANT_FORMAT = FORMAT + "+tenant"

Condition = Callable[[dict[str, Table], Scope], Any]
"""Which rows of one table belong to the tenant (a SQL condition), or ``None`` for all rows."""


def _agency(table: str, column: str) -> Condition:
    return lambda t, scope: scope.agency_condition(t[table].c[column])


def _of_cases(table: str) -> Condition:
    return lambda t, scope: t[table].c.case_id.in_(_case_ids(t, scope))


def _case_ids(t: dict[str, Table], scope: Scope) -> Any:
    cases, handlers = t["cases"], t["case_agencies"]
    handled = select(handlers.c.case_id).where(scope.agency_condition(handlers.c.agency))
    return select(cases.c.id).where(
        or_(scope.agency_condition(cases.c.agency), cases.c.id.in_(handled))
    )


def _rules(t: dict[str, Table], scope: Scope) -> Any:
    rules = t["access_rules"]
    return or_(
        scope.agency_condition(rules.c.owner_agency),
        scope.agency_condition(rules.c.requesting_agency),
        rules.c.requesting_jurisdiction == scope.tenant,
    )


def _sms(t: dict[str, Table], scope: Scope) -> Any:
    sms, notes = t["sms_outbox"], t["notifications"]
    return exists().where(
        notes.c.channel == "sms",
        notes.c.recipient == sms.c.to,
        notes.c.body == sms.c.text,
        notes.c.case_id.in_(_case_ids(t, scope)),
    )


def _deliveries(t: dict[str, Table], scope: Scope) -> Any:
    deliveries = t["notify_deliveries"]
    return select(deliveries.c.id).where(scope.agency_condition(deliveries.c.agency_code))


def _events(t: dict[str, Table], scope: Scope) -> Any:
    deliveries, events = t["notify_deliveries"], t["notify_events"]
    reached = select(deliveries.c.event_id).where(scope.agency_condition(deliveries.c.agency_code))
    return select(events.c.id).where(
        or_(events.c.id.in_(reached), events.c.jurisdiction == scope.tenant)
    )


def _signing_keys(t: dict[str, Table], scope: Scope) -> Any:
    from onceonly.audit.tree_heads import AUDIT_KEY_AGENCY

    keys = t["signing_keys"]
    return or_(scope.agency_condition(keys.c.agency_code), keys.c.agency_code == AUDIT_KEY_AGENCY)


def _flags(t: dict[str, Table], scope: Scope) -> Any:
    queues = t["citizen_flag_queues"]
    return t["citizen_flags"].c.id.in_(
        select(queues.c.flag_id).where(queues.c.jurisdiction == scope.tenant)
    )


def _consents(t: dict[str, Table], scope: Scope) -> Any:
    cases = t["cases"]
    numbers = select(cases.c.number).where(cases.c.id.in_(_case_ids(t, scope)))
    return t["consents"].c.case_id.in_(numbers)


def _waves(t: dict[str, Table], scope: Scope) -> Any:
    return select(t["survey_waves"].c.id).where(t["survey_waves"].c.tenant == scope.tenant)


def _open311_counters(t: dict[str, Table], scope: Scope) -> Any:
    """The tenant's service request numbering (prefix ``<letter or code>-311``), so a restored
    tenant goes on numbering where it stopped."""
    j = t["catalog_jurisdictions"]
    prefix = func.upper(func.coalesce(j.c.national_id_letter, j.c.code)) + literal("-311")
    return t["open311_counters"].c.prefix.in_(select(prefix).where(j.c.code == scope.tenant))


def _everything(t: dict[str, Table], scope: Scope) -> None:
    return None


TABLE_RULES: dict[str, Condition] = {
    # public reference data, needed to read anything restored
    **{
        name: _everything
        for name in (
            "catalog_jurisdictions",
            "catalog_agencies",
            "catalog_legal_bases",
            "catalog_datasets",
            "catalog_dataset_fields",
            "catalog_predicates",
            "catalog_items",
            "catalog_required_evidence",
            "catalog_versions",
            "catalog_services",
        )
    },
    "audit_tree_heads": _everything,  # sizes, roots and signatures: no personal data
    "audit_checkpoints": _everything,  # the same heads as C2SP checkpoints
    "audit_cosignatures": _everything,  # witnesses' signatures on them
    "users": _agency("users", "agency_code"),
    "api_tokens": lambda t, s: t["api_tokens"].c.user_id.in_(
        select(t["users"].c.id).where(s.agency_condition(t["users"].c.agency_code))
    ),
    "access_rules": _rules,
    "policy_alerts": _agency("policy_alerts", "owner_agency"),  # the owner's auditors' queue
    "signing_keys": _signing_keys,
    "transcript_pdfs": _agency("transcript_pdfs", "issuer"),  # PDFs signed by its owners
    "cases": lambda t, s: t["cases"].c.id.in_(_case_ids(t, s)),
    "case_agencies": _of_cases("case_agencies"),
    "case_events": _of_cases("case_events"),
    "case_evidence": _of_cases("case_evidence"),
    "case_kin_records": _of_cases("case_kin_records"),
    "case_thing_answers": _of_cases("case_thing_answers"),
    "notifications": _of_cases("notifications"),
    "sms_outbox": _sms,
    "consents": _consents,
    "audit_entries": lambda t, s: s.entry_condition(
        t["audit_entries"].c.actor_agency, t["audit_entries"].c.owner_agency
    ),
    "notify_subscriptions": _agency("notify_subscriptions", "agency_code"),
    "notify_deliveries": _agency("notify_deliveries", "agency_code"),
    "notify_agency_feeds": _agency("notify_agency_feeds", "agency_code"),
    "notify_dead_letters": lambda t, s: t["notify_dead_letters"].c.delivery_id.in_(
        _deliveries(t, s)
    ),
    "notify_events": lambda t, s: t["notify_events"].c.id.in_(_events(t, s)),
    "citizen_messages": lambda t, s: t["citizen_messages"].c.event_id.in_(_events(t, s)),
    "notify_intake_keys": lambda t, s: t["notify_intake_keys"].c.event_id.in_(_events(t, s)),
    "notify_event_contacts": lambda t, s: t["notify_event_contacts"].c.event_id.in_(_events(t, s)),
    "notify_move_relays": lambda t, s: t["notify_move_relays"].c.event_id.in_(_events(t, s)),
    "notify_notices": lambda t, s: t["notify_notices"].c.event_id.in_(_events(t, s)),
    "citizen_flags": _flags,
    "citizen_flag_queues": lambda t, s: t["citizen_flag_queues"].c.flag_id.in_(
        select(t["citizen_flags"].c.id).where(_flags(t, s))
    ),
    "citizen_previews": _agency("citizen_previews", "requester_agency"),
    "consolidate_review_items": lambda t, s: (
        t["consolidate_review_items"].c.jurisdiction == s.tenant
    ),
    "open311_requests": lambda t, s: t["open311_requests"].c.jurisdiction == s.tenant,
    "open311_api_keys": lambda t, s: t["open311_api_keys"].c.jurisdiction == s.tenant,
    "open311_key_usage": lambda t, s: t["open311_key_usage"].c.api_key_id.in_(
        select(t["open311_api_keys"].c.id).where(t["open311_api_keys"].c.jurisdiction == s.tenant)
    ),
    "open311_counters": _open311_counters,
    "survey_waves": lambda t, s: t["survey_waves"].c.tenant == s.tenant,
    "survey_pools": lambda t, s: t["survey_pools"].c.wave_id.in_(_waves(t, s)),
    "survey_participation": lambda t, s: t["survey_participation"].c.wave_id.in_(_waves(t, s)),
    "survey_responses": lambda t, s: t["survey_responses"].c.wave_id.in_(_waves(t, s)),
    "survey_answers": lambda t, s: t["survey_answers"].c.response_token.in_(
        select(t["survey_responses"].c.token).where(
            t["survey_responses"].c.wave_id.in_(_waves(t, s))
        )
    ),
}
"""Table -> the tenant's rows. Tables not named are node-wide and left out (see
:data:`TABLE_RULES_DOC`)."""

TABLE_RULES_DOC = """Left out of a tenant backup, node-wide: user_sessions, login_throttles
and login_client_throttles (ephemeral), account_secrets (the node's badge key), audit_head and
audit_tree_nodes (rebuilt from the leaf list), case_counters (the node's numbering),
citizen_challenges and citizen_card_revocations (citizen sign-in, national),
notify_citizen_sequences (per-citizen counters across every tenant), federation_nonces (the
node's replay protection, ephemeral), audit_witnesses and witness_logs (the node's witnessing:
whom it pushes to, whom it cosigns), cache_versions (the node's own cache counters, made with
the schema), stats_assumptions (the platform's assumptions of the savings figures)."""


def _stores(registries_dir: Path, tenant: str) -> dict[str, dict[str, Any]]:
    """The tenant's agencies' provider stores (their own SQLite files), found through their
    connector files. Central stores are national replicas, not the tenant's, and stay out;
    so do stores the node does not hold as a file (a database server, an owner's API)."""
    from sqlalchemy.engine import make_url

    from onceonly.connectors import connector_files, read_connector

    root = registries_dir.resolve()
    found = {}
    for file in connector_files(registries_dir):
        connector, _ = read_connector(file)
        if connector is None or connector.spec.jurisdiction != tenant:
            continue
        if not connector.spec.is_sql():
            continue
        url = make_url(getattr(connector.spec.source, "url", ""))
        if url.get_backend_name() != "sqlite" or not url.database:
            continue
        store = connector.resolve(url.database).resolve()
        if not store.is_relative_to(root) or not store.is_file():
            continue
        data = store.read_bytes()
        found[store.relative_to(root).as_posix()] = {
            "owner": connector.owner,
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": base64.b64encode(data).decode(),
        }
    return found


def _rows(connection: Connection, table: Table, condition: Any) -> list[dict[str, Any]]:
    query = select(table)
    if condition is not None:
        query = query.where(condition)
    rows = connection.execute(query).mappings()  # stored order: parents before children
    return [{k: _encode(v) for k, v in row.items()} for row in rows]


def dump_tenant(settings: Any, source: str, tenant: str) -> tuple[dict[str, Any], bytes]:
    """The manifest and gzip'd body of ``tenant``'s share of this node (see module doc)."""
    from onceonly.audit.models import AuditEntry
    from onceonly.audit.tree_heads import AUDIT_KEY_AGENCY, tree_head_for
    from onceonly.exchange.keys import published_jwks
    from onceonly.models import Base

    scope = Scope(tenant=tenant)
    engine = make_engine(settings.resolved_database_url)
    tables: dict[str, list[dict[str, Any]]] = {}
    try:
        with make_session_factory(engine)() as session:
            head = tree_head_for(session, settings, None)
            session.commit()
            leaves = list(
                session.scalars(
                    select(AuditEntry.entry_hash)
                    .where(AuditEntry.seq <= head.tree_size)
                    .order_by(AuditEntry.seq)
                )
            )
            audit_keys = [
                k for k in published_jwks(session)["keys"] if k.get("agency") == AUDIT_KEY_AGENCY
            ]
        with snapshot(engine) as connection:
            for table in Base.metadata.sorted_tables:
                rule = TABLE_RULES.get(table.name)
                if rule is None:
                    continue
                condition = rule(Base.metadata.tables, scope)
                rows = _rows(connection, table, condition)
                if table.name == "audit_entries":
                    rows = [r for r in rows if r["seq"] <= head.tree_size]
                tables[table.name] = rows
    finally:
        engine.dispose()
    stores = _stores(settings.registries_dir, tenant)
    manifest = {
        "format": TENANT_FORMAT,
        "source": source,
        "tenant": tenant,
        "created_at": datetime.now(UTC).isoformat(),
        "row_counts": {name: len(rows) for name, rows in tables.items()},
        "excluded_tables": sorted(
            t.name for t in Base.metadata.sorted_tables if t.name not in TABLE_RULES
        ),
        "stores": {
            path: {"owner": s["owner"], "sha256": s["sha256"]} for path, s in stores.items()
        },
        "tree_head": head.as_document(),
        "audit_keys": {"keys": audit_keys},
        "leaf_count": len(leaves),
    }
    document = {
        "manifest": manifest,
        "tables": tables,
        "stores": stores,
        "audit_leaves": leaves,
    }
    return manifest, gzip.compress(json.dumps(document).encode())


@dataclass
class TenantDrillReport:
    source: str
    tenant: str
    created_at: str
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)
    stores: dict[str, bool] = field(default_factory=dict)
    """Store file -> its bytes match the digest the source recorded."""
    entries_checked: int = 0
    audit_problems: list[str] = field(default_factory=list)
    tree_size: int = 0
    root_ok: bool = False
    signature_ok: bool = False

    @property
    def counts_ok(self) -> bool:
        return all(a == b for a, b in self.tables.values())

    @property
    def ok(self) -> bool:
        return (
            self.counts_ok
            and all(self.stores.values())
            and not self.audit_problems
            and self.root_ok
            and self.signature_ok
        )


def _check_entries(engine: Engine, leaves: list[str], report: TenantDrillReport) -> None:
    from onceonly.audit.models import AuditEntry

    with make_session_factory(engine)() as session:
        for row in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            report.entries_checked += 1
            index = row.seq - 1
            if not 0 <= index < len(leaves):
                report.audit_problems.append(f"entry {row.seq} is past the leaf list")
                continue
            try:  # a format-2 row's commitment is derived from its username and salt
                matches = compute_hash(entry_document(row)) == row.entry_hash
            except ValueError as error:
                report.audit_problems.append(f"entry {row.seq} cannot be read: {error}")
                continue
            if not matches:
                report.audit_problems.append(f"entry {row.seq} does not match its hash")
            if leaves[index] != row.entry_hash:
                report.audit_problems.append(f"entry {row.seq} is not the log's leaf {row.seq}")
            before = leaves[index - 1] if index else GENESIS_HASH
            if row.prev_hash != before:
                report.audit_problems.append(f"entry {row.seq} does not follow leaf {row.seq - 1}")


def tenant_restore_drill(opened: Opened, scratch_dir: Path | None = None) -> TenantDrillReport:
    """Restore a tenant backup into a scratch SQLite database and prove it (module doc)."""
    import tempfile

    from onceonly.audit.tree_heads import TreeHeadInvalid, verify_tree_head
    from onceonly.models import Base

    manifest = opened.manifest
    if manifest.get("format") != TENANT_FORMAT:
        raise BackupInvalid("not a tenant backup")
    document = json.loads(gzip.decompress(opened.body))
    report = TenantDrillReport(manifest["source"], manifest["tenant"], manifest["created_at"])
    for path, expected in manifest["stores"].items():
        data = base64.b64decode(document["stores"].get(path, {}).get("data", ""))
        report.stores[path] = hashlib.sha256(data).hexdigest() == expected["sha256"]
    leaves: list[str] = document["audit_leaves"]
    head = manifest["tree_head"]
    report.tree_size = int(head["tree_size"])
    try:
        verify_tree_head(head, manifest["audit_keys"])
        report.signature_ok = True
    except TreeHeadInvalid as exc:
        report.audit_problems.append(exc.reason_en)
    root = mth([entry_leaf(h) for h in leaves[: report.tree_size]]).hex()
    report.root_ok = len(leaves) == report.tree_size and root == head["root_hash"]
    with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
        _, engine = restore(opened.body, f"sqlite:///{Path(scratch) / 'restore.sqlite'}")
        try:
            with engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    if table.name not in manifest["row_counts"]:
                        continue
                    restored = len(connection.execute(select(table)).all())
                    report.tables[table.name] = (manifest["row_counts"][table.name], restored)
            _check_entries(engine, leaves, report)
        finally:
            engine.dispose()
    return report


class TenantRefused(BackupInvalid):
    """A ``--tenant`` a backup command cannot act on. The message names the option, the value
    and why, in both languages: an operator who typed ``yilan`` for ``yilan-county`` must see
    that, not a generic failure."""

    def __init__(self, key: str, **params: Any) -> None:
        self.zh = i18n.t(key, "zh-TW", **params)
        self.en = i18n.t(key, "en", **params)
        super().__init__(self.en)


def jurisdiction_name(settings: Any, code: str) -> str | None:
    """``code``'s name in this node's catalog (``宜蘭縣 Yilan County``), ``None`` when no
    jurisdiction has that code."""
    from onceonly.catalog.service import get_jurisdiction

    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            found = get_jurisdiction(session, code)
    finally:
        engine.dispose()
    return None if found is None else f"{found.name_zh} {found.name_en}"


def check_hosted(settings: Any, hosted: tuple[str, ...], tenant: str) -> None:
    """Refuse (before anything is dumped or sent) a tenant this node does not host, saying
    whether the code names no jurisdiction at all or one hosted elsewhere."""
    if tenant in hosted:
        return
    name = jurisdiction_name(settings, tenant)
    key = "backup.tenant_unknown" if name is None else "backup.tenant_not_hosted"
    raise TenantRefused(key, tenant=tenant, name=name, hosted=", ".join(hosted))


def restored_files(opened: Opened) -> dict[str, bytes]:
    """The store files carried by a tenant backup (path -> bytes), e.g. to put them back."""
    document = json.loads(gzip.decompress(opened.body))
    return {path: base64.b64decode(s["data"]) for path, s in document["stores"].items()}


__all__ = [
    "TABLE_RULES",
    "TENANT_FORMAT",
    "TenantDrillReport",
    "TenantRefused",
    "check_hosted",
    "dump_tenant",
    "jurisdiction_name",
    "restored_files",
    "tenant_restore_drill",
]
