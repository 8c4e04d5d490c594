"""``onceonly connector check FILE``: does this connector really answer the standard?

It connects, reads a sample of subjects per dataset (the dataset's ``sample`` query, or the
subjects given), fetches every field the connector maps, and runs the same quality rules
the consolidation runs on a merged government's sources (:mod:`onceonly.consolidate.
validate`: required values, code lists, ID shapes, then the warning checks), field by
field. A required field the connector does not map is an error too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any, cast

import polars as pl

from onceonly.connectors.engine import ConnectorProvider, item_fields, standard_fields
from onceonly.connectors.loader import Connector, standard_of
from onceonly.i18n import t
from onceonly.providers.base import ProviderUnavailable


@dataclass
class FieldReport:
    name: str
    required: bool
    mapped: bool
    rows: int = 0
    present: int = 0
    invalid: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def completeness(self) -> float:
        return round(self.present / self.rows, 4) if self.rows else 0.0

    @property
    def errors(self) -> int:
        """Errors of this field: invalid values, or a required field left unmapped."""
        return self.invalid + (1 if self.required and not self.mapped else 0)


@dataclass
class DatasetReport:
    dataset: str
    subjects: int = 0
    rows: int = 0
    fields: list[FieldReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Errors not tied to a field (unreachable source, a fetch that failed, no sample)."""
    warnings: dict[str, int] = field(default_factory=dict)
    predicates: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    """Predicate -> (subjects asked, answered yes), or None when it needs a parameter the
    check was not given."""

    @property
    def errors(self) -> int:
        return len(self.problems) + sum(f.errors for f in self.fields)


@dataclass(frozen=True)
class _Standard:
    """What :mod:`onceonly.consolidate.validate` reads of a plan: the target's fields,
    those mapped, and the target jurisdiction (for the district check)."""

    fields: tuple[Any, ...]
    mapped_fields: tuple[str, ...]
    model: Any


def _frame(rows: list[dict[str, Any]], fields: Sequence[Any]) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {}
    for f in fields:
        values = [row.get(f.name) for row in rows]
        if f.type == "date":
            values = [date.fromisoformat(v) if isinstance(v, str) else v for v in values]
        columns[f.name] = values
    return pl.DataFrame(columns, strict=False)


def _predicates(
    provider: ConnectorProvider,
    dataset: str,
    subjects: Sequence[str],
    params: Mapping[str, Any],
    report: DatasetReport,
) -> None:
    """Ask each predicate about a few subjects, so a broken query shows before a clerk asks."""
    for name, spec in provider.plan(dataset).source.predicates.items():
        needed = [p for p, s in spec.params.items() if s.required and s.default is None]
        if any(p not in params for p in needed):
            report.predicates[name] = None
            continue
        given = {p: params[p] for p in spec.params if p in params}
        yes = 0
        try:
            for subject in subjects:
                yes += provider.evaluate(dataset, name, subject, given).value
        except ProviderUnavailable as error:
            report.problems.append(f"{name}: {error.reason_in('en')}")
            continue
        except (LookupError, ValueError, TypeError) as error:
            report.problems.append(f"{name}: {error}")
            continue
        report.predicates[name] = (len(subjects), yes)


def check_dataset(
    provider: ConnectorProvider,
    dataset: str,
    subjects: Sequence[str] | None = None,
    limit: int = 50,
    today: date | None = None,
    params: Mapping[str, Any] | None = None,
) -> DatasetReport:
    """Fetch a sample of ``dataset`` through ``provider`` and measure it against the standard;
    ask its predicates (those whose required parameters ``params`` gives) about a few."""
    from onceonly.consolidate.plan import target_fields
    from onceonly.consolidate.validate import (
        _check_label,
        _failures,
        error_schema,
        table_schema,
        warning_schema,
    )

    report = DatasetReport(dataset)
    standard = standard_of(dataset)
    if standard is None:  # the loader refuses such a file; kept for a clear message
        report.problems.append(dataset)
        return report
    jurisdiction = provider.jurisdiction or ""
    targets = target_fields(standard, jurisdiction)
    list_field, items = item_fields(provider, dataset)
    top = standard_fields(provider, dataset)
    plan = provider.plan(dataset)
    mapped = set(top) | set(items) | set(plan.extensions)
    if list_field:
        mapped.discard(list_field)
    mapped_names = tuple(f.name for f in targets if f.name in mapped)
    shim = _Standard(
        targets, mapped_names, SimpleNamespace(target=SimpleNamespace(jurisdiction=jurisdiction))
    )
    report.fields = [FieldReport(f.name, f.required, f.name in mapped) for f in targets]

    try:
        chosen = list(subjects) if subjects else provider.sample(dataset, limit)
    except ProviderUnavailable as error:
        report.problems.append(
            t("connectors.check.unavailable", "en", reason=error.reason_in("en"))
        )
        return report
    if not chosen:
        report.problems.append(t("connectors.check.no_sample", "en", dataset=dataset))
        return report
    wanted = sorted(top | set(plan.extensions))
    rows: list[dict[str, Any]] = []
    for subject in chosen:
        try:
            record = provider.fetch(dataset, subject, wanted)
        except ProviderUnavailable as error:
            report.problems.append(
                t("connectors.check.unavailable", "en", reason=error.reason_in("en"))
            )
            return report
        except (LookupError, ValueError, TypeError) as error:
            report.problems.append(
                t("connectors.check.fetch_failed", "en", subject=subject, reason=error)
            )
            continue
        if record is None:
            continue
        report.subjects += 1
        flat = {k: v for k, v in record.fields.items() if k != list_field}
        if list_field:
            rows += [{**flat, **item} for item in record.fields.get(list_field, [])]
        else:
            rows.append(flat)
    report.rows = len(rows)
    _predicates(provider, dataset, chosen[:10], params or {}, report)
    if not rows:
        return report

    frame = _frame(rows, targets)
    descriptor = table_schema(cast(Any, shim))
    errors = _failures(error_schema(cast(Any, shim), descriptor), frame)
    warnings = _failures(warning_schema(cast(Any, shim), today or date.today()), frame)
    by_name = {f.name: f for f in report.fields}
    for f in report.fields:
        if f.mapped:
            f.rows = frame.height
            f.present = frame.height - frame.get_column(f.name).null_count()
    for row in errors.iter_rows(named=True):
        target = by_name.get(row["column"] or "")
        if target is None:
            report.problems.append(_check_label(row["check"]))
            continue
        target.invalid += 1
        label = _check_label(row["check"])
        if label == "not_nullable":
            label = "required"
        target.reasons[label] = target.reasons.get(label, 0) + 1
    for row in warnings.iter_rows(named=True):
        label = _check_label(row["check"])
        report.warnings[label] = report.warnings.get(label, 0) + 1
    return report


def check_connector(
    connector: Connector,
    provider: ConnectorProvider,
    subjects: Sequence[str] | None = None,
    limit: int = 50,
    today: date | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[DatasetReport]:
    """A report per dataset of ``connector``."""
    return [
        check_dataset(provider, dataset, subjects, limit, today, params)
        for dataset in connector.spec.datasets
    ]
