"""Addresses written before the 2010 and 2014 mergers, rewritten as they read today.

臺南縣永康市中山村… became 臺南市永康區中山里…: the former county takes its successor's
name, its township (鄉/鎮/縣轄市) becomes a district (區) and its village (村) a 里. The
table is data (``onceonly/consolidate/data/merger_renames.yaml``), with a ``version`` and
an ``effective`` date per merger, so an address can also be read "as of" a date before a
merger (it is then left as written).

A township not listed in the table follows the general rule (its stem + 區), which is what
every merger did except the few named exceptions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml

from onceonly.domain.address import Address, parse_address
from onceonly.domain.variants import fold_width

RENAMES_FILE = (
    Path(__file__).resolve().parent.parent / "consolidate" / "data" / "merger_renames.yaml"
)


@dataclass(frozen=True)
class Merger:
    """One former county's renames."""

    effective: date
    from_city: str
    to_city: str
    districts: dict[str, str]
    village_suffix: dict[str, str]


@dataclass(frozen=True)
class RenameTable:
    version: int
    mergers: tuple[Merger, ...]

    def merger_of(self, city: str, on: date) -> Merger | None:
        return next((m for m in self.mergers if m.from_city == city and m.effective <= on), None)


@cache
def rename_table() -> RenameTable:
    """The packaged table of merger renames."""
    data = yaml.safe_load(RENAMES_FILE.read_text("utf-8"))
    return RenameTable(
        version=int(data["version"]),
        mergers=tuple(
            Merger(
                effective=m["effective"],
                from_city=m["from_city"],
                to_city=m["to_city"],
                districts=dict(m["districts"]),
                village_suffix=dict(m.get("village_suffix") or {}),
            )
            for m in data["mergers"]
        ),
    )


def _district(merger: Merger, name: str) -> str:
    if name in merger.districts:
        return merger.districts[name]
    if name[-1] in "鄉鎮市":
        return name[:-1] + "區"
    return name


def _village(merger: Merger, name: str) -> str:
    suffix = merger.village_suffix.get(name[-1])
    return name[:-1] + suffix if suffix else name


def rename_parsed(address: Address, on: date | None = None) -> Address:
    """``address`` with the renames of every merger effective on ``on`` (default today)."""
    merger = rename_table().merger_of(address.city, on or date.today())
    if merger is None:
        return address
    return dataclasses.replace(
        address,
        city=merger.to_city,
        district=_district(merger, address.district) if address.district else None,
        village=_village(merger, address.village) if address.village else None,
    )


def rename_address(text: str, on: date | None = None) -> str:
    """A free-text address in canonical form (:func:`parse_address`) as it reads after the
    mergers; raises :class:`~onceonly.domain.errors.DomainValueError` when unreadable."""
    return str(rename_parsed(parse_address(fold_width(text)), on))


def rename_district(city: str, district: str, on: date | None = None) -> tuple[str, str]:
    """(city, district) after the mergers: ``("臺南縣", "永康市")`` -> ``("臺南市", "永康區")``."""
    city = fold_width(city).strip().replace("台", "臺")
    district = fold_width(district).strip().replace("台", "臺")
    merger = rename_table().merger_of(city, on or date.today())
    if merger is None:
        return city, district
    return merger.to_city, _district(merger, district)
