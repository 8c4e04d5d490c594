"""Catalog tables: a database copy of the YAML files, replaced as a whole on every load.

Catalog entries are keyed by their code (the code is the public identifier other capabilities
keep), so a reload leaves every reference valid as long as the code still exists. ``position``
columns keep the order of the files, which the exporter reproduces byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onceonly.db import Base, UTCDateTime, utcnow


class Jurisdiction(Base):
    __tablename__ = "catalog_jurisdictions"

    code: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    national_id_letter: Mapped[str | None] = mapped_column(String(1))
    established_on: Mapped[date | None] = mapped_column(Date)
    merged_into: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_jurisdictions.code", ondelete="SET NULL")
    )
    merged_on: Mapped[date | None] = mapped_column(Date)
    districts: Mapped[list[str]] = mapped_column(JSON)


class Agency(Base):
    __tablename__ = "catalog_agencies"

    code: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    jurisdiction: Mapped[str] = mapped_column(
        ForeignKey("catalog_jurisdictions.code", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(60), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class LegalBasis(Base):
    __tablename__ = "catalog_legal_bases"

    code: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(300))
    article: Mapped[str | None] = mapped_column(String(200))
    summary_zh: Mapped[str] = mapped_column(Text)


class Dataset(Base):
    __tablename__ = "catalog_datasets"

    code: Mapped[str] = mapped_column(String(120), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(300))
    owner_agency: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_agencies.code", ondelete="CASCADE")
    )
    owner_kind: Mapped[str | None] = mapped_column(String(60))
    owner_scope: Mapped[str] = mapped_column(String(40))
    digitised: Mapped[bool] = mapped_column(Boolean)
    not_digitised_in: Mapped[list[str]] = mapped_column(JSON)
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)


class DatasetField(Base):
    """A field of a dataset's standard: core (``jurisdiction`` null) or a local extension;
    sub-fields of an array point at it with ``parent_id``."""

    __tablename__ = "catalog_dataset_fields"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(
        ForeignKey("catalog_datasets.code", ondelete="CASCADE"), index=True
    )
    jurisdiction: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_jurisdictions.code", ondelete="CASCADE")
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_dataset_fields.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    type: Mapped[str] = mapped_column(String(20))
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    personal: Mapped[bool] = mapped_column(Boolean)
    required: Mapped[bool] = mapped_column(Boolean)
    code_list: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    code_list_source: Mapped[str | None] = mapped_column(String(40))

    parent: Mapped[DatasetField | None] = relationship(remote_side=[id])


class Predicate(Base):
    __tablename__ = "catalog_predicates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(
        ForeignKey("catalog_datasets.code", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(300))
    description_zh: Mapped[str] = mapped_column(Text)
    params: Mapped[list[dict[str, str]]] = mapped_column(JSON)


class ApplicationItem(Base):
    __tablename__ = "catalog_items"

    code: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    agency_kind: Mapped[str] = mapped_column(String(60), index=True)
    jurisdictions: Mapped[list[str] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(300))
    legal_bases: Mapped[list[str]] = mapped_column(JSON)
    time_limit_days: Mapped[int | None] = mapped_column(Integer)
    time_limit_source: Mapped[str | None] = mapped_column(Text)
    time_limit_demo: Mapped[bool | None] = mapped_column(Boolean)
    form: Mapped[dict[str, str] | None] = mapped_column(JSON)


class RequiredEvidence(Base):
    __tablename__ = "catalog_required_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item: Mapped[str] = mapped_column(
        ForeignKey("catalog_items.code", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[str] = mapped_column(ForeignKey("catalog_datasets.code", ondelete="CASCADE"))
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    predicate: Mapped[str | None] = mapped_column(String(60))
    predicate_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(
        ForeignKey("catalog_legal_bases.code", ondelete="CASCADE")
    )
    paper_name_zh: Mapped[str] = mapped_column(String(200))
    paper_name_en: Mapped[str] = mapped_column(String(300))
    purpose_zh: Mapped[str] = mapped_column(Text)
    # Last, as migration 0012 adds it (same column order in migrated and created databases).
    predicate_basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Where the statutory parameter values come from: ``{"year": 2026, "source": ...}``."""


class Service(Base):
    """An Open311 GeoReport service type (``services.yaml``); attributes are kept as the
    file has them (a list of GeoReport attribute mappings), per city in ``extensions``."""

    __tablename__ = "catalog_services"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    group: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    type: Mapped[str] = mapped_column(String(20))
    agency_kind: Mapped[str] = mapped_column(String(60))
    jurisdictions: Mapped[list[str] | None] = mapped_column(JSON)
    expected_days: Mapped[int] = mapped_column(Integer)
    answer_zh: Mapped[str] = mapped_column(Text)
    answer_en: Mapped[str] = mapped_column(Text)
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    extensions: Mapped[dict[str, list[dict[str, Any]]]] = mapped_column(JSON)


class CatalogVersion(Base):
    """One row per load: which YAML set (sha256 over file names and bytes) and when."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))
    file_count: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


T = TypeVar("T")


def build_field_trees(
    rows: Iterable[DatasetField], build: Callable[[DatasetField, list[T]], T]
) -> dict[str | None, list[T]]:
    """Field rows of one dataset as trees in file order, keyed by jurisdiction (``None`` for
    the core standard); ``build`` makes one node from a row and its built sub-fields."""
    children: dict[int | None, list[DatasetField]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.position):
        children[row.parent_id].append(row)

    def walk(row: DatasetField) -> T:
        return build(row, [walk(child) for child in children[row.id]])

    grouped: dict[str | None, list[T]] = defaultdict(list)
    for row in children[None]:
        grouped[row.jurisdiction].append(walk(row))
    return grouped


CATALOG_TABLES = (
    Service,
    RequiredEvidence,
    ApplicationItem,
    Predicate,
    DatasetField,
    Dataset,
    Agency,
    LegalBasis,
    Jurisdiction,
)
"""Content tables in the order they are emptied before a reload (children first)."""
