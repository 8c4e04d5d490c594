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
read anew). The case's timeline keeps the same fact (``carried_read``), and is what says
it was written already: page views repeat, the citizen's list should not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.audit.log import AuditRecord, append
from onceonly.cases.models import Case, CaseEvent
from onceonly.catalog import service as catalog
from onceonly.db import as_utc
from onceonly.i18n import t

if TYPE_CHECKING:
    from onceonly.cases.state import CaseActor

CARRIED_READ = "case.carried_read"
"""The audit event of an agency reading a piece another agency fetched."""


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
    """``evidence``, ``lookup`` or ``kin``."""
    key: str
    """The piece within its kind: evidence type, answer id, record id."""
    fetched_at: datetime
    fetched_agency: str
    subject: str | None
    dataset: str
    fields: Sequence[str] = ()
    predicate: str | None = None
    owners: Sequence[str] = ()
    legal_basis: str | None = None
    request_id: str | None = None


def _read_already(session: Session, case: Case, agency: str) -> set[tuple[str, str, str]]:
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


def audit_carried_reads(
    session: Session, case: Case, reader: CaseActor, pieces: Sequence[CarriedPiece]
) -> None:
    """Write each carried piece's first read by ``reader``'s agency to the audit log (the
    citizen's "who looked") and the case's timeline, in the caller's transaction: what is
    shown is shown only if its entry commits."""
    if not pieces:
        return
    done = _read_already(session, case, reader.agency)
    for piece in pieces:
        when = as_utc(piece.fetched_at).isoformat()
        if (piece.kind, piece.key, when) in done:
            continue
        done.add((piece.kind, piece.key, when))
        details = {
            "piece": piece.kind,
            "key": piece.key,
            "dataset": piece.dataset,
            "fetched_agency": piece.fetched_agency,
            "fetched_at": when,
        }
        session.add(
            CaseEvent(
                case_id=case.id,
                kind="carried_read",
                actor=reader.username,
                agency=reader.agency,
                details=details,
            )
        )
        append(
            session,
            AuditRecord(
                event=CARRIED_READ,
                actor_username=reader.username,
                actor_badge=reader.badge,
                actor_role=reader.role,
                actor_agency=reader.agency,
                application_item=case.application_item,
                case_id=case.number,
                subject=piece.subject,
                dataset=piece.dataset,
                fields=list(piece.fields) or None,
                predicate=piece.predicate,
                owner_agency=",".join(piece.owners) or None,
                legal_basis=piece.legal_basis,
                reason_zh=t(
                    "cases.audit.carried_read",
                    "zh-TW",
                    source=_agency_name(session, piece.fetched_agency, "zh-TW"),
                ),
                reason_en=t(
                    "cases.audit.carried_read",
                    "en",
                    source=_agency_name(session, piece.fetched_agency, "en"),
                ),
                details={
                    **({"credential": dict(reader.credential)} if reader.credential else {}),
                    **details,
                    "request_id": piece.request_id,
                },
            ),
        )
