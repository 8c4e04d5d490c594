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
that has handled it may read it (progress stays traceable after a relay), but a piece's
content only where their agency obtained it or received the case afterwards
(:mod:`~onceonly.cases.holding`). A case is opened only by an agency with a part in its
item (:func:`handles`).

Here: opening a case, and the steps that move it (relay, transfer, consent, decide, close).
Beside it, one idea each, all reached through this module: :mod:`~onceonly.cases.fields`
(what a clerk types, checked), :mod:`~onceonly.cases.views` (a case as its readers see it),
:mod:`~onceonly.cases.state` (who may act, the state machine, the timeline and the messages
a step owes), :mod:`~onceonly.cases.lookups` (evidence and answers recorded on a case),
:mod:`~onceonly.cases.paper` (scans the citizen brought), :mod:`~onceonly.cases.reading`
(one case, a queue, a search, the plan of what to fetch) and :mod:`~onceonly.cases.book`
(the case as an evidence request sees it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.tenancy import tenant_of_agency
from onceonly.audit.log import append
from onceonly.cases.book import CaseBook
from onceonly.cases.contacts import record_contacts
from onceonly.cases.fields import checked_note, field_problem, normalise_email, normalise_mobile
from onceonly.cases.lookups import HeldLookup, lookups, record_evidence, record_lookup
from onceonly.cases.models import Case, CaseEvent, CaseEvidence
from onceonly.cases.notifications import (
    deliver_pending,
    retry_failed_notifications,
)
from onceonly.cases.numbering import allocate_number
from onceonly.cases.paper import MAX_PAPER_BYTES, PAPER_TYPES, attach_paper, paper_file, uploads_dir
from onceonly.cases.reading import (
    evidence_needing_refresh,
    get_case,
    measures,
    open_cases_of,
    plan_fetch,
    queue_for,
    search_cases,
    timeline,
)
from onceonly.cases.schemas import (
    MAX_NOTE_CHARS,
    CaseView,
)
from onceonly.cases.state import (
    CaseActor,
    add_agency,
    add_event,
    after_change,
    agency_name,
    evidence_words,
    flush_case,
    held_elsewhere,
    item_name,
    kinship_source,
    load_case,
    load_for_handler,
    load_for_reader,
    move_case,
    notify_citizen,
    require_handler,
)
from onceonly.cases.views import case_view, evidence_slots, evidence_view, now_or_given
from onceonly.catalog import service as catalog
from onceonly.db import as_utc
from onceonly.domain.errors import DomainValueError
from onceonly.domain.national_id import validate_national_id
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t

__all__ = [
    "MAX_NOTE_CHARS",
    "MAX_PAPER_BYTES",
    "PAPER_TYPES",
    "CaseActor",
    "CaseBook",
    "HeldLookup",
    "attach_paper",
    "close_case",
    "decide_case",
    "deliver_pending",
    "evidence_needing_refresh",
    "get_case",
    "held_elsewhere",
    "item_name",
    "kinship_source",
    "load_for_handler",
    "load_for_reader",
    "lookups",
    "measures",
    "open_case",
    "open_cases_of",
    "open_service_request_case",
    "paper_file",
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
    ``acknowledged``: the warnings the clerk saw and went past (kept in the timeline). Each
    contact given is written to the audit log about the citizen, and the contact the citizen
    registered is told when the case's messages go elsewhere (:mod:`~onceonly.cases.contacts`)."""
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
    agency = catalog.get_agency(session, actor.agency)
    if agency is None:
        raise Problem(
            403,
            "unknown-agency",
            t("problem.forbidden", lang),
            t("cases.unknown_agency", lang, agency=actor.agency),
        )
    refused = not_handled_error(session, item, agency, lang)
    if refused is not None:
        raise validation_problem([refused], lang)
    moment = now_or_given(now)
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
    add_agency(session, case, actor.agency, "handler")
    add_event(
        session,
        case,
        "opened",
        actor,
        moment,
        (None, "open"),
        item=item.code,
        **({"acknowledged": list(acknowledged)} if acknowledged else {}),
    )
    notify_citizen(session, case, "opened")
    record_contacts(session, case, actor)  # audited; the citizen's own contact told if not it
    flush_case(session, case, lang)
    return case_view(session, case, moment, actor)


def handles(
    session: Session, item: catalog.ApplicationItemView, agency: catalog.AgencyView
) -> bool:
    """Whether the agency has a part in the item, as the catalog says: it handles it (the
    item's agency kind), or it owns a piece of its required evidence (a counter that takes
    the application in and relays it on, 一處收件), in a jurisdiction the item is offered
    in. A case is the purpose every evidence request names and a relay carries its evidence
    on: an agency with no part in an item has no reason to hold cases of it."""
    place = catalog.successor_of(session, agency.jurisdiction)
    datasets = [catalog.get_dataset(session, r.dataset) for r in item.required_evidence]
    # agency kinds, and the codes of central owners
    parts = {item.agency_kind} | {d.owner_agency or d.owner_kind for d in datasets if d}
    offered = item.jurisdictions is None or place in item.jurisdictions
    return offered and (agency.kind in parts or agency.code in parts)


def not_handled_error(
    session: Session,
    item: catalog.ApplicationItemView,
    agency: catalog.AgencyView,
    lang: str | None,
) -> FieldError | None:
    """The error on ``application_item`` when the agency has no part in the item
    (:func:`handles`), naming who handles it and where; ``None`` when it has one."""
    if handles(session, item, agency):
        return None
    english = lang == "en"
    places = [catalog.get_jurisdiction(session, code) for code in item.jurisdictions or ()]
    where = (
        t(
            "cases.not_handled_item.where",
            lang,
            places=("、" if not english else ", ").join(
                (p.name_en if english else p.name_zh) for p in places if p is not None
            ),
        )
        if item.jurisdictions
        else ""
    )
    return FieldError(
        "application_item",
        t(
            "cases.not_handled_item",
            lang,
            item=item.name_en if english else item.name_zh,
            kind=t(f"catalog.kind.{item.agency_kind}", lang),
            where=where,
            agency=agency.name_en if english else agency.name_zh,
        ),
        "not_handled",
    )


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
    moment = now_or_given(now)
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
    add_agency(session, case, agency, "handler")
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
    # a report, not an application: nothing to fetch, and the citizen knows it by its own id
    notify_citizen(session, case, "request_received", request=service_request_id)
    flush_case(session, case, lang)
    return case_view(session, case, moment)


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
    return {c.service_request_id: case_view(session, c) for c in rows if c.service_request_id}


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
        actor.audit_record(
            case,
            event,
            {"from": source, "to": target, **details},
            owner_agency=target,
            reason_zh=t(
                "cases.audit.relay",
                "zh-TW",
                source=agency_name(session, source, "zh-TW"),
                target=agency_name(session, target, "zh-TW"),
            ),
            reason_en=t(
                "cases.audit.relay",
                "en",
                source=agency_name(session, source, "en"),
                target=agency_name(session, target, "en"),
            ),
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
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    target = to_agency.strip()
    note = checked_note("note", note, "cases.relay.note_required", lang)
    if catalog.get_agency(session, target) is None:
        raise field_problem("to_agency", "cases.relay.unknown_agency", lang, agency=target)
    if target == case.agency:
        raise field_problem(
            "to_agency", "cases.relay.same_agency", lang, agency=agency_name(session, target, lang)
        )
    if tenant_of_agency(target) != tenant_of_agency(case.agency):
        raise field_problem("to_agency", "tenancy.relay_other_tenant", lang, agency=target)
    before, source = case.state, case.agency
    case.state = move_case(session, case, "relay", lang)
    moment = now_or_given(now)
    previous = (
        {"decision": case.decision, "reason": case.decision_reason} if case.decision else None
    )
    case.agency = target
    case.decision = case.decision_reason = case.decided_by = None
    case.decided_at = None
    add_agency(session, case, target, "handler")
    carried = [
        row.evidence_type
        for row in evidence_slots(session, case)
        if row.status == "issued" or row.paper_sha256
    ]
    add_event(
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
    notify_citizen(
        session, case, "relayed", from_agency=agency_name(session, source, case.contact_language)
    )
    return after_change(session, case, actor, before, moment, lang)


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
    case = load_case(session, number, lang, actor)
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
    note = checked_note("note", note, "cases.relay.note_required", lang)
    if catalog.get_agency(session, to_agency) is None:
        raise field_problem("to_agency", "cases.relay.unknown_agency", lang, agency=to_agency)
    before, source = case.state, case.agency
    case.state = move_case(session, case, "relay", lang)
    moment = now_or_given(now)
    case.agency = to_agency
    case.decision = case.decision_reason = case.decided_by = None
    case.decided_at = None
    if elsewhere:
        case.state, case.closed_at = "closed", moment
    else:
        add_agency(session, case, to_agency, "handler")
    add_event(
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
    notify_citizen(
        session, case, "relayed", from_agency=agency_name(session, source, case.contact_language)
    )
    return after_change(session, case, actor, before, moment, lang)


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
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    if not what:
        raise field_problem("evidence", "cases.consent.nothing", lang)
    if not case.contact_email and not case.contact_mobile:
        raise field_problem("contact", "cases.consent.no_contact", lang)
    moment = now_or_given(now)
    lines = [line.strip() for line in what]
    add_event(session, case, "consent_requested", actor, moment, what=lines)
    notify_citizen(
        session,
        case,
        "consent_requested",
        what="\n".join(f"・{line}" for line in lines),
        count=len(lines),
    )
    case.updated_at = moment
    flush_case(session, case, lang)
    return case_view(session, case, moment, actor)


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
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    if not decision:
        raise field_problem("decision", "cases.decide.decision_required", lang)
    if decision not in ("approved", "rejected"):
        raise field_problem("decision", "cases.decide.decision_invalid", lang, value=decision)
    reason = checked_note("reason", reason, "cases.decide.reason_required", lang)
    target = move_case(session, case, "decide", lang)
    moment = now_or_given(now)
    if decision == "approved":
        missing = [
            view.evidence_type
            for view in (evidence_view(row, moment) for row in evidence_slots(session, case))
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
                        evidence_words(session, case.application_item, code, lang)
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
    add_event(
        session,
        case,
        "decided",
        actor,
        moment,
        (before, case.state),
        decision=decision,
        reason=case.decision_reason,
    )
    notify_citizen(
        session,
        case,
        "decided",
        decision=t(f"cases.decision.{decision}", case.contact_language),
        reason=case.decision_reason,
    )
    return after_change(session, case, actor, before, moment, lang)


def close_case(
    session: Session,
    actor: CaseActor,
    number: str,
    *,
    now: datetime | None = None,
    lang: str | None = None,
) -> CaseView:
    """Close a decided case; closing without a decision is refused."""
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    before = case.state
    case.state = move_case(session, case, "close", lang)
    moment = now_or_given(now)
    case.closed_at = moment
    add_event(session, case, "closed", actor, moment, (before, case.state), decision=case.decision)
    notify_citizen(
        session,
        case,
        "closed",
        decision=t(f"cases.decision.{case.decision}", case.contact_language),
    )
    return after_change(session, case, actor, before, moment, lang)
