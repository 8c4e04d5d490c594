"""Golden ``land_registration`` records into a land office's own schema, in one transaction
(see :mod:`onceonly.consolidate.load`).

A golden record is one parcel with its owner (the common standard's list item plus the
owner's ID). The land office keeps ``sections`` (段 by district, with its own codes),
``land_mark`` (the parcel: section code, 地號 without its dash, area, zone name, announced
value) and ``land_own`` (who owns it, share, ROC registration date). A section the store
does not know yet is added; on a re-run the sections the plan added are removed again when
nothing else refers to them, so the store ends as a single run would leave it.

Two golden records naming the same parcel, a parcel the store already holds (not loaded by
this plan) or a value the store requires missing stops the load, naming the record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onceonly.consolidate.load import (
    LoadConflict,
    LoadError,
    LoadSummary,
    load_transaction,
    record_loaded,
    roc,
)

ZONE_NAMES = {
    "residential": "住宅區",
    "commercial": "商業區",
    "industrial": "工業區",
    "agricultural": "農業區",
    "other": "其他",
}
"""The standard's land-use zone codes as the land office writes them."""
STORE_NEEDS = (
    "owner_national_id",
    "district",
    "section",
    "parcel_no",
    "area_m2",
    "land_use_zone",
    "announced_value_per_m2",
    "share_numerator",
    "share_denominator",
    "registered_on",
)
"""Fields the land office's columns cannot be without (NOT NULL in its schema)."""
_REPLACE = {"land_own": "land_key", "land_mark": "land_key"}

SectionKey = tuple[str, str, str | None]
"""(district, section, subsection) as the ``sections`` table names a 段."""


@dataclass(frozen=True)
class _Parcel:
    golden_id: str
    section: SectionKey
    land_no: str
    fields: dict[str, Any]

    @property
    def label(self) -> str:
        district, section, subsection = self.section
        return f"{district}{section}{subsection or ''} {self.fields['parcel_no']}"


def _parcels(golden: Sequence[dict[str, Any]]) -> list[_Parcel]:
    """The golden records as parcels, refusing a missing required value or a parcel named
    by two golden records (linkage left a pair apart: review it, then run again)."""
    parcels: list[_Parcel] = []
    seen: dict[tuple[SectionKey, str], str] = {}
    for record in golden:
        fields = record["fields"]
        for name in STORE_NEEDS:
            if fields.get(name) is None or fields.get(name) == "":
                raise LoadError(
                    "consolidate.load.missing_value", record=record["golden_id"], field=name
                )
        section = (fields["district"], fields["section"], fields.get("subsection") or None)
        parcel = _Parcel(record["golden_id"], section, fields["parcel_no"].replace("-", ""), fields)
        first = seen.setdefault((section, parcel.land_no), parcel.golden_id)
        if first != parcel.golden_id:
            raise LoadError(
                "consolidate.load.parcel_twice",
                parcel=parcel.label,
                first=first,
                second=parcel.golden_id,
            )
        parcels.append(parcel)
    return parcels


def _drop_unused_sections(connection: sqlite3.Connection, codes: list[str]) -> None:
    """Remove sections an earlier run added, unless something still lies in them."""
    connection.executemany(
        "DELETE FROM sections WHERE sect_code = ? "
        "AND NOT EXISTS (SELECT 1 FROM land_mark WHERE sect_code = sections.sect_code) "
        "AND NOT EXISTS (SELECT 1 FROM bldg_mark WHERE sect_code = sections.sect_code)",
        [(code,) for code in codes],
    )


def _section_codes(
    connection: sqlite3.Connection, wanted: set[SectionKey]
) -> tuple[dict[SectionKey, str], list[tuple[str, str, str, str | None]]]:
    """The code of every wanted section, and the rows of those the store must add."""
    codes: dict[SectionKey, str] = {}
    for code, district, section, subsection in connection.execute(
        "SELECT sect_code, town_name, sect_name, subsect_name FROM sections"
    ):
        codes[(district, section, subsection or None)] = code
    numeric = [int(c) for c in codes.values() if c.isdigit()]
    next_code = max(numeric, default=0) + 1
    added = []
    for key in sorted(wanted - set(codes), key=lambda k: (k[0], k[1], k[2] or "")):
        code = f"{next_code:04d}"
        next_code += 1
        codes[key] = code
        added.append((code, *key))
    return codes, added


def load_parcels(
    store: Path, plan: str, jurisdiction: str, golden: Sequence[dict[str, Any]]
) -> LoadSummary:
    """Write ``golden`` (land_registration records) into the land office store at ``store``
    in one transaction, replacing what ``plan`` loaded before."""
    parcels = _parcels(golden)
    with load_transaction(store, plan, _REPLACE) as (connection, before):
        _drop_unused_sections(connection, [key for table, key in before if table == "sections"])
        codes, added = _section_codes(connection, {p.section for p in parcels})
        new_codes = {code for code, *_ in added}
        clashes = [
            p.label
            for p in parcels
            if codes[p.section] not in new_codes
            and connection.execute(
                "SELECT 1 FROM land_mark WHERE sect_code = ? AND land_no = ?",
                (codes[p.section], p.land_no),
            ).fetchone()
        ]
        if clashes:
            raise LoadConflict(
                "consolidate.load.parcel_conflict", count=len(clashes), first=sorted(clashes)[0]
            )
        connection.executemany("INSERT INTO sections VALUES (?, ?, ?, ?)", added)
        first_key = connection.execute("SELECT COALESCE(MAX(land_key), 0) FROM land_mark")
        key = first_key.fetchone()[0]
        marks: list[tuple[Any, ...]] = []
        owners: list[tuple[Any, ...]] = []
        for p in parcels:
            key += 1
            f = p.fields
            marks.append(
                (
                    key,
                    codes[p.section],
                    p.land_no,
                    f["area_m2"],
                    ZONE_NAMES.get(f["land_use_zone"], ZONE_NAMES["other"]),
                    f["announced_value_per_m2"],
                )
            )
            # The standard carries no registration cause (登記原因): left empty, not guessed.
            owners.append(
                (
                    key,
                    "0001",
                    f["owner_national_id"],
                    f["share_numerator"],
                    f["share_denominator"],
                    "",
                    roc(f["registered_on"]),
                )
            )
        connection.executemany("INSERT INTO land_mark VALUES (?, ?, ?, ?, ?, ?)", marks)
        connection.executemany("INSERT INTO land_own VALUES (?, ?, ?, ?, ?, ?, ?)", owners)
        record_loaded(
            connection,
            plan,
            [("sections", code) for code, *_ in added]
            + [(table, str(m[0])) for m in marks for table in ("land_mark", "land_own")],
        )
    replaced = sum(1 for table, _ in before if table == "land_mark")
    return LoadSummary(
        store, {"parcels": len(marks), "owners": len(owners), "sections": len(added)}, replaced
    )
