"""Land-register values as legacy land offices wrote them, read into one form.

* 地號 (parcel number, 母號-子號): ``123-4``, ``123之4``, ``0123-0004``, ``01230004`` and ``123``
  (no 子號) all mean ``0123-0004`` or ``0123-0000``, the form the land register prints.
* Areas: in square metres (㎡, m², 平方公尺), 坪 (exactly 400/121 m²) or 公頃, always returned
  in square metres rounded to 0.01 m², the register's precision.
* 地段 (section): a county register often wrote the township in front (``永康市大灣段``); the
  township and city are removed, variant characters folded and a missing ``段`` added.
* 權利範圍 (share): ``1/2``, ``2分之1`` or ``全部`` (the whole, 1/1).

Every reader is idempotent on its own output and raises
:class:`~onceonly.domain.errors.DomainValueError` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction

from onceonly.domain.errors import DomainValueError
from onceonly.domain.variants import fold_variants, fold_width

PING_IN_M2 = Fraction(400, 121)
"""One 坪 (6 臺尺 squared, 1 臺尺 = 10/33 m) in square metres, exactly."""
HECTARE_IN_M2 = 10_000

_SPACES = re.compile(r"\s+")
_PARCEL = re.compile(r"(?:地號)?(\d{1,4})(?:[-之](\d{1,4}))?(?:地號)?")
_PARCEL_COMPACT = re.compile(r"\d{8}")
_AREA = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)")
_UNITS: dict[str, Fraction] = {
    "": Fraction(1),
    "m2": Fraction(1),
    "m²": Fraction(1),
    "㎡": Fraction(1),
    "平方公尺": Fraction(1),
    "平方米": Fraction(1),
    "坪": PING_IN_M2,
    "公頃": Fraction(HECTARE_IN_M2),
    "ha": Fraction(HECTARE_IN_M2),
}
_SHARE = re.compile(r"(\d+)/(\d+)|(\d+)分之(\d+)")
_WHOLE = ("全部", "全", "1")


def _clean(text: str) -> str:
    return _SPACES.sub("", fold_width(text))


def parse_parcel_no(text: str) -> str:
    """A 地號 as ``NNNN-NNNN`` (母號-子號, zero-padded)."""
    value = _clean(text)
    if _PARCEL_COMPACT.fullmatch(value):
        mother, child = int(value[:4]), int(value[4:])
    else:
        match = _PARCEL.fullmatch(value)
        if match is None:
            raise DomainValueError(
                "parcel_no.format",
                f"地號格式錯誤：{text}（應為 母號-子號，如 0123-0004）",
                f"not a parcel number: {text} (expected mother-child, e.g. 0123-0004)",
                field="parcel_no",
            )
        mother, child = int(match.group(1)), int(match.group(2) or 0)
    if mother == 0:
        raise DomainValueError(
            "parcel_no.zero",
            f"地號的母號不可為 0：{text}",
            f"a parcel number's mother number cannot be 0: {text}",
            field="parcel_no",
        )
    return f"{mother:04d}-{child:04d}"


def area_in_m2(text: str, unit: str = "m2") -> float:
    """An area read in square metres, rounded to 0.01 m²; a unit written after the number
    (坪, ㎡, 公頃 …) wins over ``unit``, the unit the column is in."""
    value = _clean(text).replace(",", "")
    match = _AREA.fullmatch(value)
    written = match.group(2).lower() if match else ""
    if match is None or written not in _UNITS or unit not in _UNITS:
        raise DomainValueError(
            "area.format",
            f"面積格式錯誤：{text}（應為數字，可加單位 坪、㎡、公頃）",
            f"not an area: {text} (a number, optionally with a unit: 坪, m², 公頃)",
            field="area_m2",
        )
    factor = _UNITS[written] if written else _UNITS[unit]
    return round(float(Fraction(match.group(1)) * factor), 2)


def ping_to_m2(ping: float) -> float:
    """坪 to square metres, rounded to 0.01 m²."""
    return round(float(Fraction(ping) * PING_IN_M2), 2)


def m2_to_ping(m2: float) -> float:
    """Square metres to 坪, rounded to 0.01 坪 (how county registers printed it)."""
    return round(float(Fraction(m2) / PING_IN_M2), 2)


def parse_section(text: str, prefixes: Iterable[str] = ()) -> str:
    """A 地段 name without the city or township written in front of it, variants folded,
    ending in ``段``. ``prefixes`` are the city and township names that may precede it
    (longest first is not required: the longest matching one is removed, repeatedly)."""
    value = fold_variants(_clean(text))
    names = sorted(set(prefixes), key=len, reverse=True)
    stripped = True
    while stripped:
        stripped = False
        for name in names:
            rest = value[len(name) :]
            if name and value.startswith(name) and rest.rstrip("段"):
                value, stripped = rest, True
                break
    if not value.rstrip("段") or any(c.isascii() and c.isalnum() for c in value):
        raise DomainValueError(
            "section.format",
            f"地段名稱錯誤：{text}（應為中文段名，如 大灣段）",
            f"not a section name: {text} (a Chinese name such as 大灣段)",
            field="section",
        )
    return value if value.endswith("段") else value + "段"


def parse_share(text: str) -> tuple[int, int]:
    """權利範圍 as (numerator, denominator): ``1/2``, ``2分之1``, ``全部`` (1/1)."""
    value = _clean(text)
    if value in _WHOLE:
        return 1, 1
    match = _SHARE.fullmatch(value)
    if match is not None:
        if match.group(1) is not None:
            numerator, denominator = int(match.group(1)), int(match.group(2))
        else:
            numerator, denominator = int(match.group(4)), int(match.group(3))
        if 0 < numerator <= denominator:
            return numerator, denominator
    raise DomainValueError(
        "share.format",
        f"權利範圍格式錯誤：{text}（應為 1/2、2分之1 或 全部，且不大於 1）",
        f"not a share: {text} (expected 1/2, 2分之1 or 全部, at most 1)",
        field="share",
    )
