"""Mapping one legacy source to the common standard: renames, code lists, normalisers and
type conversion, field by field.

A value that cannot be normalised becomes null and leaves an error naming the field, the
raw value and the reason; the validation step then quarantines the row. Nothing is
guessed: ``0890230`` (30 February) is an error, not 1 March.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import polars as pl

from onceonly.consolidate.plan import Plan, SourceSpec, TargetField
from onceonly.consolidate.sources import RECORD_ID
from onceonly.domain.errors import DomainValueError
from onceonly.domain.merger_renames import rename_address, rename_table
from onceonly.domain.national_id import validate_national_id
from onceonly.domain.roc_date import parse_roc_date
from onceonly.domain.variants import clean_national_id, fold_variants, fold_width, normalise_name

SOURCE = "_source"
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


def normalise_district(value: str) -> str:
    """A township of a former county as its district today: ``永康市`` -> ``永康區``."""
    name = fold_variants(fold_width(value)).strip()
    return _district_renames().get(name, name)


def normalise_village(value: str) -> str:
    """A village as named after the mergers: every 村 of a former county became a 里."""
    name = fold_variants(fold_width(value)).strip()
    return name[:-1] + "里" if name.endswith("村") else name


def normalise_date(value: str) -> str:
    """Any accepted ROC or Gregorian form to ISO ``YYYY-MM-DD``."""
    return parse_roc_date(value).isoformat()


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
}


def is_valid_national_id(value: str | None) -> bool:
    if value is None:
        return False
    try:
        validate_national_id(value)
    except DomainValueError:
        return False
    return True


@dataclass
class _FieldPlan:
    target: TargetField
    columns: list[str]
    join: str
    constant: str | None
    values: dict[str, str]
    steps: list[tuple[str, Callable[[str], str]]]
    cache: dict[str, tuple[Any, dict[str, str] | None]]


def _convert(kind: str, value: str) -> Any:
    if kind == "date":
        return date.fromisoformat(value) if len(value) == 10 else parse_roc_date(value)
    if kind == "integer":
        return int(_integer(value))
    if kind == "number":
        return float(_number(value))
    if kind == "boolean":
        return value.strip().lower() in ("1", "true", "y", "yes", "是")
    return value


def _one(fp: _FieldPlan, raw: str) -> tuple[Any, dict[str, str] | None]:
    value = fold_width(raw).strip()
    value = fp.values.get(value, value)
    name = ""
    try:
        for step_name, step in fp.steps:
            name = step_name
            value = step(value)
        name = "type"
        return _convert(fp.target.type, value), None
    except DomainValueError as error:
        return None, {"code": error.code, "zh": error.message_zh, "en": error.message_en}
    except NormaliseError as error:
        return None, {"code": f"{name}.{error.code}", "zh": error.zh, "en": error.en}
    except ValueError as error:
        return None, {"code": f"{name}.invalid", "zh": f"格式錯誤：{raw}", "en": str(error)}


def normalise_source(
    plan: Plan,
    source: SourceSpec,
    frame: pl.DataFrame,
    progress: Callable[[], None] | None = None,
) -> pl.DataFrame:
    """The source's rows in the target's fields (typed), with :data:`ERRORS` per row;
    ``progress()`` is called after each field."""
    field_plans = [
        _FieldPlan(
            target=plan.field(name),
            columns=mapping.source_columns,
            join=mapping.join,
            constant=mapping.constant,
            values=mapping.values,
            steps=[(n, NORMALISER_FUNCTIONS[n]) for n in mapping.normalise],
            cache={},
        )
        for name, mapping in source.fields.items()
    ]
    height = frame.height
    out: dict[str, list[Any]] = {}
    errors: list[list[dict[str, str]]] = [[] for _ in range(height)]
    for fp in field_plans:
        name = fp.target.name
        if fp.constant is not None:
            value, problem = _one(fp, fp.constant)
            if problem is not None:
                raise ValueError(f"{source.id}.fields.{name}.constant: {problem['en']}")
            out[name] = [value] * height
            if progress is not None:
                progress()
            continue
        parts = [frame.get_column(c).to_list() for c in fp.columns]
        values: list[Any] = []
        for i in range(height):
            pieces = [p[i] for p in parts if p[i] is not None]
            if not pieces:
                values.append(None)
                continue
            raw = fp.join.join(pieces)
            hit = fp.cache.get(raw)
            if hit is None:
                hit = _one(fp, raw)
                if len(fp.cache) < 200_000:
                    fp.cache[raw] = hit
            value, problem = hit
            if problem is not None:
                errors[i].append({"field": name, "value": raw, **problem})
            values.append(value)
        out[name] = values
        if progress is not None:
            progress()
    schema: dict[str, Any] = {
        fp.target.name: POLARS_TYPES.get(fp.target.type, pl.String) for fp in field_plans
    }
    result = pl.DataFrame(out, schema=schema)
    for f in plan.fields:
        if f.name in plan.mapped_fields and f.name not in result.columns:
            result = result.with_columns(
                pl.lit(None, dtype=POLARS_TYPES.get(f.type, pl.String)).alias(f.name)
            )
    encoded = [json.dumps(e, ensure_ascii=False) if e else None for e in errors]
    return result.select(plan.mapped_fields).with_columns(
        frame.get_column(RECORD_ID),
        pl.lit(source.id).alias(SOURCE),
        pl.Series(ERRORS, encoded, dtype=pl.String),
    )
