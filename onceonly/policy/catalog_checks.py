"""Checks of a rule request against the catalog: the names it uses must exist, and the owner
named must be the agency that owns the dataset."""

from __future__ import annotations

from sqlalchemy.orm import Session

from onceonly.catalog import service as catalog
from onceonly.errors import FieldError
from onceonly.i18n import t
from onceonly.policy.predicates import normalise_value
from onceonly.policy.service import RuleRequest


def check_against_catalog(
    session: Session, request: RuleRequest, lang: str | None = None
) -> list[FieldError]:
    errors: list[FieldError] = []
    dataset = catalog.get_dataset(session, request.dataset)
    if dataset is None:
        errors.append(FieldError("dataset", t("policy.error.unknown_dataset", lang), "unknown"))
    else:
        for name in request.fields:
            if dataset.field(name) is None:
                errors.append(
                    FieldError(
                        "fields",
                        t("policy.error.unknown_field", lang, dataset=dataset.code, field=name),
                        "unknown",
                    )
                )
        for code in request.predicates:
            if dataset.predicate(code) is None:
                errors.append(
                    FieldError(
                        "predicates",
                        t(
                            "policy.error.unknown_predicate",
                            lang,
                            dataset=dataset.code,
                            predicate=code,
                        ),
                        "unknown",
                    )
                )
        errors += _param_choices(dataset, request, lang)
        owner = catalog.get_agency(session, request.owner_agency)
        owns = owner is not None and (
            request.owner_agency == dataset.owner_agency or owner.kind == dataset.owner_kind
        )
        if not owns:
            errors.append(
                FieldError(
                    "owner_agency",
                    t(
                        "policy.error.not_dataset_owner",
                        lang,
                        agency=request.owner_agency,
                        dataset=dataset.code,
                    ),
                    "not_owner",
                )
            )
    if catalog.get_application_item(session, request.application_item) is None:
        errors.append(
            FieldError("application_item", t("policy.error.unknown_item", lang), "unknown")
        )
    if catalog.get_legal_basis(session, request.legal_basis) is None:
        errors.append(
            FieldError("legal_basis", t("policy.error.unknown_legal_basis", lang), "unknown")
        )
    if request.requesting_agency and catalog.get_agency(session, request.requesting_agency) is None:
        errors.append(
            FieldError("requesting_agency", t("policy.error.unknown_agency", lang), "unknown")
        )
    return errors


def _param_choices(
    dataset: catalog.DatasetView, request: RuleRequest, lang: str | None
) -> list[FieldError]:
    """The values a rule lets a caller choose must be of a predicate the rule allows, for a
    parameter the catalog declares, of its type (a finite number for a threshold)."""
    reasons: list[str] = []
    for code, params in request.predicate_params.items():
        predicate = dataset.predicate(code)
        if predicate is None or code not in request.predicates:
            reasons.append(t("policy.error.choices_predicate", lang, predicate=code))
            continue
        declared = {p.name: p.type for p in predicate.params}
        for name, values in params.items():
            if name not in declared:
                reasons.append(t("policy.error.choices_param", lang, predicate=code, param=name))
                continue
            if not values:
                reasons.append(t("policy.error.choices_empty", lang, param=name))
            for value in values:
                _, problem = normalise_value(declared[name], value)
                if problem is not None:
                    why = t(problem, lang, type=declared[name])
                    reasons.append(f"{code}.{name}: {value!r} - {why}")
    return [FieldError("predicate_params", "; ".join(reasons), "invalid")] if reasons else []
