"""The common standard as a Frictionless Table Schema, checked with pandera on polars, and
the data-quality report: completeness, validity, uniqueness and cross-field checks per
source and per field.

Two severities. An *error* (a required value missing, a code outside its list, a value no
normaliser could read) quarantines the row, with every reason, for a clerk to fix at the
source; it is never dropped. A *warning* (a national ID whose checksum fails, a sex that
disagrees with the ID, a move-in before birth, a district not of the merged city) keeps
the row, because record linkage is what repairs it, and is counted in the report.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from onceonly.consolidate.normalise import ERRORS, SOURCE, is_valid_national_id
from onceonly.consolidate.plan import Plan
from onceonly.consolidate.sources import RECORD_ID

WARNINGS = "_warnings"
"""Per row: the names of the checks that warned (the row is kept)."""

_FRICTIONLESS_TYPES = {
    "string": "string",
    "code": "string",
    "date": "date",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}
_ID_SHAPE = r"^[A-Z][0-9A-D][0-9]{8}$"


def table_schema(plan: Plan) -> dict[str, Any]:
    """The target's standard (core + the jurisdiction's extension fields) as a Frictionless
    Table Schema descriptor, limited to the fields the plan maps."""
    fields = []
    for f in plan.fields:
        if f.name not in plan.mapped_fields:
            continue
        constraints: dict[str, Any] = {}
        if f.required:
            constraints["required"] = True
        if f.codes is not None:
            constraints["enum"] = list(f.codes)
        if f.name.endswith("national_id"):
            constraints["pattern"] = _ID_SHAPE
        descriptor: dict[str, Any] = {
            "name": f.name,
            "type": _FRICTIONLESS_TYPES.get(f.type, "string"),
        }
        if constraints:
            descriptor["constraints"] = constraints
        fields.append(descriptor)
    return {"fields": fields, "missingValues": [""]}


def check_table_schema(descriptor: dict[str, Any]) -> None:
    """Raise if ``descriptor`` is not a valid Table Schema (Frictionless's own check)."""
    from frictionless import Schema

    schema = Schema.from_descriptor(descriptor)
    report = schema.metadata_validate(descriptor)
    errors = list(report)
    if errors:
        raise ValueError("; ".join(e.message for e in errors))


def _column_checks(f: dict[str, Any]) -> list[pa.Check]:
    constraints = f.get("constraints", {})
    checks = []
    if "enum" in constraints:
        checks.append(pa.Check.isin(constraints["enum"]))
    if "pattern" in constraints:
        checks.append(pa.Check.str_matches(constraints["pattern"]))
    return checks


def error_schema(plan: Plan, descriptor: dict[str, Any]) -> pa.DataFrameSchema:
    """Rules whose failure quarantines a row, translated from the Table Schema."""
    columns = {
        f["name"]: pa.Column(
            nullable=not f.get("constraints", {}).get("required", False),
            checks=_column_checks(f),
            coerce=False,
        )
        for f in descriptor["fields"]
    }
    checks = []
    if "area_m2" in columns:
        checks.append(
            pa.Check(
                lambda d: d.lazyframe.select(pl.col("area_m2").fill_null(1) > 0),
                name="area_positive",
            )
        )
    return pa.DataFrameSchema(columns, checks=checks, strict=False)


def _sex_matches_id(data: Any) -> Any:
    digit = pl.col("national_id").str.slice(1, 1)
    expected = pl.when(digit == "1").then(pl.lit("M")).when(digit == "2").then(pl.lit("F"))
    return data.lazyframe.select(
        (expected.is_null() | pl.col("sex").is_null() | (expected == pl.col("sex"))).fill_null(True)
    )


def warning_schema(plan: Plan, today: date) -> pa.DataFrameSchema:
    """Checks that keep the row but count against the source's quality."""
    mapped = set(plan.mapped_fields)
    columns: dict[str, pa.Column] = {}
    checks: list[pa.Check] = []
    for name in mapped:
        if name.endswith("national_id"):
            columns[name] = pa.Column(
                nullable=True,
                checks=[pa.Check(is_valid_national_id, element_wise=True, name="id_checksum")],
            )
    if {"national_id", "sex"} <= mapped:
        checks.append(pa.Check(_sex_matches_id, name="sex_matches_id"))
    if {"birth_date", "moved_in_on"} <= mapped:
        checks.append(
            pa.Check(
                lambda d: d.lazyframe.select(
                    (pl.col("birth_date") <= pl.col("moved_in_on")).fill_null(True)
                ),
                name="born_before_moving_in",
            )
        )
    if "birth_date" in mapped:
        checks.append(
            pa.Check(
                lambda d: d.lazyframe.select((pl.col("birth_date") <= today).fill_null(True)),
                name="birth_not_in_future",
            )
        )
    districts = _target_districts(plan)
    if "district" in mapped and districts:
        checks.append(
            pa.Check(
                lambda d: d.lazyframe.select(
                    pl.col("district").is_in(list(districts)).fill_null(True)
                ),
                name="district_of_jurisdiction",
            )
        )
    return pa.DataFrameSchema(columns, checks=checks, strict=False)


def _target_districts(plan: Plan) -> tuple[str, ...]:
    from onceonly.consolidate.plan import _jurisdictions

    for j in _jurisdictions().jurisdictions:
        if j.code == plan.model.target.jurisdiction:
            return tuple(j.districts)
    return ()


def _failures(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """Pandera's failure cases (index, column, check) of ``frame``; empty when all pass."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        return cases.select(
            pl.col("index").cast(pl.Int64),
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("failure_case").cast(pl.String),
        ).drop_nulls("index")
    return pl.DataFrame(
        schema={
            "index": pl.Int64,
            "column": pl.String,
            "check": pl.String,
            "failure_case": pl.String,
        }
    )


@dataclass
class SourceQuality:
    source: str
    rows: int = 0
    kept: int = 0
    quarantined: int = 0
    fields: dict[str, dict[str, float | int]] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class Validated:
    kept: pl.DataFrame
    quarantine: list[dict[str, Any]]
    quality: SourceQuality
    held: pl.DataFrame | None = None
    """The quarantined rows with what did normalise (the rest null): kept out of the load
    until a clerk fixes them, but linked on what they have."""


def _check_label(check: str) -> str:
    if check.startswith("isin"):
        return "code_list"
    if check.startswith("str_matches"):
        return "pattern"
    return check


@cache
def _message(check: str, lang: str) -> str:
    from onceonly.i18n import catalogue, t

    key = f"consolidate.check.{check}"
    return t(key, lang) if key in catalogue() else check


def validate_source(
    plan: Plan,
    normalised: pl.DataFrame,
    raw: pl.DataFrame,
    today: date | None = None,
) -> Validated:
    """Split one normalised source into kept rows (with :data:`WARNINGS`) and quarantined
    rows (with every reason and the raw legacy values), and measure its quality."""
    today = today or date.today()
    descriptor = table_schema(plan)
    frame = normalised.with_row_index("_row")
    errors = _failures(error_schema(plan, descriptor), normalised)
    warnings = _failures(warning_schema(plan, today), normalised)
    source = str(normalised.get_column(SOURCE)[0]) if normalised.height else ""
    quality = SourceQuality(source=source, rows=normalised.height)

    reasons: dict[int, list[dict[str, str]]] = {}
    for i, encoded in enumerate(normalised.get_column(ERRORS).to_list()):
        for p in json.loads(encoded) if encoded else []:
            reasons.setdefault(i, []).append(
                {
                    "field": p["field"],
                    "check": p["code"],
                    "value": p["value"] or "",
                    "zh": p["zh"],
                    "en": p["en"],
                }
            )
    for row in errors.iter_rows(named=True):
        column = row["column"] or ""
        check = _check_label(row["check"])
        reasons.setdefault(row["index"], []).append(
            {
                "field": column,
                "check": check,
                "value": row["failure_case"] or "",
                "zh": f"{plan.label(column, 'zh-TW')}：{_message(check, 'zh-TW')}",
                "en": f"{plan.label(column, 'en')}: {_message(check, 'en')}",
            }
        )
    # Each row's warning labels in the order pandera reported them, built in polars: a
    # Python list per row costs seconds and gigabytes at a million rows.
    labels = {c: _check_label(c) for c in warnings.get_column("check").unique().to_list()}
    warned = warnings.group_by("index", maintain_order=True).agg(
        pl.col("check").replace_strict(labels, return_dtype=pl.String).alias(WARNINGS)
    )

    bad = sorted(reasons)
    ids = normalised.get_column(RECORD_ID).to_list()
    bad_ids = [ids[i] for i in bad]
    raw_rows = {
        r[RECORD_ID]: r for r in raw.filter(pl.col(RECORD_ID).is_in(bad_ids)).iter_rows(named=True)
    }
    quarantine = [
        {
            "record_id": ids[i],
            "source": source,
            "reasons": reasons[i],
            "raw": {k: v for k, v in raw_rows.get(ids[i], {}).items() if k != RECORD_ID},
        }
        for i in bad
    ]
    kept = (
        frame.join(
            warned.with_columns(pl.col("index").cast(pl.UInt32)),
            left_on="_row",
            right_on="index",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col(WARNINGS).fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .filter(~pl.col("_row").is_in(bad))
        .drop("_row", ERRORS)
    )
    held = frame.filter(pl.col("_row").is_in(bad)).drop("_row", ERRORS)
    quality.kept = kept.height
    quality.quarantined = len(quarantine)

    field_failures: dict[str, set[int]] = {}
    for i, rs in reasons.items():
        for r in rs:
            field_failures.setdefault(r["field"], set()).add(i)
            quality.reasons[f"{r['field']}:{r['check']}"] = (
                quality.reasons.get(f"{r['field']}:{r['check']}", 0) + 1
            )
    for row in warnings.iter_rows(named=True):
        label = _check_label(row["check"])
        quality.checks[label] = quality.checks.get(label, 0) + 1
        if row["column"]:
            field_failures.setdefault(row["column"], set()).add(row["index"])
    total = max(normalised.height, 1)
    for f in plan.fields:
        if f.name not in plan.mapped_fields:
            continue
        column = normalised.get_column(f.name)
        present = normalised.height - column.null_count()
        failed = len(field_failures.get(f.name, set()))
        distinct = column.drop_nulls().n_unique() if present else 0
        quality.fields[f.name] = {
            "completeness": round(present / total, 4),
            "validity": round(max(present - failed, 0) / present, 4) if present else 0.0,
            "uniqueness": round(distinct / present, 4) if present else 0.0,
            "missing": normalised.height - present,
            "invalid": failed,
        }
    return Validated(kept, quarantine, quality, held)


# the report -------------------------------------------------------------------------------------


def quality_json(plan: Plan, qualities: list[SourceQuality]) -> dict[str, Any]:
    return {
        "plan": plan.name,
        "dataset": plan.model.target.dataset,
        "jurisdiction": plan.model.target.jurisdiction,
        "table_schema": table_schema(plan),
        "labels": {
            f.name: {"zh-TW": f.label("zh-TW"), "en": f.label("en")}
            for f in plan.fields
            if f.name in plan.mapped_fields
        },
        "sources": [q.__dict__ for q in qualities],
    }


def _bars(values: dict[str, float], colour: str) -> str:
    """A horizontal bar chart as inline SVG (no scripts, no CDN)."""
    row = 18
    height = row * len(values) + 4
    parts = [f'<svg role="img" width="520" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(values.items()):
        y = i * row + 2
        width = max(0.0, min(1.0, value)) * 300
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="160" y="{y}" width="{width:.1f}" height="14" fill="{colour}"/>'
            f'<text x="{165 + width:.1f}" y="{y + 13}" font-size="12">{value:.1%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _worded(reason: str, lang: str, labels: dict[str, dict[str, str]]) -> str:
    """``birth_date:not_nullable`` as words in ``lang`` (``出生日期：必填欄位缺值``): the field
    by the standard's label, a check of the catalogue by its message, a normaliser's code as
    "unreadable value"."""
    field_name, _, check = reason.rpartition(":")
    known = f"consolidate.check.{check}"
    from onceonly.i18n import catalogue

    words = _message(check, lang) if known in catalogue() else _message("unreadable", lang)
    if not field_name:
        return words
    label = labels.get(field_name, {}).get(lang, field_name)
    return f"{label}：{words}" if lang == "zh-TW" else f"{label}: {words}"


def quality_html(report: dict[str, Any], lang: str = "zh-TW") -> str:
    """The report as one self-contained HTML page with SVG charts."""
    from onceonly.i18n import t

    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(t('consolidate.report.title', lang, plan=report['plan']))}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}</style></head><body>",
        f"<h1>{html.escape(t('consolidate.report.title', lang, plan=report['plan']))}</h1>",
    ]
    target = t(
        "consolidate.report.target",
        lang,
        dataset=report["dataset"],
        jurisdiction=report["jurisdiction"],
    )
    out.append(f"<p>{html.escape(target)}</p>")
    labels: dict[str, dict[str, str]] = report.get("labels", {})
    for source in report["sources"]:
        out.append(f"<h2>{html.escape(source['source'])}</h2>")
        counts = t(
            "consolidate.report.counts",
            lang,
            rows=source["rows"],
            kept=source["kept"],
            quarantined=source["quarantined"],
        )
        out.append(f"<p>{html.escape(counts)}</p>")
        for metric in ("completeness", "validity"):
            values = {
                labels.get(name, {}).get(lang, name): float(v[metric])
                for name, v in source["fields"].items()
            }
            out.append(f"<h3>{html.escape(t(f'consolidate.report.{metric}', lang))}</h3>")
            out.append(_bars(values, "#2b7a78" if metric == "completeness" else "#3a6ea5"))
        out.append("<table><tr>")
        for header in ("field", "completeness", "validity", "uniqueness", "missing", "invalid"):
            out.append(f"<th>{html.escape(t(f'consolidate.report.{header}', lang))}</th>")
        out.append("</tr>")
        for name, v in source["fields"].items():
            out.append(
                f"<tr><td>{html.escape(labels.get(name, {}).get(lang, name))}</td>"
                f"<td>{v['completeness']:.1%}</td>"
                f"<td>{v['validity']:.1%}</td><td>{v['uniqueness']:.1%}</td>"
                f"<td>{v['missing']}</td><td>{v['invalid']}</td></tr>"
            )
        out.append("</table>")
        if source["checks"]:
            out.append(f"<h3>{html.escape(t('consolidate.report.cross_field', lang))}</h3><ul>")
            for name, count in sorted(source["checks"].items()):
                out.append(f"<li>{html.escape(_worded(name, lang, labels))}: {count}</li>")
            out.append("</ul>")
        if source["reasons"]:
            out.append(f"<h3>{html.escape(t('consolidate.report.reasons', lang))}</h3><ul>")
            for name, count in sorted(source["reasons"].items(), key=lambda kv: -kv[1]):
                out.append(f"<li>{html.escape(_worded(name, lang, labels))}: {count}</li>")
            out.append("</ul>")
    out.append("</body></html>")
    return "".join(out)


def write_report(directory: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """``quality.json`` and ``quality.html`` in ``directory``."""
    json_path = directory / "quality.json"
    html_path = directory / "quality.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    html_path.write_text(quality_html(report), "utf-8")
    return json_path, html_path
