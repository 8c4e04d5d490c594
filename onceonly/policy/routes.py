"""Access rules over HTTP: agencies ask, owners approve, reject or revoke; every step audited."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from onceonly.accounts.deps import Principal, current_user, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.errors import Problem, validation_problem
from onceonly.i18n import t
from onceonly.policy import alerts, service
from onceonly.policy.catalog_checks import check_against_catalog
from onceonly.policy.predicates import MAX_PARAMS, PredicateValue
from onceonly.validation_words import ApiInput
from onceonly.web.deps import Db, language
from onceonly.web.params import RowId

router = APIRouter(prefix="/api/v1/access-rules", tags=["access rules"])


class RuleIn(ApiInput):
    owner_agency: str = Field(examples=["taipei-city.social_welfare"])
    dataset: str = Field(examples=["welfare_status"])
    application_item: str = Field(examples=["public-housing-low-income"])
    legal_basis: str = Field(examples=["social-assistance-act"])
    requesting_agency: str | None = Field(
        default=None, description="Defaults to the caller's agency unless a kind is given."
    )
    requesting_agency_kind: str | None = None
    requesting_jurisdiction: str | None = None
    fields: list[str] = Field(default_factory=list)
    predicates: list[str] = Field(default_factory=list, examples=[["is_low_income_household"]])
    predicate_params: dict[
        Annotated[str, Field(max_length=60)],
        Annotated[
            dict[
                Annotated[str, Field(max_length=60)],
                Annotated[list[PredicateValue], Field(max_length=50)],
            ],
            Field(max_length=MAX_PARAMS),
        ],
    ] = Field(
        default_factory=dict,
        max_length=8,
        description=(
            "Predicate -> parameter -> the values a caller may choose among; a parameter not "
            "listed takes the catalog's statutory value for the item."
        ),
        examples=[{"household_income_below": {"threshold": [19013, 20379]}}],
    )
    purpose: str = ""
    consent_required: bool = False
    preview_required: bool = False
    valid_from: date | None = None
    valid_until: date | None = None


class RuleOut(BaseModel):
    id: int
    label: str
    status: Literal["pending", "approved", "rejected", "revoked"]
    owner_agency: str
    dataset: str
    application_item: str
    requester: str
    fields: list[str]
    predicates: list[str]
    predicate_params: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    legal_basis: str
    consent_required: bool
    preview_required: bool
    valid_from: date
    valid_until: date | None
    requested_by: str
    decided_by: str | None
    decision_reason: str | None
    revoked_by: str | None
    revoke_reason: str | None


class ReasonIn(ApiInput):
    reason: str = Field(default="", max_length=2000)


def _out(rule: service.RuleView) -> RuleOut:
    return RuleOut(
        id=rule.id,
        label=rule.label,
        status=rule.status,  # type: ignore[arg-type]
        owner_agency=rule.owner_agency,
        dataset=rule.dataset,
        application_item=rule.application_item,
        requester=rule.requester_label,
        fields=list(rule.fields),
        predicates=list(rule.predicates),
        predicate_params=rule.predicate_params,
        legal_basis=rule.legal_basis,
        consent_required=rule.consent_required,
        preview_required=rule.preview_required,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        requested_by=rule.requested_by,
        decided_by=rule.decided_by,
        decision_reason=rule.decision_reason,
        revoked_by=rule.revoked_by,
        revoke_reason=rule.revoke_reason,
    )


@router.get("", response_model=list[RuleOut], summary="Access rules the caller may see")
def list_rules(
    principal: Annotated[Principal, Depends(current_user)],
    db: Db,
    status: Annotated[str | None, Query()] = None,
    dataset: Annotated[str | None, Query()] = None,
    application_item: Annotated[str | None, Query()] = None,
) -> list[RuleOut]:
    """Owners see the rules on their datasets; clerks those their agency asked for; auditors
    and a tenant's administrators the rules of their tenant (owner or requester there); the
    platform's administrators every rule."""
    owner = principal.agency_code if principal.role == "owner" else None
    requester = principal.agency_code if principal.role == "clerk" else None
    rules = service.list_rules(
        db,
        owner_agency=owner,
        status=status,
        dataset=dataset,
        application_item=application_item,
    )
    if requester:
        kind = requester.split(".", 1)[-1]
        jurisdiction = requester.split(".", 1)[0]
        rules = [
            r
            for r in rules
            if r.requesting_agency == requester
            or (
                r.requesting_agency is None
                and r.requesting_agency_kind == kind
                and r.requesting_jurisdiction in (None, jurisdiction)
            )
        ]
    scope = scope_of(principal)
    return [_out(rule) for rule in rules if service.rule_in_scope(rule, scope)]


@router.post("", response_model=RuleOut, status_code=201, summary="Ask an owner for a rule")
def request_rule(
    body: RuleIn,
    principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))],
    db: Db,
    lang: Annotated[str, Depends(language)],
) -> RuleOut:
    request = service.RuleRequest(**body.model_dump())
    if not request.requesting_agency and not request.requesting_agency_kind:
        request.requesting_agency = principal.agency_code
    refused = service.check_filer(request, principal.role, principal.agency_code, lang)
    if refused:
        raise Problem(
            403,
            "not-your-agency",
            t("policy.error.filer_title", lang),
            "; ".join(f"{e.field}: {e.reason}" for e in refused),
            refused,
        )
    errors = service.check_rule_request(request, lang) + check_against_catalog(db, request, lang)
    if errors:
        raise validation_problem(errors, lang)
    rule = service.request_rule(db, request, principal.username, lang)
    service.audit_rule_event(db, principal, rule, "requested")
    return _out(rule)


def _decision_route(action: str):  # type: ignore[no-untyped-def]
    functions = {
        "approve": (service.approve_rule, "approved"),
        "reject": (service.reject_rule, "rejected"),
        "revoke": (service.revoke_rule, "revoked"),
    }
    function, event = functions[action]

    def route(
        rule_id: RowId,
        body: ReasonIn,
        principal: Annotated[Principal, Depends(require_roles("owner"))],
        db: Db,
        lang: Annotated[str, Depends(language)],
    ) -> RuleOut:
        rule = function(
            db, rule_id, principal.username, principal.agency_code, body.reason, lang=lang
        )
        service.audit_rule_event(db, principal, rule, event, body.reason)
        return _out(rule)

    route.__name__ = f"{action}_rule"
    route.__doc__ = f"The owning agency's data owner {action}s the rule."
    return route


for _action in ("approve", "reject", "revoke"):
    router.add_api_route(
        f"/{{rule_id}}/{_action}",
        _decision_route(_action),
        methods=["POST"],
        response_model=RuleOut,
        summary=f"{_action.capitalize()} a rule (owner only)",
    )


class AlertOut(BaseModel):
    id: int
    owner_agency: str
    subject: str
    dataset: str
    predicate: str
    distinct_params: int
    params_seen: list[dict[str, Any]]
    requesters: list[str]
    items: list[str]
    first_raised_at: datetime
    last_raised_at: datetime


@router.get(
    "/alerts",
    response_model=list[AlertOut],
    summary="Citizens asked about with varied predicate parameters (owner's auditors)",
)
def list_alerts(
    principal: Annotated[Principal, Depends(require_roles("auditor"))],
    db: Db,
) -> list[AlertOut]:
    """The alerts about the data owners of the auditor's jurisdiction: one citizen asked by
    one predicate with several different parameter sets, the shape of a search for the value
    behind the yes/no answer."""
    return [
        AlertOut(**dataclasses.asdict(alert))
        for alert in alerts.list_alerts(db, scope_of(principal))
    ]
