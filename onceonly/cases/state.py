"""Who may act on a case, and how it moves: loading a case for an actor (the agency whose queue
holds it acts; every agency that handled it reads), the state machine drawn in
:mod:`onceonly.cases.service`, the timeline entries and the messages a step owes the citizen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from onceonly.accounts.tenancy import scope_for
from onceonly.audit.log import AuditRecord
from onceonly.cases import kinship
from onceonly.cases.holding import CarriedPiece, audit_carried_reads, sight
from onceonly.cases.models import Case, CaseAgency, CaseEvent
from onceonly.cases.notifications import enqueue
from onceonly.cases.schemas import CaseView
from onceonly.cases.views import case_view, evidence_slots, refresh_measures
from onceonly.catalog import service as catalog
from onceonly.db import as_utc
from onceonly.errors import Problem, not_found
from onceonly.i18n import t

TRANSITIONS: dict[str, dict[str, str]] = {
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


@dataclass(frozen=True)
class CaseActor:
    """Who acts on a case: a signed-in person (or agency system) of one agency."""

    username: str
    agency: str
    role: str = "clerk"
    badge: str | None = None
    credential: Mapping[str, Any] | None = None
    """The session or token used and who issued it; recorded in the audit entries."""

    def audit_record(
        self, case: Case, event: str, details: Mapping[str, Any], **fields: Any
    ) -> AuditRecord:
        """The audit entry of this actor's act on ``case``: who, with which credential, on
        which case and item, about the case's citizen unless ``fields`` names another."""
        return AuditRecord(
            event=event,
            actor_username=self.username,
            actor_badge=self.badge,
            actor_role=self.role,
            actor_agency=self.agency,
            application_item=case.application_item,
            case_id=case.number,
            **({"subject": case.subject} | fields),
            details={
                **({"credential": dict(self.credential)} if self.credential else {}),
                **details,
            },
        )


def load_case(
    session: Session, number: str, lang: str | None, actor: CaseActor | None = None
) -> Case:
    """The case, or 404. With ``actor``, a case no agency of the actor's tenant has handled
    answers 404 too, exactly as a number that does not exist (tenant isolation: another
    jurisdiction hosted on the same node must not learn that the number is taken)."""
    case = session.scalars(select(Case).where(Case.number == number.strip().upper())).first()
    if case is None or (actor is not None and not in_tenant(session, case, actor)):
        raise not_found(t("cases.not_found", lang, number=number), lang)
    return case


def load_for_handler(session: Session, actor: CaseActor, number: str, lang: str | None) -> Case:
    """The case if ``actor`` handles it and may still gather evidence for it, else 4xx."""
    case = load_case(session, number, lang, actor)
    require_handler(case, actor, lang)
    move_case(session, case, "gather", lang)
    return case


def load_for_reader(session: Session, actor: CaseActor, number: str, lang: str | None) -> Case:
    """The case if ``actor``'s agency has handled it (may read it), else 4xx."""
    case = load_case(session, number, lang, actor)
    require_reader(session, case, actor, lang)
    return case


def kinship_source(
    session: Session, actor: CaseActor, number: str, lang: str | None = None
) -> kinship.KinSource | None:
    """The kinship records a case holds, for its chart: those the clerk's agency may see,
    a relative's record carried to it audited as a read of that relative's data."""
    case = load_for_reader(session, actor, number, lang)
    seen = sight(session, case, actor.agency)
    source = kinship.chart_source(session, case, seen)
    if source is not None:
        pieces = [
            CarriedPiece(
                kind="kin",
                key=str(row.id),
                fetched_at=as_utc(row.fetched_at),
                fetched_agency=seen.fetcher(as_utc(row.fetched_at)),
                subject=row.national_id,
                dataset=kinship.KIN_DATASET,
                fields=list(row.fields or {}),
                owners=list(row.owners),
                request_id=row.request_id,
            )
            for row in source.shown
            if row.status == "issued" and seen.carried(row.fetched_at)
        ]
        audit_carried_reads(session, case, actor, pieces)
    return source


def in_tenant(session: Session, case: Case, actor: CaseActor) -> bool:
    handlers = session.scalars(
        select(CaseAgency.agency).where(CaseAgency.case_id == case.id, CaseAgency.role == "handler")
    )
    return scope_for(actor.role, actor.agency).sees_any([case.agency, *handlers])


def require_handler(case: Case, actor: CaseActor, lang: str | None) -> None:
    if actor.role != "clerk" or actor.agency != case.agency:
        raise Problem(
            403,
            "not-case-handler",
            t("problem.forbidden", lang),
            t("cases.forbidden.act", lang, number=case.number, agency=case.agency),
            extra={"case_agency": case.agency, "your_agency": actor.agency},
        )


def handled_by(session: Session, case_id: int, agency: str) -> bool:
    return (
        session.get(CaseAgency, {"case_id": case_id, "agency": agency, "role": "handler"})
        is not None
    )


def require_reader(session: Session, case: Case, actor: CaseActor, lang: str | None) -> None:
    if actor.role != "clerk" or not handled_by(session, case.id, actor.agency):
        raise Problem(
            403,
            "not-case-handler",
            t("problem.forbidden", lang),
            t("cases.forbidden.read", lang, number=case.number),
        )


def held_elsewhere(
    session: Session, number: str, item: str, evidence_type: str, holder: str, lang: str | None
) -> Problem:
    """403: a piece whose content the reader's agency may not see (it neither fetched it nor
    received the case afterwards, :mod:`onceonly.cases.holding`), saying who holds it."""
    return Problem(
        403,
        "evidence-held-elsewhere",
        t("cases.held.title", lang),
        t(
            "cases.held.detail",
            lang,
            number=number,
            evidence=evidence_words(session, item, evidence_type, lang),
            agency=agency_name(session, holder, lang),
        ),
        extra={"evidence_type": evidence_type, "held_by": holder},
    )


def moves_of(session: Session, case: Case) -> dict[str, str]:
    """Action -> resulting state, for the actions the case allows now. Deciding an ``open``
    case needs evidence already held (a relayed case carries it; a new one has none)."""
    moves = {a: m[case.state] for a, m in TRANSITIONS.items() if case.state in m}
    slots = evidence_slots(session, case)
    if (
        case.state == "open"
        and slots
        and not any(row.status == "issued" or row.paper_sha256 for row in slots)
    ):
        moves.pop("decide", None)
    return moves


def move_case(session: Session, case: Case, action: str, lang: str | None) -> str:
    """The state ``action`` leads to from the case's state, or a 409 saying why not."""
    moves = moves_of(session, case)
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


def add_event(
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


def flush_case(session: Session, case: Case, lang: str | None) -> None:
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


def item_name(session: Session, code: str, lang: str | None) -> str:
    """An application item's name, or an Open311 service type's (a service request's case
    keeps the service code as its item)."""
    named = catalog.get_application_item(session, code) or catalog.get_service(session, code)
    if named is None:
        return code
    return named.name_en if lang == "en" else named.name_zh


def message_names(session: Session, case: Case, lang: str) -> dict[str, str]:
    name = item_name(session, case.application_item, lang)
    return {"item": name, "agency": agency_name(session, case.agency, lang)}


def evidence_words(session: Session, item_code: str, evidence_type: str, lang: str | None) -> str:
    """A piece of evidence as the counter calls it (低收入戶證明), not its dataset code."""
    item = catalog.get_application_item(session, item_code)
    for requirement in item.required_evidence if item else ():
        if evidence_type in (requirement.predicate, requirement.dataset):
            return requirement.paper_name_en if lang == "en" else requirement.paper_name_zh
    dataset = catalog.get_dataset(session, evidence_type)
    if dataset is not None:
        return dataset.name_en if lang == "en" else dataset.name_zh
    return evidence_type


def agency_name(session: Session, code: str, lang: str | None) -> str:
    agency = catalog.get_agency(session, code)
    if agency is None:
        return code
    return agency.name_en if lang == "en" else agency.name_zh


def notify_citizen(session: Session, case: Case, event: str, **params: Any) -> None:
    enqueue(session, case, event, **message_names(session, case, case.contact_language), **params)


def add_agency(session: Session, case: Case, agency: str, role: str) -> None:
    key = {"case_id": case.id, "agency": agency, "role": role}
    if session.get(CaseAgency, key) is None:
        session.add(CaseAgency(**key))


def start_gathering(
    session: Session, case: Case, target: str, actor: CaseActor, moment: datetime
) -> str:
    """Move ``case`` to ``target`` (:func:`move_case` said "gather" may) at the start of a
    step that gathers evidence, and return the state before. Entering ``gathering`` is
    written to the timeline here, before the step's own entries, so the timeline reads
    "started gathering" and then what was fetched or attached, not the other way round."""
    before, case.state = case.state, target
    if before != target and target == "gathering":
        add_event(session, case, "gathering", actor, moment, (before, target))
    return before


def after_change(
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
    if before != case.state and case.state == "gathering":  # written by start_gathering
        notify_citizen(session, case, "gathering", **params)
    refresh_measures(session, case)
    flush_case(session, case, lang)
    return case_view(session, case, moment, actor)
