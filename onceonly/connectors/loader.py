"""Reading connector files: YAML, then the Pydantic models, then checks against the catalog.

Errors read like the catalog loader's (:class:`onceonly.catalog.loader.CatalogError`): the
file, the path inside it (``datasets.income.fields.tax_year.convert[0]``) and the reason in
both languages; every error of a file is collected before giving up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from onceonly.catalog.loader import DATA_DIR, CatalogError, _error, _pydantic_error
from onceonly.catalog.schema import DatasetSpec, FieldSpec
from onceonly.connectors.spec import COLUMN, JSON_PATH, ConnectorSpec, FieldSource, Step
from onceonly.providers.computed import COMPUTED

SUFFIX = ".connector.yaml"
"""Connector files in a directory are found by this ending."""

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConnectorInvalid(Exception):
    """A connector file has errors; ``errors`` says where and why."""

    def __init__(self, errors: Sequence[CatalogError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class Connector:
    """A checked connector and the file it came from (relative SQLite paths and secret
    files are resolved against the file's directory)."""

    spec: ConnectorSpec
    file: Path

    @property
    def owner(self) -> str:
        return self.spec.owner

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.file.parent / path


@cache
def _standard(code: str) -> DatasetSpec | None:
    path = DATA_DIR / "datasets" / f"{code}.yaml"
    if not path.is_file():
        return None
    return DatasetSpec.model_validate(yaml.load(path.read_text("utf-8"), Loader=_YAML_LOADER))


def standard_of(dataset: str) -> DatasetSpec | None:
    """The catalog's standard of ``dataset`` (the packaged YAML), or None."""
    return _standard(dataset)


def _check(spec: ConnectorSpec, file: str) -> list[CatalogError]:
    """Cross-checks the models cannot make alone: the catalog's names, code tables, and
    references shaped for the kind of source."""
    errors: list[CatalogError] = []
    sql = spec.is_sql()
    reference = COLUMN if sql else JSON_PATH

    def steps(path: str, items: Iterable[Step]) -> None:
        for i, step in enumerate(items):
            if step.use == "code" and step.table not in spec.codes:
                errors.append(
                    _error(file, f"{path}[{i}].table", "connectors.error.no_code_table",
                           name=step.table)
                )  # fmt: skip

    def source(path: str, field: FieldSource) -> None:
        for i, ref in enumerate(field.from_):
            if not reference.match(ref):
                key = "connectors.error.bad_column" if sql else "connectors.error.bad_path"
                errors.append(_error(file, f"{path}.from[{i}]", key, ref=ref))
        steps(f"{path}.convert", field.convert)

    for code, dataset in spec.datasets.items():
        here = f"datasets.{code}"
        if (dataset.query is not None) != sql:
            key = "connectors.error.query_for_sql" if sql else "connectors.error.endpoint_for_http"
            errors.append(_error(file, here, key))
        standard = standard_of(code)
        if standard is None:
            errors.append(_error(file, here, "connectors.error.unknown_dataset", code=code))
            continue
        core: dict[str, FieldSpec] = {f.name: f for f in standard.fields}
        names: dict[str, FieldSpec] = core
        if dataset.list_ is not None:
            listed = core.get(dataset.list_)
            if listed is None or listed.type != "array":
                errors.append(
                    _error(file, f"{here}.list", "connectors.error.not_a_list",
                           name=dataset.list_)
                )  # fmt: skip
                names = {}
            else:
                names = {f.name: f for f in listed.items or []}
            if dataset.subject_field not in core:
                errors.append(
                    _error(file, f"{here}.subject_field", "connectors.error.unknown_field",
                           name=dataset.subject_field, dataset=code)
                )  # fmt: skip
        for name, field in dataset.fields.items():
            if names and name not in names:
                errors.append(
                    _error(file, f"{here}.fields.{name}", "connectors.error.unknown_field",
                           name=name, dataset=code)
                )  # fmt: skip
            source(f"{here}.fields.{name}", field)
        for jurisdiction, extra in dataset.extensions.items():
            local = {f.name for f in standard.extensions.get(jurisdiction, [])}
            for name, field in extra.items():
                if name not in local:
                    errors.append(
                        _error(file, f"{here}.extensions.{jurisdiction}.{name}",
                               "connectors.error.unknown_extension",
                               name=name, jurisdiction=jurisdiction)
                    )  # fmt: skip
                source(f"{here}.extensions.{jurisdiction}.{name}", field)
        if dataset.jurisdiction_of_subject is not None:
            source(f"{here}.jurisdiction_of_subject", dataset.jurisdiction_of_subject)
        known = {p.code for p in standard.predicates}
        for name in dataset.computed:
            if name not in known or (code, name) not in COMPUTED:
                errors.append(
                    _error(file, f"{here}.computed", "connectors.error.unknown_predicate",
                           name=name, dataset=code)
                )  # fmt: skip
        for name, predicate in dataset.predicates.items():
            where = f"{here}.predicates.{name}"
            if name not in known:
                errors.append(
                    _error(file, where, "connectors.error.unknown_predicate", name=name,
                           dataset=code)
                )  # fmt: skip
            if (predicate.query is not None) != sql:
                key = (
                    "connectors.error.query_for_sql"
                    if sql
                    else "connectors.error.endpoint_for_http"
                )
                errors.append(_error(file, where, key))
            for i, condition in enumerate(predicate.when):
                if not reference.match(condition.from_):
                    key = "connectors.error.bad_column" if sql else "connectors.error.bad_path"
                    errors.append(_error(file, f"{where}.when[{i}].from", key,
                                         ref=condition.from_))  # fmt: skip
                steps(f"{where}.when[{i}].convert", condition.convert)
            for pname, param in predicate.params.items():
                steps(f"{where}.params.{pname}.bind", param.bind)
            if predicate.as_of is not None:
                steps(f"{where}.as_of.convert", predicate.as_of.convert)
    if spec.source.as_of is not None:
        steps("source.as_of.convert", spec.source.as_of.convert)
        if (spec.source.as_of.query is not None) != sql:
            key = "connectors.error.query_for_sql" if sql else "connectors.error.endpoint_for_http"
            errors.append(_error(file, "source.as_of", key))
    return errors


def read_connector(path: Path) -> tuple[Connector | None, list[CatalogError]]:
    """The checked connector in ``path``, or None and every error found."""
    name = str(path)
    if not path.is_file():
        return None, [_error(name, "(file)", "catalog.error.file_missing")]
    try:
        raw: Any = yaml.load(path.read_text("utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [_error(name, where, "catalog.error.yaml", problem=problem)]
    except UnicodeDecodeError:
        return None, [_error(name, "(file)", "catalog.error.encoding")]
    if raw is None:
        return None, [_error(name, "(file)", "catalog.error.empty_file")]
    try:
        spec = ConnectorSpec.model_validate(raw)
    except ValidationError as exc:
        seen: set[tuple[str, str]] = set()
        errors: list[CatalogError] = []
        for item in exc.errors():
            error = _pydantic_error(name, raw, item)
            if (error.path, error.reason) not in seen:
                seen.add((error.path, error.reason))
                errors.append(error)
        return None, errors
    errors = _check(spec, name)
    if errors:
        return None, errors
    return Connector(spec, path.resolve()), []


def load_connector(path: Path) -> Connector:
    """The checked connector in ``path``; :class:`ConnectorInvalid` lists what is wrong."""
    connector, errors = read_connector(Path(path))
    if connector is None:
        raise ConnectorInvalid(errors)
    return connector


def connector_files(directory: Path) -> list[Path]:
    """The connector files of a directory, in a stable order."""
    return sorted(Path(directory).glob(f"*{SUFFIX}"))
