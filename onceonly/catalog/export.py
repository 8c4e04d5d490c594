"""Write the catalog in the database back to YAML, in the one canonical format of the repo.

The repository's files are themselves exporter output, so load-then-export gives the same
bytes: a reviewer sees an edit as a clean diff, and a database that drifted from git shows up.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.catalog import models as m
from onceonly.catalog.loader import (
    AGENCIES_FILE,
    DATASETS_DIR,
    ITEMS_FILE,
    JURISDICTIONS_FILE,
    LEGAL_BASES_FILE,
    SERVICES_FILE,
)
from onceonly.catalog.schema import (
    AgenciesFile,
    AgencySpec,
    ApplicationItemsFile,
    ApplicationItemSpec,
    CodeLabel,
    DatasetSpec,
    EvidenceSpec,
    FieldSpec,
    FormSpec,
    JurisdictionsFile,
    JurisdictionSpec,
    LegalBasesFile,
    LegalBasisSpec,
    NotDigitisedSpec,
    OwnerSpec,
    PredicateParamSpec,
    PredicateSpec,
    PredicateUse,
    ServicesFile,
    ServiceSpec,
)

ALWAYS_WRITTEN = frozenset(
    {"national_id_letter", "established_on", "merged_into", "merged_on", "article"}
)
"""Keys written even when null, because null there is a statement (no letter, not merged)."""


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key, which reads better in review."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name in type(value).model_fields:
            item = getattr(value, name)
            if name not in ALWAYS_WRITTEN and (item is None or item == [] or item == {}):
                continue
            out[name] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dump_yaml(model: BaseModel) -> str:
    """The canonical YAML text of one catalog file."""
    return yaml.dump(
        _plain(model),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=4096,
        default_flow_style=False,
    )


def _field_spec(row: m.DatasetField, items: list[FieldSpec]) -> FieldSpec:
    return FieldSpec(
        name=row.name,
        type=row.type,  # type: ignore[arg-type]
        label_zh=row.label_zh,
        label_en=row.label_en,
        personal=row.personal,
        required=row.required,
        code_list=[CodeLabel(**c) for c in row.code_list] if row.code_list else None,
        code_list_source=row.code_list_source,  # type: ignore[arg-type]
        items=items or None,
    )


def _param_value(kind: str, value: Any) -> Any:
    return date.fromisoformat(value) if kind == "date" and isinstance(value, str) else value


def catalog_models(session: Session) -> dict[str, BaseModel]:
    """Every catalog file as its Pydantic model, keyed by path relative to the catalog dir."""
    files: dict[str, BaseModel] = {}
    jurisdictions = session.scalars(select(m.Jurisdiction).order_by(m.Jurisdiction.position))
    files[JURISDICTIONS_FILE] = JurisdictionsFile(
        jurisdictions=[
            JurisdictionSpec(
                code=j.code,
                name_zh=j.name_zh,
                name_en=j.name_en,
                kind=j.kind,  # type: ignore[arg-type]
                national_id_letter=j.national_id_letter,
                established_on=j.established_on,
                merged_into=j.merged_into,
                merged_on=j.merged_on,
                districts=list(j.districts),
            )
            for j in jurisdictions
        ]
    )
    agencies = session.scalars(select(m.Agency).order_by(m.Agency.position))
    files[AGENCIES_FILE] = AgenciesFile(
        agencies=[
            AgencySpec(
                code=a.code,
                jurisdiction=a.jurisdiction,
                kind=a.kind,
                name_zh=a.name_zh,
                name_en=a.name_en,
            )
            for a in agencies
        ]
    )
    bases = session.scalars(select(m.LegalBasis).order_by(m.LegalBasis.position))
    files[LEGAL_BASES_FILE] = LegalBasesFile(
        legal_bases=[
            LegalBasisSpec(
                code=b.code,
                name_zh=b.name_zh,
                name_en=b.name_en,
                article=b.article,
                summary_zh=b.summary_zh,
            )
            for b in bases
        ]
    )
    param_types: dict[tuple[str, str], dict[str, str]] = {}
    for dataset in session.scalars(select(m.Dataset).order_by(m.Dataset.code)):
        fields = m.build_field_trees(
            session.scalars(select(m.DatasetField).where(m.DatasetField.dataset == dataset.code)),
            _field_spec,
        )
        predicates = list(
            session.scalars(
                select(m.Predicate)
                .where(m.Predicate.dataset == dataset.code)
                .order_by(m.Predicate.position)
            )
        )
        for p in predicates:
            param_types[(dataset.code, p.code)] = {q["name"]: q["type"] for q in p.params}
        digitised: bool | NotDigitisedSpec = dataset.digitised
        if dataset.not_digitised_in:
            digitised = NotDigitisedSpec(not_in=list(dataset.not_digitised_in))
        files[f"{DATASETS_DIR}/{dataset.code}.yaml"] = DatasetSpec(
            code=dataset.code,
            name_zh=dataset.name_zh,
            name_en=dataset.name_en,
            owner=OwnerSpec(owner_agency=dataset.owner_agency, owner_kind=dataset.owner_kind),
            owner_scope=dataset.owner_scope,  # type: ignore[arg-type]
            digitised=digitised,
            description_zh=dataset.description_zh,
            description_en=dataset.description_en,
            fields=fields.get(None, []),
            extensions={code: fields[code] for code in sorted(k for k in fields if k is not None)},
            predicates=[
                PredicateSpec(
                    code=p.code,
                    name_zh=p.name_zh,
                    name_en=p.name_en,
                    description_zh=p.description_zh,
                    params=[PredicateParamSpec.model_validate(q) for q in p.params],
                )
                for p in predicates
            ],
        )
    evidence: dict[str, list[m.RequiredEvidence]] = defaultdict(list)
    for row in session.scalars(select(m.RequiredEvidence).order_by(m.RequiredEvidence.position)):
        evidence[row.item].append(row)

    def evidence_spec(row: m.RequiredEvidence) -> EvidenceSpec:
        predicate = None
        if row.predicate is not None:
            types = param_types.get((row.dataset, row.predicate), {})
            params = {
                k: _param_value(types.get(k, ""), v)
                for k, v in (row.predicate_params or {}).items()
            }
            basis = row.predicate_basis or {}
            predicate = PredicateUse(
                code=row.predicate,
                params=params,
                year=basis.get("year"),
                source=basis.get("source"),
            )
        return EvidenceSpec(
            dataset=row.dataset,
            fields=list(row.fields) if row.fields is not None else None,
            predicate=predicate,
            legal_basis=row.legal_basis,
            paper_name_zh=row.paper_name_zh,
            paper_name_en=row.paper_name_en,
            purpose_zh=row.purpose_zh,
        )

    items = session.scalars(select(m.ApplicationItem).order_by(m.ApplicationItem.position))
    files[ITEMS_FILE] = ApplicationItemsFile(
        application_items=[
            ApplicationItemSpec(
                code=item.code,
                name_zh=item.name_zh,
                name_en=item.name_en,
                agency_kind=item.agency_kind,
                jurisdictions=list(item.jurisdictions) if item.jurisdictions is not None else None,
                source=item.source,
                legal_bases=list(item.legal_bases),
                required_evidence=[evidence_spec(e) for e in evidence[item.code]],
                time_limit_days=item.time_limit_days,
                time_limit_source=item.time_limit_source,
                time_limit_demo=item.time_limit_demo,
                form=FormSpec.model_validate(item.form) if item.form else None,
            )
            for item in items
        ]
    )
    services = list(session.scalars(select(m.Service).order_by(m.Service.position)))
    if services:
        files[SERVICES_FILE] = ServicesFile(services=[_service_spec(row) for row in services])
    return files


def _service_spec(row: m.Service) -> ServiceSpec:
    return ServiceSpec.model_validate(
        {
            "code": row.code,
            "group": row.group,
            "name_zh": row.name_zh,
            "name_en": row.name_en,
            "description_zh": row.description_zh,
            "description_en": row.description_en,
            "keywords": list(row.keywords),
            "type": row.type,
            "agency_kind": row.agency_kind,
            "jurisdictions": list(row.jurisdictions) if row.jurisdictions is not None else None,
            "expected_days": row.expected_days,
            "answer_zh": row.answer_zh,
            "answer_en": row.answer_en,
            "attributes": row.attributes,
            "extensions": row.extensions,
        }
    )


def export_catalog(session: Session, directory: Path) -> list[Path]:
    """Write every catalog file under ``directory``; returns the paths written."""
    written = []
    for relative, model in catalog_models(session).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(model), encoding="utf-8")
        written.append(path)
    return written
