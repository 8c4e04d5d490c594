"""Provider adapters over SQL stores in the owning agencies' own legacy schemas.

Each owning agency keeps its data in its own store, designed its own way (see
:mod:`onceonly.demo.registries.schema`: ROC-era ``YYYMMDD`` dates, Chinese code values,
building numbers without their dash ...). An adapter maps that schema to the dataset's common
standard, table-driven: a :class:`DatasetMap` says, for each standard field, which columns of
the store it is read from and how they are converted, so a fetch selects only the columns
of the fields it was asked for.

Predicates are computed here, at the owner, and only the yes/no answer leaves.

Stores are opened read-only (``mode=ro``) through a small SQLAlchemy connection pool, since
many clerks' requests read them at once. A store that cannot be opened, has gone, or stays
locked past the timeout raises :class:`~onceonly.providers.base.ProviderUnavailable`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import PoolProxiedConnection as Connection
from sqlalchemy.pool import QueuePool

from onceonly.demo.registries.gazetteer import JURISDICTIONS
from onceonly.domain.roc_date import parse_roc_date
from onceonly.providers.base import (
    PredicateAnswer,
    ProviderUnavailable,
    SourceRecord,
    UnknownPredicate,
)


class UnknownDataset(LookupError):
    """The provider does not serve this dataset (e.g. a cadastral map never digitised)."""


class InvalidPredicateParams(ValueError):
    """A predicate was asked without a parameter it needs, or with one of the wrong type."""


# converters from the legacy encodings -------------------------------------------------------


def roc_to_iso(value: str | None) -> str | None:
    """``"1150630"`` → ``"2026-06-30"``; None stays None."""
    if not value:
        return None
    if len(value) == 7 and value.isdigit():  # the stores' own format, read on every fetch
        return date(int(value[:3]) + 1911, int(value[3:5]), int(value[5:])).isoformat()
    return parse_roc_date(value).isoformat()


def _coded(codes: Mapping[str, str], default: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        return codes.get(value, default) if value is not None else default

    return convert


def _dashed(head: int) -> Callable[[str], str]:
    """``"01230004"`` → ``"0123-0004"`` (地號), ``"01234000"`` → ``"01234-000"`` (建號)."""

    def convert(value: str) -> str:
        return f"{value[:head]}-{value[head:]}"

    return convert


def _same(value: Any) -> Any:
    return value


_SEX = {"1": "M", "2": "F"}
_MARITAL = {"1": "single", "2": "married", "3": "divorced", "4": "widowed"}
_INDIGENOUS = {"0": "none", "1": "plains", "2": "mountain"}
_TITLES = {
    "戶長": "head", "妻": "spouse", "夫": "spouse", "配偶": "spouse",
    "父": "parent", "母": "parent", "孫": "grandchild", "孫女": "grandchild",
    "兄": "sibling", "弟": "sibling", "姊": "sibling", "妹": "sibling",
    **{f"{order}{sex}": "child" for order in "長次三四五" for sex in "男女"},
}  # fmt: skip
_ZONES = {
    "住宅區": "residential", "商業區": "commercial", "工業區": "industrial",
    "農業區": "agricultural", "一般農業區": "agricultural", "特定農業區": "agricultural",
}  # fmt: skip
_BUILDING_USES = {"住家用": "residential", "商業用": "commercial", "工業用": "industrial"}
_BUSINESS_STATUS = {"01": "active", "02": "suspended", "03": "dissolved"}
_FACTORY_STATUS = {"生產中": "active", "停工": "suspended", "歇業": "dissolved"}
_LOW_INCOME = {"1": "low_income", "2": "low_income", "3": "low_income", "M": "mid_low_income"}
_DISABILITY = {"1": "mild", "2": "moderate", "3": "severe", "4": "profound"}
_FORMER_TAINAN = {"10011": "tainan-county", "10021": "former-tainan-city"}
_COORDINATES = {"97": "twd97", "67": "twd67", "G": "graphical"}
_RESIDENTIAL_USE = "住家用"
_SELF_USE_RATE = "自用住宅"


@cache
def _county_codes() -> dict[str, str]:
    """The Ministry's county code → catalog jurisdiction code."""
    return {j.county_code: j.code for j in JURISDICTIONS}


def _square_wkt(x0: float | None, y0: float | None, side: float | None) -> str | None:
    """The boundary the map index holds (a square of the parcel's area), as WKT."""
    if x0 is None or y0 is None or side is None:
        return None
    x1, y1 = round(x0 + side, 2), round(y0 + side, 2)
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def _address(*parts: Any) -> str:
    """The full address from the household register's split columns."""
    county, town, village, neighbour, road, section, lane, alley, number, floor = parts
    text_ = f"{county}{town}{village or ''}{f'{neighbour}鄰' if neighbour else ''}"
    text_ += f"{road or ''}{section or ''}{f'{lane}巷' if lane else ''}"
    text_ += f"{f'{alley}弄' if alley else ''}{number}號"
    if floor:
        level, _, sub = floor.partition("之")
        text_ += f"{level}樓" + (f"之{sub}" if sub else "")
    return text_


# the table-driven mapping ---------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A standard field read from ``exprs`` (SQL expressions) and turned into its value."""

    exprs: tuple[str, ...]
    convert: Callable[..., Any] = _same


def col(*exprs: str, convert: Callable[..., Any] = _same) -> Col:
    return Col(exprs, convert)


@dataclass(frozen=True)
class DatasetMap:
    """How one dataset of the common standard is read from the store.

    ``sql`` has a ``{columns}`` placeholder and binds ``:nid``. A list dataset
    (``list_field`` set) returns one row per item: ``fields`` are then the item's sub-fields
    and ``subject_field`` the top-level field naming the subject.
    """

    sql: str
    fields: Mapping[str, Col]
    list_field: str | None = None
    subject_field: str | None = None
    extensions: Mapping[str, tuple[str, Col]] = field(default_factory=dict)
    """Local extension field → (the jurisdiction that defines it, how it is read)."""
    jurisdiction_of_subject: Col | None = None
    """Where the subject belongs, to decide which extension fields apply."""

    def top_level(self) -> frozenset[str]:
        if self.list_field is None:
            return frozenset(self.fields)
        return frozenset({self.list_field, self.subject_field or ""} - {""})


_Reads = tuple[tuple[str, Col, tuple[int, ...]], ...]


@dataclass(frozen=True)
class _Selection:
    """What one fetch reads: the SQL, and per output field the row positions it needs."""

    sql: str
    top: _Reads
    items: _Reads | None
    subject: bool
    extensions: tuple[tuple[str, str, Col, tuple[int, ...]], ...] = ()
    where: tuple[Col, tuple[int, ...]] | None = None


def _positions(exprs: tuple[str, ...], columns: list[str]) -> tuple[int, ...]:
    result = []
    for expr in exprs:
        if expr not in columns:
            columns.append(expr)
        result.append(columns.index(expr))
    return tuple(result)


def _select(mapping: DatasetMap, fields: Sequence[str]) -> _Selection:
    columns: list[str] = []
    top: list[tuple[str, Col, tuple[int, ...]]] = []
    items: list[tuple[str, Col, tuple[int, ...]]] | None = None
    subject = False
    extensions = []
    where = None
    if mapping.list_field is None:
        for name in dict.fromkeys(fields):
            if name in mapping.fields:
                spec = mapping.fields[name]
                top.append((name, spec, _positions(spec.exprs, columns)))
            elif name in mapping.extensions:
                owner, spec = mapping.extensions[name]
                extensions.append((name, owner, spec, _positions(spec.exprs, columns)))
        if extensions and mapping.jurisdiction_of_subject is not None:
            spec = mapping.jurisdiction_of_subject
            where = (spec, _positions(spec.exprs, columns))
    else:
        wanted: dict[str, None] = {}
        whole = mapping.list_field in fields
        prefix = mapping.list_field + "."
        for name in fields:
            if name == mapping.subject_field:
                subject = True
            elif whole:
                wanted.update(dict.fromkeys(mapping.fields))
            elif name.startswith(prefix) and name[len(prefix) :] in mapping.fields:
                wanted[name[len(prefix) :]] = None
        if whole or wanted:
            items = [
                (name, mapping.fields[name], _positions(mapping.fields[name].exprs, columns))
                for name in (mapping.fields if whole else wanted)
            ]
    sql = mapping.sql.format(columns=", ".join(columns) or "1")
    return _Selection(
        sql,
        tuple(top),
        None if items is None else tuple(items),
        subject,
        tuple(extensions),
        where,
    )


def _value(spec: Col, positions: tuple[int, ...], row: Sequence[Any]) -> Any:
    return spec.convert(*(row[i] for i in positions))


# the provider -----------------------------------------------------------------------------------


@dataclass
class SqlProvider:
    """One owning agency's SQL store, read-only, mapped to the common standard.

    Subclasses map the datasets they serve (``MAPS``, or :meth:`dataset_maps` when the map
    depends on the store) and name the predicates they evaluate (``PREDICATES``:
    ``(dataset, predicate)`` → method name).
    """

    owner: str
    path: Path
    served: frozenset[str]
    jurisdiction: str | None = None
    timeout: float = 2.0
    """Seconds to wait for a locked store before answering unavailable."""
    pool_size: int = 4
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _selections: dict[tuple[str, tuple[str, ...]], _Selection] = field(
        default_factory=dict, init=False, repr=False
    )
    _as_of: str | None = field(default=None, init=False, repr=False)

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {}
    PREDICATES: ClassVar[Mapping[tuple[str, str], str]] = {}

    def dataset_maps(self) -> Mapping[str, DatasetMap]:
        return self.MAPS

    # Provider protocol --------------------------------------------------------------------

    def datasets(self) -> frozenset[str]:
        return self.served

    def fetch(self, dataset: str, national_id: str, fields: Sequence[str]) -> SourceRecord | None:
        mapping = self._mapping(dataset)
        key = (dataset, tuple(fields))
        selection = self._selections.get(key)
        if selection is None:
            selection = _select(mapping, fields)
            if len(self._selections) < 512:
                self._selections[key] = selection
        with self._connect() as connection:
            rows = self._run(connection, selection.sql, {"nid": national_id})
            as_of = self._extracted_on(connection)
        if not rows:
            return None
        record: dict[str, Any]
        if selection.items is None and mapping.list_field is None:
            row = rows[0]
            record = {name: _value(spec, pos, row) for name, spec, pos in selection.top}
            if selection.where is not None:
                belongs = _value(*selection.where, row)
                for name, owner, spec, pos in selection.extensions:
                    if owner == belongs:
                        record[name] = _value(spec, pos, row)
        else:
            record = {}
            if selection.subject and mapping.subject_field:
                record[mapping.subject_field] = national_id
            if selection.items is not None and mapping.list_field:
                record[mapping.list_field] = [
                    {name: _value(spec, pos, row) for name, spec, pos in selection.items}
                    for row in rows
                ]
        return SourceRecord(dataset, national_id, record, source_updated_at=as_of)

    def evaluate(
        self, dataset: str, predicate: str, national_id: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        method = self.PREDICATES.get((dataset, predicate))
        if method is None or dataset not in self.served:
            raise UnknownPredicate(f"{self.owner} does not evaluate {dataset}.{predicate}")
        with self._connect() as connection:
            answer: PredicateAnswer = getattr(self, method)(connection, national_id, params)
            return answer

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # plumbing -------------------------------------------------------------------------------

    def _mapping(self, dataset: str) -> DatasetMap:
        if dataset not in self.served:
            raise UnknownDataset(f"{self.owner} does not serve {dataset}")
        return self.dataset_maps()[dataset]

    def _unavailable(self, reason: str) -> ProviderUnavailable:
        return ProviderUnavailable(self.owner, reason)

    def _engine_or_fail(self) -> Engine:
        if not self.path.is_file():
            self.close()  # pooled connections would still read a deleted file
            raise self._unavailable(f"store not found: {self.path.name}")
        with self._lock:
            if self._engine is None:
                self._engine = create_engine(
                    f"sqlite:///file:{self.path.resolve()}?mode=ro&uri=true",
                    connect_args={"check_same_thread": False, "timeout": self.timeout},
                    poolclass=QueuePool,
                    pool_size=self.pool_size,
                    max_overflow=self.pool_size,
                    pool_timeout=self.timeout,
                )
            return self._engine

    def _connect(self) -> _Guarded:
        return _Guarded(self)

    def _run(self, connection: Connection, sql: str, params: Mapping[str, Any]) -> list[Any]:
        """Rows of ``sql``, in the driver's own SQL (``:name`` parameters).

        The pooled DB-API connection is used directly: SQLAlchemy's statement and result
        layers would triple the cost of these one-row, index-only lookups.
        """
        cursor = connection.cursor()
        try:
            cursor.execute(sql, dict(params))
            return list(cursor.fetchall())
        except sqlite3.Error as error:
            raise self._unavailable(str(error)) from error
        finally:
            cursor.close()

    def _scalar(self, connection: Connection, sql: str, **params: Any) -> Any:
        rows = self._run(connection, sql, params)
        return rows[0][0] if rows else None

    def _extracted_on(self, connection: Connection) -> str:
        """When the store's data was extracted (ISO date), from its ``meta`` table."""
        if self._as_of is None:
            value = self._scalar(connection, "SELECT value FROM meta WHERE key = 'extract_ymd'")
            self._as_of = roc_to_iso(value) or ""
        return self._as_of


class _Guarded:
    """A pooled connection whose opening failures become ProviderUnavailable."""

    def __init__(self, provider: SqlProvider) -> None:
        self.provider = provider
        self.connection: Connection | None = None

    def __enter__(self) -> Connection:
        engine = self.provider._engine_or_fail()
        try:
            self.connection = engine.raw_connection()
        except DBAPIError as error:
            raise self.provider._unavailable(str(error.orig)) from error
        except PoolTimeout as error:
            raise self.provider._unavailable("connection pool exhausted") from error
        return self.connection

    def __exit__(self, *exc: object) -> None:
        if self.connection is not None:
            self.connection.close()


def _on_date(params: Mapping[str, Any]) -> date:
    """The day a validity predicate is asked about: ``params["on"]`` or today."""
    value = params.get("on")
    if value is None:
        return date.today()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise InvalidPredicateParams(f"on: not an ISO date: {value!r}") from error


def _roc(day: date) -> str:
    return f"{day.year - 1911:03d}{day.month:02d}{day.day:02d}"


# the stores -------------------------------------------------------------------------------------

_ADDRESS_COLUMNS = (
    "a.county_name", "a.town_name", "a.vill_name", "a.neighbor", "a.road_name", "a.sec_name",
    "a.lane", "a.alley", "a.door_no", "a.floor",
)  # fmt: skip


class HouseholdRegistryProvider(SqlProvider):
    """戶役政資訊系統 (central.moi_household)."""

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "household_registration": DatasetMap(
            sql="SELECT {columns} FROM persons p JOIN households h ON h.hh_no = p.hh_no "
            "JOIN addresses a ON a.addr_id = h.addr_id WHERE p.idn = :nid",
            fields={
                "national_id": col("p.idn"),
                "name": col("p.surname", "p.given_name", convert=lambda s, g: s + g),
                "sex": col("p.sex_code", convert=_coded(_SEX, "")),
                "birth_date": col("p.birth_ymd", convert=roc_to_iso),
                "household_id": col("p.hh_no"),
                "relationship_to_head": col("p.title", convert=_coded(_TITLES, "other")),
                "address": col(*_ADDRESS_COLUMNS, convert=_address),
                "jurisdiction": col("a.county_code", convert=lambda c: _county_codes().get(c)),
                "district": col("a.town_name"),
                "village": col("a.vill_name"),
                "neighbourhood": col("a.neighbor"),
                "moved_in_on": col("p.move_in_ymd", convert=roc_to_iso),
                "marital_status": col("p.marry_code", convert=_coded(_MARITAL, "single")),
                "spouse_national_id": col("p.spouse_idn"),
                "indigenous_status": col("p.abor_code", convert=_coded(_INDIGENOUS, "none")),
                "is_alive": col("p.death_ymd", convert=lambda d: d is None),
                "death_date": col("p.death_ymd", convert=roc_to_iso),
            },
            extensions={
                "former_jurisdiction": (
                    "tainan-city",
                    col("a.old_county_code", convert=_coded(_FORMER_TAINAN, "tainan-county")),
                ),
                "household_office": ("taipei-city", col("h.reg_office")),
            },
            jurisdiction_of_subject=col("a.county_code", convert=lambda c: _county_codes().get(c)),
        )
    }
    PREDICATES: ClassVar[Mapping[tuple[str, str], str]] = {
        ("household_registration", "is_registered_resident_of"): "_resident_of",
    }

    def _resident_of(
        self, connection: Connection, nid: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        """Alive and registered at an address in ``params["jurisdiction"]`` (a catalog code)."""
        wanted = params.get("jurisdiction")
        if not isinstance(wanted, str):
            raise InvalidPredicateParams("jurisdiction: a jurisdiction code is required")
        rows = self._run(
            connection,
            (
                "SELECT a.county_code, p.death_ymd FROM persons p "
                "JOIN households h ON h.hh_no = p.hh_no "
                "JOIN addresses a ON a.addr_id = h.addr_id WHERE p.idn = :nid"
            ),
            {"nid": nid},
        )
        value = bool(rows) and rows[0][1] is None and _county_codes().get(rows[0][0]) == wanted
        return PredicateAnswer(value, self._extracted_on(connection))


class IncomeProvider(SqlProvider):
    """財政資訊中心 income data (central.fia): the latest tax year a person was filed in."""

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "income": DatasetMap(
            sql="SELECT {columns} FROM unit_members m JOIN filing_units u "
            "ON u.unit_no = m.unit_no AND u.tax_yr = m.tax_yr "
            "WHERE m.idn = :nid ORDER BY m.tax_yr DESC LIMIT 1",
            fields={
                "national_id": col("m.idn"),
                "tax_year": col("m.tax_yr", convert=lambda y: y + 1911),
                "total_income": col(
                    "m.sal_amt", "m.int_amt", "m.oth_amt", convert=lambda *a: sum(a)
                ),
                "salary_income": col("m.sal_amt"),
                "interest_income": col("m.int_amt"),
                "tax_household_id": col("m.unit_no"),
                "household_size": col("u.mem_cnt"),
            },
        )
    }
    PREDICATES: ClassVar[Mapping[tuple[str, str], str]] = {
        ("income", "household_income_below"): "_household_income_below",
    }

    def _household_income_below(
        self, connection: Connection, nid: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        """Monthly income per member of the subject's tax household, in the latest tax year
        the subject was filed in, is below ``params["threshold"]`` (NT$).

        No income record at all answers False: the owner cannot vouch for it.
        """
        threshold = params.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidPredicateParams("threshold: a number (NT$ per person per month)")
        rows = self._run(
            connection,
            (
                "SELECT u.tax_yr, u.mem_cnt, "
                "(SELECT SUM(x.sal_amt + x.int_amt + x.oth_amt) FROM unit_members x "
                " WHERE x.unit_no = u.unit_no AND x.tax_yr = u.tax_yr) "
                "FROM unit_members m JOIN filing_units u "
                "ON u.unit_no = m.unit_no AND u.tax_yr = m.tax_yr "
                "WHERE m.idn = :nid ORDER BY m.tax_yr DESC LIMIT 1"
            ),
            {"nid": nid},
        )
        if not rows:
            return PredicateAnswer(False, "")
        year, members, total = rows[0]
        monthly = (total or 0) / max(members, 1) / 12
        return PredicateAnswer(monthly < threshold, f"tax year {year + 1911}")


class VeteranProvider(SqlProvider):
    """國軍退除役官兵輔導委員會 (central.vac). Non-veterans have no record (None)."""

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "veteran_status": DatasetMap(
            sql="SELECT {columns} FROM vet_master WHERE idno = :nid",
            fields={
                "national_id": col("idno"),
                "is_veteran": col(convert=lambda: True),
                "card_no": col("card_no"),
            },
        )
    }


_OWNED_LAND = (
    "FROM land_own o JOIN land_mark m ON m.land_key = o.land_key "
    "JOIN sections s ON s.sect_code = m.sect_code"
)


class LandOfficeProvider(SqlProvider):
    """A jurisdiction's 地政事務所: land and building register, cadastral map index.

    Land and buildings are registered where they lie, so each land office knows only its
    own jurisdiction's holdings: ``owns_no_residential_property`` means "holds no share of a
    residential building in *this* land office's register"; the caller asks every land
    office and combines the answers with AND.
    """

    PREDICATES: ClassVar[Mapping[tuple[str, str], str]] = {
        ("building_registration", "owns_no_residential_property"): "_owns_no_residence",
    }

    def dataset_maps(self) -> Mapping[str, DatasetMap]:
        return _land_maps(self.jurisdiction or "")

    def _owns_no_residence(
        self, connection: Connection, nid: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        found = self._scalar(
            connection,
            "SELECT 1 FROM bldg_own o JOIN bldg_mark b ON b.bldg_key = o.bldg_key "
            "WHERE o.owner_idno = :nid AND b.main_purpose = :use LIMIT 1",
            nid=nid,
            use=_RESIDENTIAL_USE,
        )
        return PredicateAnswer(found is None, self._extracted_on(connection))


@cache
def _land_maps(jurisdiction: str) -> dict[str, DatasetMap]:
    here = col(convert=lambda: jurisdiction)
    registered = col("o.reg_ymd", convert=roc_to_iso)
    return {
        "land_registration": DatasetMap(
            sql=f"SELECT {{columns}} {_OWNED_LAND} WHERE o.owner_idno = :nid "
            "ORDER BY m.land_key, o.reg_order",
            list_field="parcels",
            subject_field="owner_national_id",
            fields={
                "jurisdiction": here,
                "district": col("s.town_name"),
                "section": col("s.sect_name"),
                "subsection": col("s.subsect_name"),
                "parcel_no": col("m.land_no", convert=_dashed(4)),
                "area_m2": col("m.area"),
                "land_use_zone": col("m.zone_name", convert=_coded(_ZONES, "other")),
                "announced_value_per_m2": col("m.ann_value"),
                "share_numerator": col("o.right_num"),
                "share_denominator": col("o.right_den"),
                "registered_on": registered,
            },
        ),
        "building_registration": DatasetMap(
            sql="SELECT {columns} FROM bldg_own o JOIN bldg_mark b ON b.bldg_key = o.bldg_key "
            "JOIN sections s ON s.sect_code = b.sect_code WHERE o.owner_idno = :nid "
            "ORDER BY b.bldg_key",
            list_field="buildings",
            subject_field="owner_national_id",
            fields={
                "jurisdiction": here,
                "building_no": col("b.bldg_no", convert=_dashed(5)),
                "section": col("s.sect_name"),
                "address": col("b.door_addr"),
                "main_use": col("b.main_purpose", convert=_coded(_BUILDING_USES, "other")),
                "floor_area_m2": col("b.total_area"),
                "share_numerator": col("o.right_num"),
                "share_denominator": col("o.right_den"),
                "registered_on": registered,
            },
        ),
        "cadastral_map": DatasetMap(
            sql=f"SELECT {{columns}} {_OWNED_LAND} JOIN map_index x ON x.land_key = m.land_key "
            "WHERE o.owner_idno = :nid ORDER BY m.land_key, o.reg_order",
            list_field="parcels",
            subject_field="owner_national_id",
            fields={
                "jurisdiction": here,
                "district": col("s.town_name"),
                "section": col("s.sect_name"),
                "subsection": col("s.subsect_name"),
                "parcel_no": col("m.land_no", convert=_dashed(4)),
                "map_sheet": col("x.sheet_no"),
                "scale": col("x.map_scale"),
                "coordinate_system": col("x.coord_sys", convert=_coded(_COORDINATES, "graphical")),
                "boundary_wkt": col("x.x0", "x.y0", "x.side", convert=_square_wkt),
            },
        ),
    }


class TaxOfficeProvider(SqlProvider):
    """A jurisdiction's local tax office: the latest land value tax bill of the subject."""

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "land_value_tax": DatasetMap(
            sql="SELECT {columns} FROM ltx_bill WHERE idn = :nid "
            "ORDER BY tax_yr DESC, bill_no LIMIT 1",
            fields={
                "national_id": col("idn"),
                "tax_year": col("tax_yr", convert=lambda y: y + 1911),
                "assessed_amount": col("tax_amt"),
                "self_use_residential_rate": col(
                    "rate_type", convert=lambda r: r == _SELF_USE_RATE
                ),
                "paid": col("paid_ymd", convert=lambda d: d is not None),
            },
        )
    }


class SocialWelfareProvider(SqlProvider):
    """A jurisdiction's social welfare department: low-income cases, disability certificates.

    A person with neither has no record (None). Validity predicates take an optional
    ``on`` (ISO date, default today).
    """

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "welfare_status": DatasetMap(
            sql="SELECT {columns} FROM (SELECT :nid AS idn) s "
            "LEFT JOIN (SELECT c.category, c.valid_end_ymd FROM lowinc_members lm "
            " JOIN lowinc_cases c ON c.case_no = lm.case_no WHERE lm.idn = :nid "
            " ORDER BY c.valid_end_ymd DESC LIMIT 1) l ON 1 = 1 "
            "LEFT JOIN (SELECT level_code, renew_ymd FROM disability_cards WHERE idn = :nid "
            " ORDER BY renew_ymd DESC LIMIT 1) d ON 1 = 1 "
            "WHERE l.category IS NOT NULL OR d.level_code IS NOT NULL",
            fields={
                "national_id": col("s.idn"),
                "low_income_status": col("l.category", convert=_coded(_LOW_INCOME, "none")),
                "low_income_valid_until": col("l.valid_end_ymd", convert=roc_to_iso),
                "disability_level": col("d.level_code", convert=_coded(_DISABILITY, "none")),
                "disability_valid_until": col("d.renew_ymd", convert=roc_to_iso),
            },
        )
    }
    PREDICATES: ClassVar[Mapping[tuple[str, str], str]] = {
        ("welfare_status", "is_low_income_household"): "_low_income",
        ("welfare_status", "is_mid_low_income_household"): "_mid_low_income",
        ("welfare_status", "has_disability_certificate"): "_disability",
    }

    def _case(
        self, connection: Connection, nid: str, params: Mapping[str, Any], categories: str
    ) -> PredicateAnswer:
        on = _on_date(params)
        found = self._scalar(
            connection,
            "SELECT 1 FROM lowinc_members lm JOIN lowinc_cases c ON c.case_no = lm.case_no "
            "WHERE lm.idn = :nid AND instr(:categories, c.category) > 0 "
            "AND c.valid_end_ymd >= :on AND c.approve_ymd <= :on LIMIT 1",
            nid=nid,
            categories=categories,
            on=_roc(on),
        )
        return PredicateAnswer(found is not None, on.isoformat())

    def _low_income(self, c: Connection, nid: str, params: Mapping[str, Any]) -> PredicateAnswer:
        return self._case(c, nid, params, "123")

    def _mid_low_income(
        self, c: Connection, nid: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        return self._case(c, nid, params, "M")

    def _disability(self, c: Connection, nid: str, params: Mapping[str, Any]) -> PredicateAnswer:
        on = _on_date(params)
        found = self._scalar(
            c,
            "SELECT 1 FROM disability_cards WHERE idn = :nid AND renew_ymd >= :on "
            "AND issue_ymd <= :on LIMIT 1",
            nid=nid,
            on=_roc(on),
        )
        return PredicateAnswer(found is not None, on.isoformat())


class EconomicDevelopmentProvider(SqlProvider):
    """A jurisdiction's economic development department: businesses and factories."""

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "business_registration": DatasetMap(
            sql="SELECT {columns} FROM biz_reg WHERE resp_idno = :nid ORDER BY ban",
            list_field="businesses",
            subject_field="responsible_person_id",
            fields={
                "business_id": col("ban"),
                "name": col("biz_name"),
                "address": col("biz_addr"),
                "capital": col("capital_amt"),
                "status": col("status_code", convert=_coded(_BUSINESS_STATUS, "active")),
                "registered_on": col("setup_ymd", convert=roc_to_iso),
            },
        ),
        "factory_registration": DatasetMap(
            sql="SELECT {columns} FROM fac_reg WHERE resp_idno = :nid ORDER BY fac_no",
            list_field="factories",
            subject_field="responsible_person_id",
            fields={
                "factory_no": col("fac_no"),
                "name": col("fac_name"),
                "business_id": col("ban"),
                "address": col("fac_addr"),
                "industry_code": col("ind_code"),
                "status": col("fac_status", convert=_coded(_FACTORY_STATUS, "active")),
                "registered_on": col("reg_ymd", convert=roc_to_iso),
            },
        ),
    }


class HouseholdOfficeProvider(SqlProvider):
    """A jurisdiction's 戶政事務所: the door plate (門牌) the subject is registered at."""

    MAPS: ClassVar[Mapping[str, DatasetMap]] = {
        "house_number": DatasetMap(
            sql="SELECT {columns} FROM plate_residents r "
            "JOIN door_plates d ON d.plate_id = r.plate_id WHERE r.idn = :nid",
            fields={
                "address": col("d.full_addr"),
                "assigned_on": col("d.compile_ymd", convert=roc_to_iso),
                "previous_address": col("d.old_addr"),
            },
        )
    }


PROVIDER_KINDS: dict[str, type[SqlProvider]] = {
    "household_registry": HouseholdRegistryProvider,
    "income": IncomeProvider,
    "veterans": VeteranProvider,
    "land_office": LandOfficeProvider,
    "tax_office": TaxOfficeProvider,
    "social_welfare": SocialWelfareProvider,
    "economic_development": EconomicDevelopmentProvider,
    "household_office": HouseholdOfficeProvider,
}
"""Store kind (as the registries manifest names it) → its adapter."""


def standard_fields(provider: SqlProvider, dataset: str) -> frozenset[str]:
    """Top-level standard field names ``provider`` can return for ``dataset``."""
    return provider._mapping(dataset).top_level()


def item_fields(provider: SqlProvider, dataset: str) -> tuple[str | None, frozenset[str]]:
    """(list field, its sub-fields) of a list dataset; (None, empty) for a flat one."""
    mapping = provider._mapping(dataset)
    if mapping.list_field is None:
        return None, frozenset()
    return mapping.list_field, frozenset(mapping.fields)
