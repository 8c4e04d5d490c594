"""Connectors over a database reached through SQLAlchemy (SQLite, PostgreSQL, Oracle, SQL
Server: whatever URL scheme SQLAlchemy and an installed driver handle).

The source is opened read-only where the database allows it (SQLite ``mode=ro``, a
PostgreSQL read-only session) through a small connection pool, since many clerks read at
once. Statements are compiled once for the database's own parameter style and run on the
pooled DB-API connection: SQLAlchemy's result layer would triple the cost of these one-row,
index-only lookups. Every value from a request (the subject, a predicate's parameters) is a
bound parameter; the connector's column references are plain names checked when the file
is read, so nothing a caller sends becomes SQL.

A source that cannot be opened, has gone, stays locked past the timeout, or whose query runs
past it raises :class:`~onceonly.providers.base.ProviderUnavailable`. A SQLite file on this
machine is therefore bounded in time by the connector itself, and the exchange asks it in the
request's own thread (:attr:`SqlConnectorProvider.answers_locally`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import PoolProxiedConnection as Connection
from sqlalchemy.pool import QueuePool

from onceonly.call_failures import what_it_said
from onceonly.connectors.engine import ConnectorProvider, Selection
from onceonly.connectors.loader import Connector
from onceonly.connectors.spec import BIND, PredicateSpec, SqlSource
from onceonly.i18n import both
from onceonly.providers.base import time_left


@dataclass(frozen=True)
class _Statement:
    """SQL in the driver's own parameter style, with the order of positional names."""

    sql: str
    names: tuple[str, ...] | None

    def arguments(self, params: Mapping[str, Any]) -> Any:
        if self.names is None:
            return dict(params)
        return [params[name] for name in self.names]


PROGRESS_STEPS = 10_000
"""SQLite virtual-machine steps between two looks at the clock while a query runs (an
indexed one-row lookup takes a few hundred, so it is never interrupted to look)."""


class SqlConnectorProvider(ConnectorProvider):
    """A provider whose source is a SQL database (see :class:`SqlSource`)."""

    def __init__(self, connector: Connector, *, timeout: float | None = None) -> None:
        super().__init__(connector)
        source = connector.spec.source
        assert isinstance(source, SqlSource)
        self.source = source
        self.timeout = timeout if timeout is not None else source.timeout
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._statements: dict[str, _Statement] = {}
        self.url = self._url()
        self.path = self._path()
        self.answers_locally = self.path is not None
        """A SQLite file read in this process: no network, and every query stopped at the
        timeout (a busy timeout for locks, a progress handler for the query itself)."""

    # the source ---------------------------------------------------------------------------

    def _url(self) -> URL:
        url = make_url(self.source.url)
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                path = self.connector.resolve(url.database)
                return url.set(database=str(path))
            return url
        password = None
        if self.source.password_env:
            password = os.environ.get(self.source.password_env)
        elif self.source.password_file:
            secret = self.connector.resolve(self.source.password_file)
            if secret.is_file():
                password = secret.read_text("utf-8").strip()
        return url.set(password=password) if password is not None else url

    def _path(self) -> Path | None:
        """The SQLite file of the source, or None for a database server."""
        if self.url.get_backend_name() != "sqlite" or not self.url.database:
            return None
        return Path(self.url.database)

    def _engine_or_fail(self) -> Engine:
        path = self.path
        if path is not None and not path.is_file():
            self.close()  # pooled connections would still read a deleted file
            raise self.unavailable(both("connectors.unavailable.store_not_found", name=path.name))
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
            return self._engine

    def _create_engine(self) -> Engine:
        pool = {
            "poolclass": QueuePool,
            "pool_size": self.source.pool_size,
            "max_overflow": self.source.pool_size,
            "pool_timeout": self.timeout,
        }
        path = self.path
        if path is not None:  # asked in request threads: a connection each, never a wait
            return create_engine(
                f"sqlite:///file:{path.resolve()}?mode=ro&uri=true",
                connect_args={"check_same_thread": False, "timeout": self.timeout},
                **{**pool, "max_overflow": -1},
            )
        backend = self.url.get_backend_name()
        connect_args: dict[str, Any] = {}
        if backend == "postgresql":
            connect_args["connect_timeout"] = max(1, round(self.timeout))
        engine = create_engine(self.url, connect_args=connect_args, **pool)
        setup = self._session_setup(engine)
        if setup:

            @event.listens_for(engine, "connect")
            def _setup(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                try:
                    for statement in setup:
                        cursor.execute(statement)
                finally:
                    cursor.close()
                dbapi_connection.commit()

        return engine

    def _session_setup(self, engine: Engine) -> list[str]:
        """Statements each new connection runs: the owner's schema, read-only, a timeout."""
        backend = engine.dialect.name
        schema = self.source.schema_
        quoted = engine.dialect.identifier_preparer.quote_identifier(schema) if schema else None
        if backend == "postgresql":
            setup = [
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                f"SET statement_timeout = {int(self.timeout * 1000)}",
            ]
            if quoted:
                setup.append(f"SET search_path TO {quoted}")
            return setup
        if backend == "oracle" and quoted:
            return [f"ALTER SESSION SET CURRENT_SCHEMA = {quoted}"]
        return []

    def _statement(self, sql: str, engine: Engine) -> _Statement:
        statement = self._statements.get(sql)
        if statement is None:
            compiled = text(sql).compile(dialect=engine.dialect)
            names = compiled.positiontup
            statement = _Statement(str(compiled), tuple(names) if names is not None else None)
            if len(self._statements) < 1024:
                self._statements[sql] = statement
        return statement

    def _run(
        self, sql: str, params: Mapping[str, Any], *, named: bool = False
    ) -> tuple[list[Any], list[str]]:
        """Rows of ``sql`` (``:name`` parameters) and, when ``named``, the column names."""
        engine = self._engine_or_fail()
        statement = self._statement(sql, engine)
        dbapi_error = engine.dialect.loaded_dbapi.Error
        try:
            connection: Connection = engine.raw_connection()
        except DBAPIError as error:
            raise self.unavailable(_database_said(error.orig or error)) from error
        except dbapi_error as error:  # the pool hands the driver's own error on
            raise self.unavailable(_database_said(error)) from error
        except PoolTimeout as error:
            raise self.unavailable(both("connectors.unavailable.pool_exhausted")) from error
        self._stop_at_timeout(connection)
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, statement.arguments(params))
                rows = list(cursor.fetchall())
                columns = [d[0].lower() for d in cursor.description or ()] if named else []
                return rows, columns
            finally:
                cursor.close()
        except dbapi_error as error:
            connection.invalidate()
            if isinstance(error, sqlite3.OperationalError) and str(error) == "interrupted":
                too_slow = both("connectors.unavailable.too_slow", seconds=f"{self.timeout:g}")
                raise self.unavailable(too_slow) from error
            raise self.unavailable(_database_said(error)) from error
        finally:
            connection.close()

    def _stop_at_timeout(self, connection: Connection) -> None:
        """On a SQLite file, stop the call at the timeout, or sooner when the caller's
        deadline comes first (:func:`~onceonly.providers.base.time_left`): a query still
        running then is interrupted (a progress handler), a lock is waited for no longer
        (the busy timeout). A database server has its statement timeout."""
        driver = connection.driver_connection
        if self.path is None or not isinstance(driver, sqlite3.Connection):
            return
        left = time_left(self.timeout)
        deadline = time.monotonic() + left

        def past_deadline() -> bool:
            return time.monotonic() > deadline

        driver.set_progress_handler(past_deadline, PROGRESS_STEPS)
        busy_ms = int(left * 1000)
        if connection.info.get("busy_ms") != busy_ms:  # the same on nearly every call
            driver.execute(f"PRAGMA busy_timeout = {busy_ms}")
            connection.info["busy_ms"] = busy_ms

    # the engine's hooks -------------------------------------------------------------------

    def _rows(self, dataset: str, selection: Selection, subject: str) -> list[Sequence[Any]]:
        query = self.plan(dataset).source.query or ""
        sql = query.replace("{columns}", ", ".join(selection.columns) or "1")
        return self._run(sql, {"subject": subject})[0]

    def _query_rows(self, sql: str, binds: Mapping[str, Any]) -> list[Sequence[Any]]:
        names = set(BIND.findall(sql))
        return self._run(sql, {k: v for k, v in binds.items() if k in names})[0]

    def _predicate_rows(
        self, spec: PredicateSpec, subject: str, bound: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        rows, columns = self._run(spec.query or "", {**bound, "subject": subject}, named=True)
        return [dict(zip(columns, row, strict=False)) for row in rows]

    def _sample(self, query: str, limit: int) -> list[Any]:
        params = {"limit": limit} if ":limit" in query else {}
        return [row[0] for row in self._run(query, params)[0]]

    def _as_of_raw(self) -> Any:
        spec = self.source.as_of
        if spec is None or spec.query is None:
            return None
        rows, columns = self._run(spec.query, {}, named=True)
        if not rows:
            return None
        if spec.from_ is None:
            return rows[0][0]
        return dict(zip(columns, rows[0], strict=False)).get(spec.from_.lower())

    def close(self) -> None:
        """Release every pooled connection; the provider can still be used afterwards."""
        super().close()
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            self._statements.clear()


def _database_said(error: BaseException) -> dict[str, str]:
    """The driver's own first line, in a sentence of each language."""
    return both("connectors.unavailable.database", said=what_it_said(error))
