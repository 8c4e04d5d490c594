"""Checking the hash chain, from the database or from an exported JSON Lines file.

Each entry's hash is SHA-256 over a canonical JSON document of its content plus the previous
entry's hash (:func:`compute_hash`). The rules are simple enough to re-implement anywhere, so
an auditor can check an export without this server, or with a tool of their own;
``docs/audit-entry-format.md`` states them in full. In short:

* *canonical JSON*: keys sorted, no whitespace (``,`` and ``:``), UTF-8 text as is (no
  ``\\u`` escapes), NaN and infinities refused; times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
* *format 1* (entries written before migration ``0010``; a document without
  ``entry_format``): the hash covers :data:`HASHED_FIELDS`, the clerk's ``actor_username``
  among them.
* *format 2* (``"entry_format": 2``): the hash covers :data:`HASHED_FIELDS_V2`, where
  ``actor_commitment`` = SHA-256 hex of the canonical JSON ``{"salt": S, "username": U}``
  stands in for the username, ``S`` being 32 random bytes in hex drawn for that entry alone.
  A *full* document (exports, backups, auditors' proofs) also carries ``actor_username`` and
  ``actor_salt``, outside the hash, and the verifier recomputes the commitment from them, so a
  changed name or salt is refused. A *redacted* document (the proof a citizen downloads)
  carries neither; the commitment is taken as given, and the salt (never released with it)
  keeps anyone from guessing the name back from it.

:func:`verify_chain` stops at the first entry that does not fit and says how it does not fit:

* ``altered``: an entry's content no longer matches its hash, or it was rewritten and re-hashed
  (the entry after it still points at the old hash), or a full format-2 entry's username and
  salt do not give its commitment;
* ``removed``: a sequence number is missing;
* ``reordered``: the entry that belongs here appears later;
* ``inserted``: an entry that belongs nowhere in the chain (a duplicate number, a number past
  the end, or an entry the next one skips over);
* ``malformed``: a line of an export that is not an entry at all.

A chain alone cannot reveal entries cut off its end, nor an attacker who rewrites every entry
from some point on. An *anchor* (a sequence number and hash recorded earlier, such as
``GET /api/v1/audit/head`` published elsewhere, or the database's own head row) closes that gap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from onceonly.db import as_utc
from onceonly.i18n import t

CONTENT_FIELDS = (
    "seq",
    "request_id",
    "recorded_at",
    "event",
    "actor_username",
    "actor_badge",
    "actor_role",
    "actor_agency",
    "application_item",
    "case_id",
    "subject",
    "dataset",
    "fields",
    "predicate",
    "predicate_params",
    "owner_agency",
    "legal_basis",
    "decision",
    "reason_zh",
    "reason_en",
    "details",
)
"""Every field the format-1 hash covers, besides ``prev_hash``."""
HASHED_FIELDS = (*CONTENT_FIELDS, "prev_hash")
"""What the hash of a format-1 entry covers."""
EXPORT_FIELDS = (*HASHED_FIELDS, "entry_hash")
"""A format-1 document, as exported."""

ENTRY_FORMAT = 2
"""The format new entries are written in."""
HASHED_FIELDS_V2 = (
    *("actor_commitment" if name == "actor_username" else name for name in CONTENT_FIELDS),
    "entry_format",
    "prev_hash",
)
"""What the hash of a format-2 entry covers: the actor by commitment, and the format itself."""
ACTOR_FIELDS = ("actor_username", "actor_salt")
"""Who the actor of a format-2 entry was: in full documents only, outside the hash."""
HASHED_FIELDS_BY_FORMAT = {1: HASHED_FIELDS, 2: HASHED_FIELDS_V2}

ChainProblem = Literal["altered", "removed", "reordered", "inserted", "malformed"]
EntryLike = Mapping[str, Any] | Any
"""A mapping holding an entry's document (a line of an export, the entry of a proof) or an
object with the stored fields as attributes (an :class:`~onceonly.audit.models.AuditEntry` row
or an ``AuditEntryView``: ``actor_username``, ``actor_salt``, ``entry_format`` and the rest)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds, as hashed and exported."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def canonical_json(document: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, UTF-8 text as is; NaN and infinities are refused."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def actor_commitment(username: str, salt: str) -> str:
    """What a format-2 entry's hash covers in place of the actor's username."""
    document = {"salt": salt, "username": username}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def new_actor_salt() -> str:
    """32 random bytes in hex, drawn for one entry: without it nobody can test guessed names
    against a commitment."""
    return secrets.token_hex(32)


def compute_hash(document: Mapping[str, Any]) -> str:
    """The entry hash of ``document``: the fields its format hashes (:data:`HASHED_FIELDS`
    without ``entry_format``, :data:`HASHED_FIELDS_V2` for ``"entry_format": 2``)."""
    entry_format = document.get("entry_format", 1)
    names = HASHED_FIELDS_BY_FORMAT.get(entry_format) if type(entry_format) is int else None
    if names is None:
        raise ValueError(f"entry_format {entry_format!r} is not a known entry format")
    hashed = {name: document[name] for name in names}
    return hashlib.sha256(canonical_json(hashed).encode("utf-8")).hexdigest()


def actor_commitment_holds(document: Mapping[str, Any]) -> bool:
    """False only for a full format-2 document whose ``actor_username`` and ``actor_salt`` do
    not give its ``actor_commitment`` (a changed name or salt, which the hash cannot see)."""
    if document.get("entry_format", 1) == 1 or "actor_salt" not in document:
        return True
    expected = actor_commitment(document["actor_username"], document["actor_salt"])
    return bool(expected == document["actor_commitment"])


def is_redacted(document: Mapping[str, Any]) -> bool:
    """A format-2 document that names its actor only by commitment."""
    return document.get("entry_format", 1) != 1 and "actor_username" not in document


@dataclass(frozen=True)
class MalformedLine:
    """A line of an export that could not be read as an entry."""

    line_no: int
    error: str


class _NotAnEntry(ValueError):
    pass


class ActorNotRedactable(ValueError):
    """A format-1 entry: its hash covers the actor's username, so no document of it that
    still verifies can leave the name out."""

    def __init__(self, seq: int, actor_username: str) -> None:
        super().__init__(f"entry {seq} is format 1: its hash covers actor_username")
        self.seq = seq
        self.actor_username = actor_username


def _format_of(entry: EntryLike) -> int:
    if isinstance(entry, Mapping):
        value = entry.get("entry_format", 1)
    else:
        value = getattr(entry, "entry_format", None) or 1
    if type(value) is not int or value not in HASHED_FIELDS_BY_FORMAT:
        known = ", ".join(str(f) for f in HASHED_FIELDS_BY_FORMAT)
        raise _NotAnEntry(f"entry_format {value!r} is not one this verifier knows ({known})")
    return value


def _actor_fields(entry: EntryLike) -> dict[str, Any]:
    """``actor_username`` and ``actor_salt`` of a format-2 entry: both, or neither (redacted)."""
    if isinstance(entry, Mapping):
        present = {name: entry[name] for name in ACTOR_FIELDS if name in entry}
    else:
        present = {name: getattr(entry, name) for name in ACTOR_FIELDS}
    if not present:
        return present
    if len(present) != len(ACTOR_FIELDS):
        raise _NotAnEntry(
            "actor_username and actor_salt come together (a full entry) or not at all "
            "(a redacted entry)"
        )
    for name, value in present.items():
        if not isinstance(value, str) or not value:
            raise _NotAnEntry(f"{name} is not a non-empty string")
    return present


def entry_document(entry: EntryLike, *, redact: bool = False) -> dict[str, Any]:
    """The JSON document of an entry, as exported and hashed.

    ``redact``: leave out ``actor_username`` and ``actor_salt`` (a format-2 entry still
    verifies by its ``actor_commitment``); raises :class:`ActorNotRedactable` for format 1.
    """
    if isinstance(entry, MalformedLine):
        raise _NotAnEntry(f"line {entry.line_no}: {entry.error}")
    entry_format = _format_of(entry)
    names = (*HASHED_FIELDS_BY_FORMAT[entry_format], "entry_hash")
    if isinstance(entry, Mapping):
        missing = [name for name in names if name not in entry]
        if missing:
            raise _NotAnEntry(f"missing {', '.join(missing)}")
        document = {name: entry[name] for name in names}
    else:
        document = {name: getattr(entry, name) for name in names if name != "actor_commitment"}
    if entry_format == 1:
        if redact:
            raise ActorNotRedactable(document["seq"], document["actor_username"])
    else:
        actor = _actor_fields(entry)
        if not isinstance(entry, Mapping):  # a stored row: the commitment is derived
            document["actor_commitment"] = actor_commitment(
                actor["actor_username"], actor["actor_salt"]
            )
        if not redact:
            document.update(actor)
    recorded_at = document["recorded_at"]
    if isinstance(recorded_at, datetime):
        document["recorded_at"] = format_time(recorded_at)
    elif isinstance(recorded_at, str):
        with contextlib.suppress(ValueError):  # kept as written: the hash check names it
            document["recorded_at"] = format_time(parse_time(recorded_at))
    seq = document["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise _NotAnEntry(f"seq {seq!r} is not a number")
    digests = ("prev_hash", "entry_hash", "actor_commitment")
    for name in (d for d in digests if d in document):
        value = document[name]
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise _NotAnEntry(f"{name} is not a SHA-256 hex digest")
    return document


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    """Entries that verified before the first problem (all of them when ``ok``)."""
    first_bad_seq: int | None = None
    problem: ChainProblem | None = None
    reason_zh: str = ""
    reason_en: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    """Newest entry that verified."""
    request_id: str | None = None
    recorded_at: str | None = None
    """Of the entry the problem was found at (for ``removed``: the entry after the gap)."""
    redacted: int = 0
    """Verified entries that name their actor only by commitment (no username to check)."""

    def reason(self, lang: str | None = None) -> str:
        return self.reason_en if lang == "en" else self.reason_zh


@dataclass
class _Chain:
    """Where the walk is: the next expected seq and the last two verified hashes."""

    expected: int = 1
    prev_hash: str = GENESIS_HASH
    before_prev: str | None = None
    previous: dict[str, Any] | None = None
    checked: int = 0
    redacted: int = 0


@dataclass
class _Rest:
    """What the entries after a problem reveal, gathered in one pass without keeping them."""

    has_expected_seq: bool = False
    has_successor: bool = False
    repeats_seq: bool = False
    max_seq: int = 0


def _scan_rest(rest: Iterator[EntryLike], chain: _Chain, seq: int) -> _Rest:
    found = _Rest()
    for raw in rest:
        try:
            document = entry_document(raw)
        except _NotAnEntry:
            continue
        later = document["seq"]
        found.max_seq = max(found.max_seq, later)
        found.has_expected_seq |= later == chain.expected
        found.has_successor |= document["prev_hash"] == chain.prev_hash
        found.repeats_seq |= later == seq
    return found


def _failure(
    chain: _Chain,
    problem: ChainProblem,
    seq: int,
    at: Mapping[str, Any] | None,
    key: str,
    **params: Any,
) -> VerifyResult:
    params.setdefault("seq", seq)
    params.setdefault("request_id", at["request_id"] if at else "-")
    params.setdefault("recorded_at", at["recorded_at"] if at else "-")
    return VerifyResult(
        ok=False,
        checked=chain.checked,
        first_bad_seq=seq,
        problem=problem,
        reason_zh=t(key, "zh-TW", **params),
        reason_en=t(key, "en", **params),
        head_seq=chain.expected - 1,
        head_hash=chain.prev_hash,
        request_id=at["request_id"] if at else None,
        recorded_at=at["recorded_at"] if at else None,
        redacted=chain.redacted,
    )


def _diagnose(chain: _Chain, document: dict[str, Any], rest: Iterator[EntryLike]) -> VerifyResult:
    """Name the first problem, given the entry that did not fit where ``chain`` stands."""
    seq = document["seq"]
    expected = chain.expected
    self_ok = compute_hash(document) == document["entry_hash"]
    link_ok = document["prev_hash"] == chain.prev_hash
    skips_previous = chain.previous is not None and document["prev_hash"] == chain.before_prev

    if seq < expected:
        if skips_previous and self_ok:
            previous = chain.previous
            assert previous is not None
            return _failure(chain, "inserted", previous["seq"], previous, "audit.problem.inserted")
        return _failure(chain, "inserted", seq, document, "audit.problem.inserted")
    if seq > expected:
        rest_seen = _scan_rest(rest, chain, seq)
        if not rest_seen.has_expected_seq:
            return _failure(chain, "removed", expected, document, "audit.problem.removed")
        if rest_seen.repeats_seq or seq > rest_seen.max_seq + 1:
            return _failure(chain, "inserted", seq, document, "audit.problem.inserted")
        return _failure(
            chain, "reordered", expected, document, "audit.problem.reordered", found=seq
        )
    if link_ok:
        return _failure(chain, "altered", seq, document, "audit.problem.altered")
    if skips_previous:
        previous = chain.previous
        assert previous is not None
        return _failure(chain, "inserted", previous["seq"], previous, "audit.problem.inserted")
    if _scan_rest(rest, chain, seq).has_successor:
        return _failure(chain, "reordered", seq, document, "audit.problem.swapped")
    if self_ok and chain.previous is not None:
        previous = chain.previous
        return _failure(
            chain, "altered", previous["seq"], previous, "audit.problem.rehashed", next_seq=seq
        )
    return _failure(chain, "altered", seq, document, "audit.problem.altered")


def verify_chain(
    entries: Iterable[EntryLike], anchor: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk ``entries`` in order (seq 1, 2, …) and report the first one that breaks the chain.

    ``anchor`` is an entry known to exist, ``(seq, entry_hash)``: the chain must reach it and
    hold exactly that hash there, which catches entries cut off the end and wholesale rewrites.
    """
    chain = _Chain()
    iterator = iter(entries)
    for raw in iterator:
        try:
            document = entry_document(raw)
        except _NotAnEntry as error:
            return _failure(
                chain, "malformed", chain.expected, None, "audit.problem.malformed", error=error
            )
        fits = (
            document["seq"] == chain.expected
            and document["prev_hash"] == chain.prev_hash
            and compute_hash(document) == document["entry_hash"]
        )
        if not fits:
            return _diagnose(chain, document, iterator)
        if not actor_commitment_holds(document):
            seq = document["seq"]
            return _failure(chain, "altered", seq, document, "audit.problem.actor_commitment")
        chain.redacted += is_redacted(document)
        chain.before_prev, chain.prev_hash = chain.prev_hash, document["entry_hash"]
        chain.previous = document
        chain.expected += 1
        chain.checked += 1
        if anchor and document["seq"] == anchor[0] and document["entry_hash"] != anchor[1]:
            return _failure(chain, "altered", anchor[0], document, "audit.problem.anchor")
    if anchor and chain.checked < anchor[0]:
        return _failure(chain, "removed", chain.expected, None, "audit.problem.truncated")
    head = chain.prev_hash
    return VerifyResult(
        ok=True,
        checked=chain.checked,
        reason_zh=t("audit.verify.ok", "zh-TW", count=chain.checked, head=head),
        reason_en=t("audit.verify.ok", "en", count=chain.checked, head=head),
        head_seq=chain.checked,
        head_hash=head,
        redacted=chain.redacted,
    )


def iter_entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every entry in seq order, fetched in batches so a long log is never held in memory."""
    yield from session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    )


def recorded_head(session: Session) -> tuple[int, str] | None:
    """The database's own note of its newest entry, used as the anchor of a database check."""
    row = session.execute(select(AuditHead.seq, AuditHead.entry_hash)).first()
    if row is None or row.seq == 0:
        return None
    return (row.seq, row.entry_hash)


def verify_database(session: Session) -> VerifyResult:
    """Check every entry in the database against the chain and against the head row.

    The head is read first; entries appended meanwhile only extend the chain past it.
    """
    anchor = recorded_head(session)
    return verify_chain(iter_entries(session), anchor)


def export_log(session: Session, path: Path) -> int:
    """Write every entry to ``path`` as JSON Lines (written aside, then moved into place);
    returns how many."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            for entry in iter_entries(session):
                out.write(canonical_json(entry_document(entry)) + "\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:  # nothing half-written is left beside the path asked for
        partial.unlink(missing_ok=True)
        raise
    return count


def read_export(path: Path) -> Iterator[dict[str, Any] | MalformedLine]:
    """The entries of an export in file order; unreadable lines become :class:`MalformedLine`."""
    with Path(path).open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError as error:
                yield MalformedLine(line_no, str(error))
                continue
            if isinstance(document, dict):
                yield document
            else:
                yield MalformedLine(line_no, "not a JSON object")


def verify_file(path: Path, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Check an export offline: no database, no server."""
    return verify_chain(read_export(path), anchor)
