"""The platform database: one SQLAlchemy engine, one declarative base, one session factory.

SQLite is the embedded default and PostgreSQL the production database; both run the same
Alembic migrations (``onceonly/migrations``). Capabilities declare their tables on ``Base``
and register the module in :mod:`onceonly.models` so migrations and tests see every table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DDL, DateTime, Dialect, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware now; every stored time is UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC. SQLite hands stored times back without their zone, and they are UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` whose values are stored in UTC. PostgreSQL converts an
    offset itself, but SQLite keeps a value's digits and drops its offset: 10:00+08:00 came
    back as 10:00 UTC, eight hours late. Every model's time column is of this type."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value) if value is not None else None


SQLITE_POOL_SIZE = 40
"""AnyIO's default thread limiter: at most this many requests hold a connection at once."""


def sqlite_in_memory(url: str) -> bool:
    """A SQLite database that lives in memory only (no file, so no WAL)."""
    return ":memory:" in url or "mode=memory" in url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout so that concurrent
    clerks wait for each other instead of failing. Its errors name it (:func:`database_of`)."""
    engine = _make_engine(url, **kwargs)
    event.listen(engine, "handle_error", _name_the_database)
    return engine


def _name_the_database(context: Any) -> None:
    if context.sqlalchemy_exception is not None and context.engine is not None:
        context.sqlalchemy_exception.database_url = context.engine.url


def database_of(error: BaseException) -> str | None:
    """The URL (password hidden) of the database an error of :func:`make_engine`'s engine
    came from: a command may use another database than the environment names."""
    url = getattr(error, "database_url", None)
    return url.render_as_string(hide_password=True) if url is not None else None


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""PostgreSQL's serialization failure, deadlock and lock not available: the database rolled
the transaction back whole, and the same request sent again can succeed."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is the database refusing this transaction for now (a deadlock with
    another, a lock held past SQLite's timeout), not a fault in what was asked: nothing of
    it was written, and retrying can help (a 503 with ``Retry-After``, not a 500)."""
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    if getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    message = str(orig).lower()
    return isinstance(error, OperationalError) and (
        "database is locked" in message or "database is busy" in message
    )


def _make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30)
        if not sqlite_in_memory(url) and "poolclass" not in kwargs:
            # Keep as many connections open as the server has request threads: a connection
            # closed on return (pool overflow) costs a new one and its pragmas next time.
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", SQLITE_POOL_SIZE)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose every read sees the database at one moment, however many
    statements it runs while the node goes on writing: a backup's tables and the heads its
    manifest records must describe the same log. Nothing it does is kept."""
    if engine.dialect.name == "sqlite":
        # pysqlite opens no transaction for a SELECT, so each read would see a later state;
        # an explicit BEGIN holds one WAL snapshot from the first read to the rollback.
        with engine.connect() as connection:
            connection.exec_driver_sql("BEGIN")
            try:
                yield connection
            finally:
                connection.rollback()
        return
    with engine.connect().execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    ) as connection:
        try:
            yield connection
        finally:
            connection.rollback()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing half-written."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def make_append_only(model: type[Base], *, truncate: bool = False) -> None:
    """Install triggers that reject UPDATE and DELETE (and TRUNCATE, on PostgreSQL, when asked)
    on ``model``'s table whenever ``create_all`` creates it. Migrations keep their own frozen
    copy of the same statements; this serves databases made without Alembic (tests, scratch
    stores). The triggers stop mistakes and casual edits, not the database's owner."""
    table = model.__table__
    name = str(model.__tablename__)
    refuse = f"{name} is append-only"
    sqlite = [
        f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
        f"BEGIN SELECT RAISE(ABORT, '{refuse}'); END"
        for verb in ("UPDATE", "DELETE")
    ]
    postgresql = [
        f"CREATE OR REPLACE FUNCTION {name}_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{refuse}'; END $$",
        f"CREATE TRIGGER {name}_no_change BEFORE UPDATE OR DELETE ON {name} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}_append_only()",
    ]
    if truncate:
        postgresql.append(
            f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_append_only()"
        )
    for dialect, statements in (("sqlite", sqlite), ("postgresql", postgresql)):
        for statement in statements:
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))
    event.listen(
        table,
        "after_drop",
        DDL(f"DROP FUNCTION IF EXISTS {name}_append_only()").execute_if(dialect="postgresql"),
    )
