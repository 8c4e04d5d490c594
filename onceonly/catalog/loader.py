"""Read, check and load the catalog YAML set into the database.

Every error in the whole set is collected before anything is written, so a reviewer sees the
full list at once; the load then replaces the catalog in one transaction, so a crash part-way
leaves the previous catalog exactly as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from onceonly.catalog import models as m
from onceonly.catalog.schema import (
    CURRENT_KINDS,
    FORMER_KINDS,
    LOCAL_AGENCY_KINDS,
    AgenciesFile,
    ApplicationItemsFile,
    DatasetSpec,
    EvidenceSpec,
    FieldSpec,
    JurisdictionsFile,
    LegalBasesFile,
    NotDigitisedSpec,
    PredicateUse,
    ServicesFile,
    ServiceSpec,
    find_field,
)
from onceonly.db import utcnow
from onceonly.i18n import t

DATA_DIR = Path(__file__).parent / "data"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
JURISDICTIONS_FILE = "jurisdictions.yaml"
AGENCIES_FILE = "agencies.yaml"
LEGAL_BASES_FILE = "legal_bases.yaml"
ITEMS_FILE = "application_items.yaml"
SERVICES_FILE = "services.yaml"
"""Optional: a catalog set without it offers no Open311 service types."""
DATASETS_DIR = "datasets"


@dataclass(frozen=True)
class CatalogError:
    """One problem in the YAML set: which file, where in it, and why (English and Chinese)."""

    file: str
    path: str
    reason: str
    reason_zh: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.reason}"


class CatalogInvalid(Exception):
    """The YAML set has errors; nothing was written."""

    def __init__(self, errors: Sequence[CatalogError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class CatalogSummary:
    sha256: str
    loaded_at: datetime
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ParsedCatalog:
    """The YAML set as validated models; ``datasets`` keeps each dataset's file name."""

    jurisdictions: JurisdictionsFile
    agencies: AgenciesFile
    legal_bases: LegalBasesFile
    datasets: list[tuple[str, DatasetSpec]]
    items: ApplicationItemsFile
    services: ServicesFile | None = None


def _error(file: str, path: str, key: str, **params: Any) -> CatalogError:
    return CatalogError(file, path, t(key, "en", **params), t(key, "zh-TW", **params))


def catalog_files(directory: Path) -> list[Path]:
    """The YAML files making up a catalog set, in a stable order."""
    top = [directory / name for name in (JURISDICTIONS_FILE, AGENCIES_FILE, LEGAL_BASES_FILE)]
    datasets = sorted((directory / DATASETS_DIR).glob("*.yaml"))
    services = [directory / SERVICES_FILE] if (directory / SERVICES_FILE).exists() else []
    return [*top, *datasets, directory / ITEMS_FILE, *services]


def catalog_sha256(directory: Path) -> str:
    """Fingerprint of the set: file names and bytes, so any edit gives a new version."""
    digest = hashlib.sha256()
    for path in catalog_files(directory):
        if path.exists():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- parsing ---------------------------------------------------------------------------------

_EXPECTED = {
    "string": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "date": "date",
    "list": "list",
    "dict": "mapping",
    "model": "mapping",
}


def _doc_path(raw: Any, loc: tuple[int | str, ...], missing: bool) -> str:
    """The error's location as it reads in the file: union tags that Pydantic adds to
    ``loc`` are not keys of the document and are dropped."""
    parts: list[str] = []
    node = raw
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            parts.append(f"[{part}]")
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            parts.append(("." if parts else "") + part)
            node = node[part]
        elif missing and last and isinstance(part, str):
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(file)"


def _pydantic_error(file: str, raw: Any, error: Any) -> CatalogError:
    kind: str = error["type"]
    loc = tuple(error["loc"])
    path = _doc_path(raw, loc, missing=kind == "missing")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        if loc and loc[-1] == "legal_basis":
            return _error(file, path, "catalog.error.missing_legal_basis")
        return _error(file, path, "catalog.error.missing")
    if kind == "extra_forbidden":
        return _error(file, path, "catalog.error.unknown_key")
    if kind == "catalog_rule":
        params = {k: v for k, v in ctx.items() if k != "key"}
        return _error(file, path, ctx["key"], **params)
    if kind == "literal_error":
        return _error(file, path, "catalog.error.not_allowed", allowed=ctx.get("expected", ""))
    if kind == "string_pattern_mismatch":
        return _error(file, path, "catalog.error.bad_format", pattern=ctx.get("pattern", ""))
    if kind in ("too_short", "string_too_short"):
        return _error(file, path, "catalog.error.empty")
    prefix = kind.split("_")[0]
    if prefix in _EXPECTED and (kind.endswith("_type") or kind.endswith("_parsing")):
        expected = _EXPECTED[prefix]
        return _error(
            file,
            path,
            "catalog.error.bad_type",
            expected=expected,
            got=type(error["input"]).__name__,
        )
    return CatalogError(
        file, path, str(error["msg"]), t("catalog.error.invalid", "zh-TW", msg=error["msg"])
    )


def _parse(
    directory: Path, relative: str, model: type[BaseModel], errors: list[CatalogError]
) -> Any:
    path = directory / relative
    if not path.exists():
        errors.append(_error(relative, "(file)", "catalog.error.file_missing"))
        return None
    try:
        raw = yaml.load(path.read_text("utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(_error(relative, where, "catalog.error.yaml", problem=problem))
        return None
    except UnicodeDecodeError:
        errors.append(_error(relative, "(file)", "catalog.error.encoding"))
        return None
    if raw is None:
        errors.append(_error(relative, "(file)", "catalog.error.empty_file"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        seen: set[tuple[str, str]] = set()
        for item in exc.errors():
            error = _pydantic_error(relative, raw, item)
            if (error.path, error.reason) not in seen:
                seen.add((error.path, error.reason))
                errors.append(error)
        return None


def read_catalog(directory: Path) -> tuple[ParsedCatalog | None, list[CatalogError]]:
    """Parse and cross-check the whole set; the catalog is returned only when error-free."""
    errors: list[CatalogError] = []
    if directory.is_file():
        wanted = f"{JURISDICTIONS_FILE}, {AGENCIES_FILE}, {DATASETS_DIR}/, {ITEMS_FILE}"
        return None, [_error(str(directory), "(directory)", "catalog.error.a_file", wanted=wanted)]
    if not directory.is_dir():
        return None, [_error(str(directory), "(directory)", "catalog.error.no_directory")]
    jurisdictions = _parse(directory, JURISDICTIONS_FILE, JurisdictionsFile, errors)
    agencies = _parse(directory, AGENCIES_FILE, AgenciesFile, errors)
    legal_bases = _parse(directory, LEGAL_BASES_FILE, LegalBasesFile, errors)
    datasets: list[tuple[str, DatasetSpec]] = []
    for path in sorted((directory / DATASETS_DIR).glob("*.yaml")):
        relative = f"{DATASETS_DIR}/{path.name}"
        spec = _parse(directory, relative, DatasetSpec, errors)
        if spec is not None:
            datasets.append((relative, spec))
    items = _parse(directory, ITEMS_FILE, ApplicationItemsFile, errors)
    services = None
    if (directory / SERVICES_FILE).exists():
        services = _parse(directory, SERVICES_FILE, ServicesFile, errors)
    parsed_ok = not errors
    if jurisdictions and agencies and legal_bases and items:
        catalog = ParsedCatalog(jurisdictions, agencies, legal_bases, datasets, items, services)
        errors.extend(_Checker(catalog).run())
        if parsed_ok and not errors:
            return catalog, []
    return None, errors


def validate_catalog(directory: Path | None = None) -> list[CatalogError]:
    """Every error of the YAML set in ``directory`` (default: the packaged catalog); no database."""
    return read_catalog(directory or DATA_DIR)[1]


# --- cross-file checks -----------------------------------------------------------------------


def _duplicates(
    file: str, prefix: str, codes: Iterable[str], attribute: str = "code"
) -> list[CatalogError]:
    first: dict[str, int] = {}
    errors = []
    for index, code in enumerate(codes):
        if code in first:
            errors.append(
                _error(
                    file,
                    f"{prefix}[{index}]" + (f".{attribute}" if attribute else ""),
                    "catalog.error.duplicate",
                    code=code,
                    first=f"{prefix}[{first[code]}]",
                )
            )
        else:
            first[code] = index
    return errors


class _Checker:
    """Cross-references across the set; each check appends to ``errors``."""

    def __init__(self, catalog: ParsedCatalog) -> None:
        self.catalog = catalog
        self.errors: list[CatalogError] = []
        self.jurisdictions = {j.code: j for j in catalog.jurisdictions.jurisdictions}
        self.agencies = {a.code: a for a in catalog.agencies.agencies}
        self.legal_bases = {b.code for b in catalog.legal_bases.legal_bases}
        self.datasets = {spec.code: spec for _, spec in catalog.datasets}
        self.kinds_by_jurisdiction: dict[str, set[str]] = {}
        for agency in catalog.agencies.agencies:
            self.kinds_by_jurisdiction.setdefault(agency.jurisdiction, set()).add(agency.kind)

    def run(self) -> list[CatalogError]:
        self._jurisdictions()
        self._agencies()
        self.errors += _duplicates(
            LEGAL_BASES_FILE, "legal_bases", (b.code for b in self.catalog.legal_bases.legal_bases)
        )
        for file, dataset in self.catalog.datasets:
            self._dataset(file, dataset)
        self._evidence_types()
        self._items()
        self._services()
        return self.errors

    def _add(self, file: str, path: str, key: str, **params: Any) -> None:
        self.errors.append(_error(file, path, key, **params))

    def _current_local(self) -> list[str]:
        return [
            j.code
            for j in self.catalog.jurisdictions.jurisdictions
            if j.kind in CURRENT_KINDS and j.kind != "central"
        ]

    def _jurisdictions(self) -> None:
        file = JURISDICTIONS_FILE
        entries = self.catalog.jurisdictions.jurisdictions
        self.errors += _duplicates(file, "jurisdictions", (j.code for j in entries))
        for i, j in enumerate(entries):
            path = f"jurisdictions[{i}]"
            if j.kind in FORMER_KINDS:
                if j.merged_into is None:
                    self._add(file, f"{path}.merged_into", "catalog.error.former_needs_successor")
                if j.merged_on is None:
                    self._add(file, f"{path}.merged_on", "catalog.error.former_needs_date")
            elif j.merged_into is not None or j.merged_on is not None:
                self._add(file, f"{path}.merged_into", "catalog.error.current_not_merged")
            if j.merged_into is not None:
                target = self.jurisdictions.get(j.merged_into)
                if target is None:
                    self._add(
                        file, f"{path}.merged_into", "catalog.error.unknown_jurisdiction",
                        code=j.merged_into,
                    )  # fmt: skip
                elif self._lineage_loops(j.code):
                    self._add(file, f"{path}.merged_into", "catalog.error.lineage_loop")
            if j.established_on and j.merged_on and j.merged_on < j.established_on:
                self._add(file, f"{path}.merged_on", "catalog.error.merged_before_established")
            self.errors += _duplicates(file, f"{path}.districts", j.districts, attribute="")

    def _lineage_loops(self, code: str) -> bool:
        seen = {code}
        current = self.jurisdictions[code].merged_into
        while current is not None and current in self.jurisdictions:
            if current in seen:
                return True
            seen.add(current)
            current = self.jurisdictions[current].merged_into
        return False

    def _agencies(self) -> None:
        file = AGENCIES_FILE
        entries = self.catalog.agencies.agencies
        self.errors += _duplicates(file, "agencies", (a.code for a in entries))
        # Two codes for one body: people choosing an agency (where to relay a case) would
        # see the same name twice and not know which is meant (臺南市政府財政稅務局 is Tainan's
        # finance bureau and tax office in one, so it is the tax_office entry only).
        for attribute in ("name_zh", "name_en"):
            named: dict[tuple[str, str], str] = {}
            for i, agency in enumerate(entries):
                key = (agency.jurisdiction, getattr(agency, attribute))
                if key in named:
                    self._add(
                        file, f"agencies[{i}].{attribute}", "catalog.error.duplicate_agency_name",
                        name=key[1], first=named[key],
                    )  # fmt: skip
                else:
                    named[key] = agency.code
        for i, agency in enumerate(entries):
            path = f"agencies[{i}]"
            jurisdiction = self.jurisdictions.get(agency.jurisdiction)
            if jurisdiction is None:
                self._add(
                    file, f"{path}.jurisdiction", "catalog.error.unknown_jurisdiction",
                    code=agency.jurisdiction,
                )  # fmt: skip
                continue
            if jurisdiction.kind in FORMER_KINDS:
                self._add(file, f"{path}.jurisdiction", "catalog.error.agency_in_former")
            expected = f"{agency.jurisdiction}.{agency.kind}"
            if agency.code != expected:
                self._add(file, f"{path}.code", "catalog.error.agency_code", expected=expected)
            if jurisdiction.kind != "central" and agency.kind not in LOCAL_AGENCY_KINDS:
                self._add(
                    file, f"{path}.kind", "catalog.error.not_allowed",
                    allowed=", ".join(LOCAL_AGENCY_KINDS),
                )  # fmt: skip

    def _fields(
        self, file: str, path: str, fields: Sequence[FieldSpec], reserved: Iterable[str] = ()
    ) -> None:
        self.errors += _duplicates(file, path, (f.name for f in fields), attribute="name")
        taken = set(reserved)
        for i, spec in enumerate(fields):
            if spec.name in taken:
                self._add(
                    file, f"{path}[{i}].name", "catalog.error.extension_clash", name=spec.name
                )
            if spec.code_list:
                self.errors += _duplicates(
                    file, f"{path}[{i}].code_list", (c.code for c in spec.code_list)
                )
            if spec.items:
                self._fields(file, f"{path}[{i}].items", spec.items)

    def _dataset(self, file: str, dataset: DatasetSpec) -> None:
        stem = file.rsplit("/", 1)[-1].removesuffix(".yaml")
        if dataset.code != stem:
            self._add(file, "code", "catalog.error.dataset_file_name", stem=stem)
        owner = dataset.owner
        if owner.owner_agency is not None and owner.owner_agency not in self.agencies:
            self._add(
                file, "owner.owner_agency", "catalog.error.unknown_agency", code=owner.owner_agency
            )
        if owner.owner_kind is not None:
            if owner.owner_kind not in LOCAL_AGENCY_KINDS:
                self._add(
                    file, "owner.owner_kind", "catalog.error.not_allowed",
                    allowed=", ".join(LOCAL_AGENCY_KINDS),
                )  # fmt: skip
            else:
                for code in self._current_local():
                    if owner.owner_kind not in self.kinds_by_jurisdiction.get(code, set()):
                        self._add(
                            file, "owner.owner_kind", "catalog.error.kind_missing_in",
                            kind=owner.owner_kind, jurisdiction=code,
                        )  # fmt: skip
        if isinstance(dataset.digitised, NotDigitisedSpec):
            for i, code in enumerate(dataset.digitised.not_in):
                if code not in self.jurisdictions:
                    self._add(
                        file, f"digitised.not_in[{i}]", "catalog.error.unknown_jurisdiction",
                        code=code,
                    )  # fmt: skip
        self._fields(file, "fields", dataset.fields)
        core = {f.name for f in dataset.fields}
        for code, extra in dataset.extensions.items():
            jurisdiction = self.jurisdictions.get(code)
            if jurisdiction is None or jurisdiction.kind in FORMER_KINDS:
                self._add(
                    file, f"extensions.{code}", "catalog.error.unknown_jurisdiction", code=code
                )
            self._fields(file, f"extensions.{code}", extra, reserved=core)
        self.errors += _duplicates(file, "predicates", (p.code for p in dataset.predicates))
        for i, predicate in enumerate(dataset.predicates):
            self.errors += _duplicates(
                file, f"predicates[{i}].params", (p.name for p in predicate.params), "name"
            )

    def _evidence_types(self) -> None:
        """A predicate code names its dataset on its own (an evidence type), so it must be
        unique across datasets and differ from every dataset code."""
        owner: dict[str, str] = {code: code for code in self.datasets}
        for file, dataset in self.catalog.datasets:
            for i, predicate in enumerate(dataset.predicates):
                first = owner.setdefault(predicate.code, dataset.code)
                if first != dataset.code:
                    self._add(
                        file, f"predicates[{i}].code", "catalog.error.duplicate",
                        code=predicate.code, first=f"datasets/{first}.yaml",
                    )  # fmt: skip

    def _items(self) -> None:
        file = ITEMS_FILE
        entries = self.catalog.items.application_items
        self.errors += _duplicates(file, "application_items", (item.code for item in entries))
        all_kinds = {a.kind for a in self.catalog.agencies.agencies}
        for i, item in enumerate(entries):
            path = f"application_items[{i}]"
            if item.agency_kind not in all_kinds:
                self._add(
                    file, f"{path}.agency_kind", "catalog.error.unknown_agency_kind",
                    kind=item.agency_kind,
                )  # fmt: skip
            for k, code in enumerate(item.jurisdictions or []):
                where = f"{path}.jurisdictions[{k}]"
                if code not in self.jurisdictions:
                    self._add(file, where, "catalog.error.unknown_jurisdiction", code=code)
                elif item.agency_kind not in self.kinds_by_jurisdiction.get(code, set()):
                    self._add(
                        file, where, "catalog.error.kind_missing_in",
                        kind=item.agency_kind, jurisdiction=code,
                    )  # fmt: skip
            for k, code in enumerate(item.legal_bases):
                if code not in self.legal_bases:
                    self._add(
                        file, f"{path}.legal_bases[{k}]", "catalog.error.unknown_legal_basis",
                        code=code,
                    )  # fmt: skip
            seen: set[str] = set()
            for k, evidence in enumerate(item.required_evidence):
                where = f"{path}.required_evidence[{k}]"
                self._evidence(file, where, evidence)
                evidence_type = evidence.predicate.code if evidence.predicate else evidence.dataset
                if evidence_type in seen:
                    self._add(file, where, "catalog.error.duplicate_evidence", code=evidence_type)
                seen.add(evidence_type)

    def _services(self) -> None:
        file = SERVICES_FILE
        entries = self.catalog.services.services if self.catalog.services else []
        self.errors += _duplicates(file, "services", (s.code for s in entries))
        all_kinds = {a.kind for a in self.catalog.agencies.agencies}
        for i, service in enumerate(entries):
            path = f"services[{i}]"
            if service.agency_kind not in all_kinds:
                self._add(
                    file, f"{path}.agency_kind", "catalog.error.unknown_agency_kind",
                    kind=service.agency_kind,
                )  # fmt: skip
            for k, code in enumerate(service.jurisdictions or []):
                where = f"{path}.jurisdictions[{k}]"
                if code not in self.jurisdictions:
                    self._add(file, where, "catalog.error.unknown_jurisdiction", code=code)
                elif service.agency_kind not in self.kinds_by_jurisdiction.get(code, set()):
                    self._add(
                        file, where, "catalog.error.kind_missing_in",
                        kind=service.agency_kind, jurisdiction=code,
                    )  # fmt: skip
            core = {a.code for a in service.attributes}
            self.errors += _duplicates(
                file, f"{path}.attributes", (a.code for a in service.attributes)
            )
            for code, extra in service.extensions.items():
                where = f"{path}.extensions.{code}"
                jurisdiction = self.jurisdictions.get(code)
                if jurisdiction is None or jurisdiction.kind in FORMER_KINDS:
                    self._add(file, where, "catalog.error.unknown_jurisdiction", code=code)
                self.errors += _duplicates(file, where, (a.code for a in extra))
                for k, attribute in enumerate(extra):
                    if attribute.code in core:
                        self._add(
                            file, f"{where}[{k}].code", "catalog.error.service_attribute_clash",
                            code=attribute.code,
                        )  # fmt: skip

    def _evidence(self, file: str, path: str, evidence: EvidenceSpec) -> None:
        if evidence.legal_basis not in self.legal_bases:
            self._add(
                file, f"{path}.legal_basis", "catalog.error.unknown_legal_basis",
                code=evidence.legal_basis,
            )  # fmt: skip
        dataset = self.datasets.get(evidence.dataset)
        if dataset is None:
            self._add(
                file, f"{path}.dataset", "catalog.error.unknown_dataset", code=evidence.dataset
            )
            return
        for i, name in enumerate(evidence.fields or []):
            if find_field([dataset.fields, *dataset.extensions.values()], name) is None:
                self._add(
                    file, f"{path}.fields[{i}]", "catalog.error.unknown_field",
                    field=name, dataset=dataset.code,
                )  # fmt: skip
        if evidence.predicate is not None:
            self._predicate_use(file, f"{path}.predicate", dataset, evidence)

    def _predicate_use(
        self, file: str, path: str, dataset: DatasetSpec, evidence: EvidenceSpec
    ) -> None:
        use = evidence.predicate
        assert use is not None
        predicate = next((p for p in dataset.predicates if p.code == use.code), None)
        if predicate is None:
            self._add(
                file, f"{path}.code", "catalog.error.unknown_predicate",
                code=use.code, dataset=dataset.code,
            )  # fmt: skip
            return
        declared = {p.name: p.type for p in predicate.params}
        for name, value in use.params.items():
            if name not in declared:
                self._add(file, f"{path}.params.{name}", "catalog.error.unknown_param", name=name)
            elif not _param_type_ok(declared[name], value):
                self._add(
                    file, f"{path}.params.{name}", "catalog.error.bad_type",
                    expected=declared[name], got=type(value).__name__,
                )  # fmt: skip
        for name, kind in declared.items():
            # a national ID names who else is asked about: the caller gives it, never the law
            if name not in use.params and kind != "national_id":
                self._add(file, f"{path}.params.{name}", "catalog.error.missing")


def _param_type_ok(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, date)
    return isinstance(value, str)


# --- writing ---------------------------------------------------------------------------------


def _basis(use: PredicateUse) -> dict[str, Any] | None:
    """Where a predicate's statutory values come from, if the catalog says."""
    basis = {"year": use.year, "source": use.source}
    return {k: v for k, v in basis.items() if v is not None} or None


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}


def _field_rows(
    dataset: str,
    specs: Sequence[FieldSpec],
    jurisdiction: str | None,
    parent: m.DatasetField | None = None,
) -> list[m.DatasetField]:
    rows: list[m.DatasetField] = []
    for position, spec in enumerate(specs):
        row = m.DatasetField(
            dataset=dataset,
            jurisdiction=jurisdiction,
            parent=parent,
            position=position,
            name=spec.name,
            type=spec.type,
            label_zh=spec.label_zh,
            label_en=spec.label_en,
            personal=spec.personal,
            required=spec.required,
            code_list=[c.model_dump() for c in spec.code_list] if spec.code_list else None,
            code_list_source=spec.code_list_source,
        )
        rows.append(row)
        if spec.items:
            rows += _field_rows(dataset, spec.items, jurisdiction, row)
    return rows


def _lineage_depth(catalog: ParsedCatalog, code: str) -> int:
    by_code = {j.code: j for j in catalog.jurisdictions.jurisdictions}
    depth, current = 0, by_code[code].merged_into
    while current is not None:
        depth, current = depth + 1, by_code[current].merged_into
    return depth


def _stages(catalog: ParsedCatalog) -> list[list[Any]]:
    """New rows in the order foreign keys need them: each stage is flushed before the next."""
    jurisdictions = [
        m.Jurisdiction(
            position=position, districts=list(j.districts), **j.model_dump(exclude={"districts"})
        )
        for position, j in enumerate(catalog.jurisdictions.jurisdictions)
    ]
    jurisdictions.sort(key=lambda row: _lineage_depth(catalog, row.code))
    references: list[Any] = [
        m.Agency(position=position, **a.model_dump())
        for position, a in enumerate(catalog.agencies.agencies)
    ]
    references += [
        m.LegalBasis(position=position, **b.model_dump())
        for position, b in enumerate(catalog.legal_bases.legal_bases)
    ]
    datasets: list[Any] = []
    details: list[Any] = []
    for _, d in catalog.datasets:
        not_in = d.digitised.not_in if isinstance(d.digitised, NotDigitisedSpec) else []
        datasets.append(
            m.Dataset(
                code=d.code,
                name_zh=d.name_zh,
                name_en=d.name_en,
                owner_agency=d.owner.owner_agency,
                owner_kind=d.owner.owner_kind,
                owner_scope=d.owner_scope,
                digitised=d.digitised if isinstance(d.digitised, bool) else True,
                not_digitised_in=list(not_in),
                description_zh=d.description_zh,
                description_en=d.description_en,
            )
        )
        details += _field_rows(d.code, d.fields, None)
        for jurisdiction in sorted(d.extensions):
            details += _field_rows(d.code, d.extensions[jurisdiction], jurisdiction)
        details += [
            m.Predicate(
                dataset=d.code,
                position=position,
                code=p.code,
                name_zh=p.name_zh,
                name_en=p.name_en,
                description_zh=p.description_zh,
                params=[param.model_dump() for param in p.params],
            )
            for position, p in enumerate(d.predicates)
        ]
    items: list[Any] = []
    evidence: list[Any] = []
    for position, item in enumerate(catalog.items.application_items):
        items.append(
            m.ApplicationItem(
                code=item.code,
                position=position,
                name_zh=item.name_zh,
                name_en=item.name_en,
                agency_kind=item.agency_kind,
                jurisdictions=list(item.jurisdictions) if item.jurisdictions is not None else None,
                source=item.source,
                legal_bases=list(item.legal_bases),
                time_limit_days=item.time_limit_days,
                time_limit_source=item.time_limit_source,
                time_limit_demo=item.time_limit_demo,
                form=item.form.model_dump(exclude_none=True) if item.form else None,
            )
        )
        evidence += [
            m.RequiredEvidence(
                item=item.code,
                position=k,
                dataset=e.dataset,
                fields=list(e.fields) if e.fields is not None else None,
                predicate=e.predicate.code if e.predicate else None,
                predicate_params=_json_params(e.predicate.params) if e.predicate else None,
                predicate_basis=_basis(e.predicate) if e.predicate else None,
                legal_basis=e.legal_basis,
                paper_name_zh=e.paper_name_zh,
                paper_name_en=e.paper_name_en,
                purpose_zh=e.purpose_zh,
            )
            for k, e in enumerate(item.required_evidence)
        ]
    services = [
        _service_row(position, spec)
        for position, spec in enumerate(catalog.services.services if catalog.services else [])
    ]
    return [jurisdictions, references, datasets, details, items, evidence, services]


def _service_row(position: int, spec: ServiceSpec) -> m.Service:
    data = spec.model_dump(mode="json", exclude={"attributes", "extensions"})
    return m.Service(
        position=position,
        attributes=[a.model_dump(mode="json") for a in spec.attributes],
        extensions={
            code: [a.model_dump(mode="json") for a in spec.extensions[code]]
            for code in spec.extensions
        },
        **data,
    )


def _clear(session: Session) -> None:
    session.execute(update(m.Jurisdiction).values(merged_into=None))
    session.execute(delete(m.DatasetField).where(m.DatasetField.parent_id.isnot(None)))
    for table in m.CATALOG_TABLES:
        session.execute(delete(table))


def load_catalog(session: Session, directory: Path | None = None) -> CatalogSummary:
    """Check the YAML set and replace the catalog with it, all or nothing.

    Raises :class:`CatalogInvalid` (with every error) before touching the database. The
    replacement is committed in one transaction; on any failure it is rolled back and the
    previous catalog stays as it was.
    """
    directory = directory or DATA_DIR
    catalog, errors = read_catalog(directory)
    if catalog is None:
        raise CatalogInvalid(errors)
    sha = catalog_sha256(directory)
    stages = _stages(catalog)
    loaded_at = utcnow()
    try:
        _clear(session)
        for stage in stages:
            session.add_all(stage)
            session.flush()
        session.add(
            m.CatalogVersion(
                sha256=sha, file_count=len(catalog_files(directory)), loaded_at=loaded_at
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    counts: dict[str, int] = {}
    for row in (row for stage in stages for row in stage):
        name = type(row).__tablename__.removeprefix("catalog_")
        counts[name] = counts.get(name, 0) + 1
    return CatalogSummary(sha256=sha, loaded_at=loaded_at, counts=counts)


def current_version(session: Session) -> m.CatalogVersion | None:
    """The most recent load, or ``None`` when the catalog was never loaded."""
    return session.scalars(
        select(m.CatalogVersion).order_by(m.CatalogVersion.id.desc()).limit(1)
    ).first()
