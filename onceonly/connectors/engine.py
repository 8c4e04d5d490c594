"""Running a connector: the part shared by every kind of source.

A fetch reads only what it was asked for: the fields asked (and, for a list dataset, the
sub-fields) pick the columns (or JSON paths) to read, each read once however many fields
use it, and each field's converters turn them into the standard value. The source-specific
part (:mod:`onceonly.connectors.sql`, :mod:`onceonly.connectors.http`) only has to return
rows of those columns. Predicates are evaluated here too, at the owner; only yes/no leaves.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from onceonly.connectors import converters
from onceonly.connectors.loader import Connector
from onceonly.connectors.spec import (
    Condition,
    DatasetSource,
    FieldSource,
    ParamSpec,
    PredicateSpec,
    Step,
)
from onceonly.domain import subjects
from onceonly.domain.roc_date import taiwan_today
from onceonly.providers import computed
from onceonly.providers.base import (
    InvalidPredicateParams,
    PredicateAnswer,
    ProviderUnavailable,
    SourceRecord,
    UnknownDataset,
    UnknownPredicate,
)

Convert = Callable[..., Any]


def compile_steps(steps: Sequence[Step], codes: Mapping[str, Mapping[str, Any]]) -> Convert:
    """One function of the values read, applying ``steps`` in order."""
    first: Convert | None = None
    chain: list[Callable[[Any], Any]] = []
    for i, step in enumerate(steps):
        if step.use in converters.MULTI and i == 0:
            function = converters.MULTI[step.use][0]
            first = (
                partial(function, separator=step.separator) if step.use == "concat" else function
            )
        elif step.use in converters.SINGLE:
            chain.append(converters.SINGLE[step.use])
        elif step.use == "code":
            chain.append(
                partial(converters.code, table=codes[step.table or ""], default=step.default)
            )
        elif step.use == "dashed":
            chain.append(partial(converters.dashed, head=step.head or 1))
        elif step.use == "equals":
            chain.append(partial(converters.equals, expected=step.value))
        else:  # the spec refuses anything else; this keeps a bad call loud
            raise ValueError(f"converter {step.use} cannot be used here")

    def run(*values: Any) -> Any:
        value = first(*values) if first is not None else (values[0] if values else None)
        for function in chain:
            value = function(value)
        return value

    return run


@dataclass(frozen=True)
class Reader:
    """A standard field: what it reads and how it converts it (a constant reads nothing)."""

    refs: tuple[str, ...]
    convert: Convert
    constant: Any = None

    @classmethod
    def of(cls, field: FieldSource, codes: Mapping[str, Mapping[str, Any]]) -> Reader:
        if not field.from_:
            return cls((), lambda: field.value, field.value)
        return cls(tuple(field.from_), compile_steps(field.convert, codes))


_Reads = tuple[tuple[str, Reader, tuple[int, ...]], ...]


@dataclass(frozen=True)
class Selection:
    """What one fetch reads: the columns, and per output field the positions it needs."""

    columns: tuple[str, ...]
    top: _Reads
    items: _Reads | None
    subject: bool
    extensions: tuple[tuple[str, str, Reader, tuple[int, ...]], ...] = ()
    where: tuple[Reader, tuple[int, ...]] | None = None


@dataclass(frozen=True)
class DatasetPlan:
    """A dataset of the connector, compiled."""

    source: DatasetSource
    fields: Mapping[str, Reader]
    extensions: Mapping[str, tuple[str, Reader]]
    where: Reader | None

    @property
    def list_field(self) -> str | None:
        return self.source.list_

    def top_level(self) -> frozenset[str]:
        if self.source.list_ is None:
            return frozenset(self.fields)
        return frozenset({self.source.list_, self.source.subject_field or ""} - {""})


def _positions(refs: tuple[str, ...], columns: list[str]) -> tuple[int, ...]:
    result = []
    for ref in refs:
        if ref not in columns:
            columns.append(ref)
        result.append(columns.index(ref))
    return tuple(result)


def select(plan: DatasetPlan, fields: Sequence[str]) -> Selection:
    """The columns to read for ``fields`` (names of the standard; ``parcels.section`` picks
    one sub-field of a list) and where each output value comes from."""
    columns: list[str] = []
    top: list[tuple[str, Reader, tuple[int, ...]]] = []
    items: list[tuple[str, Reader, tuple[int, ...]]] | None = None
    subject = False
    extensions = []
    where = None
    list_field = plan.source.list_
    if list_field is None:
        for name in dict.fromkeys(fields):
            if name in plan.fields:
                reader = plan.fields[name]
                top.append((name, reader, _positions(reader.refs, columns)))
            elif name in plan.extensions:
                owner, reader = plan.extensions[name]
                extensions.append((name, owner, reader, _positions(reader.refs, columns)))
        if extensions and plan.where is not None:
            where = (plan.where, _positions(plan.where.refs, columns))
    else:
        wanted: dict[str, None] = {}
        whole = list_field in fields
        prefix = list_field + "."
        for name in fields:
            if name == plan.source.subject_field:
                subject = True
            elif whole:
                wanted.update(dict.fromkeys(plan.fields))
            elif name.startswith(prefix) and name[len(prefix) :] in plan.fields:
                wanted[name[len(prefix) :]] = None
        if whole or wanted:
            items = [
                (name, plan.fields[name], _positions(plan.fields[name].refs, columns))
                for name in (plan.fields if whole else wanted)
            ]
    return Selection(
        tuple(columns),
        tuple(top),
        None if items is None else tuple(items),
        subject,
        tuple(extensions),
        where,
    )


def _value(reader: Reader, positions: tuple[int, ...], row: Sequence[Any]) -> Any:
    return reader.convert(*(row[p] for p in positions))


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "in": lambda a, b: a in b,
}


def _param_value(name: str, spec: ParamSpec, given: Any) -> Any:
    """The caller's parameter checked against its declared type (or its default)."""
    if given is None:
        if spec.default == "today" and spec.type == "date":
            return taiwan_today()  # the registration office's day (or the pinned one)
        if spec.default is not None:
            given = spec.default
        elif spec.required:
            raise InvalidPredicateParams(f"{name}: a {spec.type} is required")
        else:
            return None
    if spec.type == "date":
        if isinstance(given, date):
            return given
        try:
            return date.fromisoformat(str(given))
        except ValueError as error:
            raise InvalidPredicateParams(f"{name}: not an ISO date: {given!r}") from error
    kind = spec.type
    if kind in ("string", "national_id"):
        ok = isinstance(given, str)
    elif kind == "boolean":
        ok = isinstance(given, bool)
    else:
        numeric = int if kind == "integer" else (int, float)
        ok = isinstance(given, numeric) and not isinstance(given, bool)
    if not ok:
        raise InvalidPredicateParams(f"{name}: a {spec.type} is required, not {given!r}")
    return given


@dataclass(frozen=True)
class PredicatePlan:
    spec: PredicateSpec
    binds: Mapping[str, Convert]
    conditions: tuple[tuple[Condition, Convert], ...]
    as_of: Convert | None

    def arguments(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(checked values by name, values as bound into the query)."""
        values = {
            name: _param_value(name, spec, params.get(name))
            for name, spec in self.spec.params.items()
        }
        bound = {name: self.binds[name](value) for name, value in values.items()}
        return values, {**self.spec.bind, **bound}

    def answer(
        self,
        rows: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        source_as_of: Callable[[], str],
    ) -> PredicateAnswer:
        holds = self.spec.holds
        if holds == "exists":
            value = bool(rows)
        elif holds == "absent":
            value = not rows
        else:
            value = bool(rows) and all(
                self._meets(c, f, rows[0], values) for c, f in self.conditions
            )
        return PredicateAnswer(value, self._as_of(rows, values, source_as_of))

    @staticmethod
    def _meets(
        condition: Condition, convert: Convert, row: Mapping[str, Any], values: Mapping[str, Any]
    ) -> bool:
        value = convert(lookup(row, condition.from_))
        if condition.op == "is_null":
            return value is None
        if condition.op == "not_null":
            return value is not None
        other = values[condition.param] if condition.param is not None else condition.value
        if value is None or other is None:
            return False
        return _OPS[condition.op](value, other)

    def _as_of(
        self,
        rows: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        source_as_of: Callable[[], str],
    ) -> str:
        spec = self.spec.as_of
        if spec is None:
            return source_as_of()
        if spec.param is not None:
            value = values.get(spec.param)
            shown = value.isoformat() if isinstance(value, date) else value
            return spec.template.format(shown) if shown is not None else ""
        if not rows or spec.from_ is None or self.as_of is None:
            return ""
        value = self.as_of(lookup(rows[0], spec.from_))
        return spec.template.format(value) if value is not None else ""


def lookup(row: Mapping[str, Any], ref: str) -> Any:
    """A value of a predicate's row by the name given in the connector: a result column
    (``alias.column`` matches ``column``; any letter case, as Oracle upper-cases) or a
    dotted path into a JSON record."""
    if ref in row:
        return row[ref]
    node: Any = row
    for part in ref.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return row.get(ref.rsplit(".", 1)[-1].lower())
        node = node[part]
    return node


class ConnectorProvider(ABC):
    """A :class:`~onceonly.providers.base.Provider` run from a connector file."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.owner = connector.spec.owner
        self.answers_locally = False
        self.jurisdiction = connector.spec.jurisdiction
        codes = connector.spec.codes
        self._plans: dict[str, DatasetPlan] = {}
        self._predicates: dict[tuple[str, str], PredicatePlan] = {}
        for code, dataset in connector.spec.datasets.items():
            self._plans[code] = DatasetPlan(
                dataset,
                {name: Reader.of(f, codes) for name, f in dataset.fields.items()},
                {
                    name: (jurisdiction, Reader.of(f, codes))
                    for jurisdiction, extra in dataset.extensions.items()
                    for name, f in extra.items()
                },
                Reader.of(dataset.jurisdiction_of_subject, codes)
                if dataset.jurisdiction_of_subject
                else None,
            )
            for name, predicate in dataset.predicates.items():
                self._predicates[(code, name)] = PredicatePlan(
                    predicate,
                    {p: compile_steps(s.bind, codes) for p, s in predicate.params.items()},
                    tuple((c, compile_steps(c.convert, codes)) for c in predicate.when),
                    compile_steps(predicate.as_of.convert, codes) if predicate.as_of else None,
                )
        self._by: dict[tuple[str, str], tuple[DatasetPlan, Mapping[str, Reader], str | None]] = {}
        for code, dataset in connector.spec.datasets.items():
            for kind, by in dataset.by.items():
                source = dataset.model_copy(
                    update={"query": by.query, "fields": {**dataset.fields, **by.fields}}
                )
                history = by.history.fields if by.history else {}
                self._by[(code, kind)] = (
                    DatasetPlan(
                        source,
                        {name: Reader.of(f, codes) for name, f in source.fields.items()},
                        {},
                        None,
                    ),
                    {name: Reader.of(f, codes) for name, f in history.items()},
                    by.history.query if by.history else None,
                )
        self._selections: dict[tuple[str, str, tuple[str, ...]], Selection] = {}
        self._as_of_value: str | None = None
        self._as_of_reader = (
            compile_steps(connector.spec.source.as_of.convert, codes)
            if connector.spec.source.as_of
            else None
        )

    # Provider protocol --------------------------------------------------------------------

    def datasets(self) -> frozenset[str]:
        return frozenset(self._plans)

    def fetch(self, dataset: str, national_id: str, fields: Sequence[str]) -> SourceRecord | None:
        """``national_id`` is the subject's key: a national ID, or a parcel, building or
        house number (:mod:`onceonly.domain.subjects`), read by the dataset's ``by`` query."""
        if ":" in national_id:
            return self._fetch_thing(dataset, subjects.parse_key(national_id), fields)
        plan = self.plan(dataset)
        selection = self._selection(plan, dataset, "person", fields)
        rows = self._rows(dataset, selection, national_id)
        if rows is None:
            return None
        as_of = self._as_of()
        record: dict[str, Any]
        if plan.list_field is None:
            if not rows:
                return None
            row = rows[0]
            record = {name: _value(reader, pos, row) for name, reader, pos in selection.top}
            if selection.where is not None:
                belongs = _value(*selection.where, row)
                for name, owner, reader, pos in selection.extensions:
                    if owner == belongs:
                        record[name] = _value(reader, pos, row)
        else:
            if not rows:
                return None
            record = {}
            if selection.subject and plan.source.subject_field:
                record[plan.source.subject_field] = national_id
            if selection.items is not None:
                record[plan.list_field] = [
                    {name: _value(reader, pos, row) for name, reader, pos in selection.items}
                    for row in rows
                ]
        return SourceRecord(dataset, national_id, record, source_updated_at=as_of)

    def _selection(
        self, plan: DatasetPlan, dataset: str, kind: str, fields: Sequence[str]
    ) -> Selection:
        key = (dataset, kind, tuple(fields))
        selection = self._selections.get(key)
        if selection is None:
            selection = select(plan, fields)
            if len(self._selections) < 512:
                self._selections[key] = selection
        return selection

    def _fetch_thing(
        self, dataset: str, subject: subjects.Subject, fields: Sequence[str]
    ) -> SourceRecord | None:
        """The rows a parcel, building or house number has (one per owner, the owners'
        fields only as asked) and, when ``history`` is asked, how it was renumbered."""
        self.plan(dataset)  # an unknown dataset is refused as such
        found = self._by.get((dataset, subject.kind))
        if found is None:
            raise UnknownDataset(f"{self.owner} does not answer {dataset} by {subject.kind}")
        plan, history, history_query = found
        selection = self._selection(plan, dataset, subject.kind, fields)
        binds = subject.binds()
        rows = self._query_rows(
            (plan.source.query or "").replace("{columns}", ", ".join(selection.columns) or "1"),
            binds,
        )
        if not rows:
            return None
        record: dict[str, Any] = {}
        if selection.items is not None and plan.list_field:
            record[plan.list_field] = [
                {name: _value(reader, pos, row) for name, reader, pos in selection.items}
                for row in rows
            ]
        if "history" in fields and history and history_query:
            columns: list[str] = []
            reads = [(name, r, _positions(r.refs, columns)) for name, r in history.items()]
            changes = self._query_rows(
                history_query.replace("{columns}", ", ".join(columns) or "1"), binds
            )
            record["history"] = [
                {name: _value(reader, pos, row) for name, reader, pos in reads} for row in changes
            ]
        return SourceRecord(dataset, subject.key, record, source_updated_at=self._as_of())

    def _query_rows(self, sql: str, binds: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Rows of a query by a parcel, building or house number; only SQL sources have
        such queries (the spec refuses ``by`` elsewhere)."""
        raise UnknownDataset(f"{self.owner} answers no query by a parcel or building")

    def evaluate(
        self, dataset: str, predicate: str, national_id: str, params: Mapping[str, Any]
    ) -> PredicateAnswer:
        served = self._plans.get(dataset)
        if served is not None and predicate in served.source.computed:
            fields = sorted(served.top_level())
            return computed.evaluate(
                dataset,
                predicate,
                national_id,
                params,
                read=lambda key: self.fetch(dataset, key, fields),
                here=self.jurisdiction or "",
                as_of=self._as_of(),
            )
        plan = self._predicates.get((dataset, predicate))
        if plan is None:
            raise UnknownPredicate(f"{self.owner} does not evaluate {dataset}.{predicate}")
        values, bound = plan.arguments(params)
        rows = self._predicate_rows(plan.spec, national_id, bound)
        return plan.answer(rows, values, self._as_of)

    def close(self) -> None:
        self._as_of_value = None

    def sample(self, dataset: str, limit: int) -> list[str]:
        """Up to ``limit`` subjects of ``dataset`` (its ``sample``), for checking the file."""
        query = self.plan(dataset).source.sample
        if query is None:
            return []
        return [str(s) for s in self._sample(query, limit)[:limit] if s is not None]

    # helpers ------------------------------------------------------------------------------

    def plan(self, dataset: str) -> DatasetPlan:
        plan = self._plans.get(dataset)
        if plan is None:
            raise UnknownDataset(f"{self.owner} does not serve {dataset}")
        return plan

    def unavailable(self, reason: str | Mapping[str, str]) -> ProviderUnavailable:
        return ProviderUnavailable(self.owner, reason)

    def _as_of(self) -> str:
        """When the source's data was extracted (ISO date), asked once and remembered."""
        if self._as_of_value is None:
            spec = self.connector.spec.source.as_of
            if spec is None or self._as_of_reader is None:
                self._as_of_value = ""
            else:
                value = self._as_of_reader(self._as_of_raw())
                self._as_of_value = "" if value is None else str(value)
        return self._as_of_value

    @abstractmethod
    def _rows(self, dataset: str, selection: Selection, subject: str) -> list[Sequence[Any]] | None:
        """Rows of ``selection.columns`` for ``subject`` (empty or None: no record)."""

    @abstractmethod
    def _predicate_rows(
        self, spec: PredicateSpec, subject: str, bound: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        """The predicate's rows (records) by column name (path)."""

    @abstractmethod
    def _sample(self, query: str, limit: int) -> list[Any]:
        """Subjects a dataset's ``sample`` query (endpoint) names."""

    @abstractmethod
    def _as_of_raw(self) -> Any:
        """The raw extraction-date value the source's ``as_of`` names."""


def standard_fields(provider: ConnectorProvider, dataset: str) -> frozenset[str]:
    """Top-level standard field names ``provider`` can return for ``dataset``."""
    return provider.plan(dataset).top_level()


def item_fields(provider: ConnectorProvider, dataset: str) -> tuple[str | None, frozenset[str]]:
    """(list field, its sub-fields) of a list dataset; (None, empty) for a flat one."""
    plan = provider.plan(dataset)
    if plan.list_field is None:
        return None, frozenset()
    return plan.list_field, frozenset(plan.fields)
