"""Demo access rules: what each owning agency has approved for the demo jurisdictions.

Rules are made the way a real agency would make them: the requesting agency asks
(``request_rule``), the owner approves (``approve_rule``). Some combinations are left without
a rule on purpose so the demo shows refusals with their reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.policy.service import RuleRequest, approve_rule, list_rules, request_rule
from onceonly.providers.registry import ProviderDirectory

CONSENT_REQUIRED_ITEMS = frozenset({"job-seeking-transport-allowance"})
"""Items whose rules ask for the citizen's consent first (shown in the citizen portal)."""

PREVIEW_REQUIRED = frozenset({("job-seeking-transport-allowance", "welfare_status")})
"""(item, dataset) pairs whose evidence the citizen sees and approves before the clerk gets it:
whether one is a low-income household is the owner's most sensitive answer in the demo."""


FAMILY_DATASETS = frozenset({"kinship"})
"""Datasets also asked about the subject's relatives, who may live anywhere: every owner of
them connected to the node approves the rule, not only the requester's own city's."""


def seed_demo_rules(
    session: Session, jurisdictions: Sequence[str], providers: ProviderDirectory
) -> int:
    """Approve, for every item offered in ``jurisdictions``, the evidence it requires from each
    owner; returns how many rules were made (0 when they exist already).

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
