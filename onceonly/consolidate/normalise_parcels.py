"""Normalisers of land-register columns, by the names a plan lists (``normalise: [area_ping]``).

``section`` removes the city and the township written before a 地段, knowing both the names
before the mergers (臺南縣, 永康市) and after them (臺南市, 永康區); ``parcel_no`` reads a 地號
in any of its spellings; ``area`` reads square metres (or the unit written after the number)
and ``area_ping`` a column kept in 坪; ``share_numerator`` and ``share_denominator`` split a
權利範圍 such as ``1/2`` or ``全部``. The readers are in :mod:`onceonly.domain.land`.

:data:`onceonly.consolidate.normalise.NORMALISER_FUNCTIONS` includes them, so a plan's names
resolve like the others.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from onceonly.consolidate.plan import _jurisdictions
from onceonly.domain.land import area_in_m2, parse_parcel_no, parse_section, parse_share
from onceonly.domain.merger_renames import rename_table
from onceonly.domain.variants import fold_variants


@cache
def place_names() -> frozenset[str]:
    """Every city, county, township and district name, before and after the mergers."""
    names: set[str] = set()
    for j in _jurisdictions().jurisdictions:
        names.add(j.name_zh)
        names.update(j.districts)
    for merger in rename_table().mergers:
        names.update((merger.from_city, merger.to_city))
        names.update(merger.districts)
        names.update(merger.districts.values())
    return frozenset(fold_variants(n) for n in names)


def normalise_section(value: str) -> str:
    """``臺南縣永康市大灣段`` -> ``大灣段``; ``台 灣里`` -> ``臺灣里段``."""
    return parse_section(value, place_names())


def normalise_area(value: str) -> str:
    """An area in square metres (unless a unit follows the number), as text in m²."""
    return repr(area_in_m2(value))


def normalise_area_ping(value: str) -> str:
    """An area in 坪 (unless a unit follows the number), as text in m²."""
    return repr(area_in_m2(value, unit="坪"))


def share_numerator(value: str) -> str:
    return str(parse_share(value)[0])


def share_denominator(value: str) -> str:
    return str(parse_share(value)[1])


PARCEL_NORMALISERS: dict[str, Callable[[str], str]] = {
    "section": normalise_section,
    "parcel_no": parse_parcel_no,
    "area": normalise_area,
    "area_ping": normalise_area_ping,
    "share_numerator": share_numerator,
    "share_denominator": share_denominator,
}
