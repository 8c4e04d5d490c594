"""Writing to and reading from the audit log. There is no function that changes or removes an
entry, on purpose: the log only grows.

The exchange calls :func:`append_durably` before it releases evidence, so evidence is never
released unless its audit entry is committed to disk; other callers use :func:`append` inside
their own transaction so the entry and the change it records commit together or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Text, bindparam, func, insert, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from onceonly.accounts.tenancy import Scope
from onceonly.audit.models import DECISIONS, GENESIS_HASH, AuditEntry, AuditHead
from onceonly.audit.tree_store import add_leaf, add_leaves, appended_end
from onceonly.audit.verify import (
    ENTRY_FORMAT,
    actor_commitment,
    compute_hash,
    entry_document,
    format_time,
    new_actor_salt,
)
from onceonly.db import as_utc, transaction, utcnow
from onceonly.observability import current_request_id
from onceonly.prepared import Prepared


def _new_request_id() -> str:
    """The HTTP request's id when there is one (so its log lines lead to its entries)."""
    return current_request_id() or uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """What the caller knows about an event; the log adds seq, time and hashes."""

    event: str
    """Kind of event, e.g. ``evidence.request``, ``predicate.query``, ``rule.approved``."""
    actor_username: str
    decision: str = "allowed"
    request_id: str = field(default_factory=_new_request_id)
    actor_badge: str | None = None
    """Pseudonymous badge shown to the data subject instead of the clerk's name."""
    actor_role: str | None = None
    actor_agency: str | None = None
    application_item: str | None = None
    case_id: str | None = None
    subject: str | None = None
    """National ID of the citizen the access is about; ``None`` for events about no one."""
    dataset: str | None = None
    fields: Sequence[str] | None = None
    predicate: str | None = None
    predicate_params: Mapping[str, Any] | None = None
    owner_agency: str | None = None
    legal_basis: str | None = None
    reason_zh: str = ""
    reason_en: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AuditEntryView(AuditRecord):
    """An entry as stored: the record plus its place in the chain."""

    seq: int
    recorded_at: datetime
    prev_hash: str
    entry_hash: str
    entry_format: int
    """1: the hash covers ``actor_username``; 2: it covers ``actor_commitment``."""
    actor_salt: str | None
    """Format 2 only; what makes the commitment unguessable. Never shown to citizens."""

    @classmethod
    def from_row(cls, row: AuditEntry) -> AuditEntryView:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
        values["recorded_at"] = as_utc(row.recorded_at)
        return cls(**values)

    @property
    def actor_commitment(self) -> str | None:
        """What a format-2 entry's hash covers in place of the username (None for format 1)."""
        if self.entry_format == 1 or self.actor_salt is None:
            return None
        return actor_commitment(self.actor_username, self.actor_salt)

    def as_document(self, *, redact: bool = False) -> dict[str, Any]:
        """The JSON form, as exported and hashed (``redact``: without username and salt)."""
        return entry_document(self, redact=redact)


@dataclass(frozen=True)
class AuditHeadView:
    count: int
    seq: int
    entry_hash: str
    recorded_at: datetime | None


def _json_value(value: Any, name: str) -> Any:
    """The value exactly as it will come back from a JSON column, so the hash computed now
    equals the hash recomputed from the stored row."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"audit {name} is not plain JSON: {error}") from error


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(AuditRecord))
"""Read shallowly from each record (``asdict`` deep-copies, and the JSON-valued fields are
copied by :func:`_json_value` anyway): an append pays for this on every entry."""


def _content(record: AuditRecord) -> dict[str, Any]:
    if not record.event:
        raise ValueError("audit event kind is empty")
    if not record.actor_username:
        raise ValueError("audit actor_username is empty")
    if record.decision not in DECISIONS:
        raise ValueError(f"audit decision must be one of {DECISIONS}, got {record.decision!r}")
    content = {name: getattr(record, name) for name in _RECORD_FIELDS}
    for name in ("fields", "predicate_params", "details"):
        if content[name] is not None:
            content[name] = _json_value(content[name], name)
    return content


_INSERT_ENTRIES = Prepared(insert(cast(Table, AuditEntry.__table__)))
"""The rows are complete, so the ORM's bulk-insert bookkeeping is overhead."""


_HEAD = cast(Table, AuditHead.__table__)
_CLAIM = Prepared(
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=_HEAD.c.seq + bindparam("count"))
    .returning(_HEAD.c.seq, _HEAD.c.entry_hash)
)
_MOVE_HEAD = Prepared(
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(entry_hash=bindparam("entry_hash"), updated_at=bindparam("updated_at"))
)
"""The statements every append runs, on the driver's cursor (:mod:`onceonly.prepared`): they
run inside the audit's single writer, so every request waits on them."""


def _claim_next_seq(session: Session, count: int = 1) -> tuple[int, str]:
    """Advance the head row by ``count`` and return (its new seq, the hash it held before).

    The UPDATE is the lock: on PostgreSQL it holds the head row until commit, on SQLite it
    takes the database write lock, so concurrent appends queue here and each reads the head
    the previous one left. The very first append makes the row (concurrent first appends
    meet at its primary key and then queue on it like any other).
    """
    claimed = _CLAIM.rows(session, {"count": count})
    if not claimed:
        newest = session.execute(
            select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
        seq, entry_hash = (newest.seq, newest.entry_hash) if newest else (0, GENESIS_HASH)
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        seed = insert(AuditHead).values(id=1, seq=seq, entry_hash=entry_hash)
        session.execute(seed.on_conflict_do_nothing(index_elements=["id"]))
        claimed = _CLAIM.rows(session, {"count": count})
    seq, entry_hash = claimed[0]
    return seq, entry_hash


def _move_head(session: Session, entry_hash: str, moment: datetime) -> None:
    _MOVE_HEAD.rows(session, {"entry_hash": entry_hash, "updated_at": as_utc(moment)})


def _sealed(content: dict[str, Any], seq: int, prev_hash: str) -> dict[str, Any]:
    """The row of ``content`` at ``seq`` after ``prev_hash``, in the current entry format:
    a fresh salt, the commitment to the actor it makes, the time, and the hash over them."""
    recorded_at = utcnow()
    salt = new_actor_salt()
    document = {
        **content,
        "seq": seq,
        "recorded_at": format_time(recorded_at),
        "entry_format": ENTRY_FORMAT,
        "actor_commitment": actor_commitment(content["actor_username"], salt),
        "prev_hash": prev_hash,
    }
    return {
        **content,
        "seq": seq,
        "recorded_at": recorded_at,
        "entry_format": ENTRY_FORMAT,
        "actor_salt": salt,
        "prev_hash": prev_hash,
        "entry_hash": compute_hash(document),
    }


def append(session: Session, entry: AuditRecord) -> AuditEntryView:
    """Add ``entry`` to the end of the chain (and its leaf to the Merkle tree) in the
    caller's transaction.

    Raises ``ValueError`` for a record that is not loggable (unknown decision, empty event
    kind or actor, values that are not plain JSON).
    """
    content = _content(entry)
    seq, prev_hash = _claim_next_seq(session)
    values = _sealed(content, seq, prev_hash)
    session.add(AuditEntry(**values))
    session.flush()
    add_leaf(session, seq, values["entry_hash"], prev_hash)
    _move_head(session, values["entry_hash"], values["recorded_at"])
    return AuditEntryView(**values)


def append_batch(session: Session, records: Sequence[AuditRecord]) -> list[AuditEntryView]:
    """Add ``records`` in order, contiguous in the chain, in the caller's transaction: the
    same entries as calling :func:`append` for each, written with one INSERT of the entries,
    one of the Merkle subtrees they complete, and one head update. Every record is checked
    before anything is written."""
    contents = [_content(record) for record in records]
    if not contents:
        return []
    end = appended_end()  # where this process's last batched append left the head
    rows = _sealed_all(contents, end[0] + 1, end[1]) if end else []
    if not (end and _advance_head(session, end, rows[-1])):
        last, prev_hash = _claim_next_seq(session, len(contents))
        rows = _sealed_all(contents, last - len(contents) + 1, prev_hash)
        _move_head(session, rows[-1]["entry_hash"], rows[-1]["recorded_at"])
    _INSERT_ENTRIES.many(session, rows)
    add_leaves(session, rows[0]["seq"], [row["entry_hash"] for row in rows], rows[0]["prev_hash"])
    return [AuditEntryView(**row) for row in rows]


_ADVANCE = Prepared(
    update(_HEAD)
    .where(
        _HEAD.c.id == 1,
        _HEAD.c.seq == bindparam("was_seq"),
        _HEAD.c.entry_hash == bindparam("was_hash"),
    )
    .values(seq=bindparam("seq"), entry_hash=bindparam("entry_hash"), updated_at=bindparam("at"))
    .returning(_HEAD.c.seq)
)


def _advance_head(session: Session, end: tuple[int, str], last: dict[str, Any]) -> bool:
    """Move the head from ``end`` (seq, entry hash: where this process's last batched append
    left it, :func:`~onceonly.audit.tree_store.appended_end`) to the ``last`` row sealed
    after it, in one UPDATE the database applies only if the head is still there, taking
    the same lock as :func:`_claim_next_seq`; whether it was. Another worker, another kind
    of append or a rollback leaves it elsewhere, and the head is then claimed as usual."""
    moved = _ADVANCE.rows(
        session,
        {
            "was_seq": end[0],
            "was_hash": end[1],
            "seq": last["seq"],
            "entry_hash": last["entry_hash"],
            "at": as_utc(last["recorded_at"]),
        },
    )
    return bool(moved)


def _sealed_all(contents: list[dict[str, Any]], first: int, prev_hash: str) -> list[dict[str, Any]]:
    """The rows of ``contents`` from ``first``, each chained to the one before."""
    rows = []
    for seq, content in enumerate(contents, start=first):
        rows.append(_sealed(content, seq, prev_hash))
        prev_hash = rows[-1]["entry_hash"]
    return rows


def append_durably(session_factory: sessionmaker[Session], record: AuditRecord) -> AuditEntryView:
    """Append in a transaction of its own, committed (and on SQLite fsync'd) before returning."""
    with transaction(session_factory) as session:
        return append(session, record)


def append_many_durably(
    session_factory: sessionmaker[Session], records: Sequence[AuditRecord]
) -> list[AuditEntryView]:
    """Append ``records`` in order, all committed together before returning, or none."""
    with transaction(session_factory) as session:
        return append_batch(session, records)


def head(session: Session) -> AuditHeadView:
    """How many entries there are and the hash of the newest: publish it to anchor the log."""
    count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    newest = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    if newest is None:
        return AuditHeadView(count=0, seq=0, entry_hash=GENESIS_HASH, recorded_at=None)
    return AuditHeadView(
        count=count,
        seq=newest.seq,
        entry_hash=newest.entry_hash,
        recorded_at=as_utc(newest.recorded_at),
    )


def seqs_named(session: Session, name: str) -> list[int]:
    """The entries ``name`` designates, as people name them: a sequence number, an entry hash
    or a request id (one request writes an entry per piece it asked for). In order."""
    wanted = name.strip()
    if wanted.isdigit():
        found = session.get(AuditEntry, int(wanted))
        return [found.seq] if found is not None else []
    match = or_(AuditEntry.entry_hash == wanted.lower(), AuditEntry.request_id == wanted)
    return list(session.scalars(select(AuditEntry.seq).where(match).order_by(AuditEntry.seq)))


@dataclass(frozen=True)
class EntryFilter:
    """Search criteria for auditors; ``agency`` matches the requester's or the owner's agency."""

    subject: str | None = None
    dataset: str | None = None
    agency: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive upper bound."""
    scope: Scope | None = None
    """Only the entries of the searcher's tenant (requester or an owner in it); ``None``: all,
    for the node's own tools."""


def find_entries(
    session: Session, criteria: EntryFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntryView], int]:
    """Matching entries, newest first, and how many match in all."""
    conditions = []
    if criteria.subject:
        conditions.append(AuditEntry.subject == criteria.subject)
    if criteria.dataset:
        conditions.append(AuditEntry.dataset == criteria.dataset)
    if criteria.agency:
        conditions.append(
            or_(
                AuditEntry.actor_agency == criteria.agency,
                AuditEntry.owner_agency == criteria.agency,
            )
        )
    if criteria.since:
        conditions.append(AuditEntry.recorded_at >= as_utc(criteria.since))
    if criteria.until:
        conditions.append(AuditEntry.recorded_at < as_utc(criteria.until))
    if criteria.scope is not None:
        conditions.append(
            criteria.scope.entry_condition(AuditEntry.actor_agency, AuditEntry.owner_agency)
        )
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
        .offset(offset)
    )
    return [AuditEntryView.from_row(row) for row in rows], total


_ENTRIES = cast(Table, AuditEntry.__table__)
_PREDICATE_ASKS = Prepared(
    select(
        sql_cast(_ENTRIES.c.predicate_params, Text),
        _ENTRIES.c.actor_agency,
        _ENTRIES.c.application_item,
        _ENTRIES.c.owner_agency,
    )
    .where(
        _ENTRIES.c.subject == bindparam("subject"),
        _ENTRIES.c.dataset == bindparam("dataset"),
        _ENTRIES.c.predicate == bindparam("predicate"),
        _ENTRIES.c.event == "evidence.request",
        _ENTRIES.c.decision == "allowed",
        _ENTRIES.c.recorded_at >= bindparam("since"),
    )
    .distinct()
)


def predicate_asks(
    session: Session, *, subject: str, dataset: str, predicate: str, since: datetime
) -> list[tuple[dict[str, Any], str | None, str | None, str | None]]:
    """(parameters, requesting agency, item, owners) of the allowed evidence requests that
    asked ``predicate`` of ``dataset`` about ``subject`` since ``since``: each different one
    once, all of them (a newest-N window could be flooded with one value to push the others
    out of sight; distinct rows cannot be multiplied so). The few columns the alert on varied
    parameters needs, filtered by the database: it runs on every predicate request."""
    rows = _PREDICATE_ASKS.rows(
        session,
        {"subject": subject, "dataset": dataset, "predicate": predicate, "since": as_utc(since)},
    )
    return [
        ((json.loads(text) or {}) if text else {}, agency, item, owners)
        for text, agency, item, owners in rows
    ]


def latest(session: Session, count: int = 20) -> list[AuditEntryView]:
    """The newest ``count`` entries, oldest first (as ``tail`` shows them)."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(count))
    return [AuditEntryView.from_row(row) for row in reversed(list(rows))]
