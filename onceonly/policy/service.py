"""Access-rule lifecycle (request, approve, reject, revoke) and the access decision.

Only this module reads the policy tables. Every decision carries a reason a clerk can read:
which rule allowed it, or why nothing did (no rule, revoked, expired, pending, consent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from onceonly.accounts.principal import Principal
from onceonly.accounts.tenancy import CENTRAL, Scope, tenant_of_agency
from onceonly.accounts.users import refuse_system_account
from onceonly.audit.log import AuditRecord, append
from onceonly.catalog import service as catalog
from onceonly.db import utcnow
from onceonly.domain.roc_date import TAIWAN
from onceonly.errors import FieldError, Problem, validation_problem
from onceonly.i18n import t
from onceonly.policy.models import AccessRule, Consent

STATUSES = ("pending", "approved", "rejected", "revoked")


@dataclass(frozen=True)
class Requester:
    """The agency asking, as the catalog knows it."""

    agency: str
    kind: str
    jurisdiction: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str
    """``allowed`` or why not: ``no_rule``, ``rule_revoked``, ``rule_expired``,
    ``rule_not_yet_valid``, ``rule_pending``, ``rule_rejected``, ``predicate_not_allowed``,
    ``fields_not_allowed``, ``needs_consent``."""
    reason_zh: str
    reason_en: str
    rule_id: int | None = None
    fields: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    legal_basis: str | None = None
    preview_required: bool = False
    """The citizen sees the evidence first: some rule of this requester for the owner's
    dataset says so (whatever item it names; see :func:`_safeguards`)."""
    param_choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    """For a predicate: parameter -> the values the rule lets the caller choose among."""
    options: tuple[Decision, ...] = ()
    """For a predicate several current rules of the owner cover: one allowed decision per
    rule, newest first (this decision is the first, without its options), each citing its
    rule with that rule's legal basis and parameter choices. Which one the request rests on
    is settled with the parameters (:func:`onceonly.exchange.piece.settle_params`): a value is
    allowed if any of them allows it, so a newer rule listing other values does not hide an
    older one's. Empty when one rule covers the predicate (its choices are this decision's).
    Consent was checked and ``preview_required`` set for all of them alike
    (:func:`_safeguards`): choosing one cannot drop a safeguard another one asks for."""

    def reason(self, lang: str | None) -> str:
        return self.reason_en if lang == "en" else self.reason_zh


@dataclass(frozen=True)
class RuleView:
    id: int
    owner_agency: str
    dataset: str
    application_item: str
    requesting_agency: str | None
    requesting_agency_kind: str | None
    requesting_jurisdiction: str | None
    fields: tuple[str, ...]
    predicates: tuple[str, ...]
    legal_basis: str
    purpose: str
    consent_required: bool
    preview_required: bool
    valid_from: date
    valid_until: date | None
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_reason: str | None
    predicate_params: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"R-{self.id}"

    @property
    def requester_label(self) -> str:
        if self.requesting_agency:
            return self.requesting_agency
        scope = f"{self.requesting_jurisdiction}." if self.requesting_jurisdiction else "*."
        return f"{scope}{self.requesting_agency_kind}"


@dataclass
class RuleRequest:
    """What a requesting agency asks the owner to approve."""

    owner_agency: str
    dataset: str
    application_item: str
    legal_basis: str
    requesting_agency: str | None = None
    requesting_agency_kind: str | None = None
    requesting_jurisdiction: str | None = None
    fields: list[str] = field(default_factory=list)
    predicates: list[str] = field(default_factory=list)
    predicate_params: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    """Predicate -> parameter -> the values a caller may choose among."""
    purpose: str = ""
    consent_required: bool = False
    preview_required: bool = False
    valid_from: date | None = None
    valid_until: date | None = None


def _view(rule: AccessRule) -> RuleView:
    return RuleView(
        id=rule.id,
        owner_agency=rule.owner_agency,
        dataset=rule.dataset,
        application_item=rule.application_item,
        requesting_agency=rule.requesting_agency,
        requesting_agency_kind=rule.requesting_agency_kind,
        requesting_jurisdiction=rule.requesting_jurisdiction,
        fields=tuple(rule.fields or ()),
        predicates=tuple(rule.predicates or ()),
        legal_basis=rule.legal_basis,
        purpose=rule.purpose,
        consent_required=rule.consent_required,
        preview_required=rule.preview_required,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        status=rule.status,
        requested_by=rule.requested_by,
        requested_at=rule.requested_at,
        decided_by=rule.decided_by,
        decided_at=rule.decided_at,
        decision_reason=rule.decision_reason,
        revoked_by=rule.revoked_by,
        revoked_at=rule.revoked_at,
        revoke_reason=rule.revoke_reason,
        predicate_params=dict(rule.predicate_params or {}),
    )


def check_rule_request(request: RuleRequest, lang: str | None = None) -> list[FieldError]:
    """Checks that need no catalog: the shape of the request. The catalog checks (dataset,
    fields, predicates, item, legal basis exist) are done by :func:`request_rule`'s caller,
    which owns the catalog lookups (see ``onceonly.policy.catalog_checks``)."""
    errors: list[FieldError] = []
    if not request.requesting_agency and not request.requesting_agency_kind:
        errors.append(FieldError("requesting_agency", t("policy.error.requester_missing", lang)))
    if not request.fields and not request.predicates:
        errors.append(FieldError("fields", t("policy.error.nothing_allowed", lang)))
    if request.valid_from and request.valid_until and request.valid_from > request.valid_until:
        errors.append(FieldError("valid_until", t("policy.error.dates", lang)))
    return errors


def check_filer(
    request: RuleRequest, role: str, agency: str, lang: str | None = None
) -> list[FieldError]:
    """Whom a caller may file a rule request for. A clerk asks only for their own agency, or
    for the agencies of their own kind in their own jurisdiction, never for another agency or
    for a kind nationwide; a tenant's administrator only for requesters in that tenant. A
    national administrator files for the platform (nationwide kinds included)."""
    if role == "admin" and tenant_of_agency(agency) == CENTRAL:
        return []
    tenant = tenant_of_agency(agency)
    if request.requesting_agency:
        ok = request.requesting_agency == agency or (
            role == "admin" and tenant_of_agency(request.requesting_agency) == tenant
        )
        if not ok:
            key = "policy.error.other_agency" if role == "clerk" else "policy.error.other_tenant"
            return [FieldError("requesting_agency", t(key, lang, agency=agency), "not_yours")]
        return []
    errors = []
    own_kind = agency.split(".", 1)[-1]
    if role == "clerk" and request.requesting_agency_kind != own_kind:
        errors.append(
            FieldError(
                "requesting_agency_kind",
                t("policy.error.other_kind", lang, kind=own_kind),
                "not_yours",
            )
        )
    if request.requesting_jurisdiction != tenant:
        errors.append(
            FieldError(
                "requesting_jurisdiction",
                t("policy.error.other_jurisdiction", lang, jurisdiction=tenant or "-"),
                "not_yours",
            )
        )
    return errors


def request_rule(
    session: Session, request: RuleRequest, requested_by: str, lang: str | None = None
) -> RuleView:
    """Record a rule request; it grants nothing until the owner approves it."""
    errors = check_rule_request(request, lang)
    if errors:
        raise validation_problem(errors, lang)
    rule = AccessRule(
        owner_agency=request.owner_agency,
        dataset=request.dataset,
        application_item=request.application_item,
        requesting_agency=request.requesting_agency,
        requesting_agency_kind=None
        if request.requesting_agency
        else request.requesting_agency_kind,
        requesting_jurisdiction=None
        if request.requesting_agency
        else request.requesting_jurisdiction,
        fields=sorted(set(request.fields)),
        predicates=sorted(set(request.predicates)),
        predicate_params=request.predicate_params or None,
        legal_basis=request.legal_basis,
        purpose=request.purpose,
        consent_required=request.consent_required,
        preview_required=request.preview_required,
        valid_from=request.valid_from or taipei_day(utcnow()),
        valid_until=request.valid_until,
        status="pending",
        requested_by=requested_by,
        requested_at=utcnow(),
        details={},
    )
    session.add(rule)
    session.flush()
    return _view(rule)


def _load(session: Session, rule_id: int, lang: str | None) -> AccessRule:
    rule = session.get(AccessRule, rule_id)
    if rule is None:
        raise Problem(404, "not-found", t("policy.error.not_found", lang, rule_id=rule_id))
    return rule


def _check_owner(rule: AccessRule, acting_agency: str | None, lang: str | None) -> None:
    """``acting_agency`` None means an administrator acting for the platform (CLI, seeding).
    A rule owned in another tenant (jurisdiction) answers 404, as a rule that does not exist."""
    if acting_agency is not None and tenant_of_agency(acting_agency) != tenant_of_agency(
        rule.owner_agency
    ):
        raise Problem(404, "not-found", t("policy.error.not_found", lang, rule_id=rule.id))
    if acting_agency is not None and acting_agency != rule.owner_agency:
        raise Problem(403, "not-owner", t("policy.error.not_owner", lang, owner=rule.owner_agency))


def _require_status(
    rule: AccessRule, allowed: Sequence[str], action: str, lang: str | None
) -> None:
    if rule.status not in allowed:
        status = t(f"policy.status.{rule.status}", lang)
        raise Problem(
            409, "rule-state", t("policy.error.bad_state", lang, status=status, action=action)
        )


def approve_rule(
    session: Session,
    rule_id: int,
    decided_by: str,
    acting_agency: str | None,
    reason: str = "",
    lang: str | None = None,
) -> RuleView:
    rule = _load(session, rule_id, lang)
    _check_owner(rule, acting_agency, lang)
    # a rule widens who reads; rejecting and revoking only narrow, so a system may do those
    refuse_system_account(session, decided_by, t("policy.error.system_approver", lang), lang)
    _require_status(rule, ("pending",), "approve", lang)
    rule.status = "approved"
    rule.decided_by = decided_by
    rule.decided_at = utcnow()
    rule.decision_reason = reason
    session.flush()
    return _view(rule)


def reject_rule(
    session: Session,
    rule_id: int,
    decided_by: str,
    acting_agency: str | None,
    reason: str,
    lang: str | None = None,
) -> RuleView:
    if not reason.strip():
        raise validation_problem([FieldError("reason", t("policy.error.reason_required", lang))])
    rule = _load(session, rule_id, lang)
    _check_owner(rule, acting_agency, lang)
    _require_status(rule, ("pending",), "reject", lang)
    rule.status = "rejected"
    rule.decided_by = decided_by
    rule.decided_at = utcnow()
    rule.decision_reason = reason.strip()
    session.flush()
    return _view(rule)


def revoke_rule(
    session: Session,
    rule_id: int,
    revoked_by: str,
    acting_agency: str | None,
    reason: str,
    lang: str | None = None,
) -> RuleView:
    """Revoke an approved rule; the very next request no longer finds it."""
    if not reason.strip():
        raise validation_problem([FieldError("reason", t("policy.error.reason_required", lang))])
    rule = _load(session, rule_id, lang)
    _check_owner(rule, acting_agency, lang)
    _require_status(rule, ("approved",), "revoke", lang)
    rule.status = "revoked"
    rule.revoked_by = revoked_by
    rule.revoked_at = utcnow()
    rule.revoke_reason = reason.strip()
    session.flush()
    return _view(rule)


def get_rule(session: Session, rule_id: int) -> RuleView | None:
    rule = session.get(AccessRule, rule_id)
    return _view(rule) if rule else None


def rule_in_scope(rule: RuleView, scope: Scope) -> bool:
    """Whether a rule concerns the scope's tenant: its owner is there, or its requester (an
    agency there, or agencies of a kind there or anywhere). The platform operator sees all
    rules: they hold no personal data and the directory publishes them."""
    if scope.operator:
        return True
    if scope.tenant is None:
        return False
    if scope.sees_agency(rule.owner_agency) or scope.sees_agency(rule.requesting_agency):
        return True
    return rule.requesting_agency is None and rule.requesting_jurisdiction in (
        None,
        scope.tenant,
    )


def list_rules(
    session: Session,
    *,
    owner_agency: str | None = None,
    requesting_agency: str | None = None,
    status: str | None = None,
    dataset: str | None = None,
    application_item: str | None = None,
) -> list[RuleView]:
    query = select(AccessRule).order_by(AccessRule.id)
    if owner_agency:
        query = query.where(AccessRule.owner_agency == owner_agency)
    if requesting_agency:
        query = query.where(AccessRule.requesting_agency == requesting_agency)
    if status:
        query = query.where(AccessRule.status == status)
    if dataset:
        query = query.where(AccessRule.dataset == dataset)
    if application_item:
        query = query.where(AccessRule.application_item == application_item)
    return [_view(rule) for rule in session.scalars(query)]


class RuleSource(Protocol):
    """Where :func:`decide` reads rules from: :func:`candidate_rules` and
    :func:`guarded_rules`, cached (``policy/rule_cache.py``)."""

    def candidates(
        self, owner_agency: str, dataset: str, application_item: str
    ) -> Sequence[RuleView]: ...

    def guarded(self, owner_agency: str, dataset: str) -> Sequence[RuleView]: ...


def candidate_rules(
    session: Session, owner_agency: str, dataset: str, application_item: str
) -> list[RuleView]:
    """Every rule (any status) of the owner for this dataset and item, newest first: what a
    decision chooses from."""
    query = (
        select(AccessRule)
        .where(
            AccessRule.owner_agency == owner_agency,
            AccessRule.dataset == dataset,
            AccessRule.application_item == application_item,
        )
        .order_by(AccessRule.id.desc())
    )
    return [_view(rule) for rule in session.scalars(query)]


def guarded_rules(session: Session, owner_agency: str, dataset: str) -> list[RuleView]:
    """The owner's approved rules for the dataset (any item) that ask for the citizen's
    consent or preview: they guard every read of it (see :func:`_safeguards`)."""
    query = select(AccessRule).where(
        AccessRule.owner_agency == owner_agency,
        AccessRule.dataset == dataset,
        AccessRule.status == "approved",
        or_(AccessRule.consent_required.is_(True), AccessRule.preview_required.is_(True)),
    )
    return [_view(rule) for rule in session.scalars(query)]


def taipei_day(moment: datetime) -> date:
    """The calendar day of ``moment`` in Taiwan: a rule's first and last days are days as
    the owner who approved them reads them, so a rule "until 31 December" stops at midnight
    in Taipei, not eight hours later."""
    if moment.tzinfo is None:  # a naive value from storage is UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TAIWAN).date()


def _in_force(rule: RuleView, today: date) -> bool:
    """Within the rule's validity dates (whatever its status)."""
    return rule.valid_from <= today and (rule.valid_until is None or today <= rule.valid_until)


def _applies_to(rule: RuleView, requester: Requester) -> bool:
    if rule.requesting_agency:
        return rule.requesting_agency == requester.agency
    if rule.requesting_agency_kind != requester.kind:
        return False
    return rule.requesting_jurisdiction in (None, requester.jurisdiction)


def _has_consent(
    session: Session,
    subject: str,
    application_item: str,
    case_id: str | None,
    now: datetime,
    dataset: str | None = None,
) -> bool:
    """A live consent of the citizen to this item (for this case, or standing) that covers
    ``dataset`` (a consent naming no dataset covers every dataset the item needs)."""
    query = select(Consent.id).where(
        Consent.subject == subject,
        Consent.application_item == application_item,
        or_(Consent.dataset.is_(None), Consent.dataset == dataset),
        Consent.revoked_at.is_(None),
        or_(Consent.case_id.is_(None), Consent.case_id == case_id),
        or_(Consent.expires_at.is_(None), Consent.expires_at > now),
    )
    return session.scalars(query.limit(1)).first() is not None


def _consent_gap(
    session: Session, subject: str, application_item: str, case_id: str | None
) -> tuple[str, str]:
    """Why there is no consent, for the clerk: the citizen's newest consent for the item (or
    this case) was revoked, or has expired, or there never was one."""
    newest = session.scalars(
        select(Consent)
        .where(
            Consent.subject == subject,
            Consent.application_item == application_item,
            or_(Consent.case_id.is_(None), Consent.case_id == case_id),
        )
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
        .limit(1)
    ).first()
    if newest is not None and newest.revoked_at is not None:
        return "consent.reason.revoked", newest.revoked_at.date().isoformat()
    if newest is not None and newest.expires_at is not None:
        return "consent.reason.expired", newest.expires_at.date().isoformat()
    return "consent.reason.missing", ""


def list_consents(session: Session, subject: str) -> list[ConsentView]:
    """A citizen's consents, newest first, revoked and expired ones included."""
    rows = session.scalars(
        select(Consent)
        .where(Consent.subject == subject)
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
    )
    return [
        ConsentView(
            id=c.id,
            subject=c.subject,
            application_item=c.application_item,
            case_id=c.case_id,
            granted_at=c.granted_at,
            expires_at=c.expires_at,
            revoked_at=c.revoked_at,
        )
        for c in rows
    ]


@dataclass(frozen=True)
class ConsentView:
    id: int
    subject: str
    application_item: str
    case_id: str | None
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


Names = Callable[[str, str], str]
"""``names(code, lang)``: the display name of an agency, application item or dataset code."""

_NAMED = ("owner", "requester", "item", "dataset", "legal_basis")


def _texts(key: str, names: Names | None, **params: object) -> tuple[str, str]:
    """The message in both languages, with codes shown by name where ``names`` knows them; a
    parameter given as ``{lang: text}`` is already in words."""

    def render(lang: str) -> str:
        shown = {
            k: v[lang]
            if isinstance(v, dict)
            else names(str(v), lang)
            if names and k in _NAMED and v
            else v
            for k, v in params.items()
        }
        return t(key, lang, **shown)

    return render("zh-TW"), render("en")


def _field_words(session: Session, dataset: str, fields: Sequence[str]) -> dict[str, str]:
    """Fields by the labels of the dataset's standard, in each language."""
    view = catalog.get_dataset(session, dataset)
    found = [view.field(f.split(".", 1)[0]) if view else None for f in fields]
    return {
        "zh-TW": "、".join(v.label_zh if v else f for f, v in zip(fields, found, strict=True)),
        "en": ", ".join(v.label_en if v else f for f, v in zip(fields, found, strict=True)),
    }


def _denied(
    code: str, rule_id: int | None = None, names: Names | None = None, **params: object
) -> Decision:
    zh, en = _texts(f"policy.{code}", names, rule_id=rule_id, **params)
    return Decision(False, code, zh, en, rule_id)


def decide(
    session: Session,
    *,
    requester: Requester,
    owner_agency: str,
    dataset: str,
    application_item: str,
    subject: str,
    case_id: str | None,
    fields: Sequence[str] = (),
    predicate: str | None = None,
    now: datetime | None = None,
    names: Names | None = None,
    rules: RuleSource | None = None,
) -> Decision:
    """Deny by default: allowed only by an approved, current rule of the owner that names this
    requester, item and dataset and covers the fields or predicate asked for.

    For fields the rule granting most of them answers. For a predicate every current rule
    covering it counts: the decision cites the newest and carries one option per rule
    (:attr:`Decision.options`); the parameters asked pick the rule that allows them
    (:func:`onceonly.policy.predicates.settle_among`), and that rule is the one cited.

    ``rules`` answers :func:`candidate_rules` from a cache that is current for this request
    (``policy/rule_cache.py``); without it the rules are read from ``session``."""
    now = now or utcnow()
    today = taipei_day(now)
    found = (
        rules.candidates(owner_agency, dataset, application_item)
        if rules is not None
        else candidate_rules(session, owner_agency, dataset, application_item)
    )
    candidates = [rule for rule in found if _applies_to(rule, requester)]
    approved = [rule for rule in candidates if rule.status == "approved"]
    current = [rule for rule in approved if _in_force(rule, today)]
    if not current:
        return _explain_absence(
            candidates, approved, requester, owner_agency, dataset, application_item, today, names
        )

    if predicate is not None:
        covering = [rule for rule in current if predicate in (rule.predicates or ())]
        if not covering:
            return _denied("predicate_not_allowed", current[0].id, names, predicate=predicate)
        resting_on = covering
        allowed_fields: tuple[str, ...] = ()
        withheld: tuple[str, ...] = ()
    else:
        asked = list(dict.fromkeys(fields))
        scored = sorted(current, key=lambda r: -len(set(asked) & set(r.fields or ())))
        rule = scored[0]
        granted = set(rule.fields or ())
        allowed_fields = tuple(f for f in asked if _field_granted(f, granted))
        withheld = tuple(f for f in asked if not _field_granted(f, granted))
        if not allowed_fields:
            return _denied("fields_not_allowed", rule.id, names, fields=", ".join(asked))
        resting_on = [rule]

    consent_required, preview_required = _safeguards(
        session, resting_on, owner_agency, requester, today, rules
    )
    if consent_required and not _has_consent(
        session, subject, application_item, case_id, now, dataset
    ):
        key, when = _consent_gap(session, subject, application_item, case_id)
        zh, en = _texts(key, None, rule_id=consent_required.id, when=when)
        return Decision(False, "needs_consent", zh, en, consent_required.id)

    def allowed_by(rule: RuleView) -> Decision:
        params: dict[str, object] = {
            "rule_id": rule.id,
            "owner": owner_agency,
            "legal_basis": rule.legal_basis,
        }
        key = "policy.allowed_withheld" if withheld else "policy.allowed"
        if withheld:
            params["withheld"] = _field_words(session, dataset, withheld)
        zh, en = _texts(key, names, **params)
        return Decision(
            True,
            "allowed",
            zh,
            en,
            rule.id,
            allowed_fields,
            withheld,
            rule.legal_basis,
            preview_required,
            _choices(rule, predicate),
        )

    options = [allowed_by(rule) for rule in resting_on]
    if len(options) == 1:
        return options[0]
    return replace(options[0], options=tuple(options))


def allows_reading(
    session: Session,
    *,
    requester: Requester,
    owner_agency: str,
    dataset: str,
    application_item: str,
    subject: str,
    now: datetime | None = None,
) -> bool:
    """Whether the owner lets ``requester`` read ``dataset`` about ``subject`` for this item
    before any case is open: a current rule of the owner granting fields of it (a rule of
    yes/no answers only grants no reading), and the citizen's standing consent where the
    rule asks for one. What a check before a case opens rests on (the counter asks whether
    the person on the register is alive): never more than what that rule allows, and never
    for a requester the owner has not approved."""
    now = now or utcnow()
    today = taipei_day(now)
    for rule in candidate_rules(session, owner_agency, dataset, application_item):
        current = rule.status == "approved" and _in_force(rule, today)
        if current and rule.fields and _applies_to(rule, requester):
            decision = decide(
                session,
                requester=requester,
                owner_agency=owner_agency,
                dataset=dataset,
                application_item=application_item,
                subject=subject,
                case_id=None,
                fields=rule.fields,
                now=now,
            )
            return decision.allowed
    return False


def _safeguards(
    session: Session,
    resting_on: Sequence[RuleView],
    owner_agency: str,
    requester: Requester,
    today: date,
    rules: RuleSource | None = None,
) -> tuple[RuleView | None, bool]:
    """Consent and preview follow the citizen's data, not the item the clerk names: if any
    current rule of this owner letting this requester read the dataset asks for the citizen's
    consent (or preview), every read of it by this requester does, whichever item it names.
    ``resting_on``: the rules the decision may rest on, newest first (one for fields; every
    current rule covering a predicate, whose parameters later pick one of them); what any of
    them asks for holds whichever is used. Returns the rule demanding consent (``None``: none
    does) and whether a preview is due."""
    consent = next((rule for rule in resting_on if rule.consent_required), None)
    preview = any(rule.preview_required for rule in resting_on)
    if consent is not None and preview:
        return consent, True
    siblings = [
        other
        for other in (
            rules.guarded(owner_agency, resting_on[0].dataset)
            if rules is not None
            else guarded_rules(session, owner_agency, resting_on[0].dataset)
        )
        if _applies_to(other, requester) and _in_force(other, today)
    ]
    consent = consent or next((r for r in siblings if r.consent_required), None)
    preview = preview or any(r.preview_required for r in siblings)
    return consent, preview


def _choices(rule: RuleView, predicate: str | None) -> dict[str, tuple[Any, ...]]:
    """The parameter values ``rule`` lets a caller choose for ``predicate``."""
    if predicate is None:
        return {}
    listed = (rule.predicate_params or {}).get(predicate) or {}
    return {name: tuple(values) for name, values in listed.items()}


def _field_granted(name: str, granted: set[str]) -> bool:
    """``parcels.section`` is granted by ``parcels.section`` or by the whole ``parcels``."""
    return name in granted or name.split(".", 1)[0] in granted


def _explain_absence(
    candidates: list[RuleView],
    approved: list[RuleView],
    requester: Requester,
    owner_agency: str,
    dataset: str,
    application_item: str,
    today: date,
    names: Names | None,
) -> Decision:
    if approved:
        rule = approved[0]
        if rule.valid_until is not None and today > rule.valid_until:
            return _denied("rule_expired", rule.id, names, until=rule.valid_until.isoformat())
        return _denied("rule_not_yet_valid", rule.id, names, valid_from=rule.valid_from.isoformat())
    for rule in candidates:
        if rule.status == "revoked":
            when = rule.revoked_at.date().isoformat() if rule.revoked_at else ""
            return _denied(
                "rule_revoked",
                rule.id,
                names,
                owner=owner_agency,
                when=when,
                reason=rule.revoke_reason or "",
            )
        if rule.status == "pending":
            return _denied("rule_pending", rule.id, names, owner=owner_agency)
        if rule.status == "rejected":
            return _denied(
                "rule_rejected",
                rule.id,
                names,
                owner=owner_agency,
                reason=rule.decision_reason or "",
            )
    return _denied(
        "no_rule",
        None,
        names,
        owner=owner_agency,
        requester=requester.agency,
        item=application_item,
        dataset=dataset,
    )


def grant_consent(
    session: Session,
    subject: str,
    application_item: str,
    case_id: str | None = None,
    expires_at: datetime | None = None,
) -> int:
    """Record a citizen's consent (for one case, or standing when ``case_id`` is None)."""
    consent = Consent(
        subject=subject,
        application_item=application_item,
        case_id=case_id,
        granted_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(consent)
    session.flush()
    return consent.id


def revoke_consent(session: Session, consent_id: int, subject: str) -> bool:
    consent = session.get(Consent, consent_id)
    if consent is None or consent.subject != subject or consent.revoked_at is not None:
        return False
    consent.revoked_at = utcnow()
    return True


def audit_rule_event(
    db: Session, principal: Principal, rule: RuleView, event: str, reason: str = ""
) -> None:
    """Rule decisions are accesses to the question "who may see what": they are logged too."""
    append(
        db,
        AuditRecord(
            event=f"rule.{event}",
            actor_username=principal.username,
            actor_badge=principal.badge,
            actor_role=principal.role,
            actor_agency=principal.agency_code,
            application_item=rule.application_item,
            dataset=rule.dataset,
            fields=list(rule.fields),
            predicate=",".join(rule.predicates) or None,
            owner_agency=rule.owner_agency,
            legal_basis=rule.legal_basis,
            decision="allowed",
            reason_zh=f"{t(f'policy.audit.{event}', 'zh-TW')} {rule.label} {reason}".strip(),
            reason_en=f"{t(f'policy.audit.{event}', 'en')} {rule.label} {reason}".strip(),
            details={
                "credential": principal.credential,
                "rule_id": rule.id,
                "requester": rule.requester_label,
            },
        ),
    )
