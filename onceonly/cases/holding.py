"""Who may see what a case holds, and the audit of reading what a relay carried.

Every agency that has handled a case reads its progress, but the *content* of what was
fetched for it (an evidence piece's fields, answer and transcripts, an answer about a
parcel, a relative's record, a scanned paper) only the agency may see that may have it:
the one that fetched it, and each agency the case was relayed to afterwards (a relay hands
over what the case holds then). An agency that relayed a case away before a piece was
fetched never had it, and often has no rule of the owner that would let it have it; it
sees that piece's status and who fetched it, nothing more.

A piece read by an agency other than the one that fetched it (carried to it) is a read of
the citizen's data the exchange never logged: it is written to the audit log, with the
citizen as subject, once per agency and fetch of the piece (a later fetch is new content,
read anew; a scan counts as fetched when it was attached, by the agency holding the case
then). The case's timeline keeps the same fact (``carried_read``), and is what says it was
written already: page views repeat, the citizen's list should not. Its event is inserted
first, by one statement the database decides (``INSERT ... ON CONFLICT DO NOTHING`` on the
unique index ``uq_case_events_carried_read``), and only the request whose row went in writes
the audit entry: two clerks of an agency opening the case at the same moment both see "not
read yet", and one of them waits for the other's commit, then writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from onceonly.audit.log import append
from onceonly.cases.models import CARRIED_READ_KEY, Case, CaseEvent
from onceonly.catalog import service as catalog
from onceonly.db import as_utc, utcnow
from onceonly.i18n import t

if TYPE_CHECKING:
    from onceonly.cases.state import CaseActor

CARRIED_READ = "case.carried_read"
"""The audit event of an agency reading a piece another agency fetched."""
_REASONS = {"scan": "cases.audit.carried_scan_read"}
"""The audit entry's reason by kind of piece; ``cases.audit.carried_read`` for the rest."""


@dataclass(frozen=True)
class Sight:
    """What one agency may see of one case: built from the case's relays."""

    agency: str
    current: bool
    """The case is in this agency's queue: all it holds was fetched by or carried to it."""
    opening_agency: str
    relays: tuple[tuple[datetime, str], ...]
    """(when, to which agency) of each relay, oldest first."""

    def fetcher(self, at: datetime, agency: str | None = None) -> str:
        """The agency that fetched what was kept at ``at``: the one the row names, else the
        one holding the case then (only the holder fetches)."""
        if agency:
            return agency
        holder = self.opening_agency
        for moment, target in self.relays:
            if moment <= at:
                holder = target
        return holder

    def sees(self, at: datetime | None, agency: str | None = None) -> bool:
        """Whether this agency may see content kept at ``at`` by ``agency`` (``None``: the
        case's holder then): it fetched it, or the case came to it afterwards."""
        if at is None:
            return True
        at = as_utc(at)
        if self.current or self.agency == self.fetcher(at, agency):
            return True
        return any(target == self.agency and moment >= at for moment, target in self.relays)

    def carried(self, at: datetime | None, agency: str | None = None) -> bool:
        """Seen here, but fetched by another agency: a read to audit."""
        if at is None:
            return False
        return self.sees(at, agency) and self.fetcher(as_utc(at), agency) != self.agency


def sight(session: Session, case: Case, agency: str) -> Sight:
    relays = session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "relayed")
        .order_by(CaseEvent.id)
    )
    return Sight(
        agency,
        agency == case.agency,
        case.opening_agency,
        tuple(
            (as_utc(e.at), str(e.details.get("to_agency") or ""))
            for e in relays
            if not e.details.get("elsewhere")
        ),
    )


@dataclass(frozen=True)
class CarriedPiece:
    """A piece of content read by an agency that did not fetch it."""

    kind: str
    """``evidence``, ``scan``, ``lookup`` or ``kin``."""
    key: str
    """The piece within its kind: evidence type (of a scan, the one it stands for), answer
    id, record id."""
    fetched_at: datetime
    """When it was fetched; a scan, attached."""
    fetched_agency: str
    subject: str | None
    dataset: str
    fields: Sequence[str] = ()
    predicate: str | None = None
    owners: Sequence[str] = ()
    legal_basis: str | None = None
    request_id: str | None = None
    sha256: str | None = None
    """A scan's: the file read."""
    name_zh: str = ""
    name_en: str = ""
    """A scan's: the paper it is, in words (its entry's reason names it)."""


def _read_already(session: Session, case: Case, agency: str) -> set[tuple[str, str, str]]:
    """(kind, key, fetched at) of the pieces the agency's reads of the case wrote already,
    from their details (reads written before migration 0030 have no key columns): a page
    view that shows nothing new writes nothing, and takes no write lock."""
    rows = session.scalars(
        select(CaseEvent.details).where(
            CaseEvent.case_id == case.id,
            CaseEvent.kind == "carried_read",
            CaseEvent.agency == agency,
        )
    )
    return {(str(d.get("piece")), str(d.get("key")), str(d.get("fetched_at"))) for d in rows}


def _agency_name(session: Session, code: str, lang: str) -> str:
    found = catalog.get_agency(session, code)
    return (found.name_en if lang == "en" else found.name_zh) if found else code


def _claimed(
    session: Session, case: Case, reader: CaseActor, piece: CarriedPiece, details: dict[str, str]
) -> bool:
    """Add the read to the case's timeline unless it is there; whether this call added it.
    A concurrent first read of the same piece by the same agency waits at the unique index
    until the other commits (PostgreSQL: its row; SQLite: the write lock), then adds
    nothing."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(CaseEvent)
        .values(
            case_id=case.id,
            at=utcnow(),
            kind="carried_read",
            actor=reader.username,
            agency=reader.agency,
            details=details,
            piece_kind=piece.kind,
            piece_key=piece.key,
            piece_fetched_at=as_utc(piece.fetched_at),
        )
        .on_conflict_do_nothing(
            index_elements=list(CARRIED_READ_KEY),
            index_where=CaseEvent.piece_kind.is_not(None),
        )
        .returning(CaseEvent.id)
    )
    return session.execute(statement).scalar() is not None


def _reason(session: Session, piece: CarriedPiece, lang: str) -> str:
    return t(
        _REASONS.get(piece.kind, "cases.audit.carried_read"),
        lang,
        source=_agency_name(session, piece.fetched_agency, lang),
        paper=piece.name_en if lang == "en" else piece.name_zh,
    )


def audit_carried_reads(
    session: Session, case: Case, reader: CaseActor, pieces: Sequence[CarriedPiece]
) -> None:
    """Write each carried piece's first read by ``reader``'s agency to the audit log (the
    citizen's "who looked") and the case's timeline, in the caller's transaction: what is
    shown is shown only if its entry commits. Exactly once per agency, case, piece and
    fetch, however many clerks of the agency read it at once (:func:`_claimed`).

    Every new read's timeline row is claimed first, in one order for every request, and
    only then are the audit entries appended (each append holds the log's head until
    commit): a request holding the head while it waits for a row another request claimed,
    which waits for the head, would deadlock on PostgreSQL (a page view and a download of
    the same case at once did)."""
    if not pieces:
        return
    done = _read_already(session, case, reader.agency)
    fresh: dict[tuple[str, str, str], tuple[CarriedPiece, dict[str, str]]] = {}
    for piece in pieces:
        when = as_utc(piece.fetched_at).isoformat()
        mark = (piece.kind, piece.key, when)
        if mark in done or mark in fresh:
            continue
        fresh[mark] = (
            piece,
            {
                "piece": piece.kind,
                "key": piece.key,
                "dataset": piece.dataset,
                "fetched_agency": piece.fetched_agency,
                "fetched_at": when,
                **({"sha256": piece.sha256} if piece.sha256 else {}),
            },
        )
    # a read another clerk of the agency claimed first is theirs to write
    claimed = {mark for mark in sorted(fresh) if _claimed(session, case, reader, *fresh[mark])}
    for mark, (piece, details) in fresh.items():
        if mark not in claimed:
            continue
        append(
            session,
            reader.audit_record(
                case,
                CARRIED_READ,
                {**details, "request_id": piece.request_id},
                subject=piece.subject,
                dataset=piece.dataset,
                fields=list(piece.fields) or None,
                predicate=piece.predicate,
                owner_agency=",".join(piece.owners) or None,
                legal_basis=piece.legal_basis,
                reason_zh=_reason(session, piece, "zh-TW"),
                reason_en=_reason(session, piece, "en"),
            ),
        )
