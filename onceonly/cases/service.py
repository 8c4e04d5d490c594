"""The cases capability's service functions: the only way other code touches its tables.

Functions take an open session and never commit: the caller's transaction decides, so a
step, its timeline entry and the messages it owes the citizen (``notifications`` rows,
pending) commit together or not at all. After committing, the caller sends those messages
with :func:`onceonly.cases.notifications.deliver_pending`.

State machine (anything else is refused with a 409 problem naming the step and why)::

    open ──gather──▶ gathering ──decide──▶ decided ──close──▶ closed
      ▲                  │                    │
      └──────relay───────┴────────relay───────┘   (to another agency's queue, open again)

    open ──decide──▶ decided   only when the case already holds evidence (relayed with it)

Only a clerk of the agency whose queue holds a case may act on it; clerks of every agency
that has handled it may read it (progress stays traceable after a relay).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from onceonly.accounts.tenancy import scope_for, tenant_of_agency
from onceonly.audit.log import AuditRecord, append
from onceonly.cases import kinship
from onceonly.cases.models import Case, CaseAgency, CaseEvent, CaseEvidence, CaseThingAnswer
from onceonly.cases.notifications import (
    deliver_pending,
    enqueue,
    retry_failed_notifications,
)
from onceonly.cases.numbering import TAIWAN, allocate_number
from onceonly.cases.scans import WHOLE
from onceonly.cases.schemas import (
    MAX_NOTE_CHARS,
    CaseEvidenceView,
    CasePage,
    CaseSummaryView,
    CaseView,
    EventView,
    Measures,
    PaperView,
    SearchFilters,
    TranscriptView,
)
from onceonly.catalog import service as catalog
from onceonly.config import Settings
from onceonly.db import as_utc, utcnow
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import mask_national_id, validate_national_id
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.exchange.schemas import EvidenceResponse, EvidenceResult
from onceonly.i18n import t
from onceonly.policy.purpose import CaseFacts
from onceonly.prepared import Prepared

__all__ = [
    "MAX_NOTE_CHARS",
    "MAX_PAPER_BYTES",
    "PAPER_TYPES",
    "CaseActor",
    "attach_paper",
    "close_case",
    "decide_case",
    "deliver_pending",
    "evidence_needing_refresh",
    "get_case",
    "kinship_source",
    "load_for_handler",
    "load_for_reader",
    "lookups",
    "measures",
    "open_case",
    "open_cases_of",
    "open_service_request_case",
    "plan_fetch",
    "queue_for",
    "record_evidence",
    "record_lookup",
    "relay_case",
    "request_consent",
    "retry_failed_notifications",
    "search_cases",
    "timeline",
    "uploads_dir",
]

MAX_PAPER_BYTES = 10 * 1024 * 1024
PAPER_TYPES: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
}
"""Accepted scans: content type → (the bytes such a file starts with, file suffix)."""

_TRANSITIONS: dict[str, dict[str, str]] = {
    "gather": {"open": "gathering", "gathering": "gathering"},
    "decide": {"gathering": "decided", "open": "decided"},
    "relay": {"open": "open", "gathering": "open", "decided": "open"},
    "close": {"decided": "closed"},
}
_WHY = {
    ("gather", "decided"): "decided",
    ("decide", "open"): "no_evidence",
    ("decide", "decided"): "already_decided",
    ("close", "open"): "needs_decision",
    ("close", "gathering"): "needs_decision",
}
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_MOBILE_RE = re.compile(r"09\d{8}")


@dataclass(frozen=True)
class CaseActor:
    """Who acts on a case: a signed-in person (or agency system) of one agency."""

    username: str
    agency: str
    role: str = "clerk"
    badge: str | None = None
    credential: Mapping[str, Any] | None = None
    """The session or token used and who issued it; recorded in the audit entries."""


# --- validation --------------------------------------------------------------------------------


def normalise_email(value: str, lang: str | None = None) -> str:
    """The address trimmed, or a FieldError-ready reason: one ``@``, a dotted domain, ASCII."""
    address = value.strip()
    if not _EMAIL_RE.fullmatch(address) or len(address) > 254:
        raise _field("contact_email", "cases.contact.email_invalid", lang, value=value)
    return address


def normalise_mobile(value: str, lang: str | None = None) -> str:
    """A Taiwan mobile number as ``09xxxxxxxx``; ``+886 9xx``, spaces and dashes accepted."""
    digits = re.sub(r"[\s\-().]", "", unicodedata.normalize("NFKC", value))
    if digits.startswith("+886"):
        digits = "0" + digits[4:]
    elif digits.startswith("886") and len(digits) == 12:
        digits = "0" + digits[3:]
    if not _MOBILE_RE.fullmatch(digits):
        raise _field("contact_mobile", "cases.contact.mobile_invalid", lang, value=value)
    return digits


def _field(name: str, key: str, lang: str | None, **params: Any) -> Problem:
    return validation_problem([FieldError(name, t(key, lang, **params))], lang)


def _note(name: str, value: str, required_key: str, lang: str | None) -> str:
    """The clerk's note stripped; refused when empty or over :data:`MAX_NOTE_CHARS`."""
    text = value.strip()
    if not text:
        raise _field(name, required_key, lang)
    if len(text) > MAX_NOTE_CHARS:
        raise _field(name, "cases.note.too_long", lang, length=len(text), limit=MAX_NOTE_CHARS)
    return text


def _subject(value: str, lang: str | None) -> str:
    try:
        return validate_national_id(value)
    except DomainValueError as exc:
        raise validation_problem(
            [FieldError("subject", exc.message(lang or "zh-TW"), exc.code)], lang
        ) from exc


# --- access and state --------------------------------------------------------------------------


def _load(session: Session, number: str, lang: str | None, actor: CaseActor | None = None) -> Case:
    """The case, or 404. With ``actor``, a case no agency of the actor's tenant has handled
    answers 404 too, exactly as a number that does not exist (tenant isolation: another
    jurisdiction hosted on the same node must not learn that the number is taken)."""
    case = session.scalars(select(Case).where(Case.number == number.strip().upper())).first()
    if case is None or (actor is not None and not _in_tenant(session, case, actor)):
        raise not_found(t("cases.not_found", lang, number=number), lang)
    return case


def load_for_handler(session: Session, actor: CaseActor, number: str, lang: str | None) -> Case:
    """The case if ``actor`` handles it and may still gather evidence for it, else 4xx."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    _transition(session, case, "gather", lang)
    return case


def load_for_reader(session: Session, actor: CaseActor, number: str, lang: str | None) -> Case:
    """The case if ``actor``'s agency has handled it (may read it), else 4xx."""
    case = _load(session, number, lang, actor)
    _require_reader(session, case, actor, lang)
    return case


def kinship_source(
    session: Session, actor: CaseActor, number: str, lang: str | None = None
) -> kinship.KinSource | None:
    """The kinship records a case holds, for its chart (read as the clerk may read it)."""
    return kinship.chart_source(session, load_for_reader(session, actor, number, lang))


def _in_tenant(session: Session, case: Case, actor: CaseActor) -> bool:
    handlers = session.scalars(
        select(CaseAgency.agency).where(CaseAgency.case_id == case.id, CaseAgency.role == "handler")
    )
    return scope_for(actor.role, actor.agency).sees_any([case.agency, *handlers])


def _require_handler(case: Case, actor: CaseActor, lang: str | None) -> None:
    if actor.role != "clerk" or actor.agency != case.agency:
        raise Problem(
            403,
            "not-case-handler",
            t("problem.forbidden", lang),
            t("cases.forbidden.act", lang, number=case.number, agency=case.agency),
            extra={"case_agency": case.agency, "your_agency": actor.agency},
        )


def _handled_by(session: Session, case_id: int, agency: str) -> bool:
    return (
        session.get(CaseAgency, {"case_id": case_id, "agency": agency, "role": "handler"})
        is not None
    )


def _require_reader(session: Session, case: Case, actor: CaseActor, lang: str | None) -> None:
    if actor.role != "clerk" or not _handled_by(session, case.id, actor.agency):
        raise Problem(
            403,
            "not-case-handler",
            t("problem.forbidden", lang),
            t("cases.forbidden.read", lang, number=case.number),
        )


def _moves(session: Session, case: Case) -> dict[str, str]:
    """Action -> resulting state, for the actions the case allows now. Deciding an ``open``
    case needs evidence already held (a relayed case carries it; a new one has none)."""
    moves = {a: m[case.state] for a, m in _TRANSITIONS.items() if case.state in m}
    slots = _slots(session, case)
    if (
        case.state == "open"
        and slots
        and not any(row.status == "issued" or row.paper_sha256 for row in slots)
    ):
        moves.pop("decide", None)
    return moves


def _transition(session: Session, case: Case, action: str, lang: str | None) -> str:
    """The state ``action`` leads to from the case's state, or a 409 saying why not."""
    moves = _moves(session, case)
    if action in moves:
        return moves[action]
    why = "closed" if case.state == "closed" else _WHY.get((action, case.state), "not_allowed")
    allowed = sorted(moves)
    raise Problem(
        409,
        "illegal-transition",
        t("cases.transition.title", lang),
        t(
            "cases.transition.detail",
            lang,
            number=case.number,
            action=t(f"cases.action.{action}", lang),
            state=t(f"cases.state.{case.state}", lang),
            why=t(f"cases.why.{why}", lang),
        ),
        extra={"state": case.state, "action": action, "allowed_actions": allowed},
    )


def _event(
    session: Session,
    case: Case,
    kind: str,
    actor: CaseActor,
    now: datetime,
    moved: tuple[str | None, str] | None = None,
    **details: Any,
) -> None:
    """Append a timeline entry; ``moved`` is (state before, state after) for state changes."""
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            kind=kind,
            actor=actor.username,
            agency=actor.agency,
            state_from=moved[0] if moved else None,
            state_to=moved[1] if moved else None,
            details=details,
        )
    )


def _flush(session: Session, case: Case, lang: str | None) -> None:
    """Write now; someone else changing the same case meanwhile is a 409, not a lost update."""
    try:
        session.flush()
    except StaleDataError as exc:
        raise Problem(
            409,
            "case-changed",
            t("cases.changed.title", lang),
            t("cases.changed.detail", lang, number=case.number),
        ) from exc


def _item_name(session: Session, code: str, lang: str | None) -> str:
    """An application item's name, or an Open311 service type's (a service request's case
    keeps the service code as its item)."""
    named = catalog.get_application_item(session, code) or catalog.get_service(session, code)
    if named is None:
        return code
    return named.name_en if lang == "en" else named.name_zh


def _names(session: Session, case: Case, lang: str) -> dict[str, str]:
    name = _item_name(session, case.application_item, lang)
    return {"item": name, "agency": _agency_name(session, case.agency, lang)}


def _evidence_words(session: Session, item_code: str, evidence_type: str, lang: str | None) -> str:
    """A piece of evidence as the counter calls it (低收入戶證明), not its dataset code."""
    item = catalog.get_application_item(session, item_code)
    for requirement in item.required_evidence if item else ():
        if evidence_type in (requirement.predicate, requirement.dataset):
            return requirement.paper_name_en if lang == "en" else requirement.paper_name_zh
    return evidence_type


def _agency_name(session: Session, code: str, lang: str | None) -> str:
    agency = catalog.get_agency(session, code)
    if agency is None:
        return code
    return agency.name_en if lang == "en" else agency.name_zh


def _now(now: datetime | None) -> datetime:
    """Stored times are UTC (SQLite keeps the wall-clock digits only)."""
    return (now or utcnow()).astimezone(UTC)


def _notify(session: Session, case: Case, event: str, **params: Any) -> None:
    enqueue(session, case, event, **_names(session, case, case.contact_language), **params)


def _add_agency(session: Session, case: Case, agency: str, role: str) -> None:
    key = {"case_id": case.id, "agency": agency, "role": role}
    if session.get(CaseAgency, key) is None:
        session.add(CaseAgency(**key))


# --- views -------------------------------------------------------------------------------------


def _expired(row: CaseEvidence, now: datetime) -> bool:
    return row.expires_at is not None and as_utc(row.expires_at) <= now


def _evidence_view(row: CaseEvidence, now: datetime) -> CaseEvidenceView:
    issued = row.status == "issued"
    expired = issued and _expired(row, now)
    satisfied = "online" if issued and not expired else ("paper" if row.paper_sha256 else None)
    paper = None
    if row.paper_sha256 and row.paper_attached_at and row.paper_attached_by:
        paper = PaperView(
            filename=row.paper_filename or "",
            sha256=row.paper_sha256,
            size=row.paper_size or 0,
            content_type=row.paper_content_type or "",
            attached_by=row.paper_attached_by,
            attached_at=as_utc(row.paper_attached_at),
        )
    return CaseEvidenceView(
        evidence_type=row.evidence_type,
        dataset=row.dataset,
        paper_name_zh=row.paper_name_zh,
        paper_name_en=row.paper_name_en,
        satisfied_by=satisfied,  # type: ignore[arg-type]
        needs_refresh=expired,
        status=row.status,
        reason_zh=row.reason_zh,
        reason_en=row.reason_en,
        owners=list(row.owners or []),
        answer=row.answer,
        fields=row.fields,
        withheld_fields=list(row.withheld_fields or []),
        transcripts=[TranscriptView.model_validate(tr) for tr in row.transcripts or []],
        retry_after=row.retry_after,
        cause=row.cause,
        fetched_by=row.fetched_by,
        fetched_agency=row.fetched_agency,
        fetched_at=as_utc(row.fetched_at) if row.fetched_at else None,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        paper=paper,
    )


def _summary_fields(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "application_item": case.application_item,
        "agency": case.agency,
        "state": case.state,
        "decision": case.decision,
        "subject_masked": (
            mask_national_id(case.subject) if case.subject else case.service_request_id or ""
        ),
        "opened_by": case.opened_by,
        "opened_at": as_utc(case.opened_at),
        "updated_at": as_utc(case.updated_at),
        "service_request_id": case.service_request_id,
    }


def _slots(session: Session, case: Case) -> list[CaseEvidence]:
    return list(
        session.scalars(
            select(CaseEvidence)
            .where(CaseEvidence.case_id == case.id)
            .order_by(CaseEvidence.position)
        )
    )


def _case_view(session: Session, case: Case, now: datetime | None = None) -> CaseView:
    moment = _now(now)
    return CaseView(
        **_summary_fields(case),
        subject=case.subject,
        opening_agency=case.opening_agency,
        contact_email=case.contact_email,
        contact_mobile=case.contact_mobile,
        contact_language=case.contact_language,
        decision_reason=case.decision_reason,
        decided_by=case.decided_by,
        decided_at=as_utc(case.decided_at) if case.decided_at else None,
        closed_at=as_utc(case.closed_at) if case.closed_at else None,
        evidence=[_evidence_view(row, moment) for row in _slots(session, case)],
    )


def _refresh_measures(session: Session, case: Case) -> None:
    """Keep the stored measures current; see :func:`measures` for their meaning."""
    result = _measure(session, case)
    case.evidence_online = result.evidence_online
    case.evidence_paper = result.paper_required
    case.agencies_involved = result.agencies_involved


def _measure(session: Session, case: Case) -> Measures:
    slots = _slots(session, case)
    online = sum(1 for row in slots if row.status == "issued")
    attached = sum(1 for row in slots if row.status != "issued" and row.paper_sha256)
    session.flush()
    agencies = sorted(
        set(session.scalars(select(CaseAgency.agency).where(CaseAgency.case_id == case.id)))
    )
    return Measures(
        evidence_required=len(slots),
        evidence_online=online,
        paper_required=len(slots) - online,
        paper_attached=attached,
        paper_missing=len(slots) - online - attached,
        decision_seconds=case.decision_seconds,
        agencies_involved=len(agencies),
        agencies=agencies,
    )


# --- the steps ---------------------------------------------------------------------------------


def open_case(
    session: Session,
    actor: CaseActor,
    *,
    application_item: str,
    subject: str,
    contact_email: str | None = None,
    contact_mobile: str | None = None,
    contact_language: str = "zh-TW",
    acknowledged: Sequence[str] = (),
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Open a case in the actor's agency queue, with one evidence slot per required piece.
    ``acknowledged``: the warnings the clerk saw and went past (kept in the timeline)."""
    if actor.role != "clerk":
        raise Problem(
            403, "forbidden", t("problem.forbidden", lang), t("cases.forbidden.open", lang)
        )
    errors: list[FieldError] = []
    national_id = None
    try:
        national_id = validate_national_id(subject)
    except DomainValueError as exc:
        errors.append(FieldError("subject", exc.message(lang or "zh-TW"), exc.code))
    email = mobile = None
    for name, value, check in (
        ("contact_email", contact_email, normalise_email),
        ("contact_mobile", contact_mobile, normalise_mobile),
    ):
        if value is None or not value.strip():
            continue
        try:
            if name == "contact_email":
                email = check(value, lang)
            else:
                mobile = check(value, lang)
        except Problem as problem:
            errors.extend(problem.errors)
    item = catalog.get_application_item(session, application_item)
    if item is None:
        errors.append(
            FieldError(
                "application_item",
                t("cases.unknown_item", lang, code=application_item),
                "unknown",
            )
        )
    if contact_language not in ("zh-TW", "en"):
        errors.append(FieldError("contact_language", t("cases.contact.language_invalid", lang)))
    if errors or item is None or national_id is None:
        raise validation_problem(errors, lang)
    if catalog.get_agency(session, actor.agency) is None:
        raise Problem(
            403,
            "unknown-agency",
            t("problem.forbidden", lang),
            t("cases.unknown_agency", lang, agency=actor.agency),
        )
    moment = _now(now)
    case = Case(
        number=allocate_number(session, actor.agency, moment),
        application_item=item.code,
        opening_agency=actor.agency,
        agency=actor.agency,
        opened_by=actor.username,
        subject=national_id,
        contact_email=email,
        contact_mobile=mobile,
        contact_language=contact_language,
        state="open",
        opened_at=moment,
        updated_at=moment,
        evidence_online=0,
        evidence_paper=len(item.required_evidence),
        agencies_involved=1,
    )
    session.add(case)
    session.flush()
    for position, requirement in enumerate(item.required_evidence):
        session.add(
            CaseEvidence(
                case_id=case.id,
                position=position,
                evidence_type=requirement.predicate or requirement.dataset,
                dataset=requirement.dataset,
                paper_name_zh=requirement.paper_name_zh,
                paper_name_en=requirement.paper_name_en,
                owners=[],
                withheld_fields=[],
                transcripts=[],
            )
        )
    _add_agency(session, case, actor.agency, "handler")
    _event(
        session,
        case,
        "opened",
        actor,
        moment,
        (None, "open"),
        item=item.code,
        **({"acknowledged": list(acknowledged)} if acknowledged else {}),
    )
    _notify(session, case, "opened")
    _flush(session, case, lang)
    return _case_view(session, case, moment)


def open_service_request_case(
    session: Session,
    *,
    agency: str,
    service_code: str,
    service_request_id: str,
    opened_by: str,
    description: str | None = None,
    location: str | None = None,
    contact_email: str | None = None,
    contact_mobile: str | None = None,
    contact_language: str = "zh-TW",
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Open the case that handles an Open311 service request, in ``agency``'s queue: no
    subject and no evidence (a pothole has no national ID), the request's id, description
    and location in the timeline; relay, decide/close and the contact notices apply as to any
    case. The caller (``open311``) has checked the service code and the filer."""
    errors: list[FieldError] = []
    email = mobile = None
    if contact_email and contact_email.strip():
        try:
            email = normalise_email(contact_email, lang)
        except Problem as problem:
            errors.extend(problem.errors)
    if contact_mobile and contact_mobile.strip():
        try:
            mobile = normalise_mobile(contact_mobile, lang)
        except Problem as problem:
            errors.extend(problem.errors)
    if contact_language not in ("zh-TW", "en"):
        errors.append(FieldError("contact_language", t("cases.contact.language_invalid", lang)))
    if errors:
        raise validation_problem(errors, lang)
    if catalog.get_agency(session, agency) is None:
        raise Problem(
            403,
            "unknown-agency",
            t("problem.forbidden", lang),
            t("cases.unknown_agency", lang, agency=agency),
        )
    moment = _now(now)
    case = Case(
        number=allocate_number(session, agency, moment),
        application_item=service_code,
        opening_agency=agency,
        agency=agency,
        opened_by=opened_by,
        subject=None,
        service_request_id=service_request_id,
        contact_email=email,
        contact_mobile=mobile,
        contact_language=contact_language,
        state="open",
        opened_at=moment,
        updated_at=moment,
        evidence_online=0,
        evidence_paper=0,
        agencies_involved=1,
    )
    session.add(case)
    session.flush()
    _add_agency(session, case, agency, "handler")
    details = {"description": description, "location": location}
    session.add(
        CaseEvent(
            case_id=case.id,
            at=moment,
            kind="opened",
            actor=opened_by,
            agency=agency,
            state_from=None,
            state_to="open",
            details={
                "item": service_code,
                "service_request_id": service_request_id,
                **{k: v for k, v in details.items() if v},
            },
        )
    )
    _notify(session, case, "opened")
    _flush(session, case, lang)
    return _case_view(session, case, moment)


def service_request_cases(
    session: Session, service_request_ids: Sequence[str]
) -> dict[str, CaseView]:
    """The cases handling these Open311 requests, by request id (state, agency, decision):
    the status a GeoReport answer reports follows the case."""
    if not service_request_ids:
        return {}
    rows = session.scalars(
        select(Case).where(Case.service_request_id.in_(list(service_request_ids)))
    )
    return {c.service_request_id: _case_view(session, c) for c in rows if c.service_request_id}


def _results_of(
    case: Case, results: EvidenceResponse | Sequence[EvidenceResult], lang: str | None
) -> tuple[list[EvidenceResult], str | None]:
    if isinstance(results, EvidenceResponse):
        if results.case_id.upper() != case.number:
            raise _field(
                "case_id",
                "cases.evidence.other_case",
                lang,
                got=results.case_id,
                number=case.number,
            )
        return list(results.results), results.request_id
    return list(results), None


def record_evidence(
    session: Session,
    actor: CaseActor,
    number: str,
    results: EvidenceResponse | Sequence[EvidenceResult],
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Keep what the exchange returned for the case, one timeline entry per piece.

    Issued evidence replaces what was held; a failed fetch never discards evidence that is
    still valid, and a scanned paper stays attached whatever the fetch says.
    """
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    target = _transition(session, case, "gather", lang)
    items, request_id = _results_of(case, results, lang)
    before, case.state = case.state, target
    moment = _now(now)
    slots = {row.evidence_type: row for row in _slots(session, case)}
    for result in items:
        row = slots.get(result.evidence_type)
        if row is None:
            continue
        kept = result.status != "issued" and row.status == "issued" and not _expired(row, moment)
        if not kept:
            _store_result(row, result, actor, moment, request_id)
        if result.status == "issued":
            for owner in result.owners:
                _add_agency(session, case, owner, "owner")
        _event(
            session,
            case,
            "evidence_fetched",
            actor,
            moment,
            evidence_type=result.evidence_type,
            status=result.status,
            owners=list(result.owners),
            reason_zh=result.reason.zh_TW,
            reason_en=result.reason.en,
            kept_previous=kept,
            request_id=request_id,
        )
    return _after_change(session, case, actor, before, moment, lang)


@dataclass(frozen=True)
class HeldLookup:
    """One kept piece of an answer about a parcel, building or house number."""

    id: int
    kind: str
    about: str
    evidence_type: str
    dataset: str
    status: str
    reason_zh: str
    reason_en: str
    owners: tuple[str, ...]
    fields: dict[str, Any] | None
    withheld_fields: tuple[str, ...]
    transcripts: tuple[str, ...]
    """The owners' signed transcripts (JWS), as issued."""
    fetched_by: str
    fetched_at: datetime


def record_lookup(
    session: Session,
    actor: CaseActor,
    number: str,
    kind: str,
    response: EvidenceResponse,
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Keep on the case what the exchange answered about a parcel, building or house number
    (issue 17): per piece, the fields the owner's rule let out and the signed transcripts
    exactly as returned, one timeline entry per piece naming the thing and the offices.
    Asking about the same thing again replaces the pieces; a failure keeps no fields."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    target = _transition(session, case, "gather", lang)
    items, request_id = _results_of(case, response, lang)
    before, case.state = case.state, target
    moment = _now(now)
    about = (response.about or "").strip()
    held = {
        (row.about, row.evidence_type): row
        for row in session.scalars(
            select(CaseThingAnswer).where(CaseThingAnswer.case_id == case.id)
        )
    }
    for result in items:
        row = held.get((about, result.evidence_type))
        if row is None:
            row = CaseThingAnswer(case_id=case.id, about=about, evidence_type=result.evidence_type)
            session.add(row)
        issued = result.status == "issued"
        row.kind = kind
        row.dataset = result.dataset
        row.status = result.status
        row.reason_zh = result.reason.zh_TW
        row.reason_en = result.reason.en
        row.owners = list(result.owners)
        row.fields = result.fields if issued else None
        row.withheld_fields = list(result.withheld_fields) if issued else []
        row.transcripts = [tr.model_dump() for tr in result.transcripts] if issued else []
        row.request_id = request_id
        row.fetched_by = actor.username
        row.fetched_agency = actor.agency
        row.fetched_at = moment
        if issued:
            for owner in result.owners:
                _add_agency(session, case, owner, "owner")
        _event(
            session,
            case,
            "looked_up",
            actor,
            moment,
            thing=kind,
            about=about,
            evidence_type=result.evidence_type,
            dataset=result.dataset,
            status=result.status,
            owners=list(result.owners),
            reason_zh=result.reason.zh_TW,
            reason_en=result.reason.en,
            request_id=request_id,
        )
    return _after_change(session, case, actor, before, moment, lang)


def lookups(
    session: Session, actor: CaseActor, number: str, *, lang: str | None = None
) -> list[HeldLookup]:
    """The answers about things kept on the case (read as the clerk may read the case),
    the latest asked first."""
    case = _load(session, number, lang, actor)
    _require_reader(session, case, actor, lang)
    rows = session.scalars(
        select(CaseThingAnswer)
        .where(CaseThingAnswer.case_id == case.id)
        .order_by(CaseThingAnswer.fetched_at.desc(), CaseThingAnswer.id)
    )
    return [
        HeldLookup(
            id=row.id,
            kind=row.kind,
            about=row.about,
            evidence_type=row.evidence_type,
            dataset=row.dataset,
            status=row.status,
            reason_zh=row.reason_zh or "",
            reason_en=row.reason_en or "",
            owners=tuple(row.owners),
            fields=row.fields,
            withheld_fields=tuple(row.withheld_fields),
            transcripts=tuple(str(tr["jws"]) for tr in row.transcripts),
            fetched_by=row.fetched_by,
            fetched_at=as_utc(row.fetched_at),
        )
        for row in rows
    ]


def _store_result(
    row: CaseEvidence,
    result: EvidenceResult,
    actor: CaseActor,
    moment: datetime,
    request_id: str | None,
) -> None:
    issued = result.status == "issued"
    transcripts = [tr.model_dump() for tr in result.transcripts] if issued else []
    row.status = result.status
    row.reason_zh = result.reason.zh_TW
    row.reason_en = result.reason.en
    row.owners = list(result.owners)
    row.answer = result.answer if issued else None
    row.fields = result.fields if issued else None
    row.withheld_fields = list(result.withheld_fields) if issued else []
    row.transcripts = transcripts
    row.request_id = request_id
    row.retry_after = result.retry_after
    row.cause = result.cause
    row.fetched_by = actor.username
    row.fetched_agency = actor.agency
    row.fetched_at = moment
    expiries = [datetime.fromisoformat(tr["expires_at"]) for tr in transcripts]
    row.expires_at = min((as_utc(e) for e in expiries), default=None)


def _after_change(
    session: Session,
    case: Case,
    actor: CaseActor,
    before: str,
    moment: datetime,
    lang: str | None,
    **params: Any,
) -> CaseView:
    """Common tail of every step: measures, the state-change entry and message, write."""
    case.updated_at = moment
    if before != case.state and case.state == "gathering":
        _event(session, case, "gathering", actor, moment, (before, case.state))
        _notify(session, case, "gathering", **params)
    _refresh_measures(session, case)
    _flush(session, case, lang)
    return _case_view(session, case, moment)


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def _clean_filename(name: str, suffix: str) -> str:
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:255] or f"scan{suffix}"


def _check_paper(data: bytes, content_type: str, lang: str | None) -> str:
    """The file suffix, or the problem: empty, over 10 MB, a type not accepted, or bytes that
    are not what the type says (a renamed file)."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if not data:
        raise _field("file", "cases.paper.empty", lang)
    if len(data) > MAX_PAPER_BYTES:
        raise Problem(
            413,
            "paper-too-large",
            t("cases.paper.too_large_title", lang),
            t("cases.paper.too_large", lang, size=len(data), limit=MAX_PAPER_BYTES),
            [
                FieldError(
                    "file",
                    t("cases.paper.too_large", lang, size=len(data), limit=MAX_PAPER_BYTES),
                    "too_large",
                )
            ],
        )
    if declared not in PAPER_TYPES:
        reason = t("cases.paper.type", lang, type=declared or "?")
        raise Problem(
            415,
            "paper-type",
            t("cases.paper.type_title", lang),
            reason,
            [FieldError("file", reason, "content_type")],
        )
    magic, suffix = PAPER_TYPES[declared]
    if not data.startswith(magic):
        raise _field("file", "cases.paper.mismatch", lang, type=declared)
    if not WHOLE[declared](data):
        raise _field("file", "cases.paper.damaged", lang, type=declared)
    return suffix


def attach_paper(
    session: Session,
    settings: Settings,
    actor: CaseActor,
    number: str,
    evidence_type: str,
    *,
    filename: str,
    content_type: str,
    data: bytes,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Attach a scanned paper document in place of one piece of evidence that could not be
    fetched, or replace the one attached. Stored as ``uploads/<case number>/<sha256><suffix>``
    under the data directory; a replaced scan's file stays there and its event names it, so
    the timeline still shows what was attached before and can be checked against its hash."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    target = _transition(session, case, "gather", lang)
    row = next((r for r in _slots(session, case) if r.evidence_type == evidence_type), None)
    if row is None:
        raise _field("evidence_type", "cases.paper.unknown_type", lang, type=evidence_type)
    suffix = _check_paper(data, content_type, lang)
    before, case.state = case.state, target
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{case.number}/{digest}{suffix}"
    stored = uploads_dir(settings) / relative
    stored.parent.mkdir(parents=True, exist_ok=True)
    if not stored.exists():
        handle, temporary = tempfile.mkstemp(dir=stored.parent, prefix=".upload-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, stored)
    moment = _now(now)
    replaced: dict[str, Any] = (
        {
            "replaces": {
                "filename": row.paper_filename,
                "sha256": row.paper_sha256,
                "attached_by": row.paper_attached_by,
            }
        }
        if row.paper_sha256
        else {}
    )
    row.paper_filename = _clean_filename(filename, suffix)
    row.paper_path = relative
    row.paper_sha256 = digest
    row.paper_size = len(data)
    row.paper_content_type = content_type.split(";", 1)[0].strip().lower()
    row.paper_attached_by = actor.username
    row.paper_attached_at = moment
    _event(
        session,
        case,
        "paper_attached",
        actor,
        moment,
        evidence_type=evidence_type,
        filename=row.paper_filename,
        sha256=digest,
        size=len(data),
        content_type=row.paper_content_type,
        **replaced,
    )
    return _after_change(session, case, actor, before, moment, lang)


def paper_file(
    settings: Settings,
    session: Session,
    actor: CaseActor,
    number: str,
    evidence_type: str,
    lang: str | None = None,
) -> tuple[Path, str, str] | None:
    """The stored scan of one piece (path, content type, file name), for readers of the case."""
    case = _load(session, number, lang, actor)
    _require_reader(session, case, actor, lang)
    row = next((r for r in _slots(session, case) if r.evidence_type == evidence_type), None)
    if row is None or not row.paper_path:
        return None
    return (
        uploads_dir(settings) / row.paper_path,
        row.paper_content_type or "",
        row.paper_filename or "",
    )


def _audit_move(
    session: Session,
    case: Case,
    actor: CaseActor,
    event: str,
    source: str,
    target: str,
    **details: Any,
) -> None:
    """The audit entry of a case moving between agencies (a relay, a 1999 transfer)."""
    append(
        session,
        AuditRecord(
            event=event,
            actor_username=actor.username,
            actor_badge=actor.badge,
            actor_role=actor.role,
            actor_agency=actor.agency,
            application_item=case.application_item,
            case_id=case.number,
            subject=case.subject,
            owner_agency=target,
            reason_zh=t(
                "cases.audit.relay",
                "zh-TW",
                source=_agency_name(session, source, "zh-TW"),
                target=_agency_name(session, target, "zh-TW"),
            ),
            reason_en=t(
                "cases.audit.relay",
                "en",
                source=_agency_name(session, source, "en"),
                target=_agency_name(session, target, "en"),
            ),
            details={
                **({"credential": dict(actor.credential)} if actor.credential else {}),
                "from": source,
                "to": target,
                **details,
            },
        ),
    )


def relay_case(
    session: Session,
    actor: CaseActor,
    number: str,
    to_agency: str,
    note: str,
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Move the case, with its evidence, to another agency's queue, open again there.

    A decision taken here stays in the timeline; the receiver decides its own step. The
    hand-over of evidence to the receiver is written to the audit log.
    """
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    target = to_agency.strip()
    note = _note("note", note, "cases.relay.note_required", lang)
    if catalog.get_agency(session, target) is None:
        raise _field("to_agency", "cases.relay.unknown_agency", lang, agency=target)
    if target == case.agency:
        raise _field(
            "to_agency", "cases.relay.same_agency", lang, agency=_agency_name(session, target, lang)
        )
    if tenant_of_agency(target) != tenant_of_agency(case.agency):
        raise _field("to_agency", "tenancy.relay_other_tenant", lang, agency=target)
    before, source = case.state, case.agency
    case.state = _transition(session, case, "relay", lang)
    moment = _now(now)
    previous = (
        {"decision": case.decision, "reason": case.decision_reason} if case.decision else None
    )
    case.agency = target
    case.decision = case.decision_reason = case.decided_by = None
    case.decided_at = None
    _add_agency(session, case, target, "handler")
    carried = [
        row.evidence_type
        for row in _slots(session, case)
        if row.status == "issued" or row.paper_sha256
    ]
    _event(
        session,
        case,
        "relayed",
        actor,
        moment,
        (before, case.state),
        from_agency=source,
        to_agency=target,
        note=note,
        evidence=carried,
        previous_decision=previous,
    )
    _audit_move(session, case, actor, "case.relay", source, target, evidence=carried)
    _notify(
        session, case, "relayed", from_agency=_agency_name(session, source, case.contact_language)
    )
    return _after_change(session, case, actor, before, moment, lang)


def transfer_service_request_case(
    session: Session,
    actor: CaseActor,
    number: str,
    to_agency: str,
    note: str,
    *,
    elsewhere: bool = False,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """A 1999 transfer (#21): the case of an Open311 request moves to ``to_agency`` of another
    city, which a relay refuses (another tenant). Only the hotline of the city holding the
    case may do it (the cities' hotlines agree to take each other's calls). With
    ``elsewhere`` that city is on another node, which opened its own case: this one is
    closed here with the hand-over in its timeline."""
    case = _load(session, number, lang, actor)
    tenant = tenant_of_agency(case.agency)
    if (
        case.service_request_id is None
        or actor.role != "clerk"
        or (actor.agency != f"{tenant}.hotline_1999")
    ):
        raise Problem(
            403,
            "not-case-handler",
            t("problem.forbidden", lang),
            t("cases.forbidden.act", lang, number=case.number, agency=case.agency),
        )
    note = _note("note", note, "cases.relay.note_required", lang)
    if catalog.get_agency(session, to_agency) is None:
        raise _field("to_agency", "cases.relay.unknown_agency", lang, agency=to_agency)
    before, source = case.state, case.agency
    case.state = _transition(session, case, "relay", lang)
    moment = _now(now)
    case.agency = to_agency
    case.decision = case.decision_reason = case.decided_by = None
    case.decided_at = None
    if elsewhere:
        case.state, case.closed_at = "closed", moment
    else:
        _add_agency(session, case, to_agency, "handler")
    _event(
        session,
        case,
        "relayed",
        actor,
        moment,
        (before, case.state),
        from_agency=source,
        to_agency=to_agency,
        note=note,
        evidence=[],
        transfer=True,
        elsewhere=elsewhere,
    )
    _audit_move(session, case, actor, "case.transfer", source, to_agency, elsewhere=elsewhere)
    _notify(
        session, case, "relayed", from_agency=_agency_name(session, source, case.contact_language)
    )
    return _after_change(session, case, actor, before, moment, lang)


def request_consent(
    session: Session,
    actor: CaseActor,
    number: str,
    what: Sequence[str],
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Send the citizen the request to consent, saying what would be fetched and under which
    law (``what``: one line per piece, in the case's contact language, written by the caller
    from the catalog). The timeline keeps the lines sent."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    if not what:
        raise _field("evidence", "cases.consent.nothing", lang)
    if not case.contact_email and not case.contact_mobile:
        raise _field("contact", "cases.consent.no_contact", lang)
    moment = _now(now)
    lines = [line.strip() for line in what]
    _event(session, case, "consent_requested", actor, moment, what=lines)
    _notify(
        session,
        case,
        "consent_requested",
        what="\n".join(f"・{line}" for line in lines),
        count=len(lines),
    )
    case.updated_at = moment
    _flush(session, case, lang)
    return _case_view(session, case, moment)


def decide_case(
    session: Session,
    actor: CaseActor,
    number: str,
    decision: str,
    reason: str,
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Approve or reject, with the reason. Approval needs every piece of evidence held (valid
    online or on paper); rejection does not."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    if not decision:
        raise _field("decision", "cases.decide.decision_required", lang)
    if decision not in ("approved", "rejected"):
        raise _field("decision", "cases.decide.decision_invalid", lang, value=decision)
    reason = _note("reason", reason, "cases.decide.reason_required", lang)
    target = _transition(session, case, "decide", lang)
    moment = _now(now)
    if decision == "approved":
        missing = [
            view.evidence_type
            for view in (_evidence_view(row, moment) for row in _slots(session, case))
            if view.satisfied_by is None
        ]
        if missing:
            raise Problem(
                409,
                "evidence-missing",
                t("cases.decide.missing_title", lang),
                t(
                    "cases.decide.missing",
                    lang,
                    number=case.number,
                    evidence=("、" if lang != "en" else ", ").join(
                        _evidence_words(session, case.application_item, code, lang)
                        for code in missing
                    ),
                ),
                extra={"missing_evidence": missing},
            )
    before, case.state = case.state, target
    case.decision = decision
    case.decision_reason = reason
    case.decided_by = actor.username
    case.decided_at = moment
    case.decision_seconds = max(0, int((moment - as_utc(case.opened_at)).total_seconds()))
    _event(
        session,
        case,
        "decided",
        actor,
        moment,
        (before, case.state),
        decision=decision,
        reason=case.decision_reason,
    )
    _notify(
        session,
        case,
        "decided",
        decision=t(f"cases.decision.{decision}", case.contact_language),
        reason=case.decision_reason,
    )
    return _after_change(session, case, actor, before, moment, lang)


def close_case(
    session: Session,
    actor: CaseActor,
    number: str,
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Close a decided case; closing without a decision is refused."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    before = case.state
    case.state = _transition(session, case, "close", lang)
    moment = _now(now)
    case.closed_at = moment
    _event(session, case, "closed", actor, moment, (before, case.state), decision=case.decision)
    _notify(
        session,
        case,
        "closed",
        decision=t(f"cases.decision.{case.decision}", case.contact_language),
    )
    return _after_change(session, case, actor, before, moment, lang)


# --- reading -----------------------------------------------------------------------------------


def get_case(
    session: Session, actor: CaseActor, number: str, *, lang: str | None = None
) -> CaseView:
    case = _load(session, number, lang, actor)
    _require_reader(session, case, actor, lang)
    return _case_view(session, case)


def timeline(
    session: Session, actor: CaseActor, number: str, *, lang: str | None = None
) -> list[EventView]:
    """Every step of the case, oldest first."""
    case = _load(session, number, lang, actor)
    _require_reader(session, case, actor, lang)
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    )
    return [
        EventView(
            at=as_utc(e.at),
            kind=e.kind,
            actor=e.actor,
            agency=e.agency,
            state_from=e.state_from,
            state_to=e.state_to,
            details=e.details,
        )
        for e in events
    ]


def measures(session: Session, number: str, *, lang: str | None = None) -> Measures:
    """Counts for the effectiveness dashboard (no personal data, so no reader check):
    evidence fetched online vs paper still required, seconds to decision, agencies involved."""
    return _measure(session, _load(session, number, lang))


def evidence_needing_refresh(
    session: Session, number: str, *, now: datetime | None = None, lang: str | None = None
) -> list[str]:
    """Evidence types held online whose transcript has expired: fetch those again (a relayed
    case's receiver sees the rest without fetching)."""
    moment = _now(now)
    case = _load(session, number, lang)
    return [
        row.evidence_type
        for row in _slots(session, case)
        if row.status == "issued" and _expired(row, moment)
    ]


def queue_for(session: Session, agency: str) -> list[CaseSummaryView]:
    """The agency's work: its cases not yet closed, oldest first."""
    cases = session.scalars(
        select(Case)
        .where(Case.agency == agency, Case.state != "closed")
        .order_by(Case.opened_at, Case.id)
    )
    return [CaseSummaryView(**_summary_fields(c)) for c in cases]


def open_cases_of(
    session: Session, actor: CaseActor, subject: str, application_item: str
) -> list[CaseSummaryView]:
    """The citizen's cases of this item not yet closed, in any queue of the actor's tenant:
    the counter warns before a second one is opened for the same thing."""
    cases = session.scalars(
        select(Case)
        .where(
            Case.subject == subject,
            Case.application_item == application_item,
            Case.state != "closed",
        )
        .order_by(Case.opened_at, Case.id)
    )
    tenant = tenant_of_agency(actor.agency)
    return [
        CaseSummaryView(**_summary_fields(c)) for c in cases if tenant_of_agency(c.agency) == tenant
    ]


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TAIWAN).astimezone(UTC)


def search_cases(
    session: Session, actor: CaseActor, filters: SearchFilters, *, lang: str | None = None
) -> CasePage:
    """Cases the actor's agency handles or has handled, newest first, filtered and paged."""
    if actor.role != "clerk":
        raise Problem(
            403, "forbidden", t("problem.forbidden", lang), t("cases.forbidden.search", lang)
        )
    handled = exists().where(
        CaseAgency.case_id == Case.id,
        CaseAgency.agency == actor.agency,
        CaseAgency.role == "handler",
    )
    conditions: list[Any] = [handled]
    if filters.number:
        conditions.append(Case.number == filters.number.strip().upper())
    if filters.subject:
        conditions.append(Case.subject == _subject(filters.subject, lang))
    if filters.state:
        conditions.append(Case.state == filters.state)
    if filters.application_item:
        conditions.append(Case.application_item == filters.application_item)
    if filters.agency:
        conditions.append(Case.agency == filters.agency)
    if filters.opened_from:
        conditions.append(Case.opened_at >= _day_start(filters.opened_from))
    if filters.opened_to:
        conditions.append(Case.opened_at < _day_start(filters.opened_to + timedelta(days=1)))
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    rows = session.scalars(
        select(Case)
        .where(*conditions)
        .order_by(Case.opened_at.desc(), Case.id.desc())
        .offset((filters.page - 1) * filters.per_page)
        .limit(filters.per_page)
    )
    return CasePage(
        items=[CaseSummaryView(**_summary_fields(c)) for c in rows],
        total=total,
        page=filters.page,
        per_page=filters.per_page,
    )


@dataclass(frozen=True)
class FetchPlan:
    """What to ask the exchange for one case: only what is not held validly, unless all."""

    number: str
    application_item: str
    subject: str
    evidence_types: tuple[str, ...]


def plan_fetch(
    session: Session,
    actor: CaseActor,
    number: str,
    *,
    refresh_all: bool = False,
    now: datetime | None = None,
    lang: str | None = None,
    only: str | None = None,
) -> FetchPlan:
    """Check the actor may gather evidence for the case now, and list what to fetch: pieces
    never fetched, failed or expired (all of them with ``refresh_all``). A piece about a
    second person the clerk names (:func:`catalog.asks_for_another_person`) is fetched only
    when asked for by itself (``only``)."""
    case = _load(session, number, lang, actor)
    _require_handler(case, actor, lang)
    _transition(session, case, "gather", lang)
    moment = _now(now)
    if only is not None:
        slots = [row for row in _slots(session, case) if row.evidence_type == only]
        if not slots:
            raise validation_problem(
                [FieldError("evidence_type", t("cases.evidence.not_required", lang), "unknown")],
                lang,
            )
        return FetchPlan(case.number, case.application_item, case.subject or "", (only,))
    types = tuple(
        row.evidence_type
        for row in _slots(session, case)
        if (refresh_all or row.status != "issued" or _expired(row, moment))
        and not catalog.asks_for_another_person(session, row.evidence_type)
    )
    return FetchPlan(case.number, case.application_item, case.subject or "", types)


# --- the exchange's view of a case -------------------------------------------------------------


_CASE_FACTS = Prepared(
    select(Case.number, Case.agency, Case.application_item, Case.subject, Case.state).where(
        Case.number == bindparam("number")
    )
)
"""Only the columns the exchange needs, on the driver's cursor: every evidence request reads
its case, and loading a whole case row costs more than running the query."""


class CaseBook:
    """The cases capability as the exchange's :class:`~onceonly.policy.purpose.CaseThingAnswer`:
    what an evidence request needs to know of the case it names (wired by the app factory)."""

    def case_facts(self, session: Session, number: str) -> CaseFacts | None:
        found = _CASE_FACTS.rows(session, {"number": number.strip().upper()})
        if not found:
            return None
        case_number, agency, application_item, subject, state = found[0]
        return CaseFacts(
            number=case_number,
            agency=agency,
            application_item=application_item,
            subject=subject or "",
            gathering=state in _TRANSITIONS["gather"],
            state=state,
        )

    def relatives(self, session: Session, number: str) -> frozenset[str]:
        case = session.scalars(select(Case).where(Case.number == number.strip().upper())).first()
        return kinship.relatives_of_case(session, case) if case is not None else frozenset()
