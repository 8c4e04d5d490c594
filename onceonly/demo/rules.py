"""Demo access rules: what each owning agency has approved for the demo jurisdictions.

Rules are made the way a real agency would make them: the requesting agency asks
(``request_rule``), the owner approves (``approve_rule``). Some combinations are left without
a rule on purpose so the demo shows refusals with their reasons. One request is left pending
(:func:`seed_pending_request`), so an owner signing in finds one to decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from onceonly.accounts.users import get_user
from onceonly.catalog import service as catalog
from onceonly.db import utcnow
from onceonly.policy.catalog_checks import check_against_catalog
from onceonly.policy.service import (
    RuleRequest,
    RuleView,
    approve_rule,
    check_filer,
    check_rule_request,
    list_rules,
    request_rule,
)
from onceonly.providers.registry import ProviderDirectory

CONSENT_REQUIRED_ITEMS = frozenset({"job-seeking-transport-allowance"})
"""Items whose rules ask for the citizen's consent first (shown in the citizen portal)."""

PREVIEW_REQUIRED = frozenset({("job-seeking-transport-allowance", "welfare_status")})
"""(item, dataset) pairs whose evidence the citizen sees and approves before the clerk gets it:
whether one is a low-income household is the owner's most sensitive answer in the demo."""


FAMILY_DATASETS = frozenset({"kinship"})
"""Datasets also asked about the subject's relatives, who may live anywhere: every owner of
them connected to the node approves the rule, not only the requester's own city's."""

PENDING_OWNER = "taipei-city.social_welfare"
"""Whose rules page shows the demo's pending request: 臺北市政府社會局 (``tpe-social-owner``)."""
PENDING_REQUESTER = "tpe-labour-clerk"
"""The account that files it, for its agency (臺北市政府勞動局)."""
PENDING_ITEM = "temporary-work-allowance"
PENDING_DATASET = "welfare_status"
PENDING_EXTRA_FIELDS = ("low_income_status", "low_income_valid_until")
"""Asked for besides the yes/no question the item needs: more than the item needs, warned of."""
PENDING_YEARS = 10
"""Asked for to the end of the tenth year from the filing day: longer than the five years
the owner's page lets pass unwarned (``onceonly.owners.terms.LONG_VALIDITY_YEARS``)."""
PENDING_PURPOSE = (
    "臨時工作津貼：確認申請人為低收入戶；另請提供低收入身分及其有效期限，"
    "以便於身分到期前主動通知申請人複查（本局十年期弱勢者就業促進方案）。"
)


def seed_demo_rules(
    session: Session, jurisdictions: Sequence[str], providers: ProviderDirectory
) -> int:
    """Approve, for every item offered in ``jurisdictions``, the evidence it requires from each
    owner; returns how many rules were made (0 when any rule exists already: seed these
    before :func:`seed_pending_request`).

    Land and building records are searched at every land office connected to this node, so
    those rules are approved by each of them."""
    if list_rules(session):
        return 0
    made = 0
    datasets: dict[str, catalog.DatasetView | None] = {}
    with session.no_autoflush:
        for jurisdiction in jurisdictions:
            for item in catalog.search_application_items(session, "", jurisdiction=jurisdiction):
                for requirement in item.required_evidence:
                    if requirement.dataset not in datasets:
                        datasets[requirement.dataset] = catalog.get_dataset(
                            session, requirement.dataset
                        )
                    dataset = datasets[requirement.dataset]
                    if dataset is None:
                        continue
                    for owner in _owners(session, dataset, jurisdiction, providers):
                        rule = request_rule(
                            session,
                            RuleRequest(
                                owner_agency=owner,
                                dataset=requirement.dataset,
                                application_item=item.code,
                                legal_basis=requirement.legal_basis,
                                requesting_agency_kind=item.agency_kind,
                                requesting_jurisdiction=jurisdiction,
                                fields=list(requirement.fields or ()),
                                predicates=[requirement.predicate] if requirement.predicate else [],
                                purpose=requirement.purpose_zh or item.name_zh,
                                consent_required=item.code in CONSENT_REQUIRED_ITEMS,
                                preview_required=(item.code, requirement.dataset)
                                in PREVIEW_REQUIRED,
                            ),
                            requested_by=f"demo:{jurisdiction}.{item.agency_kind}",
                        )
                        approve_rule(session, rule.id, f"demo:{owner}.owner", owner, "demo")
                        made += 1
    return made


def _owners(
    session: Session,
    dataset: catalog.DatasetView,
    jurisdiction: str,
    providers: ProviderDirectory,
) -> list[str]:
    if dataset.owner_scope == "central":
        return [dataset.owner_agency] if dataset.owner_agency else []
    if dataset.owner_scope == "residence" and dataset.code not in FAMILY_DATASETS:
        return [catalog.owner_agency_for(session, dataset.code, jurisdiction)]
    return providers.owners_of(dataset.code)


def seed_pending_request(session: Session) -> RuleView | None:
    """The demo's one pending rule request, so an owner signing in sees an approval with its
    warnings without setting one up: 臺北市政府勞動局 asks 臺北市政府社會局, for 臨時工作津貼,
    for the low-income status and its expiry date besides the yes/no question the item needs,
    until the end of the tenth year from the filing day. The owner's page warns of both
    (fields beyond the item, a validity longer than five years) beside the approve button.

    Filed as ``POST /api/v1/access-rules`` files one for ``tpe-labour-clerk``: by that
    account, checked as for it (:func:`check_filer`) and against the catalog, recorded by
    :func:`request_rule`; like the demo's other rules, it writes no audit entry. Filed once:
    the request while it waits, ``None`` once the owner has decided it (a second run files no
    other), and ``None`` when the demo has no such account (other jurisdictions)."""
    clerk = get_user(session, PENDING_REQUESTER)
    if clerk is None:
        return None
    filed = list_rules(
        session,
        owner_agency=PENDING_OWNER,
        requesting_agency=clerk.agency_code,
        dataset=PENDING_DATASET,
        application_item=PENDING_ITEM,
    )
    if filed:
        return next((rule for rule in filed if rule.status == "pending"), None)
    item = catalog.get_application_item(session, PENDING_ITEM)
    needed = next(
        (e for e in (item.required_evidence if item else ()) if e.dataset == PENDING_DATASET),
        None,
    )
    if needed is None:
        raise RuntimeError(f"the catalog's {PENDING_ITEM} no longer asks for {PENDING_DATASET}")
    today = utcnow().date()  # the filing day, as request_rule dates the request
    request = RuleRequest(
        owner_agency=PENDING_OWNER,
        dataset=PENDING_DATASET,
        application_item=PENDING_ITEM,
        legal_basis=needed.legal_basis,
        requesting_agency=clerk.agency_code,
        fields=[*needed.fields, *PENDING_EXTRA_FIELDS],
        predicates=[needed.predicate] if needed.predicate else [],
        purpose=PENDING_PURPOSE,
        valid_until=date(today.year + PENDING_YEARS, 12, 31),
    )
    errors = (
        check_filer(request, clerk.role, clerk.agency_code)
        + check_rule_request(request)
        + check_against_catalog(session, request)
    )
    if errors:
        raise RuntimeError(
            "the demo's rule request is refused: "
            + "; ".join(f"{e.field}: {e.reason}" for e in errors)
        )
    return request_rule(session, request, clerk.username)
