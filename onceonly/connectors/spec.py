"""The connector file format (YAML), as Pydantic models.

A connector says how one owner's own source answers datasets of the common standard; see
``docs/connectors.md`` for a worked example. Everything here is checked when the file is
read, so a connector that loads is one the engine can run: unknown keys, converters of the
wrong arity, code tables that do not exist, column references that are not plain
(``alias.column``) names and predicate parameters that the query does not bind are errors
with the file, the path inside it and a reason in both languages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from onceonly.catalog.schema import rule_broken
from onceonly.connectors import converters

FORMAT_VERSION = 1

COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
"""A SQL column reference a field may read: ``column`` or ``alias.column``, nothing else, so
a connector's field list can never smuggle an expression into the SELECT it builds."""
JSON_PATH = re.compile(r"^[^\s.\[\]]+(\.[^\s.\[\]]+)*$")
"""A field path into an HTTP answer: keys separated by dots (``name.surname``)."""
BIND = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
"""``:name`` bound parameters in a query (not ``::cast``)."""
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

ParamType = Literal["string", "integer", "number", "boolean", "date", "national_id"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Step(_Strict):
    """One converter: a name, and its arguments when it takes some."""

    use: str
    table: str | None = None
    """``code``: the code table (under ``codes:``)."""
    default: Any = None
    """``code``: the standard value of a legacy code the table does not list (or None)."""
    head: int | None = Field(default=None, ge=1)
    """``dashed``: digits before the dash."""
    value: Any = None
    """``equals``: the value compared with."""
    separator: str = ""
    """``concat``: put between parts."""

    @model_validator(mode="after")
    def _arguments(self) -> Step:
        if self.use not in converters.NAMES:
            raise rule_broken("connectors.rule.converter", names=", ".join(converters.NAMES))
        if self.use == "code" and not self.table:
            raise rule_broken("connectors.rule.code_table")
        if self.use == "dashed" and self.head is None:
            raise rule_broken("connectors.rule.dashed_head")
        return self


def _steps(value: Any) -> Any:
    """``convert: roc_date`` / ``convert: {use: code, ...}`` / a list of either."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [{"use": item} if isinstance(item, str) else item for item in items]


Steps = Annotated[list[Step], Field(default_factory=list)]


class FieldSource(_Strict):
    """Where one standard field comes from: ``from`` (a column or JSON path, or several),
    then ``convert``; or a constant ``value``."""

    from_: list[str] = Field(default_factory=list, alias="from")
    convert: Steps
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"from": [data]}
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("from"), str):
                data["from"] = [data["from"]]
            if "convert" in data:
                data["convert"] = _steps(data["convert"])
        return data

    @model_validator(mode="after")
    def _arity(self) -> FieldSource:
        if not self.from_ and "value" not in self.model_fields_set:
            raise rule_broken("connectors.rule.from_or_value")
        if self.from_ and "value" in self.model_fields_set:
            raise rule_broken("connectors.rule.from_or_value")
        first = self.convert[0].use if self.convert else None
        if first in converters.MULTI:
            wanted = converters.MULTI[first][1]
            if wanted is not None and len(self.from_) != wanted:
                raise rule_broken("connectors.rule.arity", name=first, count=wanted)
        elif len(self.from_) > 1:
            raise rule_broken("connectors.rule.many_inputs")
        for step in self.convert[1:]:
            if step.use in converters.MULTI:
                raise rule_broken("connectors.rule.multi_first", name=step.use)
        return self


class ParamSpec(_Strict):
    """A predicate parameter the caller's ``params`` carry; it is type-checked and bound."""

    type: ParamType
    required: bool = True
    default: Any = None
    """Used when the caller gives none; ``today`` for a date means the day of the request."""
    bind: Steps
    """Converters applied before binding (e.g. ``to_roc_date`` for a store of ROC dates)."""

    @field_validator("bind", mode="before")
    @classmethod
    def _bind_steps(cls, value: Any) -> Any:
        return _steps(value)


Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "is_null", "not_null", "in"]


class Condition(_Strict):
    """A test on the first row (record): ``from``, ``convert``, ``op``, ``param`` or ``value``."""

    from_: str = Field(alias="from")
    convert: Steps
    op: Op
    param: str | None = None
    value: Any = None

    @field_validator("convert", mode="before")
    @classmethod
    def _convert_steps(cls, value: Any) -> Any:
        return _steps(value)

    @model_validator(mode="after")
    def _operand(self) -> Condition:
        unary = self.op in ("is_null", "not_null")
        given = self.param is not None or "value" in self.model_fields_set
        if unary == given or (self.param is not None and "value" in self.model_fields_set):
            raise rule_broken("connectors.rule.operand", op=self.op)
        return self


class AsOf(_Strict):
    """What a predicate's answer rests on: a row value (``from``/``convert``/``template``),
    a parameter (``param``), or, when omitted, the source's extraction date."""

    from_: str | None = Field(default=None, alias="from")
    convert: Steps
    template: str = "{}"
    param: str | None = None

    @field_validator("convert", mode="before")
    @classmethod
    def _convert_steps(cls, value: Any) -> Any:
        return _steps(value)


class PredicateSpec(_Strict):
    """A yes/no question answered at the owner.

    ``holds``: ``exists`` (some row), ``absent`` (no row), or ``all`` (the first row meets
    every ``when`` condition; no row answers no, as the owner cannot vouch for it).
    """

    params: dict[str, ParamSpec] = Field(default_factory=dict)
    query: str | None = None
    endpoint: str | None = None
    records: str | None = None
    bind: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Constants bound into the query (never pasted into it)."""
    holds: Literal["exists", "absent", "all"]
    when: list[Condition] = Field(default_factory=list)
    as_of: AsOf | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PredicateSpec:
        if (self.query is None) == (self.endpoint is None):
            raise rule_broken("connectors.rule.query_or_endpoint")
        if self.holds == "all" and not self.when:
            raise rule_broken("connectors.rule.when_needed")
        if self.holds != "all" and self.when:
            raise rule_broken("connectors.rule.when_only_all")
        for condition in self.when:
            if condition.param is not None and condition.param not in self.params:
                raise rule_broken("connectors.rule.unknown_param", name=condition.param)
        if self.as_of and self.as_of.param and self.as_of.param not in self.params:
            raise rule_broken("connectors.rule.unknown_param", name=self.as_of.param)
        known = {"subject", *self.params, *self.bind}
        used = BIND.findall(self.query) if self.query is not None else []
        used += PLACEHOLDER.findall(self.endpoint) if self.endpoint is not None else []
        for name in used:
            if name not in known:
                raise rule_broken("connectors.rule.unbound", name=name)
        if "subject" not in used:
            raise rule_broken("connectors.rule.subject_needed")
        return self


SUBJECT_BINDS = frozenset({"section", "number", "address", "former_address"})
"""What a query by a parcel, building or house number may bind (``Subject.binds``)."""


class HistorySource(_Strict):
    """The changes a parcel went through (re-survey, merger, split, a section renamed): a
    query of ``{columns}`` binding the subject's parts, one row per change."""

    query: str
    fields: dict[str, FieldSource]

    @model_validator(mode="after")
    def _binds(self) -> HistorySource:
        _check_subject_query(self.query)
        return self


class SubjectSource(_Strict):
    """How a list dataset is read by a subject that is not a person: ``query`` selects
    ``{columns}`` binding the subject's parts (``:section``, ``:number``, ``:address``,
    ``:former_address``); ``fields`` adds item fields only such a query has (the owners it
    lists); ``history`` answers the subject's renumbering history as the list ``history``."""

    query: str
    fields: dict[str, FieldSource] = Field(default_factory=dict)
    history: HistorySource | None = None

    @model_validator(mode="after")
    def _binds(self) -> SubjectSource:
        _check_subject_query(self.query)
        return self


def _check_subject_query(query: str) -> None:
    if "{columns}" not in query:
        raise rule_broken("connectors.rule.columns_placeholder")
    for name in BIND.findall(query):
        if name not in SUBJECT_BINDS:
            raise rule_broken("connectors.rule.unbound", name=name)


class DatasetSource(_Strict):
    """How one dataset of the common standard is read.

    SQL: ``query`` selects ``{columns}`` (filled with the columns of the fields asked for)
    and binds ``:subject``. HTTP: ``endpoint`` (``{subject}`` filled in, URL-escaped) and
    ``records``, the path to the record (or the list of items) in the answer.
    A list dataset (``list`` names its list field, e.g. ``parcels``) reads one row per item;
    ``fields`` are then the item's sub-fields and ``subject_field`` names the subject.
    """

    query: str | None = None
    endpoint: str | None = None
    records: str | None = None
    list_: str | None = Field(default=None, alias="list")
    subject_field: str | None = None
    fields: dict[str, FieldSource]
    extensions: dict[str, dict[str, FieldSource]] = Field(default_factory=dict)
    """Local extension fields by the jurisdiction that defines them."""
    jurisdiction_of_subject: FieldSource | None = None
    """Where the subject belongs (a catalog jurisdiction code): picks the extension fields."""
    predicates: dict[str, PredicateSpec] = Field(default_factory=dict)
    computed: list[str] = Field(default_factory=list)
    """Predicates answered by computing over this dataset's own records rather than by a
    query (:mod:`onceonly.providers.computed`, e.g. a degree of kinship): the owner's code
    reads the records, only the minimised answer leaves it."""
    by: dict[Literal["parcel", "building", "address"], SubjectSource] = Field(default_factory=dict)
    """Queries by a parcel, a building or a house number (SQL list datasets only)."""
    sample: str | None = None
    """Subjects to check the connector with (``onceonly connector check``): a query of
    national IDs binding ``:limit``, or an endpoint answering a JSON list of them."""

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSource:
        if self.sample is not None and set(BIND.findall(self.sample)) - {"limit"}:
            raise rule_broken("connectors.rule.sample_limit")
        if (self.query is None) == (self.endpoint is None):
            raise rule_broken("connectors.rule.query_or_endpoint")
        if self.query is not None:
            if "{columns}" not in self.query:
                raise rule_broken("connectors.rule.columns_placeholder")
            names = BIND.findall(self.query)
            for name in names:
                if name != "subject":
                    raise rule_broken("connectors.rule.unbound", name=name)
            if "subject" not in names:
                raise rule_broken("connectors.rule.subject_needed")
        if self.endpoint is not None:
            placeholders = set(PLACEHOLDER.findall(self.endpoint))
            if placeholders - {"subject"}:
                raise rule_broken("connectors.rule.endpoint_subject")
            if "subject" not in placeholders:
                raise rule_broken("connectors.rule.subject_needed")
        if (self.list_ is None) != (self.subject_field is None):
            raise rule_broken("connectors.rule.list_subject")
        if self.list_ is not None and (self.extensions or self.jurisdiction_of_subject):
            raise rule_broken("connectors.rule.list_extensions")
        if self.extensions and self.jurisdiction_of_subject is None:
            raise rule_broken("connectors.rule.extensions_need_jurisdiction")
        if self.by and (self.list_ is None or self.query is None):
            raise rule_broken("connectors.rule.by_needs_sql_list")
        return self


class AsOfSource(_Strict):
    """How fresh the source is (shown with predicate answers): a one-value query/endpoint."""

    query: str | None = None
    endpoint: str | None = None
    from_: str | None = Field(default=None, alias="from")
    convert: Steps

    @field_validator("convert", mode="before")
    @classmethod
    def _convert_steps(cls, value: Any) -> Any:
        return _steps(value)


class SqlSource(_Strict):
    """A database reached through SQLAlchemy: ``sqlite:///file`` (relative to the connector
    file), ``postgresql+psycopg://…``, ``oracle+oracledb://…``, ``mssql+pymssql://…``.

    The password is never in the file: ``password_env`` names an environment variable,
    ``password_file`` a file only the service can read.
    """

    kind: Literal["sql"]
    url: str
    schema_: str | None = Field(default=None, alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The owner's schema (PostgreSQL ``search_path``, Oracle ``CURRENT_SCHEMA``)."""
    password_env: str | None = None
    password_file: str | None = None
    timeout: float = Field(default=2.0, gt=0)
    pool_size: int = Field(default=4, ge=1, le=64)
    as_of: AsOfSource | None = None

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as error:
            raise rule_broken("connectors.rule.bad_url", reason=str(error)) from error
        if url.password:
            raise rule_broken("connectors.rule.password_in_url")
        return value


class AuthHeader(_Strict):
    """A header sent with every request; its value comes from ``env`` or ``file``."""

    header: str = "Authorization"
    prefix: str = ""
    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> AuthHeader:
        if (self.env is None) == (self.file is None):
            raise rule_broken("connectors.rule.secret_one")
        return self


class HttpSource(_Strict):
    """An agency's JSON API: ``base_url``, endpoint templates per dataset, a timeout."""

    kind: Literal["http"]
    base_url: str = Field(pattern=r"^https?://")
    auth: AuthHeader | None = None
    timeout: float = Field(default=2.0, gt=0)
    as_of: AsOfSource | None = None


class ConnectorSpec(_Strict):
    """One connector file: an owner, its source, and the datasets it answers."""

    connector: Literal[1]
    owner: str = Field(pattern=r"^[a-z0-9-]+\.[a-z0-9_]+$")
    jurisdiction: str | None = None
    system: str = ""
    """The legacy system and version the source runs (for people, and for tools that write
    into it the way it writes)."""
    source: Annotated[SqlSource | HttpSource, Field(discriminator="kind")]
    codes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Code tables: legacy code (as text) → standard code."""
    datasets: dict[str, DatasetSource] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _codes_as_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("codes"), dict):
            data = dict(data)
            data["codes"] = {
                name: {str(k): v for k, v in table.items()} if isinstance(table, dict) else table
                for name, table in data["codes"].items()
            }
        return data

    def is_sql(self) -> bool:
        return isinstance(self.source, SqlSource)
