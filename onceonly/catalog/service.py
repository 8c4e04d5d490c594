"""The catalog as other capabilities see it: frozen views looked up by code.

This module is the only way into the catalog; nobody else queries its tables. Views are
Pydantic models (immutable), so routes return them as they are and OpenAPI documents them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onceonly.catalog import models as m
from onceonly.catalog.schema import find_field


class CatalogNotFound(LookupError):
    """A code names nothing in the catalog (or a lineage/owner cannot be resolved)."""

    def __init__(self, kind: str, code: str) -> None:
        super().__init__(f"unknown {kind} {code!r}")
        self.kind = kind
        self.code = code


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class JurisdictionView(_View):
    code: str
    name_zh: str
    name_en: str
    kind: str
    national_id_letter: str | None = None
    established_on: date | None = None
    merged_into: str | None = None
    merged_on: date | None = None
    districts: tuple[str, ...] = ()
    predecessors: tuple[str, ...] = ()
    """Codes of the former jurisdictions merged directly into this one."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "tainan-county",
                    "name_zh": "臺南縣",
                    "name_en": "Tainan County",
                    "kind": "former_county",
                    "national_id_letter": "R",
                    "established_on": None,
                    "merged_into": "tainan-city",
                    "merged_on": "2010-12-25",
                    "districts": ["新營市", "永康市"],
                    "predecessors": [],
                }
            ]
        },
    )

    @property
    def is_current(self) -> bool:
        return self.merged_into is None


class AgencyView(_View):
    code: str
    jurisdiction: str
    kind: str
    name_zh: str
    name_en: str


class LegalBasisView(_View):
    code: str
    name_zh: str
    name_en: str
    article: str | None = None
    summary_zh: str

    @property
    def citation_zh(self) -> str:
        return f"{self.name_zh}{self.article or ''}"

    @property
    def citation_en(self) -> str:
        return f"{self.name_en} ({self.article})" if self.article else self.name_en


class CodeLabelView(_View):
    code: str
    label_zh: str
    label_en: str


class FieldView(_View):
    name: str
    type: str
    label_zh: str
    label_en: str
    personal: bool
    required: bool
    jurisdiction: str | None = None
    """``None`` for a core field of the common standard, else the jurisdiction extending it."""
    code_list: tuple[CodeLabelView, ...] = ()
    code_list_source: str | None = None
    items: tuple[FieldView, ...] = ()


class PredicateParamView(_View):
    name: str
    type: str
    label_zh: str
    label_en: str


class PredicateView(_View):
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    params: tuple[PredicateParamView, ...] = ()


class DatasetView(_View):
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    owner_agency: str | None = None
    """The fixed owner of a central dataset."""
    owner_kind: str | None = None
    """For local datasets: the kind of agency owning it in each jurisdiction."""
    owner_scope: str
    digitised: bool
    not_digitised_in: tuple[str, ...] = ()
    jurisdiction: str | None = None
    """The jurisdiction whose extension fields are included in ``fields``, if one was asked."""
    fields: tuple[FieldView, ...]
    """Core fields, then the extension fields of ``jurisdiction``."""
    extensions: dict[str, tuple[FieldView, ...]] = Field(default_factory=dict)
    """Every jurisdiction's extension fields."""
    predicates: tuple[PredicateView, ...] = ()

    def field(self, name: str) -> FieldView | None:
        """The field ``name`` (``parcels.section`` for a sub-field), core or extension."""
        return find_field([self.fields, *self.extensions.values()], name)

    def predicate(self, code: str) -> PredicateView | None:
        return next((p for p in self.predicates if p.code == code), None)

    def is_digitised_in(self, jurisdiction: str) -> bool:
        return self.digitised and jurisdiction not in self.not_digitised_in

    @property
    def personal_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.personal)


class EvidenceView(_View):
    dataset: str
    dataset_name_zh: str
    dataset_name_en: str
    fields: tuple[str, ...] = ()
    """Field names asked for (``parcels.section`` picks a sub-field); empty for a predicate."""
    predicate: str | None = None
    predicate_params: dict[str, Any] = Field(default_factory=dict)
    """The statutory values the predicate is asked with for this item."""
    predicate_basis: dict[str, Any] = Field(default_factory=dict)
    """Where those values come from: ``year`` and ``source`` (statute, announcement)."""
    legal_basis: str
    legal_basis_citation_zh: str
    legal_basis_citation_en: str
    paper_name_zh: str
    paper_name_en: str
    purpose_zh: str


class ApplicationItemView(_View):
    code: str
    name_zh: str
    name_en: str
    agency_kind: str
    jurisdictions: tuple[str, ...] | None = None
    """Where it is offered; ``None`` means every jurisdiction with an agency of the kind."""
    source: str
    legal_bases: tuple[LegalBasisView, ...]
    required_evidence: tuple[EvidenceView, ...]
    time_limit_days: int | None = None
    """處理時限 in days; ``time_limit_source`` says where it comes from."""
    time_limit_source: str | None = None
    time_limit_demo: bool = False
    """The time limit and form are demo values, not taken from a publication."""
    form: dict[str, str] | None = None
    """申請書表: ``name_zh``, ``name_en`` and ``code`` where known."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "public-housing-low-income",
                    "name_zh": "低收入戶申請等候承租國宅",
                    "name_en": "Waiting list for public-housing rental: low-income household",
                    "agency_kind": "urban_development",
                    "jurisdictions": ["taipei-city"],
                    "source": "表2-3 臺北市都市發展局",
                    "legal_bases": [
                        {
                            "code": "pdpa-art16",
                            "name_zh": "個人資料保護法",
                            "name_en": "Personal Data Protection Act",
                            "article": "第16條",
                            "summary_zh": "公務機關應於執行法定職務必要範圍內利用個人資料。",
                        }
                    ],
                    "required_evidence": [
                        {
                            "dataset": "income",
                            "dataset_name_zh": "綜合所得資料",
                            "dataset_name_en": "Income (consolidated income tax)",
                            "fields": [],
                            "predicate": "household_income_below",
                            "predicate_params": {"threshold": 19013},
                            "legal_basis": "tax-collection-act-art33",
                            "legal_basis_citation_zh": "稅捐稽徵法第33條",
                            "legal_basis_citation_en": "Tax Collection Act (第33條)",
                            "paper_name_zh": "綜合所得稅各類所得資料清單",
                            "paper_name_en": "Income statement from the tax office",
                            "purpose_zh": "確認家庭平均每人每月所得低於門檻。",
                        }
                    ],
                }
            ]
        },
    )

    def offered_in(self, jurisdiction: str) -> bool:
        """Whether the item's own list allows ``jurisdiction`` (agency presence not checked)."""
        return self.jurisdictions is None or jurisdiction in self.jurisdictions


# --- jurisdictions and agencies -------------------------------------------------------------


def _jurisdiction_view(row: m.Jurisdiction, predecessors: tuple[str, ...]) -> JurisdictionView:
    return JurisdictionView(
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        kind=row.kind,
        national_id_letter=row.national_id_letter,
        established_on=row.established_on,
        merged_into=row.merged_into,
        merged_on=row.merged_on,
        districts=tuple(row.districts),
        predecessors=predecessors,
    )


def list_jurisdictions(session: Session) -> list[JurisdictionView]:
    """Every jurisdiction, current and former, in catalog order."""
    rows = list(session.scalars(select(m.Jurisdiction).order_by(m.Jurisdiction.position)))
    predecessors: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.merged_into:
            predecessors[row.merged_into].append(row.code)
    return [_jurisdiction_view(row, tuple(predecessors[row.code])) for row in rows]


def get_jurisdiction(session: Session, code: str) -> JurisdictionView | None:
    row = session.get(m.Jurisdiction, code)
    if row is None:
        return None
    predecessors = session.scalars(
        select(m.Jurisdiction.code)
        .where(m.Jurisdiction.merged_into == code)
        .order_by(m.Jurisdiction.position)
    )
    return _jurisdiction_view(row, tuple(predecessors))


def successor_of(session: Session, jurisdiction_code: str) -> str:
    """The current jurisdiction that ``jurisdiction_code`` became (itself when current).

    Raises :class:`CatalogNotFound` for an unknown code.
    """
    code: str | None = jurisdiction_code
    seen: set[str] = set()
    while True:
        row = session.get(m.Jurisdiction, code)
        if row is None:
            raise CatalogNotFound("jurisdiction", jurisdiction_code)
        if row.merged_into is None or row.code in seen:
            return row.code
        seen.add(row.code)
        code = row.merged_into


def _agency_view(row: m.Agency) -> AgencyView:
    return AgencyView(
        code=row.code,
        jurisdiction=row.jurisdiction,
        kind=row.kind,
        name_zh=row.name_zh,
        name_en=row.name_en,
    )


def get_agency(session: Session, code: str) -> AgencyView | None:
    row = session.get(m.Agency, code)
    return _agency_view(row) if row else None


def list_agencies(
    session: Session, jurisdiction: str | None = None, kind: str | None = None
) -> list[AgencyView]:
    """Agencies, optionally of one jurisdiction and/or one kind, in catalog order."""
    query = select(m.Agency).order_by(m.Agency.position)
    if jurisdiction is not None:
        query = query.where(m.Agency.jurisdiction == jurisdiction)
    if kind is not None:
        query = query.where(m.Agency.kind == kind)
    return [_agency_view(row) for row in session.scalars(query)]


def get_legal_basis(session: Session, code: str) -> LegalBasisView | None:
    row = session.get(m.LegalBasis, code)
    return _legal_basis_view(row) if row else None


def _legal_basis_view(row: m.LegalBasis) -> LegalBasisView:
    return LegalBasisView(
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        article=row.article,
        summary_zh=row.summary_zh,
    )


# --- datasets --------------------------------------------------------------------------------


def _field_view(row: m.DatasetField, items: list[FieldView]) -> FieldView:
    return FieldView(
        name=row.name,
        type=row.type,
        label_zh=row.label_zh,
        label_en=row.label_en,
        personal=row.personal,
        required=row.required,
        jurisdiction=row.jurisdiction,
        code_list=tuple(CodeLabelView(**c) for c in row.code_list or []),
        code_list_source=row.code_list_source,
        items=tuple(items),
    )


def _dataset_view(session: Session, row: m.Dataset, jurisdiction: str | None) -> DatasetView:
    trees = m.build_field_trees(
        session.scalars(select(m.DatasetField).where(m.DatasetField.dataset == row.code)),
        _field_view,
    )
    fields = {k: tuple(v) for k, v in trees.items()}
    extensions = {k: v for k, v in sorted(fields.items(), key=lambda kv: kv[0] or "") if k}
    local = extensions.get(jurisdiction, ()) if jurisdiction else ()
    predicates = session.scalars(
        select(m.Predicate).where(m.Predicate.dataset == row.code).order_by(m.Predicate.position)
    )
    return DatasetView(
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        description_zh=row.description_zh,
        description_en=row.description_en,
        owner_agency=row.owner_agency,
        owner_kind=row.owner_kind,
        owner_scope=row.owner_scope,
        digitised=row.digitised,
        not_digitised_in=tuple(row.not_digitised_in),
        jurisdiction=jurisdiction,
        fields=fields.get(None, ()) + local,
        extensions=extensions,
        predicates=tuple(
            PredicateView(
                code=p.code,
                name_zh=p.name_zh,
                name_en=p.name_en,
                description_zh=p.description_zh,
                params=tuple(PredicateParamView(**q) for q in p.params),
            )
            for p in predicates
        ),
    )


def get_dataset(session: Session, code: str, jurisdiction: str | None = None) -> DatasetView | None:
    """The dataset's standard; with ``jurisdiction``, ``fields`` also holds its extensions
    (a former jurisdiction counts as its successor)."""
    row = session.get(m.Dataset, code)
    if row is None:
        return None
    if jurisdiction is not None:
        jurisdiction = successor_of(session, jurisdiction)
    return _dataset_view(session, row, jurisdiction)


def list_datasets(session: Session) -> list[DatasetView]:
    return [
        _dataset_view(session, row, None)
        for row in session.scalars(select(m.Dataset).order_by(m.Dataset.code))
    ]


def names_another_person(dataset: DatasetView | None, predicate: str | None) -> bool:
    """The predicate is about a second person its caller names (a ``national_id`` param,
    e.g. the other of a kinship): asked only when asked for, with that person named."""
    spec = dataset.predicate(predicate) if dataset and predicate else None
    return bool(spec and any(p.type == "national_id" for p in spec.params))


def asks_for_another_person(session: Session, evidence_type: str) -> bool:
    """:func:`names_another_person` for an evidence type (a dataset or a predicate code)."""
    code = dataset_of_evidence_type(session, evidence_type)
    if code is None or code == evidence_type:
        return False
    return names_another_person(get_dataset(session, code), evidence_type)


def dataset_of_evidence_type(session: Session, code: str) -> str | None:
    """The dataset an evidence type names: a dataset code names itself, a predicate code its
    dataset (predicate codes are unique across the catalog); ``None`` when unknown."""
    if session.get(m.Dataset, code) is not None:
        return code
    return session.scalars(select(m.Predicate.dataset).where(m.Predicate.code == code)).first()


def owner_agency_for(session: Session, dataset_code: str, jurisdiction_code: str) -> str:
    """The agency code owning ``dataset_code`` for ``jurisdiction_code``.

    A central dataset has one owner everywhere; a local one is owned by the agency of its
    ``owner_kind`` in the (successor) jurisdiction. Raises :class:`CatalogNotFound` when the
    dataset or jurisdiction is unknown or no such agency exists there.
    """
    dataset = session.get(m.Dataset, dataset_code)
    if dataset is None:
        raise CatalogNotFound("dataset", dataset_code)
    if dataset.owner_agency is not None:
        return dataset.owner_agency
    current = successor_of(session, jurisdiction_code)
    code = f"{current}.{dataset.owner_kind}"
    if session.get(m.Agency, code) is None:
        raise CatalogNotFound("agency", code)
    return code


# --- application items -----------------------------------------------------------------------


def _item_views(session: Session, rows: list[m.ApplicationItem]) -> list[ApplicationItemView]:
    if not rows:
        return []
    bases = {b.code: _legal_basis_view(b) for b in session.scalars(select(m.LegalBasis))}
    names = {d.code: (d.name_zh, d.name_en) for d in session.scalars(select(m.Dataset))}
    evidence: dict[str, list[m.RequiredEvidence]] = defaultdict(list)
    query = select(m.RequiredEvidence).order_by(m.RequiredEvidence.position)
    if len(rows) == 1:
        query = query.where(m.RequiredEvidence.item == rows[0].code)
    for e in session.scalars(query):
        evidence[e.item].append(e)

    def evidence_view(e: m.RequiredEvidence) -> EvidenceView:
        basis = bases[e.legal_basis]
        return EvidenceView(
            dataset=e.dataset,
            dataset_name_zh=names[e.dataset][0],
            dataset_name_en=names[e.dataset][1],
            fields=tuple(e.fields or ()),
            predicate=e.predicate,
            predicate_params=dict(e.predicate_params or {}),
            predicate_basis=dict(e.predicate_basis or {}),
            legal_basis=e.legal_basis,
            legal_basis_citation_zh=basis.citation_zh,
            legal_basis_citation_en=basis.citation_en,
            paper_name_zh=e.paper_name_zh,
            paper_name_en=e.paper_name_en,
            purpose_zh=e.purpose_zh,
        )

    return [
        ApplicationItemView(
            code=row.code,
            name_zh=row.name_zh,
            name_en=row.name_en,
            agency_kind=row.agency_kind,
            jurisdictions=tuple(row.jurisdictions) if row.jurisdictions is not None else None,
            source=row.source,
            legal_bases=tuple(bases[c] for c in row.legal_bases),
            required_evidence=tuple(evidence_view(e) for e in evidence[row.code]),
            time_limit_days=row.time_limit_days,
            time_limit_source=row.time_limit_source,
            time_limit_demo=bool(row.time_limit_demo),
            form=dict(row.form) if row.form else None,
        )
        for row in rows
    ]


def get_application_item(session: Session, code: str) -> ApplicationItemView | None:
    row = session.get(m.ApplicationItem, code)
    return _item_views(session, [row])[0] if row else None


def search_application_items(
    session: Session,
    query: str = "",
    agency_kind: str | None = None,
    jurisdiction: str | None = None,
) -> list[ApplicationItemView]:
    """Items whose code or Chinese/English name contains ``query`` (case-insensitive; empty
    matches all), optionally of one agency kind, optionally offered in ``jurisdiction``
    (the item allows it and the jurisdiction has an agency of the item's kind)."""
    needle = query.strip().casefold()
    statement = select(m.ApplicationItem).order_by(m.ApplicationItem.position)
    if agency_kind is not None:
        statement = statement.where(m.ApplicationItem.agency_kind == agency_kind)
    rows = [
        row
        for row in session.scalars(statement)
        if not needle
        or needle in row.code.casefold()
        or needle in row.name_zh.casefold()
        or needle in row.name_en.casefold()
    ]
    if jurisdiction is not None:
        current = successor_of(session, jurisdiction)
        kinds = {a.kind for a in list_agencies(session, jurisdiction=current)}
        rows = [
            row
            for row in rows
            if row.agency_kind in kinds
            and (row.jurisdictions is None or current in row.jurisdictions)
        ]
    return _item_views(session, rows)


# --- Open311 service types --------------------------------------------------------------------


class AttributeValueView(_View):
    key: str
    name_zh: str
    name_en: str


class AttributeView(_View):
    """A GeoReport attribute of a service type (``extension``: asked by this city only)."""

    code: str
    datatype: str
    required: bool
    variable: bool
    order: int
    description_zh: str
    description_en: str
    datatype_description_zh: str | None = None
    datatype_description_en: str | None = None
    values: tuple[AttributeValueView, ...] = ()
    extension: bool = False


class ServiceView(_View):
    """An Open311 service type as offered in one jurisdiction (``jurisdiction`` null: the
    catalog entry itself, common attributes only)."""

    code: str
    group: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    keywords: tuple[str, ...]
    type: str
    agency_kind: str
    jurisdictions: tuple[str, ...] | None
    expected_days: int
    answer_zh: str
    answer_en: str
    jurisdiction: str | None = None
    attributes: tuple[AttributeView, ...] = ()


def _attribute_views(raw: list[dict[str, Any]], extension: bool) -> list[AttributeView]:
    return [
        AttributeView.model_validate(
            {**a, "values": tuple(a.get("values") or ()), "extension": extension}
        )
        for a in raw
    ]


def _service_view(row: m.Service, jurisdiction: str | None) -> ServiceView:
    attributes = _attribute_views(row.attributes, False)
    if jurisdiction is not None:
        attributes += _attribute_views(row.extensions.get(jurisdiction, []), True)
    return ServiceView(
        code=row.code,
        group=row.group,
        name_zh=row.name_zh,
        name_en=row.name_en,
        description_zh=row.description_zh,
        description_en=row.description_en,
        keywords=tuple(row.keywords),
        type=row.type,
        agency_kind=row.agency_kind,
        jurisdictions=tuple(row.jurisdictions) if row.jurisdictions is not None else None,
        expected_days=row.expected_days,
        answer_zh=row.answer_zh,
        answer_en=row.answer_en,
        jurisdiction=jurisdiction,
        attributes=tuple(sorted(attributes, key=lambda a: a.order)),
    )


def get_service(session: Session, code: str, jurisdiction: str | None = None) -> ServiceView | None:
    """A service type by code; with ``jurisdiction``, only when offered there, with that
    city's extra attributes."""
    row = session.get(m.Service, code)
    if row is None:
        return None
    if jurisdiction is not None and not _offered(session, row, jurisdiction):
        return None
    return _service_view(row, jurisdiction)


def _offered(session: Session, row: m.Service, jurisdiction: str) -> bool:
    if row.jurisdictions is not None and jurisdiction not in row.jurisdictions:
        return False
    return bool(list_agencies(session, jurisdiction=jurisdiction, kind=row.agency_kind))


def list_services(session: Session, jurisdiction: str | None = None) -> list[ServiceView]:
    """Service types in catalog order; with ``jurisdiction``, those offered there (the entry
    allows it and the city has an agency of its kind), each with the city's extensions."""
    rows = session.scalars(select(m.Service).order_by(m.Service.position))
    if jurisdiction is None:
        return [_service_view(row, None) for row in rows]
    kinds = {a.kind for a in list_agencies(session, jurisdiction=jurisdiction)}
    return [
        _service_view(row, jurisdiction)
        for row in rows
        if row.agency_kind in kinds
        and (row.jurisdictions is None or jurisdiction in row.jurisdictions)
    ]


# --- a cache for hot paths ---------------------------------------------------------------------


class CachedCatalog:
    """Catalog views memoised per loaded catalog version, for paths that read the same few
    items and datasets on every request (the evidence exchange).

    The catalog changes only when ``onceonly catalog load`` runs, which records a new
    ``catalog_versions`` row; :meth:`check` costs one indexed query and drops every memoised
    view when it sees a newer version, so a reload is seen by the next request.
    """

    def __init__(self) -> None:
        self._version: int | None = None
        self._memo: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def check(self, session: Session, version: int | None = None) -> CachedCatalog:
        """``version``: the newest catalog version when the caller has read it already
        (``onceonly.cache_versions.read`` does, in the query it makes anyway)."""
        if version is None:
            version = session.scalar(select(func.max(m.CatalogVersion.id)))
        if version != self._version:
            with self._lock:
                self._memo = {}
                self._version = version
        return self

    def _get(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        memo = self._memo
        if key not in memo:
            memo[key] = load()
        return memo[key]

    def application_item(self, session: Session, code: str) -> ApplicationItemView | None:
        result: ApplicationItemView | None = self._get(
            ("item", code), lambda: get_application_item(session, code)
        )
        return result

    def dataset(self, session: Session, code: str) -> DatasetView | None:
        result: DatasetView | None = self._get(
            ("dataset", code), lambda: get_dataset(session, code)
        )
        return result

    def agency(self, session: Session, code: str) -> AgencyView | None:
        result: AgencyView | None = self._get(("agency", code), lambda: get_agency(session, code))
        return result

    def dataset_of_evidence_type(self, session: Session, code: str) -> str | None:
        result: str | None = self._get(
            ("evidence", code), lambda: dataset_of_evidence_type(session, code)
        )
        return result

    def owner_agency_for(self, session: Session, dataset_code: str, jurisdiction: str) -> str:
        result: str = self._get(
            ("owner", dataset_code, jurisdiction),
            lambda: owner_agency_for(session, dataset_code, jurisdiction),
        )
        return result

    def name(self, session: Session, code: str, lang: str) -> str:
        """The display name of an agency, application item or dataset code, or a legal
        basis as people cite it (個人資料保護法第16條); the code itself when it names none."""
        english = lang == "en"

        def load() -> tuple[str, str] | None:
            for view in (
                get_agency(session, code),
                get_application_item(session, code),
                get_dataset(session, code),
            ):
                if view is not None:
                    return view.name_zh, view.name_en
            basis = get_legal_basis(session, code)
            if basis is not None:
                return basis.citation_zh, basis.citation_en
            return None

        names: tuple[str, str] | None = self._get(("name", code), load)
        if names is None:
            return code
        return names[1] if english else names[0]
