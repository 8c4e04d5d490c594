"""Loading golden records into the merged jurisdiction's provider store, so the exchange
serves them: one transaction, all or nothing, and a re-run replaces what the previous run
of the same plan loaded (idempotent) instead of adding to it.

The store keeps its own legacy schema (the household register's ``persons``,
``households`` and ``addresses``: ROC ``YYYMMDD`` dates, Chinese titles), so golden records
are written the way that system writes; the provider adapter maps them back to the common
standard on every fetch. A table ``consolidate_loaded`` in the store remembers which rows
each plan wrote. A row the plan did not write is never overwritten: a national ID already
registered there stops the load with :class:`LoadConflict`.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from onceonly.demo.registries.gazetteer import jurisdiction as demo_jurisdiction
from onceonly.demo.registries.manifest import load_manifest
from onceonly.domain.address import parse_address

_SEX = {"M": "1", "F": "2"}
_MARITAL = {"single": "1", "married": "2", "divorced": "3", "widowed": "4"}
_INDIGENOUS = {"none": "0", "plains": "1", "mountain": "2"}
_TITLES = {
    ("head", "M"): "戶長", ("head", "F"): "戶長", ("spouse", "M"): "夫", ("spouse", "F"): "妻",
    ("child", "M"): "長男", ("child", "F"): "長女", ("parent", "M"): "父", ("parent", "F"): "母",
    ("grandchild", "M"): "孫", ("grandchild", "F"): "孫女", ("sibling", "M"): "兄",
    ("sibling", "F"): "姊",
}  # fmt: skip
_FORMER_CODES = {"tainan-county": "10011", "former-tainan-city": "10021"}
COMPOUND_SURNAMES = ("歐陽", "司馬", "諸葛", "上官", "司徒", "東方", "夏侯", "皇甫", "張簡", "范姜")
_LOADED = (
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
    """Records the plan did not load already hold some of the golden national IDs."""


@dataclass(frozen=True)
class LoadSummary:
    store: Path
    persons: int
    households: int
    replaced: int
    """Rows of an earlier run of the same plan that were replaced."""


def _roc(value: str | None) -> str | None:
    if not value:
        return None
    day = date.fromisoformat(value)
    return f"{day.year - 1911:03d}{day.month:02d}{day.day:02d}"


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name); compound surnames (歐陽) are kept whole."""
    if name[:2] in COMPOUND_SURNAMES and len(name) > 2:
        return name[:2], name[2:]
    return name[:1], name[1:]


def store_of(registries: Path, owner: str) -> Path:
    """The SQLite file of ``owner``'s store in a registries directory."""
    manifest = load_manifest(registries)
    entry = manifest.store(owner)
    if entry is None:
        raise LoadError("consolidate.load.no_store", owner=owner)
    if entry.kind != "household_registry":
        raise LoadError("consolidate.load.unsupported", owner=owner, kind=entry.kind)
    return entry.resolve(registries)


def _rows(
    golden: Sequence[dict[str, Any]], jurisdiction: str, first_addr: int, first_person: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    county = demo_jurisdiction(jurisdiction)
    addresses: list[tuple[Any, ...]] = []
    persons: list[tuple[Any, ...]] = []
    households: dict[str, tuple[Any, ...]] = {}
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in golden:
        members[record["fields"]["household_id"]].append(record["fields"])
    addr_id = first_addr
    per_id = first_person
    for household, people in sorted(members.items()):
        head = next((p for p in people if p.get("relationship_to_head") == "head"), people[0])
        address = parse_address(head["address"])
        addr_id += 1
        former = head.get("former_jurisdiction")
        addresses.append(
            (
                addr_id,
                county.county_code,
                _FORMER_CODES.get(former or "", county.county_code),
                address.city,
                address.district or head.get("district") or "",
                address.village,
                address.neighbourhood,
                address.road,
                address.section,
                address.lane,
                address.alley,
                address.number,
                address.floor,
            )
        )
        office = f"{address.city}{address.district or ''}戶政事務所"
        households[household] = (household, head["national_id"], addr_id, office, None)
        for p in people:
            per_id += 1
            surname, given = split_name(p["name"])
            title = _TITLES.get((p.get("relationship_to_head") or "", p["sex"]), "其他")
            persons.append(
                (
                    per_id,
                    p["national_id"],
                    surname,
                    given,
                    _SEX[p["sex"]],
                    _roc(p["birth_date"]),
                    household,
                    title,
                    _MARITAL.get(p.get("marital_status") or "", "1"),
                    p.get("spouse_national_id"),
                    _INDIGENOUS.get(p.get("indigenous_status") or "", "0"),
                    _roc(p.get("moved_in_on")),
                    _roc(p.get("death_date")),
                )
            )
    return addresses, list(households.values()), persons


def load_golden(
    store: Path, plan: str, jurisdiction: str, golden: Sequence[dict[str, Any]]
) -> LoadSummary:
    """Write ``golden`` (household_registration records) into the household register at
    ``store`` in one transaction, replacing what ``plan`` loaded before."""
    connection = sqlite3.connect(store, isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(_LOADED)
            before = connection.execute(
                "SELECT tbl, key FROM consolidate_loaded WHERE plan = ?", (plan,)
            ).fetchall()
            for table, key in before:
                column = {"persons": "idn", "households": "hh_no", "addresses": "addr_id"}[table]
                connection.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))
            connection.execute("DELETE FROM consolidate_loaded WHERE plan = ?", (plan,))
            ids = [g["fields"]["national_id"] for g in golden]
            clashes = []
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                clashes += [
                    r[0]
                    for r in connection.execute(
                        f"SELECT idn FROM persons WHERE idn IN ({marks})", chunk
                    )
                ]
            if clashes:
                raise LoadConflict("consolidate.load.conflict", count=len(clashes),
                                   first=sorted(clashes)[0])  # fmt: skip
            first_addr = connection.execute("SELECT COALESCE(MAX(addr_id), 0) FROM addresses")
            first_person = connection.execute("SELECT COALESCE(MAX(per_id), 0) FROM persons")
            addresses, households, persons = _rows(
                golden, jurisdiction, first_addr.fetchone()[0], first_person.fetchone()[0]
            )
            connection.executemany(f"INSERT INTO addresses VALUES ({','.join('?' * 13)})",
                                   addresses)  # fmt: skip
            connection.executemany(f"INSERT INTO persons VALUES ({','.join('?' * 13)})", persons)
            connection.executemany("INSERT INTO households VALUES (?, ?, ?, ?, ?)", households)
            loaded = (
                [(plan, "addresses", str(a[0])) for a in addresses]
                + [(plan, "persons", p[1]) for p in persons]
                + [(plan, "households", h[0]) for h in households]
            )
            connection.executemany("INSERT INTO consolidate_loaded VALUES (?, ?, ?)", loaded)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()
    replaced = sum(1 for table, _ in before if table == "persons")
    return LoadSummary(store, len(persons), len(households), replaced)


def load_into_registries(
    registries: Path, owner: str, plan: str, jurisdiction: str, golden: Sequence[dict[str, Any]]
) -> LoadSummary:
    """:func:`load_golden` into ``owner``'s store of a registries directory."""
    return load_golden(store_of(registries, owner), plan, jurisdiction, golden)
