""" "Who looked at my data": every audit entry about one citizen, as the citizen reads it.

The clerk appears only by the pseudonymous badge number (the audit entry's ``actor_badge``),
never by name; agencies, application items and datasets by their names. Exports (CSV and
JSON) carry the same columns plus each entry's hash, so a row can be matched to its proof.
The proof is redacted the same way; an older (format 1) entry by a clerk has none to offer
(``proof_available``), since its hash covers the clerk's username.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from onceonly.accounts.users import CITIZEN_USERNAME_PREFIX
from onceonly.audit.log import AuditEntryView, EntryFilter, find_entries
from onceonly.catalog import service as catalog
from onceonly.domain.roc_date import TAIWAN
from onceonly.i18n import t

EXPORT_PAGE = 500
_catalog = catalog.CachedCatalog()


@dataclass(frozen=True)
class Access:
    seq: int
    recorded_at: datetime
    event: str
    agency: str
    agency_name: str
    badge: str
    role: str
    application_item: str
    application_item_name: str
    case_id: str
    dataset: str
    dataset_name: str
    owners: list[str]
    owner_names: list[str]
    legal_basis: str
    legal_basis_name: str
    fields: list[str]
    field_labels: list[str]
    predicate: str
    predicate_name: str
    outcome: str
    """The exchange's status (issued, awaiting_preview, denied, ...) or the entry's decision."""
    outcome_text: str
    event_text: str
    """What happened, in words (``citizens.event.<event>``)."""
    reason: str
    entry_hash: str
    proof_available: bool
    """False for a format-1 entry by a clerk: every proof of it would name the clerk."""

    by_citizen: bool = False
    """The citizen's own look (shown as "you", without agency or badge): see
    :func:`made_by_citizen`."""

    @property
    def local_time(self) -> str:
        return self.recorded_at.astimezone(TAIWAN).strftime("%Y-%m-%d %H:%M:%S")


def _name(session: Session, code: str, lang: str) -> str:
    return _catalog.check(session).name(session, code, lang) if code else ""


def _legal_basis(session: Session, code: str, lang: str) -> str:
    view = catalog.get_legal_basis(session, code) if code else None
    if view is None:
        return code
    return view.citation_en if lang == "en" else view.citation_zh


def _labels(
    session: Session, dataset: str, fields: list[str], predicate: str, lang: str
) -> tuple[list[str], str]:
    view = _catalog.check(session).dataset(session, dataset) if dataset else None
    english = lang == "en"
    labels = []
    for name in fields:
        found = view.field(name.split(".", 1)[0]) if view else None
        labels.append((found.label_en if english else found.label_zh) if found else name)
    found_predicate = view.predicate(predicate) if view and predicate else None
    if found_predicate is None:
        return labels, predicate
    return labels, found_predicate.name_en if english else found_predicate.name_zh


def _reason(session: Session, entry: AuditEntryView, lang: str) -> str:
    """The entry's reason as the citizen reads it. A relay's was written with the agencies'
    codes (the entry cannot change), so it is said again from its details, with their names."""
    details = entry.details or {}
    if entry.event == "case.relay" and details.get("from") and details.get("to"):
        source = _name(session, str(details["from"]), lang)
        target = _name(session, str(details["to"]), lang)
        return t("cases.audit.relay", lang, source=source, target=target)
    return entry.reason_en if lang == "en" else entry.reason_zh


def event_text(event: str, lang: str) -> str:
    """What an entry of ``event`` did, in the citizen's words."""
    try:
        return t(f"citizens.event.{event}", lang)
    except KeyError:
        return t("citizens.event.other", lang)


def made_by_citizen(entry: AuditEntryView) -> bool:
    """Whether a citizen's own account made the entry: never one another node or a gateway
    forwarded (``node/username``), whatever role it claims, so no look can pass for the
    citizen's own and lose its agency and badge on the page."""
    username = entry.actor_username or ""
    own_name = username.startswith(CITIZEN_USERNAME_PREFIX) and "/" not in username
    return entry.actor_role == "citizen" and own_name


def describe(session: Session, entry: AuditEntryView, lang: str) -> Access:
    owners = [o for o in (entry.owner_agency or "").split(",") if o]
    status = str(entry.details.get("status") or entry.decision)
    labels, predicate_name = _labels(
        session, entry.dataset or "", list(entry.fields or []), entry.predicate or "", lang
    )
    outcome_key = f"citizens.outcome.{status}"
    try:
        outcome_text = t(outcome_key, lang)
    except KeyError:
        outcome_text = t(f"audit.decision.{entry.decision}", lang)
    return Access(
        seq=entry.seq,
        recorded_at=entry.recorded_at,
        event=entry.event,
        agency=entry.actor_agency or "",
        agency_name=_name(session, entry.actor_agency or "", lang),
        badge=entry.actor_badge or "",
        role=entry.actor_role or "",
        by_citizen=made_by_citizen(entry),
        application_item=entry.application_item or "",
        application_item_name=_name(session, entry.application_item or "", lang),
        case_id=entry.case_id or "",
        dataset=entry.dataset or "",
        dataset_name=_name(session, entry.dataset or "", lang),
        owners=owners,
        owner_names=[_name(session, o, lang) for o in owners],
        legal_basis=entry.legal_basis or "",
        legal_basis_name=_legal_basis(session, entry.legal_basis or "", lang),
        fields=list(entry.fields or []),
        field_labels=labels,
        predicate=entry.predicate or "",
        predicate_name=predicate_name,
        outcome=status,
        outcome_text=outcome_text,
        event_text=event_text(entry.event, lang),
        reason=_reason(session, entry, lang),
        entry_hash=entry.entry_hash,
        proof_available=entry.entry_format != 1 or entry.actor_role == "citizen",
    )


@dataclass(frozen=True)
class AccessFilter:
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive."""
    agency: str | None = None
    dataset: str | None = None


def list_accesses(
    session: Session,
    national_id: str,
    criteria: AccessFilter,
    lang: str,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Access], int]:
    """The citizen's entries, newest first, and how many match."""
    entries, total = find_entries(
        session,
        EntryFilter(
            subject=national_id,
            dataset=criteria.dataset,
            agency=criteria.agency,
            since=criteria.since,
            until=criteria.until,
        ),
        limit=limit,
        offset=offset,
    )
    return [describe(session, e, lang) for e in entries], total


def iter_accesses(
    session: Session, national_id: str, criteria: AccessFilter, lang: str
) -> Iterator[Access]:
    offset = 0
    while True:
        page, total = list_accesses(
            session, national_id, criteria, lang, limit=EXPORT_PAGE, offset=offset
        )
        yield from page
        offset += len(page)
        if not page or offset >= total:
            return


EXPORT_COLUMNS = (
    "seq",
    "time",
    "agency",
    "agency_name",
    "badge",
    "application_item",
    "application_item_name",
    "case_id",
    "dataset",
    "dataset_name",
    "owners",
    "legal_basis",
    "fields_or_predicate",
    "outcome",
    "reason",
    "entry_hash",
)


def _row(access: Access) -> dict[str, Any]:
    return {
        "seq": access.seq,
        "time": access.recorded_at.astimezone(TAIWAN).isoformat(),
        "agency": access.agency,
        "agency_name": access.agency_name,
        "badge": access.badge,
        "application_item": access.application_item,
        "application_item_name": access.application_item_name,
        "case_id": access.case_id,
        "dataset": access.dataset,
        "dataset_name": access.dataset_name,
        "owners": ",".join(access.owners),
        "legal_basis": access.legal_basis,
        "fields_or_predicate": access.predicate or ",".join(access.fields),
        "outcome": access.outcome,
        "reason": access.reason,
        "entry_hash": access.entry_hash,
    }


def export_csv(accesses: Iterator[Access]) -> str:
    """UTF-8 CSV with a BOM so spreadsheet programs read the Chinese correctly."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for access in accesses:
        writer.writerow(_row(access))
    return "\ufeff" + out.getvalue()


def export_json(accesses: Iterator[Access]) -> str:
    items = []
    for access in accesses:
        item = asdict(access)
        item["recorded_at"] = access.recorded_at.isoformat()
        items.append(item)
    return json.dumps({"accesses": items}, ensure_ascii=False, indent=2)
