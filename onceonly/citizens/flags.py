"""Flags: a citizen marks an access as suspicious; an auditor answers; the citizen reads it.

Who answers: the auditors (role ``auditor``) of every jurisdiction with a stake in the access,
that is the jurisdiction of each owning agency (it approved the rule the data left under) and
of the requesting agency (it employs the clerk). An agency code's jurisdiction is its part
before the dot (``taipei-city.labour`` -> ``taipei-city``); an auditor belongs to the
jurisdiction of their own agency. Central owners (``central.*``) are answered by an auditor of
a ``central.*`` agency. The first answer closes the flag; both the flag and the answer are
written to the audit log, the answer as an auditor's access to the citizen's record.

What can be flagged: only an entry where an agency read the citizen's data or was given it
(:data:`FLAGGABLE_EVENTS`), never the citizen's own acts nor steps of a case that read
nothing (see :func:`flaggable`). The page offers the action only there, and
:func:`raise_flag` refuses any other entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.principal import Principal
from onceonly.audit.log import AuditEntryView, AuditRecord, append
from onceonly.audit.models import AuditEntry
from onceonly.cases.holding import CARRIED_READ
from onceonly.citizens.accesses import event_text, made_by_citizen
from onceonly.citizens.models import AccessFlag, FlagQueue
from onceonly.db import as_utc, utcnow
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import normalise_language, t

MAX_NOTE = 2000

FLAGGABLE_EVENTS = frozenset(
    {
        "evidence.request",  # an agency asked the owners for the citizen's data (the exchange)
        CARRIED_READ,  # an agency that took the case over read evidence fetched for it
        "case.register_check",  # an agency read the citizen's register record before a case
        "notify.register_check",  # a household office read it to check a tell-us-once report
        "case.relay",  # the case and its evidence were given to another agency
        "case.transfer",  # the case (the citizen's report) was given to another agency
    }
)
"""The audit events where an agency read the citizen's data or was given it: the entries the
citizen may ask an auditor about. Every other entry the "who looked at my data" page lists is
not such an access and cannot be flagged: the citizen's own acts (``consent.*``,
``preview.*``, ``flag.raised``), an auditor's answer to their flag (``flag.answered``), and
steps of a case that read nothing (``case.contact_set``: where its messages go;
``case.notice_sent``: a message sent to the citizen). An event kind not named here is not
flaggable until it is added."""


def flaggable(event: str, by_citizen: bool = False) -> bool:
    """Whether an entry of ``event`` may be flagged: an agency's access to the citizen's data,
    not one the citizen's own account made."""
    return event in FLAGGABLE_EVENTS and not by_citizen


@dataclass(frozen=True)
class FlagView:
    id: int
    entry_seq: int
    subject: str
    note: str
    status: str
    created_at: datetime
    reply: str | None
    replied_by_badge: str | None
    replied_by_agency: str | None
    replied_at: datetime | None
    jurisdictions: tuple[str, ...]


def jurisdiction_of(agency_code: str) -> str:
    return agency_code.split(".", 1)[0]


def stakeholders(entry: AuditEntryView | AuditEntry) -> set[str]:
    """The jurisdictions whose auditors see a flag on ``entry``."""
    codes = [c for c in (entry.owner_agency or "").split(",") if c]
    if entry.actor_agency:
        codes.append(entry.actor_agency)
    return {jurisdiction_of(c) for c in codes}


def _view(row: AccessFlag, jurisdictions: list[str]) -> FlagView:
    return FlagView(
        id=row.id,
        entry_seq=row.entry_seq,
        subject=row.subject,
        note=row.note,
        status=row.status,
        created_at=as_utc(row.created_at),
        reply=row.reply,
        replied_by_badge=row.replied_by_badge,
        replied_by_agency=row.replied_by_agency,
        replied_at=as_utc(row.replied_at) if row.replied_at else None,
        jurisdictions=tuple(sorted(jurisdictions)),
    )


def _queues(session: Session, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(FlagQueue.flag_id, FlagQueue.jurisdiction).where(FlagQueue.flag_id.in_(ids))
        )
        for flag_id, jurisdiction in rows:
            found[flag_id].append(jurisdiction)
    return found


def _views(session: Session, rows: list[AccessFlag]) -> list[FlagView]:
    queues = _queues(session, [r.id for r in rows])
    return [_view(r, queues[r.id]) for r in rows]


def _note(text: str, field: str, lang: str | None) -> str:
    text = text.strip()
    if not text:
        raise validation_problem([FieldError(field, t("citizens.flag.note_missing", lang))], lang)
    if len(text) > MAX_NOTE:
        reason = t("citizens.flag.note_long", lang, max=MAX_NOTE)
        raise validation_problem([FieldError(field, reason)], lang)
    return text


def raise_flag(
    session: Session, citizen: Principal, national_id: str, seq: int, note: str, lang: str | None
) -> FlagView:
    """Flag entry ``seq`` (which must be about ``national_id`` and :func:`flaggable`); one
    open flag per entry."""
    entry = session.get(AuditEntry, seq)
    if entry is None or entry.subject != national_id:
        raise Problem(404, "not-found", t("citizens.flag.no_entry", lang, seq=seq))
    if not flaggable(entry.event, made_by_citizen(AuditEntryView.from_row(entry))):
        what = event_text(entry.event, normalise_language(lang))
        reason = t("citizens.flag.not_an_access", lang, seq=seq, what=what)
        raise validation_problem([FieldError("seq", reason)], lang)
    note = _note(note, "note", lang)
    already = session.scalar(
        select(AccessFlag.id).where(
            AccessFlag.entry_seq == seq,
            AccessFlag.subject == national_id,
            AccessFlag.status == "open",
        )
    )
    if already is not None:
        raise Problem(409, "flag-open", t("citizens.flag.already_open", lang, seq=seq))
    row = AccessFlag(
        entry_seq=seq, subject=national_id, note=note, status="open", created_at=utcnow()
    )
    session.add(row)
    session.flush()
    places = sorted(stakeholders(entry))
    session.add_all(FlagQueue(flag_id=row.id, jurisdiction=j) for j in places)
    append(
        session,
        AuditRecord(
            event="flag.raised",
            actor_username=citizen.username,
            actor_role="citizen",
            subject=national_id,
            reason_zh=t("citizens.flag.logged", "zh-TW", seq=seq),
            reason_en=t("citizens.flag.logged", "en", seq=seq),
            details={
                "credential": citizen.credential,
                "flag_id": row.id,
                "entry_seq": seq,
                "queues": places,
            },
        ),
    )
    session.flush()
    return _view(row, places)


def flags_of_citizen(session: Session, national_id: str) -> list[FlagView]:
    rows = session.scalars(
        select(AccessFlag).where(AccessFlag.subject == national_id).order_by(AccessFlag.id.desc())
    )
    return _views(session, list(rows))


def flags_for_auditor(
    session: Session, auditor: Principal, status: str | None = None
) -> list[FlagView]:
    """The flags in the auditor's jurisdiction's queue, open ones first, newest first."""
    query = (
        select(AccessFlag)
        .join(FlagQueue, FlagQueue.flag_id == AccessFlag.id)
        .where(FlagQueue.jurisdiction == jurisdiction_of(auditor.agency_code))
    )
    if status:
        query = query.where(AccessFlag.status == status)
    rows = list(session.scalars(query.order_by(AccessFlag.status.desc(), AccessFlag.id.desc())))
    return _views(session, rows)


def reply_flag(
    session: Session, auditor: Principal, flag_id: int, reply: str, lang: str | None
) -> FlagView:
    """Answer a flag of the auditor's queue; the citizen sees the answer and who gave it (by
    badge and agency)."""
    row = session.get(AccessFlag, flag_id, with_for_update=True)
    queues = _queues(session, [flag_id])[flag_id] if row else []
    if row is None or jurisdiction_of(auditor.agency_code) not in queues:
        raise Problem(404, "not-found", t("citizens.flag.not_found", lang, id=flag_id))
    if row.status != "open":
        raise Problem(409, "flag-answered", t("citizens.flag.already_answered", lang))
    row.reply = _note(reply, "reply", lang)
    row.status = "answered"
    row.replied_by_badge = auditor.badge
    row.replied_by_agency = auditor.agency_code
    row.replied_at = utcnow()
    session.flush()
    append(
        session,
        AuditRecord(
            event="flag.answered",
            actor_username=auditor.username,
            actor_badge=auditor.badge,
            actor_role=auditor.role,
            actor_agency=auditor.agency_code,
            subject=row.subject,
            reason_zh=t("citizens.flag.answered_log", "zh-TW", seq=row.entry_seq),
            reason_en=t("citizens.flag.answered_log", "en", seq=row.entry_seq),
            details={
                "credential": auditor.credential,
                "flag_id": row.id,
                "entry_seq": row.entry_seq,
            },
        ),
    )
    return _view(row, queues)
