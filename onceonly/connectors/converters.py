"""Converters a connector names to turn an owner's legacy values into the common standard.

Each is a small pure function of the values read from the source (one column or JSON path,
or several for the multi-input ones) plus the arguments the connector file gives it. They
never see request input: parameters of a predicate are bound, not converted into SQL.
Converters reuse :mod:`onceonly.domain` where the rule already lives there (ROC dates,
坪 to m²), so a connector and the consolidation read a legacy value the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from onceonly.domain.land import ping_to_m2 as _ping_to_m2
from onceonly.domain.roc_date import format_roc_date, parse_roc_date

_ROC_OFFSET = 1911


def roc_date(value: Any) -> str | None:
    """``"1150630"`` (or ``"民國115年6月30日"``, ``"115/06/30"``) → ``"2026-06-30"``.

    None and empty text stay None (a date the owner never recorded)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if len(text) == 7 and text.isdigit():  # the usual 7-digit form, read on every fetch
        return date(int(text[:3]) + _ROC_OFFSET, int(text[3:5]), int(text[5:])).isoformat()
    return parse_roc_date(text).isoformat()


def to_roc_date(value: date | str) -> str:
    """An ISO date (or :class:`date`) as the 7-digit ``YYYMMDD`` text legacy stores keep."""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return format_roc_date(day, "compact")


def roc_year(value: Any) -> int | None:
    """ROC year ``114`` → ``2025``."""
    return None if value is None or value == "" else int(value) + _ROC_OFFSET


def iso_date(value: Any) -> str | None:
    """A date or datetime (or ISO text) → ``"YYYY-MM-DD"``."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    return date.fromisoformat(str(value)[:10]).isoformat()


def dashed(value: Any, head: int) -> str | None:
    """``"01230004"`` → ``"0123-0004"`` (地號 with head 4; 建號 uses head 5).

    A value already dashed is kept, so the converter can be applied twice."""
    if value is None:
        return None
    text = str(value).strip()
    if "-" in text:
        return text
    return f"{text[:head]}-{text[head:]}"


def ping_to_m2(value: Any) -> float | None:
    """An area in 坪 → m², rounded to 0.01 m² (:func:`onceonly.domain.land.ping_to_m2`)."""
    return None if value is None or value == "" else _ping_to_m2(float(value))


def number(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def integer(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def strip(value: Any) -> Any:
    """Legacy ``CHAR(n)`` columns pad with spaces; blank becomes None."""
    if not isinstance(value, str):
        return value
    return value.strip() or None


def is_null(value: Any) -> bool:
    return value is None


def not_null(value: Any) -> bool:
    return value is not None


def equals(value: Any, expected: Any) -> bool:
    return bool(value == expected)


def code(value: Any, table: Mapping[str, Any], default: Any) -> Any:
    """The standard code of a legacy code (from a code table); unknown or None → default."""
    if value is None:
        return default
    return table.get(str(value), default)


def concat(*values: Any, separator: str = "") -> str | None:
    """Parts joined (a name from surname and given name); None parts are skipped."""
    parts = [str(v) for v in values if v is not None and v != ""]
    return separator.join(parts) if parts else None


def total(*values: Any) -> int | float:
    """The sum of numeric columns, None counting as 0 (income from its parts)."""
    result: int | float = 0
    for v in values:
        result += v or 0
    return result


def coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def tw_address(
    county: Any,
    town: Any,
    village: Any,
    neighbour: Any,
    road: Any,
    section: Any,
    lane: Any,
    alley: Any,
    number_: Any,
    floor: Any,
) -> str:
    """The full address from a household register's split columns, in the usual order:
    縣市 區 里 鄰 路 段 巷 弄 號 樓(之N)."""
    out = f"{county or ''}{town or ''}{village or ''}{f'{neighbour}鄰' if neighbour else ''}"
    out += f"{road or ''}{section or ''}{f'{lane}巷' if lane else ''}"
    out += f"{f'{alley}弄' if alley else ''}{number_ or ''}號"
    if floor:
        level, _, sub = str(floor).partition("之")
        out += f"{level}樓" + (f"之{sub}" if sub else "")
    return out


def square_wkt(x0: Any, y0: Any, side: Any) -> str | None:
    """A map index's square boundary (corner and side) as WKT."""
    if x0 is None or y0 is None or side is None:
        return None
    x1, y1 = round(x0 + side, 2), round(y0 + side, 2)
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def mask_name(value: Any) -> str | None:
    """A person's name with all but its first and last characters hidden (王○明, 林○);
    what a register shows of an owner when the rule does not allow the name itself."""
    if value is None or value == "":
        return None
    name = str(value).strip()
    if len(name) <= 2:
        return name[:1] + "○"
    return name[0] + "○" * (len(name) - 2) + name[-1]


SINGLE: dict[str, Callable[..., Any]] = {
    "mask_name": mask_name,
    "roc_date": roc_date,
    "to_roc_date": to_roc_date,
    "roc_year": roc_year,
    "iso_date": iso_date,
    "ping_to_m2": ping_to_m2,
    "number": number,
    "integer": integer,
    "text": text,
    "strip": strip,
    "is_null": is_null,
    "not_null": not_null,
}
"""Converters of one value without arguments."""

MULTI: dict[str, tuple[Callable[..., Any], int | None]] = {
    "concat": (concat, None),
    "sum": (total, None),
    "coalesce": (coalesce, None),
    "tw_address": (tw_address, 10),
    "square_wkt": (square_wkt, 3),
}
"""Converters of several values (as many as the field reads; a fixed count when given)."""

WITH_ARGUMENTS = ("code", "dashed", "equals")
"""Converters of one value that need arguments (``table``/``default``, ``head``, ``value``)."""

NAMES = (*SINGLE, *MULTI, *WITH_ARGUMENTS)
