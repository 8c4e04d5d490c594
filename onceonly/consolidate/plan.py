"""The consolidation plan: a YAML file saying which legacy sources to read, how each maps to
the target dataset of the common standard, and how to link, resolve and load the result.

A plan is checked whole before anything runs; every problem is reported at once with the
file, the path inside it (``sources[1].fields.sex.column``) and the reason, because the
person writing a plan is a clerk of the merged city, not the programmer.

Paths in a plan are relative to the plan file. A plan targets one dataset; ``then`` names the
plans ``consolidate run`` runs after it (the household registers, then the land registers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from onceonly.catalog.loader import DATA_DIR as CATALOG_DIR
from onceonly.catalog.schema import DatasetSpec, FieldSpec, JurisdictionsFile
from onceonly.i18n import normalise_language, t
from onceonly.validation_words import reason

NORMALISERS = (
    "strip",
    "width",
    "variants",
    "upper",
    "name",
    "national_id",
    "date",
    "address",
    "district",
    "village",
    "integer",
    "number",
    "section",
    "parcel_no",
    "area",
    "area_ping",
    "share_numerator",
    "share_denominator",
)
"""Normaliser names a field mapping may list, applied in the order written (the land ones are
in :mod:`onceonly.consolidate.normalise_parcels`)."""

RULES = ("most_recent", "most_trusted", "non_empty", "longest")
"""Survivorship rules (see :mod:`onceonly.consolidate.survivorship`)."""

ENTITIES = ("person", "parcel")


PLAN_RULE = "consolidate_plan"
"""The error type of a plan's own rules (one origin of a field, the review band, ...): its
context's ``key`` names the message, in both languages, in the message file."""


def _broken(key: str, **params: Any) -> PydanticCustomError:
    return PydanticCustomError(PLAN_RULE, t(key, "en", **params), {"key": key, **params})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMap(_Strict):
    """How one target field is read from a source row."""

    column: str | None = None
    columns: list[str] | None = None
    """Several columns joined by ``join`` (e.g. surname + given name)."""
    join: str = ""
    constant: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    """Legacy code -> standard code, applied before the normalisers."""
    normalise: list[str] = Field(default_factory=list)
    date_formats: list[str] = Field(default_factory=list)
    """The source's date formats, tried in order by the ``date`` normaliser: ``roc`` (every
    ROC and Gregorian form :func:`~onceonly.domain.roc_date.parse_roc_date` reads) or a
    ``strptime`` pattern such as ``%m/%d/%Y`` (US) or ``%d/%m/%Y``. Empty: ``roc`` alone."""
    unreadable: Literal["quarantine", "missing"] = "quarantine"
    """What a value no normaliser reads becomes: an error that holds the row back, or a
    missing value (the raw value is kept in the row's warnings for review)."""

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMap:
        given = [x for x in (self.column, self.columns, self.constant) if x is not None]
        if len(given) != 1:
            raise _broken("consolidate.plan.one_origin")
        return self

    @property
    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        return list(self.columns or [])


class SourceSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    name: str = ""
    kind: Literal["csv", "excel", "sqlite", "sql"]
    path: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None
    sheet: str | None = None
    encoding: str = "utf-8"
    record_id: str
    """The column that identifies a row in the legacy system (kept in the lineage)."""
    trust: int = Field(default=1, ge=0)
    """Higher wins under ``most_trusted``."""
    as_of: date | None = None
    """When the source was extracted; ``most_recent`` falls back to it."""
    fields: dict[str, FieldMap]

    @model_validator(mode="after")
    def _location(self) -> SourceSpec:
        if self.kind == "sql" and not self.url:
            raise _broken("consolidate.plan.url_needed")
        if self.kind != "sql" and not self.path:
            raise _broken("consolidate.plan.path_needed")
        if self.kind in ("sqlite", "sql") and not (self.table or self.query):
            raise _broken("consolidate.plan.table_needed")
        return self


class TargetSpec(_Strict):
    dataset: str
    jurisdiction: str


class LinkageSpec(_Strict):
    entity: Literal["person", "parcel"] = "person"
    threshold: float = Field(default=0.9, gt=0, lt=1)
    """Match probability at which two records are the same entity (set before looking at
    any labels)."""
    review_band: tuple[float, float] = (0.5, 0.99)
    """Pairs scored inside this band go to the clerical review queue."""
    max_pairs_u: float = Field(default=1e6, gt=0)
    seed: int = 42

    @model_validator(mode="after")
    def _band(self) -> LinkageSpec:
        low, high = self.review_band
        if not 0 <= low <= self.threshold <= high <= 1:
            raise _broken("consolidate.plan.band")
        return self


class SurvivorshipSpec(_Strict):
    default: Literal["most_recent", "most_trusted", "non_empty", "longest"] = "most_trusted"
    fields: dict[str, Literal["most_recent", "most_trusted", "non_empty", "longest"]] = Field(
        default_factory=dict
    )
    recency_field: str | None = None
    """A date field of the target saying how fresh a record is (e.g. ``moved_in_on``)."""


class LoadSpec(_Strict):
    registries: str | None = None
    """Registries directory (with ``manifest.json``); default: the data directory's."""
    owner: str
    """Agency whose store receives the golden records, e.g. ``central.moi_household``."""


class PlanModel(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,59}$")
    target: TargetSpec
    sources: list[SourceSpec] = Field(min_length=1)
    linkage: LinkageSpec = LinkageSpec()
    survivorship: SurvivorshipSpec = SurvivorshipSpec()
    load: LoadSpec | None = None
    run_dir: str | None = None
    then: list[str] = Field(default_factory=list)
    """Plans run after this one by the same ``consolidate run`` (paths relative to this
    file): the household registers first, then the land registers of the same merger."""


@dataclass(frozen=True)
class PlanIssue:
    """One thing wrong with a plan: the file, the path inside it and why, in English
    (``reason``) and Traditional Chinese (``reason_zh``)."""

    file: str
    path: str
    reason: str
    reason_zh: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.reason}"

    def reason_in(self, lang: str | None) -> str:
        """Why, in ``lang`` (Traditional Chinese unless English is asked for)."""
        return self.reason if normalise_language(lang) == "en" else self.reason_zh


def _issue(file: str, where: str, key: str, /, **params: Any) -> PlanIssue:
    """An issue whose reason is message ``key`` of the message file, in both languages
    (``params`` may hold a ``path`` or a ``file`` of their own)."""
    return PlanIssue(file, where, t(key, "en", **params), t(key, "zh-TW", **params))


class PlanError(Exception):
    """The plan cannot run; ``issues`` names every problem found."""

    def __init__(self, issues: list[PlanIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class TargetField:
    name: str
    type: str
    required: bool
    codes: tuple[str, ...] | None
    """Allowed codes of a code field (``None``: any)."""
    label_zh: str = ""
    label_en: str = ""

    def label(self, lang: str) -> str:
        """The field as a clerk reads it (出生日期, Date of birth), its name when unlabelled."""
        return (self.label_en if lang == "en" else self.label_zh) or self.name


@dataclass(frozen=True)
class Plan:
    """A checked plan with its resolved paths and the target's field standard."""

    model: PlanModel
    file: Path
    fields: tuple[TargetField, ...]
    districts: dict[str, tuple[str, ...]]
    """Jurisdiction name (臺南市) -> its districts, for the cross-field check."""

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def base(self) -> Path:
        return self.file.parent

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else (self.base / path).resolve()

    @property
    def run_dir(self) -> Path:
        return self.resolve(self.model.run_dir or f".onceonly-run/{self.model.name}")

    def field(self, name: str) -> TargetField:
        return next(f for f in self.fields if f.name == name)

    def label(self, name: str, lang: str) -> str:
        """Field ``name`` in words (its name when the standard has no such field)."""
        found = next((f for f in self.fields if f.name == name), None)
        return found.label(lang) if found is not None else name

    @property
    def mapped_fields(self) -> tuple[str, ...]:
        """Target fields some source maps, in the standard's order."""
        mapped = {name for s in self.model.sources for name in s.fields}
        return tuple(f.name for f in self.fields if f.name in mapped)

    def digest(self) -> str:
        """Changes when the plan's content changes: finished steps of an older plan are redone."""
        content = self.model.model_dump(mode="json", exclude={"then"})
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@cache
def _jurisdictions() -> JurisdictionsFile:
    raw = yaml.safe_load((CATALOG_DIR / "jurisdictions.yaml").read_text("utf-8"))
    return JurisdictionsFile.model_validate(raw)


def dataset_spec(code: str) -> DatasetSpec | None:
    """The catalog's standard of dataset ``code`` read from the packaged YAML, or None."""
    path = CATALOG_DIR / "datasets" / f"{code}.yaml"
    if not path.is_file():
        return None
    return _dataset_spec(path)


@cache
def _dataset_spec(path: Path) -> DatasetSpec:
    return DatasetSpec.model_validate(yaml.safe_load(path.read_text("utf-8")))


def target_fields(spec: DatasetSpec, jurisdiction: str) -> tuple[TargetField, ...]:
    """Core fields then the jurisdiction's extension fields; the items of a list field
    (a land register's parcels) are fields of their own: one legacy row is one item."""
    names = {j.code for j in _jurisdictions().jurisdictions}

    def convert(f: FieldSpec) -> TargetField:
        codes: tuple[str, ...] | None = None
        if f.code_list is not None:
            codes = tuple(c.code for c in f.code_list)
        elif f.code_list_source == "jurisdictions":
            codes = tuple(sorted(names))
        return TargetField(f.name, f.type, f.required, codes, f.label_zh, f.label_en)

    local = spec.extensions.get(jurisdiction, [])
    flat: list[FieldSpec] = []
    for f in [*spec.fields, *local]:
        flat.extend(f.items or [] if f.type == "array" else [f])
    return tuple(convert(f) for f in flat)


def _districts() -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    for j in _jurisdictions().jurisdictions:
        if j.merged_into is None:
            result[j.name_zh] = tuple(j.districts)
    return result


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(plan)"


def _check(model: PlanModel, file: str, base: Path) -> list[PlanIssue]:
    issues: list[PlanIssue] = []

    def issue(where: str, key: str, /, **params: Any) -> None:
        issues.append(_issue(file, where, key, **params))

    spec = dataset_spec(model.target.dataset)
    if spec is None:
        issue("target.dataset", "consolidate.plan.unknown_dataset", code=model.target.dataset)
        return issues
    known = {j.code for j in _jurisdictions().jurisdictions}
    if model.target.jurisdiction not in known:
        issue(
            "target.jurisdiction",
            "consolidate.plan.unknown_jurisdiction",
            code=model.target.jurisdiction,
        )
    fields = {f.name: f for f in target_fields(spec, model.target.jurisdiction)}
    seen: set[str] = set()
    for i, source in enumerate(model.sources):
        where = f"sources[{i}]"
        if source.id in seen:
            issue(f"{where}.id", "consolidate.plan.duplicate_source", id=source.id)
        seen.add(source.id)
        if source.path and not (base / source.path).exists():
            issue(f"{where}.path", "consolidate.plan.missing_file", path=source.path)
        for name, mapping in source.fields.items():
            if name not in fields:
                issue(
                    f"{where}.fields.{name}",
                    "consolidate.plan.unknown_field",
                    field=name,
                    dataset=spec.code,
                )
                continue
            for j, normaliser in enumerate(mapping.normalise):
                if normaliser not in NORMALISERS:
                    issue(
                        f"{where}.fields.{name}.normalise[{j}]",
                        "consolidate.plan.unknown_normaliser",
                        name=normaliser,
                        known=", ".join(NORMALISERS),
                    )
        # A plan that only links needs no more fields than it has (the register-only ones,
        # household id, relationship, jurisdiction, district, alive, matter to the load).
        for name, f in fields.items():
            if model.load is not None and f.required and name not in source.fields:
                issue(f"{where}.fields", "consolidate.plan.required_unmapped", field=name)
    for i, follower in enumerate(model.then):
        if not (base / follower).is_file():
            issue(f"then[{i}]", "consolidate.plan.missing_file", path=follower)
    for name in model.survivorship.fields:
        if name not in fields:
            issue(
                f"survivorship.fields.{name}",
                "consolidate.plan.unknown_field",
                field=name,
                dataset=spec.code,
            )
    recency = model.survivorship.recency_field
    if recency is not None and (recency not in fields or fields[recency].type != "date"):
        issue("survivorship.recency_field", "consolidate.plan.recency_field", field=recency)
    needed: tuple[str, ...]
    if model.linkage.entity == "person":
        needed = ("national_id", "name", "birth_date")
    else:
        needed = ("section", "parcel_no")
    for name in needed:
        if not any(name in s.fields for s in model.sources):
            issue(
                "linkage.entity",
                "consolidate.plan.linkage_field",
                field=name,
                entity=model.linkage.entity,
            )
    return issues


def _structure_issue(file: str, error: ErrorDetails) -> PlanIssue:
    """A Pydantic error about a plan's structure as an issue in both languages: the plan's
    own rules by their message key, Pydantic's common errors in the plan's words
    (:func:`onceonly.validation_words.reason`, ``consolidate.plan.`` messages)."""
    path = _loc(tuple(error["loc"]))
    if error["type"] == PLAN_RULE:
        ctx: dict[str, Any] = dict(error.get("ctx") or {})
        return _issue(file, path, ctx.pop("key"), **ctx)
    said = {lang: reason(error, lang, prefix="consolidate.plan") for lang in ("en", "zh-TW")}
    return PlanIssue(file, path, said["en"], said["zh-TW"])


def parse_plan(text: str, file: Path) -> Plan:
    """A checked :class:`Plan` from YAML text; :class:`PlanError` lists every problem."""
    name = str(file)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        raise PlanError([_issue(name, where, "consolidate.plan.yaml", error=str(error))]) from error
    if not isinstance(raw, dict):
        raise PlanError([_issue(name, "(plan)", "consolidate.plan.not_mapping")])
    try:
        model = PlanModel.model_validate(raw)
    except ValidationError as error:
        raise PlanError([_structure_issue(name, e) for e in error.errors()]) from error
    issues = _check(model, name, file.parent)
    if issues:
        raise PlanError(issues)
    spec = dataset_spec(model.target.dataset)
    assert spec is not None
    return Plan(
        model=model,
        file=file.resolve(),
        fields=target_fields(spec, model.target.jurisdiction),
        districts=_districts(),
    )


def load_plan(path: Path) -> Plan:
    """The plan at ``path`` (see :func:`parse_plan`)."""
    path = Path(path)
    if not path.is_file():
        raise PlanError([_issue(str(path), "(file)", "consolidate.plan.no_file")])
    return parse_plan(path.read_text("utf-8"), path)


def load_plans(path: Path) -> list[Plan]:
    """The plan at ``path`` followed by the plans its ``then`` names, depth first, each once;
    every plan is checked before any runs, and two plans may not share a name (the review
    queue and the store's load bookkeeping are kept by plan name)."""
    plans: list[Plan] = []
    seen: set[Path] = set()

    def visit(file: Path) -> None:
        plan = load_plan(file)
        if plan.file in seen:
            return
        seen.add(plan.file)
        clash = next((other for other in plans if other.name == plan.name), None)
        if clash is not None:
            other = str(clash.file)
            taken = _issue(
                str(file), "name", "consolidate.plan.name_taken", name=plan.name, other=other
            )
            raise PlanError([taken])
        plans.append(plan)
        for follower in plan.model.then:
            visit(plan.resolve(follower))

    visit(Path(path))
    return plans
