"""Loading golden records into the merged jurisdiction's provider store, so the exchange
serves them: one transaction, all or nothing, and a re-run replaces what the previous run
of the same plan loaded (idempotent) instead of adding to it.

The store keeps its own legacy schema (ROC ``YYYMMDD`` dates, Chinese code values), so
golden records are written the way that system writes; the provider adapter maps them back
to the common standard on every fetch. A table ``consolidate_loaded`` in the store
remembers which rows each plan wrote. A row the plan did not write is never overwritten:
a national ID or a parcel already registered there stops the load with
:class:`LoadConflict`.

Which loader runs follows the store's kind: a household register takes
``household_registration`` (:mod:`onceonly.consolidate.load_people`), a land office
``land_registration`` (:mod:`onceonly.consolidate.load_parcels`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from onceonly.connectors import SUFFIX, read_connector
from onceonly.domain.roc_date import format_roc_date

LOADED_TABLE = (
    "CREATE TABLE IF NOT EXISTS consolidate_loaded "
    "(plan TEXT NOT NULL, tbl TEXT NOT NULL, key TEXT NOT NULL)"
)


class LoadError(RuntimeError):
    """The load cannot happen; nothing was written. ``key`` names the message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


class LoadConflict(LoadError):
    """Records the plan did not load already hold some of the golden records' keys."""


@dataclass(frozen=True)
class LoadSummary:
    store: Path
    rows: dict[str, int]
    """Rows written per table of the store."""
    replaced: int
    """Records of an earlier run of the same plan that were replaced."""


Loader = Callable[[Path, str, str, Sequence[dict[str, Any]]], LoadSummary]


def roc(value: str | None) -> str | None:
    """ISO ``2006-03-05`` as the stores write it, ROC ``0950305``; None stays None."""
    return format_roc_date(date.fromisoformat(value), "compact") if value else None


@contextmanager
def load_transaction(
    store: Path, plan: str, replace: Mapping[str, str]
) -> Iterator[tuple[sqlite3.Connection, list[tuple[str, str]]]]:
    """An open store inside ``BEGIN IMMEDIATE`` with what ``plan`` loaded before already
    deleted (``replace``: table -> key column, deleted in that order); yields the connection
    and the ``(table, key)`` rows the plan had loaded. Commits at the end, rolls back on any
    exception, so a failure anywhere leaves the store as it was."""
    connection = sqlite3.connect(store, isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(LOADED_TABLE)
            before = connection.execute(
                "SELECT tbl, key FROM consolidate_loaded WHERE plan = ?", (plan,)
            ).fetchall()
            for table, column in replace.items():
                keys = [(key,) for tbl, key in before if tbl == table]
                connection.executemany(f"DELETE FROM {table} WHERE {column} = ?", keys)
            connection.execute("DELETE FROM consolidate_loaded WHERE plan = ?", (plan,))
            yield connection, before
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()


def record_loaded(
    connection: sqlite3.Connection, plan: str, rows: Iterable[tuple[str, str]]
) -> None:
    """Remember that ``plan`` wrote these ``(table, key)`` rows (for the next re-run)."""
    connection.executemany(
        "INSERT INTO consolidate_loaded VALUES (?, ?, ?)", ((plan, t, k) for t, k in rows)
    )


def existing(
    connection: sqlite3.Connection, sql: str, keys: Sequence[Any], chunk: int = 500
) -> list[Any]:
    """The first column of ``sql`` (with ``{marks}`` for an ``IN`` list) over ``keys``."""
    found: list[Any] = []
    for start in range(0, len(keys), chunk):
        part = list(keys[start : start + chunk])
        marks = ",".join("?" * len(part))
        found += [row[0] for row in connection.execute(sql.format(marks=marks), part)]
    return found


def _loaders() -> dict[str, tuple[str, Loader]]:
    """Legacy system (as a connector's ``system`` names it, without its version) -> the
    dataset its loader takes, and the loader that writes the way that system writes."""
    from onceonly.consolidate.load_parcels import load_parcels
    from onceonly.consolidate.load_people import load_golden

    return {
        "RIS": ("household_registration", load_golden),
        "LAS": ("land_registration", load_parcels),
    }


def _store(registries: Path, owner: str, dataset: str) -> tuple[Path, Loader]:
    """The owner's SQLite store and its loader, found through the owner's connector file
    (the same file the exchange reads the store with)."""
    connector, _ = read_connector(Path(registries) / f"{owner}{SUFFIX}")
    if connector is None or not connector.spec.is_sql():
        raise LoadError("consolidate.load.no_store", owner=owner)
    system = connector.spec.system.split(" ")[0]
    accepted = _loaders().get(system)
    url = make_url(getattr(connector.spec.source, "url", ""))
    if (
        accepted is None
        or accepted[0] != dataset
        or url.get_backend_name() != "sqlite"
        or not url.database
    ):
        raise LoadError(
            "consolidate.load.unsupported", owner=owner, kind=connector.spec.system, dataset=dataset
        )
    return connector.resolve(url.database), accepted[1]


def store_of(registries: Path, owner: str, dataset: str = "household_registration") -> Path:
    """The SQLite file of ``owner``'s store in a registries directory, checked to be a
    store that golden records of ``dataset`` can be loaded into."""
    return _store(registries, owner, dataset)[0]


def load_into_registries(
    registries: Path,
    owner: str,
    plan: str,
    jurisdiction: str,
    golden: Sequence[dict[str, Any]],
    dataset: str = "household_registration",
) -> LoadSummary:
    """Load ``golden`` records of ``dataset`` into ``owner``'s store of a registries
    directory with the loader of that store's kind."""
    store, loader = _store(registries, owner, dataset)
    return loader(store, plan, jurisdiction, golden)
