"""What an evidence request may be about: a person, a parcel, a building or a house number.

A land office answers by the thing, not only by its owner: a parcel (地段 + 地號), a
building (地段 + 建號) or a house number (門牌). Each subject has one canonical *key*, a
string that travels unchanged through routing, federation forwarding, the connector and the
transcript's ``sub`` claim, and reads back into the same :class:`Subject`:

* a person: the national ID itself (so every national-ID request stays exactly as it was);
* ``parcel:<jurisdiction>:<section>:<NNNN-NNNN>``, ``building:<jurisdiction>:<section>:
  <NNNNN-NNN>``, where ``<section>`` is a 4-digit section code or a section name (大灣段);
* ``address:<today's address>``: a house number written before a merger (臺北縣板橋市…)
  is read as it is today (新北市板橋區…); the pre-merger form is kept beside it, since a
  legacy register may still hold it.

Every reader is idempotent on its own output and raises
:class:`~onceonly.domain.errors.DomainValueError` naming the field instead of guessing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from onceonly.domain.address import Address, parse_address
from onceonly.domain.errors import DomainValueError
from onceonly.domain.land import parse_parcel_no, parse_section
from onceonly.domain.merger_renames import rename_parsed, rename_table
from onceonly.domain.variants import fold_width

SubjectKind = Literal["person", "parcel", "building", "address"]
THING_KINDS: tuple[SubjectKind, ...] = ("parcel", "building", "address")
"""Subjects that are not people."""

DATASETS: dict[str, tuple[str, ...]] = {
    "parcel": ("land_registration",),
    "building": ("building_registration",),
    "address": ("building_registration",),
}
"""The registers that answer by each kind of thing (the land office's, by the standard)."""

AFTER_MERGERS = date(9999, 12, 31)
"""Read an address "as it is today" without asking the clock: every merger has happened."""

_SECTION_CODE = re.compile(r"\d{1,4}")
_BUILDING = re.compile(r"(?:建號)?(\d{1,5})(?:[-之](\d{1,3}))?(?:建號)?")
_BUILDING_COMPACT = re.compile(r"\d{8}")
_JURISDICTION = re.compile(r"[a-z][a-z-]{1,39}")


def _error(field: str, code: str, zh: str, en: str) -> DomainValueError:
    return DomainValueError(code, zh, en, field=field)


def parse_section_ref(text: str) -> str:
    """A 地段 named by its code (``12`` -> ``0012``) or by its name (``大灣`` -> ``大灣段``)."""
    value = re.sub(r"\s+", "", fold_width(text))
    if _SECTION_CODE.fullmatch(value):
        if int(value) == 0:
            raise _error(
                "section",
                "section.zero",
                f"地段代碼不可為 0：{text}",
                f"a section code cannot be 0: {text}",
            )
        return f"{int(value):04d}"
    if any(c.isascii() for c in value):
        raise _error(
            "section",
            "section.format",
            f"地段名稱錯誤：{text}（應為中文段名如 大灣段，或 4 位數段代碼）",
            f"not a section: {text} (a Chinese name such as 大灣段, or a 4-digit code)",
        )
    return parse_section(value)


def parse_building_no(text: str) -> str:
    """A 建號 as ``NNNNN-NNN`` (母號-子號): ``1234-0``, ``01234000``, ``1234之1``."""
    value = re.sub(r"\s+", "", fold_width(text))
    match = _BUILDING.fullmatch(value)
    if _BUILDING_COMPACT.fullmatch(value):
        mother, child = int(value[:5]), int(value[5:])
    elif match is not None:
        mother, child = int(match.group(1)), int(match.group(2) or 0)
    else:
        raise _error(
            "building_no",
            "building_no.format",
            f"建號格式錯誤：{text}（應為 母號-子號，如 01234-000）",
            f"not a building number: {text} (expected mother-child, e.g. 01234-000)",
        )
    if mother == 0:
        raise _error(
            "building_no",
            "building_no.zero",
            f"建號的母號不可為 0：{text}",
            f"a building number's mother number cannot be 0: {text}",
        )
    return f"{mother:05d}-{child:03d}"


def former_address(address: Address) -> Address | None:
    """The same house number as written before its county merged (新北市板橋區… ->
    臺北縣板橋市…), or None when the address did not change. Only districts the merger
    table lists by name are turned back: the general rule (鄉/鎮/市 -> 區) cannot be undone."""
    for merger in rename_table().mergers:
        if merger.to_city != address.city or not address.district:
            continue
        before = {after: old for old, after in merger.districts.items()}
        if address.district in before:
            return dataclasses.replace(
                address, city=merger.from_city, district=before[address.district], village=None
            )
    return None


def parse_house_address(text: str) -> tuple[str, str | None]:
    """A 門牌 as it reads today, and its pre-merger form if it had one. The village and
    neighbourhood (里/鄰) are dropped: a house number does not depend on them."""
    try:
        parsed = parse_address(text)
    except DomainValueError as exc:
        raise _error("address", exc.code, exc.message_zh, exc.message_en) from exc
    today = dataclasses.replace(
        rename_parsed(parsed, AFTER_MERGERS), village=None, neighbourhood=None
    )
    before = former_address(today)
    return str(today), str(before) if before else None


@dataclass(frozen=True)
class Subject:
    """One subject of an evidence request in canonical form (see the module docstring)."""

    kind: SubjectKind
    value: str
    """National ID; ``<section>:<number>`` of a parcel or building; today's address."""
    jurisdiction: str | None = None
    """A parcel's or building's jurisdiction code as the clerk named it (a former county's
    code is fine: routing takes its successor)."""

    @property
    def key(self) -> str:
        if self.kind == "person":
            return self.value
        if self.kind == "address":
            return f"address:{self.value}"
        return f"{self.kind}:{self.jurisdiction}:{self.value}"

    @property
    def section(self) -> str | None:
        return self.value.split(":", 1)[0] if self.kind in ("parcel", "building") else None

    @property
    def number(self) -> str | None:
        return self.value.split(":", 1)[1] if self.kind in ("parcel", "building") else None

    def binds(self) -> dict[str, str]:
        """Values a connector's query for this kind binds: ``:section``, ``:number`` (as
        the register keeps it, without the dash), ``:address`` and ``:former_address``."""
        if self.kind == "address":
            before = former_address(parse_address(self.value))
            return {"address": self.value, "former_address": str(before) if before else ""}
        if self.kind in ("parcel", "building"):
            return {"section": self.section or "", "number": (self.number or "").replace("-", "")}
        return {"subject": self.value}

    def label(self) -> str:
        """The subject in words, as a clerk reads it (no personal data)."""
        if self.kind == "parcel":
            return f"{self.section} {self.number} 地號"
        if self.kind == "building":
            return f"{self.section} {self.number} 建號"
        return self.value


def parcel(jurisdiction: str, section: str, parcel_no: str) -> Subject:
    """A parcel subject from the clerk's three fields, each checked."""
    return Subject(
        "parcel",
        f"{parse_section_ref(section)}:{parse_parcel_no(parcel_no)}",
        _jurisdiction(jurisdiction),
    )


def building(jurisdiction: str, section: str, building_no: str) -> Subject:
    """A building subject from the clerk's three fields, each checked."""
    return Subject(
        "building",
        f"{parse_section_ref(section)}:{parse_building_no(building_no)}",
        _jurisdiction(jurisdiction),
    )


def house_number(address: str) -> Subject:
    """A house-number subject: the address as it reads today."""
    return Subject("address", parse_house_address(address)[0])


def _jurisdiction(code: str) -> str:
    value = code.strip()
    if not _JURISDICTION.fullmatch(value):
        raise _error(
            "jurisdiction",
            "jurisdiction.format",
            f"縣市代碼格式錯誤：{code}（如 taichung-city）",
            f"not a jurisdiction code: {code} (e.g. taichung-city)",
        )
    return value


def parse_key(key: str) -> Subject:
    """The subject a key names (:attr:`Subject.key`); a plain national ID is a person.
    Parts are read again, so a key that did not come from this module is checked too."""
    kind, sep, rest = key.partition(":")
    if not sep:
        return Subject("person", key)
    if kind == "address":
        return house_number(rest)
    if kind in ("parcel", "building"):
        jurisdiction, _, value = rest.partition(":")
        section, _, number = value.partition(":")
        make = parcel if kind == "parcel" else building
        return make(jurisdiction, section, number)
    raise _error(
        "subject",
        "subject.kind",
        f"不明的查詢標的：{kind}",
        f"unknown kind of subject: {kind}",
    )


def shown(key: str) -> str:
    """A subject key as a page may show it: a person's national ID masked, a parcel,
    building or house number in words (they are not personal data by themselves)."""
    from onceonly.domain.national_id import mask_national_id

    if ":" not in key:
        return mask_national_id(key)
    try:
        return parse_key(key).label()
    except DomainValueError:
        return "*" * len(key)
