"""Golden ``household_registration`` records into the household register's own schema
(``persons``, ``households``, ``addresses``: ROC dates, Chinese titles), in one transaction
(see :mod:`onceonly.consolidate.load`)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from onceonly.consolidate.load import (
    LoadConflict,
    LoadError,
    LoadSummary,
    existing,
    load_transaction,
    record_loaded,
    roc,
)
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
_REPLACE = {"persons": "idn", "households": "hh_no", "addresses": "addr_id"}


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name); compound surnames (歐陽) are kept whole."""
    if name[:2] in COMPOUND_SURNAMES and len(name) > 2:
        return name[:2], name[2:]
    return name[:1], name[1:]


def _county_code(connection: sqlite3.Connection, jurisdiction: str) -> str:
    """The register's own code for ``jurisdiction`` (內政部's county code), read from the
    addresses it already holds there: the load writes the way the system writes."""
    from onceonly.consolidate.plan import _jurisdictions

    name = next((j.name_zh for j in _jurisdictions().jurisdictions if j.code == jurisdiction), "")
    row = connection.execute(
        "SELECT county_code FROM addresses WHERE county_name = ? LIMIT 1", (name,)
    ).fetchone()
    if row is None:
        raise LoadError("consolidate.load.unknown_county", jurisdiction=jurisdiction)
    return str(row[0])


def _rows(
    golden: Sequence[dict[str, Any]],
    county_code: str,
    first_addr: int,
    first_person: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
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
                county_code,
                _FORMER_CODES.get(former or "", county_code),
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
                    roc(p["birth_date"]),
                    household,
                    title,
                    _MARITAL.get(p.get("marital_status") or "", "1"),
                    p.get("spouse_national_id"),
                    _INDIGENOUS.get(p.get("indigenous_status") or "", "0"),
                    roc(p.get("moved_in_on")),
                    roc(p.get("death_date")),
                )
            )
    return addresses, list(households.values()), persons


def load_golden(
    store: Path, plan: str, jurisdiction: str, golden: Sequence[dict[str, Any]]
) -> LoadSummary:
    """Write ``golden`` (household_registration records) into the household register at
    ``store`` in one transaction, replacing what ``plan`` loaded before."""
    with load_transaction(store, plan, _REPLACE) as (connection, before):
        ids = [g["fields"]["national_id"] for g in golden]
        clashes = existing(connection, "SELECT idn FROM persons WHERE idn IN ({marks})", ids)
        if clashes:
            raise LoadConflict(
                "consolidate.load.conflict", count=len(clashes), first=sorted(clashes)[0]
            )
        first_addr = connection.execute("SELECT COALESCE(MAX(addr_id), 0) FROM addresses")
        first_person = connection.execute("SELECT COALESCE(MAX(per_id), 0) FROM persons")
        addresses, households, persons = _rows(
            golden,
            _county_code(connection, jurisdiction),
            first_addr.fetchone()[0],
            first_person.fetchone()[0],
        )
        connection.executemany(f"INSERT INTO addresses VALUES ({','.join('?' * 13)})", addresses)
        connection.executemany(f"INSERT INTO persons VALUES ({','.join('?' * 13)})", persons)
        connection.executemany("INSERT INTO households VALUES (?, ?, ?, ?, ?)", households)
        record_loaded(
            connection,
            plan,
            [("addresses", str(a[0])) for a in addresses]
            + [("persons", p[1]) for p in persons]
            + [("households", h[0]) for h in households],
        )
    replaced = sum(1 for table, _ in before if table == "persons")
    return LoadSummary(
        store,
        {"persons": len(persons), "households": len(households), "addresses": len(addresses)},
        replaced,
    )
