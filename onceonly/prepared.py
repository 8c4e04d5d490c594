"""Statements the evidence path runs on every request, run on the driver's own cursor.

SQLAlchemy's work around one execution (an execution context, the compiled-cache lookup, a
result object wrapping each row) costs about ten times what SQLite needs to run a short query
by primary key: a raw cursor answers in ~11 µs where ``session.execute`` takes ~115 µs. An
evidence request runs eight such statements. :class:`Prepared` compiles a Core statement once
per dialect and then runs it on the session's own DB-API connection, in the session's
transaction, converting parameters and columns with the same type processors SQLAlchemy
would use, so values go in and come out as they would through ``session.execute``.

Only for plain statements: no ``IN`` lists expanded at run time, no ORM entities. When
anything listens for cursor executions on the engine (an operator's tracing, a test counting
queries), the statement goes through SQLAlchemy's ``exec_driver_sql`` instead, so it is seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    positional: bool
    defaults: dict[str, Any]
    binds: tuple[Processor, ...]
    columns: tuple[Processor, ...]
    """Empty when no column needs converting (the rows are the driver's as they are)."""

    def parameters(self, given: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = given[name] if name in given else self.defaults[name]
            values.append(process(value) if process is not None else value)  # None too: JSON null
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.columns:
            return tuple(raw)
        return tuple(
            process(value) if process is not None else value
            for process, value in zip(self.columns, raw, strict=True)
        )


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("a Prepared statement cannot expand IN lists at run time")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(by_name)
    params = {name: by_name[name] for name in names}
    binds = tuple(p.type.dialect_impl(dialect).bind_processor(dialect) for p in params.values())
    outputs = getattr(statement, "selected_columns", None)
    if outputs is None:  # an INSERT, UPDATE or DELETE: its RETURNING columns, if any
        outputs = statement.exported_columns  # type: ignore[attr-defined]
    columns = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in outputs)
    if not any(columns):
        columns = ()
    defaults = {name: p.value for name, p in params.items() if not p.required}
    return _Compiled(compiled.string, names, compiled.positional, defaults, binds, columns)


class Prepared:
    """A Core statement compiled once per dialect and run on the session's DB-API cursor."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        compiled = self._compiled.get(key)
        if compiled is None:
            made = _compile(self.statement, dialect)
            with self._lock:
                compiled = self._compiled.setdefault(key, made)
        return compiled

    def rows(self, session: Session, parameters: Mapping[str, Any] | None = None) -> list[tuple]:
        """Run once with ``parameters`` (bound by name) in the session's transaction; the
        rows it returns (none for a statement without a result). Objects pending in the
        session are flushed first, as ``session.execute`` would."""
        if session.autoflush:
            session.flush()
        connection = session.connection()
        compiled = self._for(connection.dialect)
        found = run(connection, compiled.sql, compiled.parameters(parameters or {}))
        return [compiled.row(raw) for raw in found]

    def many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per mapping of ``rows`` (an INSERT of several rows), in one call. Each row
        names every column: no column default is filled in, a missing one is a ``KeyError``."""
        if not rows:
            return
        if session.autoflush:
            session.flush()
        connection = session.connection()
        compiled = self._for(connection.dialect)
        run(connection, compiled.sql, [compiled.parameters(row) for row in rows], many=True)


def run(connection: Connection, sql: str, parameters: Any = (), *, many: bool = False) -> list[Any]:
    """Run ``sql`` as the driver takes it (its own parameter style, values already converted)
    on ``connection``, in its transaction; the driver's rows. A driver's error is raised as
    SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError`, as through ``session.execute``."""
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        result = connection.exec_driver_sql(sql, parameters)
        return [tuple(row) for row in result] if result.returns_rows else []
    driver_error = connection.dialect.loaded_dbapi.Error
    try:
        cursor = connection.connection.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
                return []
            cursor.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description is not None else []
        finally:
            cursor.close()
    except driver_error as error:
        raise DBAPIError.instance(
            sql,
            parameters,
            error,
            driver_error,
            hide_parameters=connection.engine.hide_parameters,
            dialect=connection.dialect,
            ismulti=many,
        ) from error
