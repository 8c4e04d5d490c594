"""Write the two legacy land registers of former 臺南縣 and 臺南市 for the demo's people.

Each synthetic parcel belongs to one person of the household demo and lies in a township
of the former county or a district of the former city. It is registered in the county's
land offices, the city's, both (the registrations of a boundary area were transferred to
the other office and never deleted from the first; sometimes the parcel was sold in
between, so the newer copy names the new owner) or twice in the same system (keyed in
again after a re-survey). Two kinds are planted for the review queue: a boundary parcel that
a 地籍圖重測 (re-survey) renumbered and re-measured between the county's copy and the city's
(one parcel, the number and area differing), and an owner's two sibling parcels of one
母號 (two parcels, numbers differing in one digit).

The systems differ: the county's CSV keeps areas in 坪 to 0.01 坪, ROC dates in three
spellings, the township written in front of the 地段 (``永康市大灣段``), 地號 as
``123-4``, ``123之4``, ``0123-0004`` or ``01230004``, and 權利範圍 as ``全部`` or ``1/1``; the
city's SQLite table keeps square metres, ISO dates in three spellings, 8-digit 地號 and
zone letters. Every copy then suffers faults: a wrong digit in the owner's ID, IDs in full
width, lower case or with a space, 台/峯/舘/温 for 臺/峰/館/溫, a section without its
``段``, day and month swapped, and a few rows with the area missing or the section and
number swapped (these must end in quarantine).

``land_truth.csv`` maps every record id to its parcel, so linkage can be scored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from random import Random

from onceonly.consolidate.demo.legacy import (
    CITY_DISTRICTS,
    COUNTY_DISTRICTS,
    FULL_WIDTH_DIGITS,
    LegacyWriter,
    id_typo,
    iso_text,
    messy_id,
    roc_text,
    write_csv,
    write_sqlite_table,
)
from onceonly.domain.land import m2_to_ping

BOUNDARY_TOWNSHIPS = ("永康市", "仁德鄉", "安定鄉", "歸仁鄉")
"""Former county townships next to the former city: the parcels both systems held."""
SECTION_STEMS = (
    "大灣", "蔦松", "埔頂", "網寮", "龍潭", "鹽行", "崑山", "王行", "頂臺", "峰頂", "館前",
    "溫厝", "石頭埔", "番子寮", "竹圍", "後壁厝", "海尾寮", "鯤鯓", "三合", "頂洲", "茄拔",
    "車路墘", "十三甲", "媽祖廟", "二空", "三爺", "保西", "許厝", "看西", "那拔林",
)  # fmt: skip
"""Stems of the demo's section names; none is a section of the demo registries, so the
golden parcels never collide with the parcels the merged land office already holds."""
VARIANTS = {"臺": "台", "峰": "峯", "館": "舘", "溫": "温"}
ZONES = (("residential", 0.45), ("agricultural", 0.35), ("commercial", 0.1), ("industrial", 0.1))
COUNTY_ZONE_NAMES = {
    "residential": ("住宅區",),
    "commercial": ("商業區",),
    "industrial": ("工業區",),
    "agricultural": ("農業區", "一般農業區", "特定農業區"),
}
CITY_ZONE_CODES = {"residential": "R", "commercial": "C", "industrial": "I", "agricultural": "A"}
LAND_SCENARIOS = (
    ("county", 0.40),
    ("city", 0.36),
    ("both", 0.14),
    ("twice", 0.06),
    ("resurveyed", 0.02),
    ("neighbours", 0.02),
)
"""How a parcel reached the legacy registers; the last two are the hard cases a clerk
should review: one parcel under two numbers and areas after a 地籍圖重測 (re-survey), and two
parcels of one owner whose numbers differ in one digit (adjacent 子號 of one 母號)."""
RESURVEY_AREA_CHANGE = (0.02, 0.06)
"""How much a re-survey moved a parcel's area (share, either way)."""
LAST_DAY = date(2010, 12, 1)
"""The last registration either system holds (both were extracted before the merger)."""
ADULT_BY_LAST_DAY = date(1985, 1, 1)
"""Only people born by then own land in the demo (registered at 20 or older)."""
SOLD_SHARE = 0.35
"""Of the parcels both systems held, how many changed owner between the two copies."""

COUNTY_LAND_COLUMNS = (
    "序號",
    "鄉鎮市",
    "地段",
    "地號",
    "面積坪",
    "使用分區",
    "公告現值",
    "所有權人統一編號",
    "權利範圍",
    "登記日期",
)
CITY_LAND_COLUMNS = (
    "land_id",
    "town",
    "sect",
    "lot_no",
    "area_sqm",
    "zoning",
    "ann_price",
    "owner_idno",
    "right_num",
    "right_den",
    "reg_date",
)
CITY_LAND_TYPES = {
    "land_id": "INTEGER",
    "area_sqm": "REAL",
    "ann_price": "INTEGER",
    "right_num": "INTEGER",
    "right_den": "INTEGER",
}


@dataclass(frozen=True)
class Owner:
    """A person of the household demo who may own land."""

    national_id: str
    birth: date


@dataclass(frozen=True)
class Parcel:
    key: int
    district: str
    """As the legacy systems wrote it: the township before the merger (永康市) or the
    former city's district (東區)."""
    section: str
    mother: int
    child: int
    area_m2: float
    zone: str
    value: int
    owner: str
    registered: date

    @property
    def parcel_no(self) -> str:
        return f"{self.mother:04d}-{self.child:04d}"


@dataclass(frozen=True)
class LandData:
    county_rows: int
    city_rows: int
    parcels: int
    duplicated_parcels: int
    """Parcels present twice or more in the legacy land registers."""


def _sections(rng: Random) -> dict[str, tuple[str, ...]]:
    """Three or four sections per township or district, from the stems."""
    result = {}
    for district in (*COUNTY_DISTRICTS, *CITY_DISTRICTS):
        count = 3 + int(rng.random() * 2)
        stems = rng.sample(SECTION_STEMS, count)
        result[district] = tuple(s + "段" for s in stems)
    return result


def _pick(rng: Random, shares: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    total = 0.0
    for name, share in shares:
        total += share
        if roll < total:
            return name
    return shares[-1][0]


class _LandWriter(LegacyWriter):
    """Emits one legacy row for a parcel's copy, with the faults of its system."""

    def _owner(self, parcel: Parcel, copy: int) -> str:
        value = parcel.owner
        if copy and self.fault(0.6):
            value = id_typo(value, self.rng)
        return messy_id(value, self.rng)

    def _registered(self, parcel: Parcel, copy: int) -> date:
        day = parcel.registered
        if copy and day.day <= 12 and day.day != day.month and self.fault(0.5):
            return date(day.year, day.day, day.month)
        return day

    def _variants(self, text: str, weight: float) -> str:
        for canonical, variant in VARIANTS.items():
            if canonical in text and self.fault(weight):
                text = text.replace(canonical, variant)
        return text

    def _county_parcel_no(self, parcel: Parcel) -> str:
        style = self.rng.random()
        if parcel.child == 0 and style < 0.3:
            return str(parcel.mother)
        if style < 0.45:
            return f"{parcel.mother}之{parcel.child}"
        if style < 0.7:
            return f"{parcel.mother}-{parcel.child}"
        if style < 0.85:
            return parcel.parcel_no
        return parcel.parcel_no.replace("-", "")

    def county_row(self, parcel: Parcel, copy: int) -> None:
        rid = len(self.county) + 1
        section = self._variants(parcel.section, 3)
        if self.fault(1):
            section = section.removesuffix("段")
        prefix = self.rng.random()
        if prefix < 0.45:
            section = parcel.district + section
        elif prefix < 0.55:
            section = self._variants("臺南縣", 3) + parcel.district + section
        number = self._county_parcel_no(parcel)
        if self.fault(0.3):
            section, number = number, section
        ping = m2_to_ping(parcel.area_m2)
        area: str | None = f"{ping:.2f}" + ("坪" if self.rng.random() < 0.3 else "")
        if self.fault(0.5):
            area = (area or "").translate(FULL_WIDTH_DIGITS)
        if self.fault(0.3):
            area = None
        names = COUNTY_ZONE_NAMES[parcel.zone]
        value = f"{parcel.value:,}" if self.rng.random() < 0.3 else str(parcel.value)
        self.county.append(
            (
                rid,
                parcel.district,
                section,
                number,
                area,
                names[int(self.rng.random() * len(names))],
                value,
                self._owner(parcel, copy),
                "全部" if self.rng.random() < 0.6 else "1/1",
                roc_text(self._registered(parcel, copy), self.rng),
            )
        )
        self.truth.append((f"county_land:{rid}", parcel.key))

    def city_row(self, parcel: Parcel, copy: int) -> None:
        rid = len(self.city) + 1
        number = parcel.parcel_no.replace("-", "")
        if self.rng.random() < 0.2:
            number = parcel.parcel_no
        area: float | None = parcel.area_m2
        if self.fault(0.3):
            area = None
        self.city.append(
            (
                rid,
                parcel.district,
                self._variants(parcel.section, 3),
                number,
                area,
                CITY_ZONE_CODES[parcel.zone],
                parcel.value,
                self._owner(parcel, copy),
                1,
                1,
                iso_text(self._registered(parcel, copy), self.rng),
            )
        )
        self.truth.append((f"city_land:{rid}", parcel.key))


def _parcel(
    key: int,
    rng: Random,
    district: str,
    sections: dict[str, tuple[str, ...]],
    used: set[tuple[str, str, int, int]],
    owner: Owner,
) -> Parcel:
    section = sections[district][int(rng.random() * len(sections[district]))]
    while True:
        mother = 1 + int(rng.random() * 1500)
        child = 0 if rng.random() < 0.5 else 1 + int(rng.random() * 40)
        if (district, section, mother, child) not in used:
            used.add((district, section, mother, child))
            break
    zone = _pick(rng, ZONES)
    area = round(rng.uniform(600, 8000) if zone == "agricultural" else rng.uniform(40, 900), 2)
    earliest = max(owner.birth + timedelta(days=20 * 365), date(1975, 1, 1))
    span = max((LAST_DAY - earliest).days, 1)
    return Parcel(
        key=key,
        district=district,
        section=section,
        mother=mother,
        child=child,
        area_m2=area,
        zone=zone,
        value=int(rng.uniform(2_000, 60_000 if zone != "agricultural" else 6_000) / 10) * 10,
        owner=owner.national_id,
        registered=earliest + timedelta(days=int(rng.random() * span)),
    )


Used = set[tuple[str, str, int, int]]
"""(district, section, 母號, 子號) already given to a parcel."""


def _next_child(parcel: Parcel, key: int, rng: Random, used: Used) -> Parcel:
    """Another parcel of the same owner: the next 子號 of the same 母號, its own area and
    registration."""
    child = parcel.child + 1
    while (parcel.district, parcel.section, parcel.mother, child) in used:
        child += 1
    used.add((parcel.district, parcel.section, parcel.mother, child))
    area = round(parcel.area_m2 * rng.uniform(0.5, 1.5), 2)
    registered = min(parcel.registered + timedelta(days=int(rng.random() * 900)), LAST_DAY)
    return replace(parcel, key=key, child=child, area_m2=area, registered=registered)


def _resurveyed(parcel: Parcel, rng: Random, used: Used) -> Parcel:
    """The same parcel after a re-survey: a new 地號 in its section and a re-measured area."""
    while True:
        mother = 1 + int(rng.random() * 1500)
        if (parcel.district, parcel.section, mother, 0) not in used:
            used.add((parcel.district, parcel.section, mother, 0))
            break
    change = rng.uniform(*RESURVEY_AREA_CHANGE) * (1 if rng.random() < 0.5 else -1)
    return replace(parcel, mother=mother, child=0, area_m2=round(parcel.area_m2 * (1 + change), 2))


def write_land(
    directory: Path, owners: list[Owner], rows: int, seed: int, fault_rate: float
) -> LandData:
    """Write ``county_land.csv``, ``city_land.sqlite`` and ``land_truth.csv``; about ``rows``
    legacy rows in all, owned by ``owners``."""
    owners = [o for o in owners if o.birth <= ADULT_BY_LAST_DAY]
    rng = Random(seed)
    sections = _sections(rng)
    writer = _LandWriter(rng, fault_rate)
    used: set[tuple[str, str, int, int]] = set()
    key = 0
    duplicated = 0
    while len(writer.county) + len(writer.city) < rows:
        key += 1
        scenario = _pick(rng, LAND_SCENARIOS)
        owner = owners[int(rng.random() * len(owners))]
        if scenario in ("both", "resurveyed"):
            district = BOUNDARY_TOWNSHIPS[int(rng.random() * len(BOUNDARY_TOWNSHIPS))]
        elif scenario == "city" or (scenario == "twice" and key % 2):
            district = CITY_DISTRICTS[int(rng.random() * len(CITY_DISTRICTS))]
        else:
            district = COUNTY_DISTRICTS[int(rng.random() * len(COUNTY_DISTRICTS))]
        parcel = _parcel(key, rng, district, sections, used, owner)
        if scenario == "neighbours":
            key += 1
            neighbour = _next_child(parcel, key, rng, used)
            system = "city" if district in CITY_DISTRICTS else "county"
            getattr(writer, f"{system}_row")(parcel, 0)
            getattr(writer, f"{system}_row")(neighbour, 0)
            continue
        if scenario == "resurveyed":
            duplicated += 1
            writer.county_row(parcel, 0)
            writer.city_row(_resurveyed(parcel, rng, used), 0)
            continue
        if scenario in ("county", "city"):
            getattr(writer, f"{scenario}_row")(parcel, 0)
            continue
        duplicated += 1
        if scenario == "twice":
            system = "city" if district in CITY_DISTRICTS else "county"
            getattr(writer, f"{system}_row")(parcel, 0)
            getattr(writer, f"{system}_row")(parcel, 1)
            continue
        older = parcel
        sold_on = min(parcel.registered + timedelta(days=30 + int(rng.random() * 2_000)), LAST_DAY)
        seller = owners[int(rng.random() * len(owners))]
        if rng.random() < SOLD_SHARE and sold_on > parcel.registered and seller != owner:
            # sold between the two copies: the older names the seller, the newer the buyer
            older = replace(parcel, owner=seller.national_id)
            parcel = replace(parcel, registered=sold_on)
        order = ("county", "city") if rng.random() < 0.5 else ("city", "county")
        getattr(writer, f"{order[0]}_row")(older, 0)
        getattr(writer, f"{order[1]}_row")(parcel, 1)

    write_csv(directory / "county_land.csv", COUNTY_LAND_COLUMNS, writer.county)
    write_sqlite_table(
        directory / "city_land.sqlite", "land_reg", CITY_LAND_COLUMNS, CITY_LAND_TYPES, writer.city
    )
    write_csv(directory / "land_truth.csv", ("record_id", "parcel"), writer.truth)
    return LandData(len(writer.county), len(writer.city), key, duplicated)


LAND_PLAN_TEMPLATE = """\
# Consolidating the land registers of former 臺南縣's land offices (CSV: areas in 坪, ROC
# dates, 地段 written after the township) and former 臺南市's (SQLite: square metres, ISO
# dates) into the common standard of land_registration for 臺南市. One legacy row is one
# parcel with its owner; run after plan.yaml (whose `then` names this file).
name: {name}
target:
  dataset: land_registration
  jurisdiction: tainan-city
run_dir: run-land
sources:
  - id: county_land
    name: 臺南縣各地政事務所地籍資料（改制前）
    kind: csv
    path: county_land.csv
    record_id: 序號
    trust: 1
    as_of: 2010-12-24
    fields:
      owner_national_id: {{column: 所有權人統一編號, normalise: [national_id]}}
      jurisdiction: {{constant: tainan-city}}
      district: {{column: 鄉鎮市, normalise: [district]}}
      section: {{column: 地段, normalise: [section]}}
      parcel_no: {{column: 地號, normalise: [parcel_no]}}
      area_m2: {{column: 面積坪, normalise: [area_ping]}}
      land_use_zone:
        column: 使用分區
        values:
          住宅區: residential
          商業區: commercial
          工業區: industrial
          農業區: agricultural
          一般農業區: agricultural
          特定農業區: agricultural
      announced_value_per_m2: {{column: 公告現值, normalise: [integer]}}
      share_numerator: {{column: 權利範圍, normalise: [share_numerator]}}
      share_denominator: {{column: 權利範圍, normalise: [share_denominator]}}
      registered_on: {{column: 登記日期, normalise: [date]}}
  - id: city_land
    name: 臺南市地政事務所地籍資料（改制前）
    kind: sqlite
    path: city_land.sqlite
    table: land_reg
    record_id: land_id
    trust: 2
    as_of: 2010-12-24
    fields:
      owner_national_id: {{column: owner_idno, normalise: [national_id]}}
      jurisdiction: {{constant: tainan-city}}
      district: {{column: town, normalise: [district]}}
      section: {{column: sect, normalise: [section]}}
      parcel_no: {{column: lot_no, normalise: [parcel_no]}}
      area_m2: {{column: area_sqm, normalise: [area]}}
      land_use_zone:
        column: zoning
        values: {{R: residential, C: commercial, I: industrial, A: agricultural}}
      announced_value_per_m2: {{column: ann_price, normalise: [integer]}}
      share_numerator: {{column: right_num, normalise: [integer]}}
      share_denominator: {{column: right_den, normalise: [integer]}}
      registered_on: {{column: reg_date, normalise: [date]}}
linkage:
  entity: parcel
  threshold: 0.9
  # Low: a parcel a re-survey renumbered scores low on its number alone, and the more
  # parcels each owner holds, the lower; a clerk with the re-survey's table decides.
  review_band: [0.1, 0.97]
  max_pairs_u: 100000
survivorship:
  # The city's square metres beat the county's 坪 (most trusted); who owns the parcel and
  # since when come from the newer registration (a sale between the two copies).
  default: most_trusted
  recency_field: registered_on
  fields:
    owner_national_id: most_recent
    share_numerator: most_recent
    share_denominator: most_recent
    registered_on: most_recent
{load}"""
