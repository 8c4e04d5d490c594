"""Version counters that tell every worker process when its cached copies went stale.

The evidence path keeps per-process copies of access rules, API tokens and signing keys
(``policy/rule_cache.py``, ``accounts/token_cache.py``, ``exchange/key_cache.py``). Each copy
is valid for one value of a counter in ``cache_versions``; a request reads the counters first
(one small query) and drops what belongs to an older value. The counters are bumped by
database triggers on the watched tables, so every change, whatever writes it (a service
function, the CLI, another worker, a migration, an operator's SQL), bumps them in its own
transaction: when the change is committed, the very next request on any worker sees it.

Only the columns a cached decision depends on are watched: a token's ``last_used_at`` touch
or a password change does not invalidate anything.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import DDL, Connection, Integer, String, event, func, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from onceonly.db import Base
from onceonly.prepared import Prepared

T = TypeVar("T")


class CacheVersion(Base):
    """One counter per kind of cached data; only the triggers below write it."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class Watch:
    table: str
    counter: str
    columns: tuple[str, ...]
    """UPDATEs of these columns bump the counter (INSERT and DELETE always do)."""
    on_insert: bool = True


WATCHES: tuple[Watch, ...] = (
    Watch("access_rules", "rules", ()),  # every column of a rule is part of the decision
    Watch(
        "api_tokens",
        "tokens",
        ("user_id", "token_hash", "expires_at", "revoked_at", "created_by_id"),
    ),
    Watch(
        "users",
        "tokens",
        ("username", "display_name", "role", "agency_code", "badge", "active"),
        on_insert=False,  # a new account has no cached token yet
    ),
    Watch("signing_keys", "keys", ()),
)
COUNTERS: tuple[str, ...] = tuple(dict.fromkeys(w.counter for w in WATCHES))


def _trigger_name(watch: Watch) -> str:
    return f"{watch.table}_bump_{watch.counter}"


def trigger_statements(watch: Watch, dialect: str) -> list[str]:
    """The DDL that makes every change to ``watch.table`` bump its counter (also used,
    frozen, by migration 0016)."""
    of = f" OF {', '.join(watch.columns)}" if watch.columns else ""
    bump = f"UPDATE cache_versions SET version = version + 1 WHERE name = '{watch.counter}'"
    name = _trigger_name(watch)
    verbs = (["INSERT"] if watch.on_insert else []) + [f"UPDATE{of}", "DELETE"]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {name}_{verb.split()[0].lower()} AFTER {verb} ON {watch.table} "
            f"BEGIN {bump}; END"
            for verb in verbs
        ]
    return [
        "CREATE OR REPLACE FUNCTION cache_versions_bump() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN UPDATE cache_versions SET version = version + 1 WHERE name = TG_ARGV[0]; "
        "RETURN NULL; END $$",
        f"CREATE TRIGGER {name} AFTER {' OR '.join([*verbs, 'TRUNCATE'])} ON {watch.table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION cache_versions_bump('{watch.counter}')",
    ]


def seed_statement() -> str:
    values = ", ".join(f"('{name}', 0)" for name in COUNTERS)
    return f"INSERT INTO cache_versions (name, version) VALUES {values}"


def _install_triggers(connection: Connection, watch: Watch) -> None:
    for statement in trigger_statements(watch, connection.dialect.name):
        connection.exec_driver_sql(statement)


def _install_for_create_all() -> None:
    """Databases made with ``create_all`` (tests, scratch stores) get the same rows and
    triggers as the migrations make. A watched table's triggers are made with whichever of it
    and ``cache_versions`` comes second, and not at all when a test makes only some tables."""
    tables = Base.metadata.tables

    def counters_made(target: Any, connection: Connection, **_: Any) -> None:
        connection.exec_driver_sql(seed_statement())
        present = inspect(connection)
        for watch in WATCHES:
            if present.has_table(watch.table):
                _install_triggers(connection, watch)

    def watched_made(watch: Watch) -> Callable[..., None]:
        def made(target: Any, connection: Connection, **_: Any) -> None:
            if inspect(connection).has_table(CacheVersion.__tablename__):
                _install_triggers(connection, watch)

        return made

    event.listen(CacheVersion.__table__, "after_create", counters_made)
    event.listen(
        CacheVersion.__table__,
        "after_drop",
        DDL("DROP FUNCTION IF EXISTS cache_versions_bump() CASCADE").execute_if(
            dialect="postgresql"
        ),
    )
    for watch in WATCHES:
        event.listen(tables[watch.table], "after_create", watched_made(watch))


Versions = Mapping[str, int]


CATALOG = "catalog"
"""Not a counter of this table: the newest ``catalog_versions`` row, read in the same query
for :meth:`onceonly.catalog.service.CachedCatalog.check`."""


@functools.cache
def _read_all() -> Any:
    """One row, a column per counter: each row fetched is one more call into SQLite that lets
    go of the interpreter lock, which under load costs a thread switch."""
    from onceonly.catalog.models import CatalogVersion

    counters = [
        select(CacheVersion.version).where(CacheVersion.name == name).scalar_subquery()
        for name in COUNTERS
    ]
    catalog = select(func.coalesce(func.max(CatalogVersion.id), 0)).scalar_subquery()
    return Prepared(select(*counters, catalog))


def read(session: Session) -> Versions:
    """Every counter (and the catalog's version), in one query: read once per request. A
    counter whose row is missing is left out (nothing cached under it may be trusted)."""
    (row,) = _read_all().rows(session)
    names = (*COUNTERS, CATALOG)
    return {name: version for name, version in zip(names, row, strict=True) if version is not None}


class VersionedMemo:
    """A per-process memo valid for one value of one counter: ``get`` drops everything
    memoised under an older value before answering. Values must be immutable."""

    def __init__(self, counter: str, max_entries: int = 10_000) -> None:
        self.counter = counter
        self._max = max_entries
        self._version: int | None = None
        self._memo: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def peek(self, versions: Versions, key: Any) -> Any:
        """What is memoised for ``key`` under the request's ``versions``, or ``None``."""
        version = versions.get(self.counter)
        if version is None:  # no counter row: nothing may be trusted from memory
            return None
        with self._lock:
            if self._version is not None and version < self._version:
                return None  # an older request: serve it from the database
            if version != self._version:
                self._memo, self._version = {}, version
            return self._memo.get(key)

    def put(self, versions: Versions, key: Any, value: Any) -> None:
        """Keep ``value`` (loaded after ``versions`` were read) while that version is the
        newest seen; a value loaded while a newer one arrived is used once and forgotten."""
        version = versions.get(self.counter)
        with self._lock:
            if version is None or version != self._version:
                return
            if len(self._memo) >= self._max:
                self._memo.clear()
            self._memo[key] = value

    def get(self, versions: Versions, key: Any, load: Callable[[], T]) -> T:
        """The memoised value of ``key``, loaded (and kept) on a miss."""
        found = self.peek(versions, key)
        if found is not None:
            return found
        value = load()
        if value is not None:
            self.put(versions, key, value)
        return value

    def forget(self, key: Any) -> None:
        with self._lock:
            self._memo.pop(key, None)


def _models_loaded() -> None:
    """The watched tables are declared by their capabilities; import them so the triggers can
    be attached whatever imported this module first."""
    from onceonly.accounts import models as _accounts  # noqa: F401
    from onceonly.exchange import keys as _keys  # noqa: F401
    from onceonly.policy import models as _policy  # noqa: F401


_models_loaded()
_install_for_create_all()
