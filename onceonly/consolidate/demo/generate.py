"""Write the two legacy household systems of former 臺南縣 and 臺南市, a ground truth and a
plan.

Each synthetic person is registered in the county's system, the city's, both (moved
across the old boundary before the merger: two addresses, two move-in dates) or twice in
the same system (registered again after a clerk could not find the first record). Every
copy then suffers what such systems suffer: typos in names, surname and given name swapped,
day and month swapped, national IDs with a wrong digit, full-width digits, lower case or
spaces, addresses written before the merger (臺南縣永康市…村), 台 for 臺 and other variant
characters, missing values, and each system's own date formats (民國89年3月5日, 89.3.5,
0890305 in the county; 2000-03-05, 20000305, 2000/3/5 in the city). A few rows miss a
required value and must end in quarantine.

``truth.csv`` maps every record id to its person, so linkage can be scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from random import Random

from onceonly.consolidate.demo.land import LAND_PLAN_TEMPLATE, LandData, Owner, write_land
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
from onceonly.domain.names import given_name, surname
from onceonly.domain.national_id import make_national_id

ROADS = (
    "中正路",
    "中山路",
    "民生路",
    "民族路",
    "民權路",
    "復興路",
    "和平路",
    "建國路",
    "光復路",
    "自由路",
    "成功路",
    "文化路",
    "仁愛路",
    "信義路",
    "忠孝路",
    "中華路",
)
VILLAGES = (
    "中正",
    "福德",
    "仁愛",
    "和平",
    "光明",
    "中興",
    "新興",
    "忠孝",
    "文化",
    "民生",
    "長安",
    "復興",
    "永安",
    "興隆",
    "福安",
)
TITLES = {"head": "戶長", "spouse": "配偶", "child": "長男", "parent": "父", "other": "其他"}
MARITAL = {"single": "1", "married": "2", "divorced": "3", "widowed": "4"}
SIMILAR = {
    "明": "銘", "銘": "明", "華": "樺", "玲": "鈴", "鈴": "玲", "志": "智", "智": "志",
    "偉": "瑋", "婷": "庭", "庭": "婷", "雅": "亞", "文": "雯", "雯": "文", "家": "嘉",
    "嘉": "家", "佳": "家", "宏": "弘", "弘": "宏", "淑": "叔", "美": "媄", "峰": "峯",
}  # fmt: skip
SCENARIOS = (("county", 0.40), ("city", 0.40), ("both", 0.14), ("twice", 0.06))


@dataclass(frozen=True)
class Person:
    key: int
    national_id: str
    surname: str
    given: str
    sex: str
    birth: date
    relationship: str
    marital: str


@dataclass(frozen=True)
class DemoData:
    directory: Path
    plan: Path
    truth: Path
    county_rows: int
    city_rows: int
    people: int
    duplicated_people: tuple[str, ...]
    """National IDs (true) of people present twice or more in the legacy data."""
    land_plan: Path
    land_truth: Path
    land: LandData


def _typo(text: str, rng: Random) -> str:
    positions = [i for i, c in enumerate(text) if c in SIMILAR]
    if positions:
        i = positions[int(rng.random() * len(positions))]
        return text[:i] + SIMILAR[text[i]] + text[i + 1 :]
    return text


def _person(key: int, rng: Random, letter: str) -> Person:
    sex = "M" if rng.random() < 0.5 else "F"
    birth = date(1930, 1, 1) + timedelta(days=int(rng.random() * 27_000))
    serial = (key * 7_654_321 + 4_242_421) % 10_000_000
    married = birth.year < 1990 and rng.random() < 0.7
    return Person(
        key=key,
        national_id=make_national_id(letter, 1 if sex == "M" else 2, serial),
        surname=surname(rng.random),
        given=given_name(rng.random, sex, birth.year),
        sex=sex,
        birth=birth,
        relationship=("head", "spouse", "child", "parent", "other")[int(rng.random() * 5)],
        marital="married" if married else ("single", "divorced", "widowed")[int(rng.random() * 3)],
    )


@dataclass
class _Home:
    district: str
    village: str
    neighbourhood: int
    road: str
    number: int
    moved_in: date
    household: str


def _home(rng: Random, districts: tuple[str, ...], after: date, serial: int) -> _Home:
    return _Home(
        district=districts[int(rng.random() * len(districts))],
        village=VILLAGES[int(rng.random() * len(VILLAGES))],
        neighbourhood=1 + int(rng.random() * 20),
        road=ROADS[int(rng.random() * len(ROADS))],
        number=1 + int(rng.random() * 300),
        moved_in=min(after + timedelta(days=int(rng.random() * 9_000)), date(2010, 12, 1)),
        household=f"{serial:08d}",
    )


class _Writer(LegacyWriter):
    """Emits one legacy row for a person's copy, with the faults of its system; ``messy``
    adds what registers messier than the demo's suffer (issue 19): IDs with two digits
    transposed or left blank, birth dates and sexes left blank more often, birth dates with
    a digit lost or doubled, twins who differ in one given-name character."""

    messy = False

    def _name(self, p: Person, copy: int) -> tuple[str, str]:
        surname_, given = p.surname, p.given
        if copy and self.fault(2):
            given = _typo(given, self.rng)
        return surname_, given

    def _id(self, p: Person, copy: int) -> str | None:
        value = p.national_id
        if copy and self.fault(0.6):
            value = id_typo(value, self.rng)
        if self.messy and copy and self.fault(0.6):
            i = 1 + int(self.rng.random() * 8)  # two adjacent characters swapped
            value = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
        if self.messy and self.fault(0.3):
            return None
        return messy_id(value, self.rng)

    def _blank(self, weight: float) -> bool:
        return self.fault(weight * (4 if self.messy else 1))

    def _birth(self, p: Person, copy: int) -> date:
        if copy and p.birth.day <= 12 and p.birth.day != p.birth.month and self.fault(0.5):
            return date(p.birth.year, p.birth.day, p.birth.month)
        return p.birth

    def _slipped(self, text: str) -> str:
        """``text`` as keyed with a slip, in messy registers: one digit lost or typed twice
        (``2000-03-15`` -> ``2000-03-5``, ``2000-03-115``) in about one date in 400 (keying
        errors run near 1 % a field; a digit lost or doubled is about a quarter of them)."""
        if not self.messy or not self.fault(0.03):
            return text
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        i = digits[int(self.rng.random() * len(digits))]
        if self.rng.random() < 0.5:
            return text[:i] + text[i + 1 :]
        return text[: i + 1] + text[i:]

    def county_row(self, p: Person, home: _Home, copy: int) -> None:
        rid = len(self.county) + 1
        surname_, given = self._name(p, copy)
        name = surname_ + given
        if self.fault(0.5):
            name = f"{surname_} {given}"
        city = "台南縣" if self.fault(2) else "臺南縣"
        number = (
            str(home.number).translate(FULL_WIDTH_DIGITS) if self.fault(1) else str(home.number)
        )
        village = home.village + "村"
        address = f"{city}{home.district}{village}{home.neighbourhood}鄰{home.road}{number}號"
        if self.fault(0.7):
            address = f"{city}{home.district}{home.road}{number}號"
        birth: str | None = self._slipped(roc_text(self._birth(p, copy), self.rng))
        if self._blank(0.1):
            birth = None
        self.county.append(
            (
                rid,
                self._id(p, copy),
                name,
                "男" if p.sex == "M" else "女",
                birth,
                address,
                home.district,
                None if self.fault(1) else village,
                str(home.neighbourhood),
                None if self.fault(1) else roc_text(home.moved_in, self.rng),
                MARITAL[p.marital],
                home.household,
                TITLES[p.relationship],
            )
        )
        self.truth.append((f"county:{rid}", p.key))

    def city_row(self, p: Person, home: _Home, copy: int) -> None:
        rid = len(self.city) + 1
        surname_, given = self._name(p, copy)
        if copy and self.fault(0.6):
            surname_, given = given, surname_
        for variant, canonical in (("峯", "峰"), ("台", "臺")):
            if canonical in given and self.fault(3):
                given = given.replace(canonical, variant)
        district = home.district
        road = home.road
        address = f"台南市{district}{home.village}里{home.neighbourhood}鄰{road}{home.number}號"
        if not self.fault(2):
            address = address.replace("台南市", "臺南市", 1)
        sex = "1" if p.sex == "M" else "2"
        if self._blank(0.1):
            sex = None  # type: ignore[assignment]
        self.city.append(
            (
                rid,
                self._id(p, copy),
                surname_,
                given,
                sex,
                self._slipped(iso_text(self._birth(p, copy), self.rng)),
                address,
                district,
                None if self.fault(1) else home.village + "里",
                home.neighbourhood,
                None if self.fault(1) else iso_text(home.moved_in, self.rng),
                MARITAL[p.marital],
                home.household,
                TITLES[p.relationship],
            )
        )
        self.truth.append((f"city:{rid}", p.key))


COUNTY_COLUMNS = (
    "序號",
    "身分證字號",
    "姓名",
    "性別",
    "出生日期",
    "戶籍地址",
    "鄉鎮市",
    "村里",
    "鄰",
    "遷入日期",
    "婚姻",
    "戶號",
    "稱謂",
)
CITY_COLUMNS = (
    "pid",
    "idno",
    "sname",
    "gname",
    "sex_cd",
    "birthday",
    "addr",
    "town",
    "vill",
    "lin",
    "movein",
    "marry",
    "hh_no",
    "title",
)


def _write_city_excel(path: Path, rows: list[tuple[object, ...]]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("jumin")
    sheet.append(list(CITY_COLUMNS))
    for row in rows:
        sheet.append(list(row))
    book.save(path)


PLAN_TEMPLATE = """\
# Consolidating the household systems of former 臺南縣 (CSV) and former 臺南市 ({city_kind})
# into the common standard of household_registration for 臺南市.
name: {name}
target:
  dataset: household_registration
  jurisdiction: tainan-city
run_dir: run
# then the land registers of the same two governments (their owners are these people):
then: [land.yaml]
sources:
  - id: county
    name: 臺南縣戶政系統（改制前）
    kind: csv
    path: county.csv
    record_id: 序號
    trust: 1
    as_of: 2010-12-24
    fields:
      national_id: {{column: 身分證字號, normalise: [national_id]}}
      name: {{column: 姓名, normalise: [name]}}
      sex: {{column: 性別, values: {{男: M, 女: F}}}}
      birth_date: {{column: 出生日期, normalise: [date]}}
      household_id: {{column: 戶號, normalise: [strip]}}
      relationship_to_head:
        column: 稱謂
        values: {{戶長: head, 配偶: spouse, 長男: child, 父: parent, 其他: other}}
      address: {{column: 戶籍地址, normalise: [address]}}
      jurisdiction: {{constant: tainan-city}}
      district: {{column: 鄉鎮市, normalise: [district]}}
      village: {{column: 村里, normalise: [village]}}
      neighbourhood: {{column: 鄰, normalise: [integer]}}
      moved_in_on: {{column: 遷入日期, normalise: [date]}}
      marital_status:
        column: 婚姻
        values: {{"1": single, "2": married, "3": divorced, "4": widowed}}
      is_alive: {{constant: "true"}}
      former_jurisdiction: {{constant: tainan-county}}
  - id: city
    name: 臺南市戶政系統（改制前）
    kind: {city_kind}
    path: {city_file}
{city_location}    record_id: pid
    trust: 2
    as_of: 2010-12-24
    fields:
      national_id: {{column: idno, normalise: [national_id]}}
      name: {{columns: [sname, gname], normalise: [name]}}
      sex: {{column: sex_cd, values: {{"1": M, "2": F}}}}
      birth_date: {{column: birthday, normalise: [date]}}
      household_id: {{column: hh_no, normalise: [strip]}}
      relationship_to_head:
        column: title
        values: {{戶長: head, 配偶: spouse, 長男: child, 父: parent, 其他: other}}
      address: {{column: addr, normalise: [address]}}
      jurisdiction: {{constant: tainan-city}}
      district: {{column: town, normalise: [district]}}
      village: {{column: vill, normalise: [village]}}
      neighbourhood: {{column: lin, normalise: [integer]}}
      moved_in_on: {{column: movein, normalise: [date]}}
      marital_status:
        column: marry
        values: {{"1": single, "2": married, "3": divorced, "4": widowed}}
      is_alive: {{constant: "true"}}
      former_jurisdiction: {{constant: former-tainan-city}}
linkage:
  entity: person
  threshold: 0.9
  review_band: [0.1, 0.97]
  max_pairs_u: 300000
survivorship:
  default: most_trusted
  recency_field: moved_in_on
  fields:
    address: most_recent
    district: most_recent
    village: most_recent
    neighbourhood: most_recent
    household_id: most_recent
    moved_in_on: most_recent
    relationship_to_head: most_recent
    former_jurisdiction: most_recent
    name: most_trusted
{load}"""


def generate_demo(
    directory: Path,
    records: int = 2_000,
    seed: int = 20101225,
    fault_rate: float = 0.08,
    excel: bool = False,
    registries: Path | None = None,
    land_records: int | None = None,
    messy: bool = False,
) -> DemoData:
    """Write ``county.csv``, ``city.sqlite`` (or ``city.xlsx``), ``truth.csv`` and
    ``plan.yaml`` into ``directory``; about ``records`` legacy rows in all. Then the land
    registers of the same people (:mod:`onceonly.consolidate.demo.land`): ``county_land.csv``,
    ``city_land.sqlite``, ``land_truth.csv`` and ``land.yaml`` (which ``plan.yaml`` runs
    next), about ``land_records`` rows (default: half of ``records``).

    ``messy``: the faults of registers messier than the demo's own (see :class:`_Writer`),
    for the linkage bench.

    ``registries``: when given, the plans load the golden records into that registries
    directory's household register (``central.moi_household``) and 臺南市's land office
    (``tainan-city.land_office``).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = Random(seed)
    writer = _Writer(rng, fault_rate)
    writer.messy = messy
    duplicated: list[str] = []
    owners: list[Owner] = []
    key = 0
    household = 0
    while len(writer.county) + len(writer.city) < records:
        key += 1
        roll = rng.random()
        scenario = next(name for name, share in _cumulative() if roll < share)
        letter = "R" if scenario == "county" or (scenario == "twice" and key % 2) else "D"
        p = _person(key, rng, letter)
        owners.append(Owner(p.national_id, p.birth))
        household += 1
        if scenario in ("county", "city"):
            districts = COUNTY_DISTRICTS if scenario == "county" else CITY_DISTRICTS
            home = _home(rng, districts, p.birth, household)
            getattr(writer, f"{scenario}_row")(p, home, 0)
            if rng.random() < 0.05:  # a twin: same surname, birthday and home, another person
                key += 1
                twin = _person(key, rng, letter)
                twin = Person(
                    twin.key,
                    twin.national_id,
                    p.surname,
                    (p.given[:-1] + twin.given[-1]) if messy else twin.given,
                    twin.sex,
                    p.birth,
                    p.relationship,
                    p.marital,
                )
                getattr(writer, f"{scenario}_row")(twin, home, 0)
        elif scenario == "both":
            first = _home(rng, COUNTY_DISTRICTS, p.birth, household)
            household += 1
            second = _home(rng, CITY_DISTRICTS, first.moved_in, household)
            order = (0, 1) if rng.random() < 0.5 else (1, 0)
            writer.county_row(p, first, order[0])
            writer.city_row(p, second, order[1])
            duplicated.append(p.national_id)
        else:
            system = "county" if letter == "R" else "city"
            districts = COUNTY_DISTRICTS if system == "county" else CITY_DISTRICTS
            first = _home(rng, districts, p.birth, household)
            household += 1
            second = _home(rng, districts, first.moved_in, household)
            getattr(writer, f"{system}_row")(p, first, 0)
            getattr(writer, f"{system}_row")(p, second, 1)
            duplicated.append(p.national_id)

    write_csv(directory / "county.csv", COUNTY_COLUMNS, writer.county)
    if excel:
        city_file, city_kind, location = "city.xlsx", "excel", "    sheet: jumin\n"
        _write_city_excel(directory / city_file, writer.city)
    else:
        city_file, city_kind, location = "city.sqlite", "sqlite", "    table: jumin\n"
        types = {"pid": "INTEGER", "lin": "INTEGER"}
        write_sqlite_table(directory / city_file, "jumin", CITY_COLUMNS, types, writer.city)
    write_csv(directory / "truth.csv", ("record_id", "person"), writer.truth)
    land = write_land(directory, owners, land_records or records // 2, seed + 1, fault_rate)

    def load(owner: str) -> str:
        if registries is None:
            return ""
        return f"load:\n  registries: {Path(registries).resolve()}\n  owner: {owner}\n"

    land_plan = directory / "land.yaml"
    land_plan.write_text(
        LAND_PLAN_TEMPLATE.format(name="tainan-land-demo", load=load("tainan-city.land_office")),
        "utf-8",
    )
    plan = directory / "plan.yaml"
    plan.write_text(
        PLAN_TEMPLATE.format(
            name="tainan-merger-demo",
            city_kind=city_kind,
            city_file=city_file,
            city_location=location,
            load=load("central.moi_household"),
        ),
        "utf-8",
    )
    return DemoData(
        directory=directory,
        plan=plan,
        truth=directory / "truth.csv",
        county_rows=len(writer.county),
        city_rows=len(writer.city),
        people=key,
        duplicated_people=tuple(duplicated),
        land_plan=land_plan,
        land_truth=directory / "land_truth.csv",
        land=land,
    )


def _cumulative() -> list[tuple[str, float]]:
    total = 0.0
    result = []
    for name, share in SCENARIOS:
        total += share
        result.append((name, total))
    result[-1] = (result[-1][0], 1.0)
    return result
