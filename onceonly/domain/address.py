"""Taiwan addresses: 縣市 / 區(鄉鎮市) / 里(村) / 鄰 / 路(街) / 段 / 巷 / 弄 / 號 / 樓.

Canonical form, so that two spellings of one address compare equal:

* ``city`` and ``district`` use 臺, never 台 (the official character); former counties
  (臺北縣 …) are kept as written: mapping them to today's city is the merger's job.
* Full-width characters are folded (NFKC); whitespace, a leading postal code (3, 5 or
  6 digits) and a leading 臺灣省/福建省 are dropped. Whitespace between two digits is an
  error (it would change a number) unless the floor follows it: ``12號之2 3F``.
* ``neighbourhood`` is an int; ``section`` is written in Chinese numerals with 段
  (``"四段"``); ``lane``, ``alley``, ``number`` and ``floor`` hold Arabic digits without
  their unit (巷, 弄, 號, 樓). 附號 ``12之3號``, ``12-3號`` and ``12號之3`` all become
  number ``"12之3"``; ``三樓``, ``3F`` → floor ``"3"``; ``3樓之1`` → ``"3之1"``;
  ``地下一樓``, ``B1`` → ``"地下1"``.

Parsing needs no gazetteer: the unit characters split the parts. A district name has at
least two characters before its 區/鄉/鎮/市 (only 東/西/南/北/中區 have one), so 前鎮區 and
新市區 parse whole. A name with a unit character inside can still be read two ways
(``…莊村強大道``: village 莊村 + road 強大道, or one road?); the first reading that uses
every character wins, and it prefers the one with more parts. Not supported: named lanes
(福德巷) and house numbers in Chinese numerals (十二號).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass

from onceonly.domain.errors import DomainValueError

CITIES: tuple[str, ...] = (
    "臺北市", "新北市", "桃園市", "臺中市", "臺南市", "高雄市",
    "基隆市", "新竹市", "嘉義市",
    "新竹縣", "苗栗縣", "彰化縣", "南投縣", "雲林縣", "嘉義縣", "屏東縣",
    "宜蘭縣", "花蓮縣", "臺東縣", "澎湖縣", "金門縣", "連江縣",
)  # fmt: skip
"""The 22 current municipalities, cities and counties (縣市)."""

FORMER_CITIES: tuple[str, ...] = ("臺北縣", "臺中縣", "臺南縣", "高雄縣", "桃園縣")
"""Counties merged into special municipalities (2010-12-25; 桃園縣 2014-12-25)."""

ALL_CITIES: frozenset[str] = frozenset(CITIES + FORMER_CITIES)

_ZH_DIGITS = "〇一二三四五六七八九"
_NUM = r"[0-9]+(?:之[0-9]+)?"
_ZH_NUM = r"[0-9〇零一二兩三四五六七八九十百]+"
_POSTAL_CODE = re.compile(r"[0-9]{3}(?:[0-9]{2,3})?(?![0-9])")
_HAS_NUMBER = re.compile(r"[0-9]+(?:[之\-][0-9]+)?號")
_BODY = re.compile(
    r"(?P<district>[東西南北中]區|[^0-9]{2,4}?[區鄉鎮市])?"
    r"(?P<village>[^0-9]{1,4}?[里村])?"
    rf"(?:(?P<neighbourhood>{_ZH_NUM})鄰)?"
    r"(?P<road>[^0-9]+?(?:路|街|大道))?"
    rf"(?:(?P<section>{_ZH_NUM})段)?"
    rf"(?:(?P<lane>{_NUM})巷)?"
    rf"(?:(?P<alley>{_NUM})弄)?"
    r"(?P<number>[0-9]+)(?:[之\-](?P<sub>[0-9]+))?號(?:之(?P<sub_after>[0-9]+))?"
    rf"(?: ?(?P<basement>地下|B)?(?P<floor>{_ZH_NUM})(?:樓|F)(?:之(?P<floor_sub>[0-9]+))?"
    r"| ?B(?P<basement_only>[0-9]+))?"
)

_FIELD_PATTERNS: dict[str, re.Pattern[str]] = {
    "district": re.compile(r"[^0-9台]+[區鄉鎮市]"),
    "village": re.compile(r"[^0-9]+[里村]"),
    "road": re.compile(r"[^0-9]+(?:路|街|大道)"),
    "section": re.compile(f"[{_ZH_DIGITS[1:]}十]+段"),
    "lane": re.compile(_NUM),
    "alley": re.compile(_NUM),
    "number": re.compile(_NUM),
    "floor": re.compile(f"(?:地下)?{_NUM}"),
}


def _error(code: str, zh: str, en: str) -> DomainValueError:
    return DomainValueError(f"address.{code}", zh, en, field="address")


def _zh_to_int(text: str) -> int:
    """``"四"`` → 4, ``"二十三"`` → 23, ``"一〇五"`` → 105, ``"12"`` → 12."""
    total = current = 0
    for char in text.replace("零", "〇").replace("兩", "二"):
        if char in "十百":
            total += (current or 1) * (10 if char == "十" else 100)
            current = 0
        else:
            current = current * 10 + (int(char) if char.isdigit() else _ZH_DIGITS.index(char))
    return total + current


def _int_to_zh(number: int) -> str:
    """1..99 in Chinese numerals, as street signs write sections: 4 → 四, 12 → 十二."""
    tens, ones = divmod(number, 10)
    prefix = ("" if tens == 1 else _ZH_DIGITS[tens]) + "十" if tens else ""
    return prefix + (_ZH_DIGITS[ones] if ones else "")


@dataclass(frozen=True, kw_only=True)
class Address:
    """One address in canonical form (see the module docstring); ``str()`` writes it out."""

    city: str
    district: str | None = None
    village: str | None = None
    neighbourhood: int | None = None
    road: str | None = None
    section: str | None = None
    lane: str | None = None
    alley: str | None = None
    number: str
    floor: str | None = None

    def __post_init__(self) -> None:
        # Refusing non-canonical values is what lets ``parse_address(str(a)) == a`` hold.
        if self.city not in ALL_CITIES:
            raise _error("city", f"不是縣市名稱：{self.city}", f"not a city or county: {self.city}")
        if self.neighbourhood is not None and self.neighbourhood < 1:
            raise _error("neighbourhood", "鄰應為正整數", "neighbourhood must be positive")
        for name, pattern in _FIELD_PATTERNS.items():
            value = getattr(self, name)
            if value is not None and not pattern.fullmatch(value):
                raise _error(name, f"地址欄位格式錯誤：{value}", f"malformed {name}: {value!r}")

    def __str__(self) -> str:
        floor = ""
        if self.floor is not None:
            level, _, sub = self.floor.partition("之")
            floor = f"{level}樓" + (f"之{sub}" if sub else "")
        return "".join(
            (
                self.city,
                self.district or "",
                self.village or "",
                f"{self.neighbourhood}鄰" if self.neighbourhood is not None else "",
                self.road or "",
                self.section or "",
                f"{self.lane}巷" if self.lane is not None else "",
                f"{self.alley}弄" if self.alley is not None else "",
                f"{self.number}號",
                floor,
            )
        )

    def to_dict(self) -> dict[str, str | int | None]:
        return dataclasses.asdict(self)


def _strip_prefixes(text: str) -> str:
    # Whitespace goes, except one space between digits ("100號之2 12F"): gluing would
    # change the numbers, so it stays and only the floor may follow it.
    text = unicodedata.normalize("NFKC", text).strip().upper()
    text = re.sub(r"(?<=[0-9])\s+(?=[0-9])", " ", text)
    text = re.sub(r"(?<![0-9])\s+|\s+(?![0-9])", "", text)
    if match := _POSTAL_CODE.match(text):
        text = text[match.end() :]
    for province in ("臺灣省", "台灣省", "福建省"):
        text = text.removeprefix(province)
    return text


MAX_LENGTH = 200
"""Longest text read as an address: a real one is well under a hundred characters, and the
patterns below take time growing with the square of the length (``臺北市信義區`` and 100,000
digits took four minutes, and a citizen's reported mailing address is read for every
statistics request)."""


def parse_address(text: str) -> Address:
    """An Address from free text, or DomainValueError if no city, no 號 or unreadable parts."""
    if len(text) > MAX_LENGTH:
        raise _error(
            "too_long",
            f"地址過長（最多 {MAX_LENGTH} 字）",
            f"the address is too long (at most {MAX_LENGTH} characters)",
        )
    cleaned = _strip_prefixes(text)
    if not cleaned:
        raise _error("empty", "請輸入地址", "the address is empty")
    city = cleaned[:3].replace("台", "臺")
    if city not in ALL_CITIES:
        raise _error(
            "city",
            f"無法辨識縣市：{text.strip()}",
            f"no city or county (縣市) recognised at the start of: {text.strip()}",
        )
    rest = cleaned[3:]
    if not _HAS_NUMBER.search(rest):
        raise _error("number", "地址缺少門牌號碼（…號）", "the address has no house number (…號)")
    match = _BODY.fullmatch(rest)
    if match is None:
        raise _error("format", f"無法解析地址：{rest}", f"cannot read the address parts: {rest}")
    if match["sub"] and match["sub_after"]:
        raise _error("number", f"附號重複：{rest}", f"two sub-numbers (之) in: {rest}")
    sub = match["sub"] or match["sub_after"]
    section = None
    if match["section"]:
        count = _zh_to_int(match["section"])
        if not 1 <= count <= 99:
            raise _error("section", f"段別不合理：{count}", f"section out of range: {count}")
        section = _int_to_zh(count) + "段"
    floor = None
    if match["floor"]:
        basement = "地下" if match["basement"] else ""
        floor = f"{basement}{_zh_to_int(match['floor'])}"
        floor += f"之{match['floor_sub']}" if match["floor_sub"] else ""
    elif match["basement_only"]:
        floor = f"地下{int(match['basement_only'])}"
    district = match["district"]
    return Address(
        city=city,
        district=district.replace("台", "臺") if district else None,
        village=match["village"],
        neighbourhood=_zh_to_int(match["neighbourhood"]) if match["neighbourhood"] else None,
        road=match["road"],
        section=section,
        lane=match["lane"],
        alley=match["alley"],
        number=match["number"] + (f"之{sub}" if sub else ""),
        floor=floor,
    )
