"""Pydantic models of the catalog's YAML files (the source of truth, edited by people).

Each model checks what can be checked inside one file (types, dates, shapes); cross-file
references (agency -> jurisdiction, evidence -> dataset field) are checked by the loader, which
needs the whole set. ``extra="forbid"`` everywhere so a misspelt key is an error, not silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from onceonly.i18n import t

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=120)]
"""Lower-case slug used for every catalog code."""
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]

JurisdictionKind = Literal[
    "central", "special_municipality", "county", "city", "former_county", "former_city"
]
CURRENT_KINDS = frozenset({"central", "special_municipality", "county", "city"})
FORMER_KINDS = frozenset({"former_county", "former_city"})

LOCAL_AGENCY_KINDS: tuple[str, ...] = (
    "civil_affairs",
    "household_office",
    "land_bureau",
    "land_office",
    "tax_office",
    "social_welfare",
    "urban_development",
    "economic_development",
    "fire",
    "health",
    "labour",
    "education",
    "indigenous",
    "district_office",
    "water",
    "finance",
    "public_works",
    "environmental_protection",
    "police",
    "animal_protection",
    "hotline_1999",
    "building_administration",
)
"""Kinds of agency a local government has; central agencies use their own kind (``fia``...)."""

FieldType = Literal["string", "integer", "number", "boolean", "date", "code", "array"]
ParamType = Literal["string", "integer", "number", "boolean", "date", "national_id"]
OwnerScope = Literal["central", "residence", "all_jurisdictions"]


def rule_broken(key: str, **params: Any) -> PydanticCustomError:
    """A broken catalog rule whose message (both languages) lives under ``key``."""
    return PydanticCustomError("catalog_rule", t(key, "en", **params), {"key": key, **params})


class _NamedField(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def items(self) -> Sequence[Any] | None: ...


F = TypeVar("F", bound=_NamedField)


def find_field(pools: Iterable[Sequence[F]], name: str) -> F | None:
    """The field ``name`` in the first pool holding it; ``parcels.section`` names the sub-field
    ``section`` of the array ``parcels``."""
    head, _, sub = name.partition(".")
    for pool in pools:
        for spec in pool:
            if spec.name == head:
                if not sub:
                    return spec
                found: F | None = next((i for i in spec.items or () if i.name == sub), None)
                return found
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class JurisdictionSpec(_Strict):
    code: Code
    name_zh: Text
    name_en: Text
    kind: JurisdictionKind
    national_id_letter: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")] | None = None
    established_on: date | None = None
    merged_into: Code | None = None
    merged_on: date | None = None
    districts: list[Text] = Field(default_factory=list)


class JurisdictionsFile(_Strict):
    jurisdictions: list[JurisdictionSpec]


class AgencySpec(_Strict):
    code: Code
    jurisdiction: Code
    kind: FieldName
    name_zh: Text
    name_en: Text


class AgenciesFile(_Strict):
    agencies: list[AgencySpec]


class LegalBasisSpec(_Strict):
    code: Code
    name_zh: Text
    name_en: Text
    article: str | None = None
    """Article(s) as written in Chinese (``第15條``), or null when the whole law is meant."""
    summary_zh: Text


class LegalBasesFile(_Strict):
    legal_bases: list[LegalBasisSpec]


class CodeLabel(_Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    label_zh: Text
    label_en: Text


class FieldSpec(_Strict):
    name: FieldName
    type: FieldType
    label_zh: Text
    label_en: Text
    personal: bool = False
    """Personal data in the sense of the Personal Data Protection Act (個資)."""
    required: bool = False
    code_list: list[CodeLabel] | None = None
    code_list_source: Literal["jurisdictions"] | None = None
    """Instead of an inline list: the values are catalog jurisdiction codes."""
    items: list[FieldSpec] | None = None

    @model_validator(mode="after")
    def _shape_matches_type(self) -> FieldSpec:
        if self.type == "code":
            if (self.code_list is None) == (self.code_list_source is None):
                raise rule_broken("catalog.rule.code_list")
        elif self.code_list is not None or self.code_list_source is not None:
            raise rule_broken("catalog.rule.code_list_only_for_code")
        if self.type == "array":
            if not self.items:
                raise rule_broken("catalog.rule.array_items")
        elif self.items is not None:
            raise rule_broken("catalog.rule.items_only_for_array")
        return self


class PredicateParamSpec(_Strict):
    name: FieldName
    type: ParamType
    label_zh: Text
    label_en: Text


class PredicateSpec(_Strict):
    code: FieldName
    name_zh: Text
    name_en: Text
    description_zh: Text
    params: list[PredicateParamSpec] = Field(default_factory=list)


class OwnerSpec(_Strict):
    owner_agency: Code | None = None
    """A fixed (central) owner, e.g. ``central.moi_household``."""
    owner_kind: FieldName | None = None
    """The agency of this kind in the relevant jurisdiction, e.g. ``land_office``."""

    @model_validator(mode="after")
    def _exactly_one(self) -> OwnerSpec:
        if (self.owner_agency is None) == (self.owner_kind is None):
            raise rule_broken("catalog.rule.owner_one")
        return self


class NotDigitisedSpec(_Strict):
    not_in: list[Code] = Field(min_length=1)
    """Jurisdictions whose records of this dataset exist only on paper so far."""


class DatasetSpec(_Strict):
    code: Code
    name_zh: Text
    name_en: Text
    owner: OwnerSpec
    owner_scope: OwnerScope
    digitised: bool | NotDigitisedSpec = True
    description_zh: Text
    description_en: Text
    fields: list[FieldSpec] = Field(min_length=1)
    extensions: dict[Code, list[FieldSpec]] = Field(default_factory=dict)
    """Jurisdiction code -> extra local fields (中央制訂基本資料格式，地方提供補充欄位)."""
    predicates: list[PredicateSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _scope_matches_owner(self) -> DatasetSpec:
        central = self.owner_scope == "central"
        if central and self.owner.owner_agency is None:
            raise rule_broken("catalog.rule.central_owner")
        if not central and self.owner.owner_kind is None:
            raise rule_broken("catalog.rule.local_owner", scope=self.owner_scope)
        return self


class PredicateUse(_Strict):
    code: FieldName
    params: dict[FieldName, Any] = Field(default_factory=dict)
    """The statutory values the owner is asked with; a clerk cannot choose others."""
    year: int | None = None
    """The year whose announced values ``params`` are (a threshold changes every year)."""
    source: Text | None = None
    """The legal source of the values: the statute and the announcement that fixes them."""


class EvidenceSpec(_Strict):
    dataset: Code
    fields: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]*$")]] | None = None
    """Top-level field names; ``parcels.section`` picks one sub-field of an array."""
    predicate: PredicateUse | None = None
    legal_basis: Code
    paper_name_zh: Text
    paper_name_en: Text
    purpose_zh: Text

    @model_validator(mode="after")
    def _fields_or_predicate(self) -> EvidenceSpec:
        if (self.fields is None) == (self.predicate is None):
            raise rule_broken("catalog.rule.fields_or_predicate")
        if self.fields is not None and not self.fields:
            raise rule_broken("catalog.rule.fields_empty")
        return self


class FormSpec(_Strict):
    """The application form (申請書表) a citizen fills in for an item."""

    name_zh: Text
    name_en: Text | None = None
    code: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    """The form's number where the agency publishes one (e.g. ``土地登記申請書``'s 內政部 code)."""


class ApplicationItemSpec(_Strict):
    code: Code
    name_zh: Text
    name_en: Text
    agency_kind: FieldName
    jurisdictions: list[Code] | None = None
    """Where the item is offered; null means every jurisdiction with an agency of the kind."""
    source: Text
    legal_bases: list[Code] = Field(min_length=1)
    time_limit_days: int | None = Field(default=None, ge=1, le=365)
    """處理時限 in days (working days as the agencies count them)."""
    time_limit_source: Text | None = None
    """Where ``time_limit_days`` comes from: the law or the agency's published standard."""
    time_limit_demo: bool | None = None
    """True when the time limit or form is a demo value, not one taken from a publication."""
    form: FormSpec | None = None
    required_evidence: list[EvidenceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _time_limit_has_source(self) -> ApplicationItemSpec:
        if (self.time_limit_days is None) != (self.time_limit_source is None):
            raise rule_broken("catalog.rule.time_limit_source")
        return self


class ApplicationItemsFile(_Strict):
    application_items: list[ApplicationItemSpec]


# --- services (Open311 GeoReport v2 service types, services.yaml) -----------------------------

ServiceType = Literal["realtime", "batch", "blackbox"]
AttributeDatatype = Literal[
    "string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"
]
AttributeCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
ServiceCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)]


class AttributeValueSpec(_Strict):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)]
    name_zh: Text
    name_en: Text


class AttributeSpec(_Strict):
    """One GeoReport attribute (a question the filer answers); ``variable: false`` marks an
    informational one that takes no answer."""

    code: AttributeCode
    datatype: AttributeDatatype
    required: bool = False
    variable: bool = True
    order: int = Field(ge=1)
    description_zh: Text
    description_en: Text
    datatype_description_zh: str | None = None
    datatype_description_en: str | None = None
    values: list[AttributeValueSpec] | None = None

    @model_validator(mode="after")
    def _values_match_datatype(self) -> AttributeSpec:
        listed = self.datatype in ("singlevaluelist", "multivaluelist")
        if listed and not self.values:
            raise rule_broken("catalog.error.attribute_needs_values")
        if not listed and self.values:
            raise rule_broken("catalog.error.attribute_values_unused")
        return self


class ServiceSpec(_Strict):
    code: ServiceCode
    """The GeoReport ``service_code``."""
    group: ServiceCode
    name_zh: Text
    name_en: Text
    description_zh: Text
    description_en: Text
    keywords: list[Text] = Field(default_factory=list)
    type: ServiceType
    agency_kind: FieldName
    """Which agency of the jurisdiction owns requests of this type (its queue gets the case)."""
    jurisdictions: list[Code] | None = None
    """Null: every jurisdiction with an agency of the kind; a list: those cities' own service."""
    expected_days: int = Field(ge=1, le=365)
    answer_zh: Text
    """What the 1999 hotline reads to the caller (FAQ/SOP)."""
    answer_en: Text
    attributes: list[AttributeSpec] = Field(default_factory=list)
    extensions: dict[Code, list[AttributeSpec]] = Field(default_factory=dict)
    """Extra attributes one city asks on top of the common ones."""


class ServicesFile(_Strict):
    services: list[ServiceSpec]
