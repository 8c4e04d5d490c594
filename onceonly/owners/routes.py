"""``/owners/rules``: the data owner's rules page. Pending requests are approved or rejected
(a rejection needs a reason), approved rules revoked (with a reason), and each rule shows how
it has been used. Each rule shows every term an approval makes active, in words, and a
request that widens access unusually is warned of next to its approve button
(``onceonly/owners/terms.py``). Every decision goes through the policy service and is
audited as the access rules API does it, so the very next evidence request sees it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onceonly.accounts.deps import Principal, require_roles
from onceonly.accounts.tenancy import scope_of
from onceonly.catalog import service as catalog
from onceonly.counter.evidence import agency_name
from onceonly.counter.routes import FORM_PROBLEMS, page
from onceonly.db import transaction, utcnow
from onceonly.domain.national_id import mask_national_id
from onceonly.errors import Problem, not_found
from onceonly.i18n import t
from onceonly.owners.terms import rule_terms
from onceonly.owners.usage import rule_usage
from onceonly.policy import alerts
from onceonly.policy import service as policy
from onceonly.web.deps import done_code, get_session_factory, language
from onceonly.web.params import RowId

router = APIRouter(include_in_schema=False)

Owner = Annotated[Principal, Depends(require_roles("owner"))]
Auditor = Annotated[Principal, Depends(require_roles("auditor"))]
Lang = Annotated[str, Depends(language)]

ACTIONS = {
    "approve": (policy.approve_rule, "approved"),
    "reject": (policy.reject_rule, "rejected"),
    "revoke": (policy.revoke_rule, "revoked"),
}
GROUPS = ("pending", "approved", "rejected", "revoked")


def _rules_page(
    request: Request,
    user: Principal,
    lang: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with get_session_factory(request)() as db:
        rules = policy.list_rules(db, owner_agency=user.agency_code)
        groups: dict[str, list[policy.RuleView]] = {g: [] for g in GROUPS}
        for rule in reversed(rules):
            groups.setdefault(rule.status, []).append(rule)
        usage = rule_usage(db, user.agency_code, [(r.id, r.dataset) for r in rules])
        items = {i.code: i for i in catalog.search_application_items(db, "")}
        datasets = {d.code: d for d in catalog.list_datasets(db)}
        bases = {
            code: (basis.citation_en if lang == "en" else basis.citation_zh)
            for code in {r.legal_basis for r in rules}
            if (basis := catalog.get_legal_basis(db, code)) is not None
        }

        def requester(rule: policy.RuleView) -> str:
            if rule.requesting_agency:
                return agency_name(db, rule.requesting_agency, lang)
            if rule.requesting_jurisdiction and rule.requesting_agency_kind:
                code = f"{rule.requesting_jurisdiction}.{rule.requesting_agency_kind}"
                name = agency_name(db, code, lang)
                if name != code:
                    return name
            return rule.requester_label

        def item_name(code: str) -> str:
            item = items.get(code)
            return (item.name_en if lang == "en" else item.name_zh) if item else code

        def named(code: str) -> str:
            place = catalog.get_jurisdiction(db, code)
            if place is not None:
                return place.name_en if lang == "en" else place.name_zh
            return agency_name(db, code, lang)

        today = policy.taipei_day(utcnow())  # as the policy judges a rule in force
        terms = {
            r.id: rule_terms(
                r, datasets.get(r.dataset), items.get(r.application_item), lang, today, named
            )
            for r in rules
        }

        return page(
            request,
            "owners/rules.html",
            status,
            agency_label=agency_name(db, user.agency_code, lang),
            groups=groups,
            usage=usage,
            requester=requester,
            item_name=item_name,
            dataset_name=lambda code: (
                (datasets[code].name_en if lang == "en" else datasets[code].name_zh)
                if code in datasets
                else code
            ),
            agency_name=lambda code: agency_name(db, code, lang),
            terms=terms,
            basis=lambda code: bases.get(code, code),
            errors=errors or {},
            form=form or {},
            done=done_code(request, "owners.done"),
        )


@router.get("/owners/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: Owner, lang: Lang) -> HTMLResponse:
    return _rules_page(request, user, lang)


@router.post("/owners/rules/{rule_id}/{action}")
def decide_rule(
    request: Request,
    rule_id: RowId,
    action: str,
    user: Owner,
    lang: Lang,
    reason: Annotated[str, Form()] = "",
) -> Response:
    if action not in ACTIONS:
        raise not_found(t("owners.unknown_action", lang, action=action), lang)
    function, event = ACTIONS[action]
    try:
        with transaction(get_session_factory(request)) as db:
            rule = function(db, rule_id, user.username, user.agency_code, reason, lang=lang)
            policy.audit_rule_event(db, user, rule, event, reason)
    except Problem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        key = f"{action}-{rule_id}"
        errors = {f"{key}.{e.field}": e.reason for e in problem.errors} or {
            key: problem.detail or problem.title
        }
        return _rules_page(
            request,
            user,
            lang,
            errors=errors,
            form={f"{key}.reason": reason},
            status=problem.status,
        )
    return RedirectResponse(f"/owners/rules?done={event}#rule-{rule_id}", status_code=303)


@router.get("/owners/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: Auditor, lang: Lang) -> HTMLResponse:
    """The owners' auditors' queue: citizens asked about with varied predicate parameters,
    for the owners of the auditor's jurisdiction only."""
    with get_session_factory(request)() as db:
        return page(
            request,
            "owners/alerts.html",
            alerts=alerts.list_alerts(db, scope_of(user)),
            agency_name=lambda code: agency_name(db, code, lang),
            masked=mask_national_id,
        )
