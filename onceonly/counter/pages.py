"""Glue between the cases service and the counter pages: who may do what now, the timeline in
words, times in Taiwan, and the rule request a clerk sends an owner from a refused piece."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from onceonly.accounts.deps import Principal
from onceonly.cases import service as cases
from onceonly.cases.schemas import CaseView, EventView
from onceonly.catalog import service as catalog
from onceonly.citizens.consents import AskedPiece, pieces_in_words, sentence
from onceonly.counter.evidence import agency_name, classify
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t, taipei_time
from onceonly.i18n.punctuation import join_words
from onceonly.policy import service as policy
from onceonly.policy.catalog_checks import check_against_catalog

EVENT_KINDS = (
    "opened",
    "gathering",
    "evidence_fetched",
    "looked_up",
    "paper_attached",
    "relayed",
    "decided",
    "closed",
    "notification_sent",
    "notification_failed",
    "consent_requested",
    "carried_read",
)


@dataclass(frozen=True)
class Actions:
    """The steps the signed-in clerk may take on the case now (the service enforces them)."""

    gather: bool = False
    decide: bool = False
    relay: bool = False
    close: bool = False

    @property
    def any(self) -> bool:
        return self.gather or self.decide or self.relay or self.close


def actions_for(case: CaseView, user: Principal) -> Actions:
    if user.role != "clerk" or case.agency != user.agency_code or case.state == "closed":
        return Actions()
    held = any(e.satisfied_by for e in case.evidence) or any(
        e.status == "issued" for e in case.evidence
    )
    nothing_to_gather = not case.evidence  # a service request's case: no evidence to fetch
    return Actions(
        gather=case.state in ("open", "gathering") and not nothing_to_gather,
        decide=case.state == "gathering" or (case.state == "open" and (held or nothing_to_gather)),
        relay=True,
        close=case.state == "decided",
    )


@dataclass(frozen=True)
class EventLine:
    at: str
    actor: str
    agency: str
    text: str
    detail: str


def _evidence_name(item: catalog.ApplicationItemView | None, code: str, lang: str) -> str:
    """The paper the evidence replaces, as the item names it in ``lang``."""
    for requirement in item.required_evidence if item else ():
        if code in (requirement.predicate, requirement.dataset):
            return requirement.paper_name_en if lang == "en" else requirement.paper_name_zh
    return code


def event_lines(
    session: Session, case: CaseView, events: list[EventView], lang: str
) -> list[EventLine]:
    """Each step of the timeline as one sentence: who, when, what."""
    item = catalog.get_application_item(session, case.application_item)
    item_name = cases.item_name(session, case.application_item, lang)  # or a service type's
    lines = []
    for event in events:
        d: dict[str, Any] = event.details or {}
        detail = ""
        wording = event.kind  # the message that says it
        params: dict[str, Any] = {"item": item_name}
        if event.kind == "evidence_fetched":
            params["evidence"] = _evidence_name(item, str(d.get("evidence_type", "")), lang)
            params["status"] = t(f"counter.status.{d.get('status', 'failed')}", lang)
            detail = str(d.get("reason_en" if lang == "en" else "reason_zh") or "")
        elif event.kind == "looked_up":
            dataset = catalog.get_dataset(session, str(d.get("dataset", "")))
            named = (dataset.name_en if lang == "en" else dataset.name_zh) if dataset else ""
            params["about"] = d.get("about", "")
            params["evidence"] = named or str(d.get("evidence_type", ""))
            params["status"] = t(f"counter.lookup.status.{d.get('status', 'failed')}", lang)
            owners = [agency_name(session, str(o), lang) for o in d.get("owners") or []]
            params["offices"] = join_words(owners, lang) or "—"
            detail = str(d.get("reason_en" if lang == "en" else "reason_zh") or "")
        elif event.kind == "carried_read":
            dataset = catalog.get_dataset(session, str(d.get("dataset", "")))
            named = (dataset.name_en if lang == "en" else dataset.name_zh) if dataset else ""
            if d.get("piece") in ("evidence", "scan"):
                named = _evidence_name(item, str(d.get("key", "")), lang) or named
            params["evidence"] = named or str(d.get("dataset", ""))
            params["source"] = agency_name(session, str(d.get("fetched_agency", "")), lang)
            if d.get("piece") == "scan":
                wording = "carried_scan_read"
        elif event.kind == "paper_attached":
            params["evidence"] = _evidence_name(item, str(d.get("evidence_type", "")), lang)
            params["filename"] = d.get("filename", "")
            old = d.get("replaces")
            if isinstance(old, dict):
                detail = t(
                    "counter.event.paper_replaces",
                    lang,
                    filename=old.get("filename", ""),
                    who=old.get("attached_by", ""),
                    sha256=str(old.get("sha256", ""))[:16],
                )
        elif event.kind == "opened" and d.get("acknowledged"):
            detail = t(
                "counter.event.acknowledged",
                lang,
                warnings=join_words(
                    (
                        t(f"counter.warn.kind.{k}", lang)
                        for k in d["acknowledged"]
                        if isinstance(k, str)
                    ),
                    lang,
                ),
            )
        elif event.kind == "relayed":
            params["source"] = agency_name(session, str(d.get("from_agency", "")), lang)
            params["target"] = agency_name(session, str(d.get("to_agency", "")), lang)
            detail = str(d.get("note", ""))
        elif event.kind == "decided":
            params["decision"] = t(f"cases.decision.{d.get('decision', 'approved')}", lang)
            detail = str(d.get("reason", ""))
        elif event.kind == "consent_requested":
            detail = "\n".join(str(line) for line in d.get("what") or [])
        elif event.kind in ("notification_sent", "notification_failed"):
            params["channel"] = t(f"counter.channel.{d.get('channel', 'email')}", lang)
            params["recipient"] = d.get("recipient", "")
            if event.kind == "notification_failed":  # the reason is for administrators
                detail = t("counter.event.notification_failed_detail", lang)
        key = f"counter.event.{wording}" if event.kind in EVENT_KINDS else "counter.event.other"
        lines.append(
            EventLine(
                at=taipei_time(event.at, lang),
                actor=t("counter.event.system", lang) if event.actor == "system" else event.actor,
                agency=agency_name(session, event.agency, lang) if event.agency else "",
                text=t(key, lang, kind=event.kind, **params),
                detail=detail,
            )
        )
    return lines


def consent_request_lines(session: Session, case: CaseView) -> list[str]:
    """The pieces of the case waiting for the citizen's consent, one line each in the
    citizen's contact language: the same words the citizen's consent page shows."""
    item = catalog.get_application_item(session, case.application_item)
    requirements = {(r.predicate or r.dataset): r for r in item.required_evidence} if item else {}
    pieces = []
    for row in case.evidence:
        requirement = requirements.get(row.evidence_type)
        if requirement is None:
            continue
        _, category, _, owners = classify(session, case, row, requirement, case.contact_language)
        if category != "consent":
            continue
        pieces.append(
            AskedPiece(
                owner=owners[0] if owners else "",
                dataset=requirement.dataset,
                predicate=requirement.predicate,
                legal_basis=requirement.legal_basis,
            )
        )
    lang = case.contact_language
    return [
        sentence(piece, lang)
        for piece in pieces_in_words(session, case.application_item, pieces, lang)
    ]


def relay_targets(session: Session, agency_code: str) -> list[catalog.AgencyView]:
    """Agencies of the clerk's own jurisdiction, the clerk's own agency left out."""
    agency = catalog.get_agency(session, agency_code)
    if agency is None:
        return []
    return [
        a
        for a in catalog.list_agencies(session, jurisdiction=agency.jurisdiction)
        if a.code != agency_code
    ]


def request_rules_for(
    session: Session, user: Principal, case: CaseView, evidence_type: str, lang: str
) -> list[policy.RuleView]:
    """Ask each owner that refused one piece of the case for a rule covering exactly what the
    application item needs; the owner decides on its rules page."""
    item = catalog.get_application_item(session, case.application_item)
    requirement = next(
        (
            r
            for r in (item.required_evidence if item else ())
            if evidence_type in (r.predicate, r.dataset)
        ),
        None,
    )
    row = next((e for e in case.evidence if e.evidence_type == evidence_type), None)
    if item is None or requirement is None or row is None or not row.owners:
        raise validation_problem(
            [FieldError("evidence_type", t("counter.rule_request.unknown", lang))], lang
        )
    made = []
    for owner in row.owners:
        pending = policy.list_rules(
            session,
            owner_agency=owner,
            requesting_agency=user.agency_code,
            status="pending",
            dataset=requirement.dataset,
            application_item=item.code,
        )
        if pending:
            continue
        request = policy.RuleRequest(
            owner_agency=owner,
            dataset=requirement.dataset,
            application_item=item.code,
            legal_basis=requirement.legal_basis,
            requesting_agency=user.agency_code,
            fields=list(requirement.fields),
            predicates=[requirement.predicate] if requirement.predicate else [],
            purpose=requirement.purpose_zh or item.name_zh,
        )
        errors = policy.check_rule_request(request, lang) + check_against_catalog(
            session, request, lang
        )
        if errors:
            raise validation_problem(errors, lang)
        rule = policy.request_rule(session, request, user.username, lang)
        policy.audit_rule_event(session, user, rule, "requested")
        made.append(rule)
    if not made:
        raise Problem(
            409,
            "rule-pending",
            t("counter.rule_request.pending_title", lang),
            t("counter.rule_request.already", lang),
        )
    return made
