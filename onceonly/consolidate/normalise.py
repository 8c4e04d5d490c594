"""Mapping one legacy source to the common standard: renames, code lists, normalisers and
type conversion, field by field.

A value that cannot be normalised becomes null and leaves an error naming the field, the
raw value and the reason; the validation step then quarantines the row. Nothing is
guessed: ``0890230`` (30 February) is an error, not 1 March.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import polars as pl

from onceonly.consolidate.normalise_parcels import PARCEL_NORMALISERS
from onceonly.consolidate.plan import FieldMap, Plan, SourceSpec, TargetField
from onceonly.consolidate.sources import RECORD_ID
from onceonly.domain.address import ALL_CITIES
from onceonly.domain.errors import DomainValueError
from onceonly.domain.merger_renames import rename_address, rename_table
from onceonly.domain.national_id import validate_national_id
from onceonly.domain.roc_date import parse_roc_date
from onceonly.domain.variants import clean_national_id, fold_variants, fold_width, normalise_name

SOURCE = "_source"
UNREAD = "_unread"
"""Per row: JSON list, like :data:`ERRORS`, of the values of fields whose plan says
``unreadable: missing``: they became null, and the raw value is kept here for review."""
ERRORS = "_errors"
"""Per row: JSON list of ``{field, code, value, zh, en}`` for every value that failed (or
null); text, because polars builds nested columns from Python objects slowly."""

POLARS_TYPES: dict[str, Any] = {
    "date": pl.Date,
    "integer": pl.Int64,
    "number": pl.Float64,
    "boolean": pl.Boolean,
}


class NormaliseError(ValueError):
    """A value broke a normaliser's rule (code is stable, messages in both languages)."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(code, zh, en)
        self.code = code
        self.zh = zh
        self.en = en


def _integer(value: str) -> str:
    folded = fold_width(value).strip().replace(",", "")
    try:
        number = float(folded)
    except ValueError:
        number = 0.5
    if not number.is_integer():
        raise NormaliseError("integer", f"不是整數：{value}", f"not an integer: {value}")
    if not -(2**63) <= number < 2**63:  # what an integer column can hold
        raise NormaliseError("integer", f"整數超出範圍：{value}", f"integer out of range: {value}")
    return str(int(number))


def _number(value: str) -> str:
    folded = fold_width(value).strip().replace(",", "")
    try:
        return repr(float(folded))
    except ValueError as error:
        raise NormaliseError("number", f"不是數字：{value}", f"not a number: {value}") from error


def _national_id(value: str) -> str:
    """Cleaned only: a checksum failure is a warning of the validation step, not a reason
    to drop the record a typo'd duplicate would be linked to."""
    return clean_national_id(value)


@cache
def _district_renames() -> dict[str, str]:
    return {old: new for m in rename_table().mergers for old, new in m.districts.items()}


_DISTRICT_IN_ADDRESS = re.compile(r"[東西南北中]區|[^0-9]{2,4}?[區鄉鎮市]")


def normalise_district(value: str) -> str:
    """A township of a former county as its district today: ``永康市`` -> ``永康區``; from a
    whole address (``臺南縣永康市中正路1號``) the district is taken, never the address."""
    name = "".join(fold_variants(fold_width(value)).split())
    city = name[:3].replace("台", "臺")
    if city in ALL_CITIES and len(name) > 3 and not name[3:].startswith(("區", "鄉", "鎮")):
        match = _DISTRICT_IN_ADDRESS.match(name[3:])
        if match is None:
            raise NormaliseError(
                "district",
                f"地址中找不到鄉鎮市區：{value}",
                f"no district (鄉鎮市區) in the address: {value}",
            )
        name = match.group(0)
    return _district_renames().get(name, name)


def normalise_village(value: str) -> str:
    """A village as named after the mergers: every 村 of a former county became a 里."""
    name = fold_variants(fold_width(value)).strip()
    return name[:-1] + "里" if name.endswith("村") else name


def normalise_date(value: str) -> str:
    """Any accepted ROC or Gregorian form to ISO ``YYYY-MM-DD``."""
    return parse_roc_date(value).isoformat()


def _one_format(value: str, pattern: str) -> date:
    if pattern == "roc":
        return parse_roc_date(value)
    return datetime.strptime(value.strip(), pattern).date()


def _swapped(pattern: str) -> str:
    return pattern.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def parse_date(value: str, formats: Sequence[str] = ("roc",)) -> date:
    """``value`` read by the first of ``formats`` that reads it; failing that, the first
    that reads it with day and month swapped (a clerk's slip the linkage model scores as
    such), else the first format's error."""
    first: Exception | None = None
    for pattern in formats:
        try:
            return _one_format(value, pattern)
        except ValueError as error:  # DomainValueError is a ValueError too
            first = first or error
    for pattern in formats:
        swapped = "roc" if pattern == "roc" else _swapped(pattern)
        try:
            if pattern == "roc":
                day = parse_roc_date(_swap_roc(value))
            else:
                day = _one_format(value, swapped)
            return day
        except ValueError:
            continue
    assert first is not None
    raise first


def _swap_roc(value: str) -> str:
    """The ROC forms with month and day exchanged (``89/13/05`` -> ``89/05/13``)."""
    separated = re.fullmatch(r"\s*(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,2})\s*", value)
    if separated:
        y, sep, m, d = separated.groups()
        return f"{y}{sep}{d}{sep}{m}"
    digits = value.strip()
    if digits.isdigit() and len(digits) in (6, 7, 8):
        return digits[:-4] + digits[-2:] + digits[-4:-2]
    return value


def _digit_slips(text: str) -> set[str]:
    """``text`` with one slip of the keyboard undone: a doubled digit written once
    (``1985-03-112`` -> ``1985-03-12``), a lost digit put back, each digit it may have been
    (``1985-03-2`` -> ``1985-03-12``, ``…-22`` …; ``89年3月日`` -> ``89年3月5日``), or a
    lost separator put back (``1985-0312`` -> ``1985-03-12``), one the text already uses."""
    separators = {c for c in text if c in "-/."}
    slips: set[str] = set()
    for at in range(len(text) + 1):
        slips.update(text[:at] + digit + text[at:] for digit in "0123456789")
    for i, char in enumerate(text):
        if i and char.isdigit() and text[i - 1] == char:
            slips.add(text[:i] + text[i + 1 :])
        if i and char.isdigit() and text[i - 1].isdigit():
            slips.update(text[:i] + sep + text[i:] for sep in separators)
    slips.discard(text)
    return slips


def date_candidates(value: str, formats: Sequence[str] = ("roc",)) -> list[date]:
    """The dates an unreadable ``value`` may have been before one digit was lost or typed
    twice, each read strictly by one of ``formats``; sorted, [] when ``value`` reads as it
    stands (no slip to undo) or nothing does. The raw value stays what the record holds:
    these only let the linkage's date levels score it."""
    text = fold_width(value).strip()
    try:
        parse_date(text, formats)
        return []
    except ValueError:
        pass
    found: set[date] = set()
    for slip in _digit_slips(text):
        for pattern in formats:
            try:
                day = _one_format(slip, pattern)
            except ValueError:
                continue
            if CANDIDATE_YEARS[0] <= day.year <= CANDIDATE_YEARS[1]:
                found.add(day)
    return sorted(found)


CANDIDATE_YEARS = (1800, 2199)
"""Years a candidate date may fall in: a year that lost a digit is not year 198."""


def candidates_column(field: str) -> str:
    """The column of a date field's candidates (:func:`date_candidates`) for the values
    that did not read: a list of dates, empty where the value read or gave none."""
    return f"_{field}_candidates"


def date_normaliser(formats: Sequence[str]) -> Callable[[str], str]:
    """The ``date`` normaliser for a source whose plan names its date formats."""

    def normalise(value: str) -> str:
        return parse_date(value, formats).isoformat()

    return normalise


NORMALISER_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "width": fold_width,
    "variants": fold_variants,
    "upper": str.upper,
    "name": normalise_name,
    "national_id": _national_id,
    "date": normalise_date,
    "address": rename_address,
    "district": normalise_district,
    "village": normalise_village,
    "integer": _integer,
    "number": _number,
    **PARCEL_NORMALISERS,
}


def is_valid_national_id(value: str | None) -> bool:
    if value is None:
        return False
    try:
        validate_national_id(value)
    except DomainValueError:
        return False
    return True


@dataclass(frozen=True)
class FieldNormaliser:
    """How one source fills one target field: its columns, code list, normalisers and type.

    :meth:`one` is the rule, value by value; :meth:`column` applies it to a whole column,
    calling :meth:`one` once per distinct raw value (legacy tables repeat dates, districts
    and codes endlessly), and must give exactly what :meth:`one` gives row by row.
    """

    target: TargetField
    columns: tuple[str, ...]
    join: str
    constant: str | None
    values: Mapping[str, str]
    steps: tuple[tuple[str, Callable[[str], str]], ...]
    missing_ok: bool = False
    """A value no normaliser reads becomes missing (its raw value kept), not an error."""
    date_formats: tuple[str, ...] | None = None
    """The formats a ``date`` step reads (``("roc",)`` unless the plan names them); None
    when the field has no such step."""

    @classmethod
    def of(cls, target: TargetField, mapping: FieldMap) -> FieldNormaliser:
        return cls(
            target=target,
            columns=tuple(mapping.source_columns),
            join=mapping.join,
            constant=mapping.constant,
            values=mapping.values,
            steps=tuple(
                (
                    n,
                    date_normaliser(mapping.date_formats)
                    if n == "date" and mapping.date_formats
                    else NORMALISER_FUNCTIONS[n],
                )
                for n in mapping.normalise
            ),
            missing_ok=mapping.unreadable == "missing",
            date_formats=(
                (tuple(mapping.date_formats) or ("roc",)) if "date" in mapping.normalise else None
            ),
        )

    @property
    def dtype(self) -> Any:
        return POLARS_TYPES.get(self.target.type, pl.String)

    def one(self, raw: str) -> tuple[Any, dict[str, str] | None]:
        """The typed value of ``raw``, or None and the problem ``{code, zh, en}``."""
        value = fold_width(raw).strip()
        value = self.values.get(value, value)
        name = ""
        try:
            for step_name, step in self.steps:
                name = step_name
                value = step(value)
            name = "type"
            return _convert(self.target.type, value), None
        except DomainValueError as error:
            return None, {"code": error.code, "zh": error.message_zh, "en": error.message_en}
        except NormaliseError as error:
            return None, {"code": f"{name}.{error.code}", "zh": error.zh, "en": error.en}
        except ValueError as error:
            return None, {"code": f"{name}.invalid", "zh": f"格式錯誤：{raw}", "en": str(error)}

    def candidates(self, raw: pl.Series, typed: pl.Series) -> pl.Series:
        """Per row, the dates a value that did not read may have been before one slip of
        the keyboard (:func:`date_candidates`), computed once per distinct such value."""
        assert self.date_formats is not None
        formats = self.date_formats
        failed = raw.filter(typed.is_null() & raw.is_not_null()).unique()
        values = [date_candidates(v, formats) for v in failed.to_list()]
        dtype = pl.List(pl.Date)
        table = pl.DataFrame(
            {"raw": failed, "found": values}, schema={"raw": raw.dtype, "found": dtype}
        )
        joined = (
            raw.alias("raw").to_frame().join(table, on="raw", how="left", maintain_order="left")
        )
        found = joined.get_column("found").fill_null(pl.lit([], dtype=dtype))
        return found.alias(candidates_column(self.target.name))

    def raw(self, frame: pl.DataFrame) -> pl.Series:
        """The source columns joined (null when every one of them is null)."""
        if len(self.columns) == 1:
            return frame.get_column(self.columns[0])
        parts = [pl.col(c) for c in self.columns]
        joined = pl.concat_str(parts, separator=self.join, ignore_nulls=True)
        any_part = pl.any_horizontal([p.is_not_null() for p in parts])
        return frame.select(pl.when(any_part).then(joined).alias("raw")).to_series()

    def column(self, raw: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Per row of ``raw``: the typed value, and the problem as one JSON object
        ``{field, value, code, zh, en}`` (null when the value is fine)."""
        distinct = raw.drop_nulls().unique()
        values: list[Any] = []
        problems: list[str | None] = []
        for text in distinct.to_list():
            value, problem = self.one(text)
            values.append(value)
            problems.append(
                None
                if problem is None
                else json.dumps(
                    {"field": self.target.name, "value": text, **problem}, ensure_ascii=False
                )
            )
        typed = raw.replace_strict(
            distinct, pl.Series(values, dtype=self.dtype), default=None, return_dtype=self.dtype
        )
        failed = raw.replace_strict(
            distinct, pl.Series(problems, dtype=pl.String), default=None, return_dtype=pl.String
        )
        return typed.alias(self.target.name), failed.alias(self.target.name)


def _convert(kind: str, value: str) -> Any:
    if kind == "date":
        if len(value) == 10 and value[4] == "-":
            return date.fromisoformat(value)
        return parse_roc_date(value)
    if kind == "integer":
        return int(_integer(value))
    if kind == "number":
        return float(_number(value))
    if kind == "boolean":
        return value.strip().lower() in ("1", "true", "y", "yes", "是")
    return value


def normalise_source(
    plan: Plan,
    source: SourceSpec,
    frame: pl.DataFrame,
    progress: Callable[[], None] | None = None,
) -> pl.DataFrame:
    """The source's rows in the target's fields (typed), with :data:`ERRORS` per row;
    ``progress()`` is called after each field."""
    height = frame.height
    columns: list[pl.Series] = []
    problems: list[pl.Series] = []
    unread: list[pl.Series] = []
    extra: list[pl.Series] = []
    for name, mapping in source.fields.items():
        field = FieldNormaliser.of(plan.field(name), mapping)
        if field.constant is not None:
            value, problem = field.one(field.constant)
            if problem is not None:
                raise ValueError(f"{source.id}.fields.{name}.constant: {problem['en']}")
            columns.append(pl.repeat(value, height, dtype=field.dtype, eager=True).alias(name))
        else:
            raw = field.raw(frame)
            typed, failed = field.column(raw)
            columns.append(typed)
            (unread if field.missing_ok else problems).append(failed)
            if field.date_formats is not None and field.target.type == "date":
                extra.append(field.candidates(raw, typed))
        if progress is not None:
            progress()
    result = pl.DataFrame(columns)
    for f in plan.fields:
        if f.name in plan.mapped_fields and f.name not in result.columns:
            result = result.with_columns(
                pl.lit(None, dtype=POLARS_TYPES.get(f.type, pl.String)).alias(f.name)
            )
    # Each row's problems as one JSON list, in field order (what json.dumps of the list of
    # problem objects writes).
    if problems:
        by_field = pl.DataFrame(problems)
        any_problem = pl.any_horizontal([pl.col(p.name).is_not_null() for p in problems])
        joined = pl.concat_str(list(by_field.columns), separator=", ", ignore_nulls=True)
        encoded = by_field.select(
            pl.when(any_problem).then(pl.concat_str(pl.lit("["), joined, pl.lit("]")))
        ).to_series()
    else:
        encoded = pl.Series([None] * height, dtype=pl.String)
    return result.select(plan.mapped_fields).with_columns(
        frame.get_column(RECORD_ID),
        pl.lit(source.id).alias(SOURCE),
        encoded.alias(ERRORS),
        _encoded(unread, height).alias(UNREAD),
        *extra,
    )


def _encoded(problems: list[pl.Series], height: int) -> pl.Series:
    """Each row's problems as one JSON list, in field order (null when none)."""
    if not problems:
        return pl.Series([None] * height, dtype=pl.String)
    by_field = pl.DataFrame(problems)
    any_problem = pl.any_horizontal([pl.col(p.name).is_not_null() for p in problems])
    joined = pl.concat_str(list(by_field.columns), separator=", ", ignore_nulls=True)
    return by_field.select(
        pl.when(any_problem).then(pl.concat_str(pl.lit("["), joined, pl.lit("]")))
    ).to_series()


def apply_fixes(
    plan: Plan,
    source: SourceSpec,
    normalised: pl.DataFrame,
    fixes: Mapping[str, Mapping[str, str]],
) -> pl.DataFrame:
    """``normalised`` with the values clerks typed for held-back rows (record id -> field ->
    value as typed), each put through the field's own normalisers: a fix that reads replaces
    the field's value and its error, one that does not replaces the error with its own."""
    mine = {r: f for r, f in fixes.items() if r.startswith(f"{source.id}:")}
    if not mine or normalised.is_empty():
        return normalised
    ids = normalised.get_column(RECORD_ID).to_list()
    rows = normalised.to_dicts()
    for index, record_id in enumerate(ids):
        if record_id not in mine:
            continue
        row = rows[index]
        problems = [p for p in json.loads(row[ERRORS] or "[]") if p["field"] not in mine[record_id]]
        for name, text in mine[record_id].items():
            if name not in source.fields:
                continue
            field = FieldNormaliser.of(plan.field(name), source.fields[name])
            value, problem = field.one(text)
            row[name] = value
            if problem is not None:
                problems.append({"field": name, "value": text, **problem})
        row[ERRORS] = json.dumps(problems, ensure_ascii=False) if problems else None
    return pl.DataFrame(rows, schema=normalised.schema)
