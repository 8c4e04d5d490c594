"""The synthetic population: households, people and everything registered about them.

People are made one chunk at a time (:data:`CHUNK_PEOPLE`), each chunk from its own random
stream seeded by ``(seed, chunk index)``, so memory stays flat at any size, chunks could be
made in any order, and the first chunk (with the planted sample citizens) is the same at
every size. Identifiers that must be unique across chunks (national IDs, household numbers,
parcel and building numbers, business IDs) come from chunk-strided counters passed through a
fixed permutation, so they look scattered but never collide.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from typing import TypeVar

from onceonly.demo.registries.gazetteer import (
    MOUNTAIN_INDIGENOUS_DISTRICTS,
    POPULATION_WEIGHTS,
    District,
    Jurisdiction,
    jurisdiction,
)
from onceonly.demo.registries.identifiers import (
    building_no,
    business_id,
    factory_no,
    household_no,
    national_id,
    parcel_no,
    person_serial,
    veteran_card_no,
)
from onceonly.domain import names
from onceonly.domain.address import CITIES

T = TypeVar("T")

CHUNK_PEOPLE = 5000
"""People per chunk; fixed, so a size-N registry is the first N people of a larger one."""

REFERENCE_DATE = date(2026, 6, 30)
"""The day the demo registries were 'extracted': ages, validity and tax years count from it."""
REFERENCE = REFERENCE_DATE.toordinal()
TAX_YEARS = (REFERENCE_DATE.year - 3, REFERENCE_DATE.year - 2, REFERENCE_DATE.year - 1)
LAND_TAX_YEARS = (REFERENCE_DATE.year - 2, REFERENCE_DATE.year - 1)

_YEAR = 365.2425
_OTHER_LETTERS = "ABCDEFGHJKMNPQTUVXZ"
"""Area letters of people who were first registered somewhere else."""


class Person:
    __slots__ = (
        "birth",
        "death",
        "disability",
        "events",
        "former_name",
        "given",
        "household",
        "indigenous",
        "interest",
        "kin_children",
        "kin_parents",
        "kin_register",
        "marital",
        "marriages",
        "moved_in",
        "nid",
        "other_income",
        "planted",
        "relation",
        "salary",
        "seq",
        "sex",
        "spouse",
        "surname",
        "title",
        "veteran",
    )

    def __init__(self, household: Household, relation: str, title: str, sex: str) -> None:
        self.household = household
        self.relation = relation
        self.title = title
        self.sex = sex
        self.nid = ""
        self.seq = 0
        self.surname = ""
        self.given = ""
        self.birth = 0
        self.death: int | None = None
        self.marital = "1"
        self.spouse: Person | None = None
        self.indigenous = "0"
        self.moved_in = 0
        self.former_name: tuple[str, int] | None = None
        self.disability: tuple[str, int, int] | None = None
        self.veteran: tuple[str, str, int] | None = None
        self.salary = 0
        self.interest = 0
        self.other_income = 0
        self.planted = False
        self.events: list[tuple[int, str, str | None]] = []
        # Kinship records (親等資料), kept for part of the population only: parents, every
        # marriage as (spouse, from, until, "D" divorce | "X" death | None), and the
        # Japanese-era household register (日據時期戶口調查簿) a person is recorded in.
        self.kin_parents: list[Person] = []
        self.kin_children: list[Person] = []
        self.marriages: list[tuple[Person, int, int | None, str | None]] = []
        self.kin_register: str | None = None

    @property
    def name(self) -> str:
        return self.surname + self.given

    def age(self, on: int = REFERENCE) -> int:
        return int((on - self.birth) / _YEAR)

    def alive_in(self, year: int) -> bool:
        if self.birth > date(year, 12, 31).toordinal():
            return False
        return self.death is None or self.death >= date(year, 1, 1).toordinal()


@dataclass(eq=False)
class Address:
    district: District
    village: str
    neighbourhood: int
    road: str
    section: str | None
    lane: str | None
    alley: str | None
    number: str
    floor: str | None

    def text(self, city: str) -> str:
        floor = ""
        if self.floor:
            level, _, sub = self.floor.partition("之")
            floor = f"{level}樓" + (f"之{sub}" if sub else "")
        return (
            f"{city}{self.district.name}{self.village}{self.neighbourhood}鄰{self.road}"
            f"{self.section or ''}{self.lane + '巷' if self.lane else ''}"
            f"{self.alley + '弄' if self.alley else ''}{self.number}號{floor}"
        )

    def street(self, city: str) -> str:
        """The address without village and neighbourhood, as deeds and company files write it."""
        full = self.text(city)
        return city + self.district.name + full[full.index(self.road) :]


@dataclass(eq=False)
class Household:
    jur: Jurisdiction
    address: Address
    hh_no: str = ""
    seq: int = 0
    setup: int = 0
    members: list[Person] = field(default_factory=list)
    low_income: tuple[str, int, int] | None = None
    """(category, approved on, valid until) of a 低收入戶 / 中低收入戶 case."""
    plate_assigned: int = 0
    plate_old_address: str | None = None
    planted: bool = False


@dataclass(eq=False)
class Share:
    person: Person
    numerator: int
    denominator: int
    reason: str
    registered: int


@dataclass(eq=False)
class Parcel:
    key: int
    parcel_no: str
    jur: Jurisdiction
    district: District
    section: str
    subsection: str | None
    area: float
    zone: str
    value: int
    owners: list[Share]
    dwelling: bool = False


@dataclass(eq=False)
class Building:
    key: int
    building_no: str
    jur: Jurisdiction
    district: District
    section: str
    subsection: str | None
    address: str
    use: str
    area: float
    owners: list[Share]


@dataclass(eq=False)
class Business:
    jur: Jurisdiction
    business_id: str
    name: str
    org_type: str
    owner: Person
    address: str
    capital: int
    status: str
    setup: int


@dataclass(eq=False)
class Factory:
    jur: Jurisdiction
    factory_no: str
    name: str
    business: Business
    address: str
    industry: str
    status: str
    registered: int


@dataclass
class Chunk:
    """Everything registered about one chunk's people, ready to be written to the stores."""

    index: int
    households: list[Household] = field(default_factory=list)
    parcels: list[Parcel] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)
    businesses: list[Business] = field(default_factory=list)
    factories: list[Factory] = field(default_factory=list)


def _weighted(items: list[tuple[object, float]]) -> tuple[list[object], list[float]]:
    values = [v for v, _ in items]
    cumulative = list(accumulate(w for _, w in items))
    return values, cumulative


class Sections:
    """The land register sections of one jurisdiction, in a fixed order (codes 0001, ...)."""

    def __init__(self, jur: Jurisdiction) -> None:
        self.rows: list[tuple[str, str, str, str | None]] = []
        self.by_district: dict[str, list[tuple[str, str, str | None]]] = {}
        self.code_of: dict[tuple[str, str, str | None], str] = {}
        for district in jur.districts:
            subsections = ("一小段", "二小段", "三小段") if district.urban else (None,)
            for section in district.sections:
                for subsection in subsections:
                    code = f"{len(self.rows) + 1:04d}"
                    self.rows.append((code, district.name, section, subsection))
                    self.code_of[(district.name, section, subsection)] = code
                    self.by_district.setdefault(district.name, []).append(
                        (code, section, subsection)
                    )


_SECTIONS: dict[str, Sections] = {}


def sections_of(jur: Jurisdiction) -> Sections:
    if jur.code not in _SECTIONS:
        _SECTIONS[jur.code] = Sections(jur)
    return _SECTIONS[jur.code]


_ZONE_FACTOR = {"住宅區": 1.0, "商業區": 1.6, "工業區": 0.55, "農業區": 0.04, "保護區": 0.02}
_EXTRA_ZONES = (
    ("農業區", 0.5),
    ("住宅區", 0.25),
    ("保護區", 0.12),
    ("商業區", 0.07),
    ("工業區", 0.06),
)
_BIZ_WORDS = [
    "宏達",
    "永豐",
    "建興",
    "大同",
    "聯華",
    "全福",
    "隆昌",
    "順發",
    "金源",
    "鼎盛",
    "三商",
    "長榮",
    "新光",
    "台益",
    "佳和",
    "福興",
]
_BIZ_KINDS = (
    ("實業", False),
    ("貿易", False),
    ("企業", False),
    ("科技", False),
    ("餐飲", False),
    ("食品", True),
    ("工業", True),
    ("機械", True),
    ("塑膠", True),
    ("精密", True),
)
_INDUSTRY = {"食品": "08", "工業": "25", "機械": "29", "塑膠": "22", "精密": "26"}
_DISABILITY_LEVELS = (("1", 0.38), ("2", 0.32), ("3", 0.18), ("4", 0.12))
"""Level codes 1 mild ... 4 profound, with their shares among certificate holders."""


_DISABILITY_TABLE = _weighted(list(_DISABILITY_LEVELS))
_EXTRA_ZONE_TABLE = _weighted(list(_EXTRA_ZONES))


class ChunkBuilder:
    """Builds one chunk: households first, then what the agencies registered about them."""

    def __init__(self, seed: int, index: int, people: int, jurisdictions: tuple[str, ...]):
        self.seed = seed
        self.index = index
        self.target = people
        self.rng = random.Random(seed * 1_000_003 + index)
        self.random = self.rng.random
        self.chunk = Chunk(index)
        self.jurs = [jurisdiction(code) for code in jurisdictions]
        self.jur_values, self.jur_cumulative = _weighted(
            [(j, POPULATION_WEIGHTS[j.code]) for j in self.jurs]
        )
        self.district_tables = {
            j.code: _weighted([(d, d.weight) for d in j.districts]) for j in self.jurs
        }
        self.person_count = 0
        self.counters: dict[str, int] = {}

    # identifiers ---------------------------------------------------------------------------

    def _next(self, name: str, stride: int) -> int:
        local = self.counters.get(name, 0)
        if local >= stride:
            raise OverflowError(f"more than {stride} {name} in one chunk")
        self.counters[name] = local + 1
        return self.index * stride + local

    def assign_id(self, person: Person, letter: str) -> None:
        person.seq = self.index * CHUNK_PEOPLE + self.person_count
        self.person_count += 1
        serial = person_serial(person.seq, self.seed)
        person.nid = national_id(letter, 1 if person.sex == "M" else 2, serial)

    def number_household(self, household: Household) -> None:
        household.seq = self._next("households", CHUNK_PEOPLE)
        household.hh_no = household_no(household.jur.letter, household.seq, self.seed)

    def new_parcel_no(self, jur: Jurisdiction) -> tuple[int, str]:
        """(store key, 地號) of a new parcel in ``jur``'s land register."""
        seq = self._next(f"parcel:{jur.code}", 10_000)
        return seq + 1, parcel_no(seq)

    def new_building_no(self, jur: Jurisdiction) -> tuple[int, str]:
        seq = self._next(f"building:{jur.code}", 10_000)
        return seq + 1, building_no(seq)

    def new_business_id(self) -> str:
        return business_id(self._next("business", 2_000), self.seed)

    def new_factory_no(self, jur: Jurisdiction) -> str:
        return factory_no(jur.business_prefix, self._next(f"factory:{jur.code}", 400))

    # random helpers ------------------------------------------------------------------------

    def choice(self, items: Sequence[T]) -> T:
        """``random.choice`` at a third of the cost (this runs millions of times)."""
        return items[int(self.random() * len(items))]

    def randint(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def pick(self, values: list[object], cumulative: list[float]) -> object:
        return values[bisect(cumulative, self.random() * cumulative[-1])]

    def after_age(self, person: Person, age: float, latest: int) -> int:
        """A day after ``person`` reached ``age`` and no later than ``latest``."""
        earliest = min(person.birth + int(age * _YEAR), latest)
        return self.randint(earliest, latest)

    def birth_for_age(self, age: float) -> int:
        return int(REFERENCE - age * _YEAR - self.random() * 364)

    def random_address(self, jur: Jurisdiction, district: District | None = None) -> Address:
        if district is None:
            district = self.pick(*self.district_tables[jur.code])  # type: ignore[assignment]
            assert isinstance(district, District)
        road, section = self.choice(district.roads)
        urban = district.urban
        lane = str(self.randint(1, 300)) if self.random() < (0.55 if urban else 0.3) else None
        alley = str(self.randint(1, 30)) if lane and self.random() < 0.3 else None
        number = str(self.randint(1, 350 if not lane else 60))
        if self.random() < 0.08:
            number += f"之{self.randint(1, 6)}"
        floor = None
        if urban or self.random() < 0.3:
            floor = str(self.randint(2, 14 if urban else 5))
            if self.random() < 0.05:
                floor += f"之{self.randint(1, 3)}"
        return Address(
            district=district,
            village=self.choice(district.villages),
            neighbourhood=self.randint(1, 30),
            road=road,
            section=section,
            lane=lane,
            alley=alley,
            number=number,
            floor=floor,
        )

    # households -----------------------------------------------------------------------------

    def build(self, planted: list[Household]) -> Chunk:
        for household in planted:
            self.register(household, planted=True)
        while self.person_count < self.target:
            self.random_household()
        for household in self.chunk.households:
            if not household.planted:
                self.register_holdings(household)
        return self.chunk

    def register(self, household: Household, planted: bool = False) -> None:
        """Give the household and its members their identifiers and life events."""
        household.planted = planted
        self.number_household(household)
        room = self.target - self.person_count
        if len(household.members) > room:
            kept = household.members[:room]
            for person in kept:
                if person.spouse is not None and person.spouse not in kept:
                    person.spouse = None
            household.members = kept
        for person in household.members:
            person.planted = planted
            letter = household.jur.letter if planted else self.birth_letter(household.jur)
            self.assign_id(person, letter)
        for person in household.members:
            self.life_events(person)
        self.chunk.households.append(household)

    def birth_letter(self, jur: Jurisdiction) -> str:
        if self.random() < 0.8:
            return jur.letter
        return self.choice(_OTHER_LETTERS)

    def random_household(self) -> None:
        jur = self.pick(self.jur_values, self.jur_cumulative)
        assert isinstance(jur, Jurisdiction)
        address = self.random_address(jur)
        household = Household(jur=jur, address=address)
        kind = self.random()
        if kind < 0.28:
            age = self.choice((self.uniform(20, 45), self.uniform(20, 92)))
            self.add(household, "head", "戶長", age)
        elif kind < 0.46:
            head = self.add(household, "head", "戶長", self.uniform(28, 92), sex="M")
            self.add_spouse(household, head)
        elif kind < 0.80:
            head_age = self.uniform(28, 62)
            head = self.add(household, "head", "戶長", head_age)
            if self.random() < 0.85:
                self.add_spouse(household, head)
            else:
                head.marital = self.choice("3334")
            for _ in range(self.choice((1, 1, 2, 2, 2, 3))):
                self.add_child(household, head_age)
        elif kind < 0.94:
            head_age = self.uniform(45, 72)
            head = self.add(household, "head", "戶長", head_age, sex="M")
            self.add_spouse(household, head)
            child = self.add_child(household, head_age, minimum=22)
            if child.age() >= 26 and self.random() < 0.8:
                in_law = self.add(
                    household,
                    "other",
                    "媳" if child.sex == "M" else "婿",
                    child.age() + 1,
                    sex="F" if child.sex == "M" else "M",
                )
                self.marry(child, in_law)
                for _ in range(self.choice((0, 1, 1, 2))):
                    sex = self.choice("MF")
                    age = self.uniform(0, max(0.5, child.age() - 24))
                    self.add(household, "grandchild", "孫" if sex == "M" else "孫女", age, sex)
            if self.random() < 0.5:
                sex = self.choice("MF")
                self.add(household, "parent", "父" if sex == "M" else "母", head_age + 27, sex)
        elif kind < 0.97:
            head_age = self.uniform(25, 60)
            head = self.add(household, "head", "戶長", head_age)
            for _ in range(self.choice((1, 2))):
                sex = self.choice("MF")
                older = self.random() < 0.5
                title = ("兄" if older else "弟") if sex == "M" else ("姊" if older else "妹")
                self.add(household, "sibling", title, head_age + self.uniform(-6, 6), sex)
        else:
            self.add(household, "head", "戶長", self.uniform(25, 80))
            self.add(household, "other", "同居人", self.uniform(22, 80))
        self.settle(household)
        self.register(household)

    def add(
        self,
        household: Household,
        relation: str,
        title: str,
        age: float,
        sex: str | None = None,
    ) -> Person:
        person = Person(household, relation, title, sex or self.choice("MF"))
        person.birth = self.birth_for_age(max(0.0, min(age, 104.0)))
        person.surname = names.surname(self.random)
        person.given = names.given_name(
            self.random, person.sex, date.fromordinal(person.birth).year
        )
        household.members.append(person)
        return person

    def add_spouse(self, household: Household, head: Person) -> Person:
        sex = "F" if head.sex == "M" else "M"
        gap = self.uniform(-2, 6) if sex == "F" else self.uniform(-6, 2)
        spouse = self.add(household, "spouse", "妻" if sex == "F" else "夫", head.age() - gap, sex)
        self.marry(head, spouse)
        return spouse

    def marry(self, one: Person, other: Person) -> None:
        one.marital = other.marital = "2"
        one.spouse, other.spouse = other, one
        wife = one if one.sex == "F" else other
        husband = other if wife is one else one
        wife.surname = names.married_surname(
            self.random, wife.surname, husband.surname, date.fromordinal(wife.birth).year
        )

    def add_child(self, household: Household, parent_age: float, minimum: float = 0) -> Person:
        sex = self.choice("MF")
        order = sum(1 for p in household.members if p.relation == "child" and p.sex == sex)
        title = ("長", "次", "三", "四", "五")[min(order, 4)] + ("男" if sex == "M" else "女")
        age = self.uniform(minimum, max(minimum + 0.5, min(parent_age - 22, 40)))
        child = self.add(household, "child", title, age, sex)
        head = household.members[0]
        father = head if head.sex == "M" else head.spouse
        if father is not None:
            child.surname = father.surname
        return child

    def settle(self, household: Household) -> None:
        """Household-wide facts: indigenous status, move-in dates, deaths, welfare, income."""
        members = household.members
        head = members[0]
        district = household.address.district
        mountain = district.name in MOUNTAIN_INDIGENOUS_DISTRICTS
        if self.random() < (0.6 if mountain else 0.022):
            status = "2" if mountain or self.random() < 0.45 else "1"
            for person in members:
                person.indigenous = status
                if self.random() < 0.15:
                    person.surname, person.given = "", names.indigenous_name(self.random)
        earliest = min(REFERENCE - 30, head.birth + int(20 * _YEAR))
        household.setup = (
            self.randint(earliest, REFERENCE - 30)
            if earliest < REFERENCE - 30
            else (REFERENCE - 30)
        )
        for person in members:
            person.moved_in = max(household.setup, person.birth)
        household.plate_assigned = min(
            household.setup, REFERENCE - int(self.uniform(1, 40) * _YEAR)
        )
        if self.random() < 0.05:
            old = self.random_address(household.jur, district)
            household.plate_old_address = old.text(household.jur.name)
        for person in members:
            age = person.age()
            rate = 0.085 if age >= 80 else 0.021 if age >= 65 else 0.004 if age >= 40 else 0.0003
            if self.random() < rate:
                earliest = max(person.moved_in + 1, person.birth, REFERENCE - 3 * 365)
                person.death = self.randint(min(earliest, REFERENCE - 1), REFERENCE - 1)
                if person.spouse is not None:
                    person.spouse.marital = "4"
                    person.spouse.spouse = None
        roll = self.random()
        if roll < 0.03:
            household.low_income = self.welfare_case(self.choice("12333"))
        elif roll < 0.05:
            household.low_income = self.welfare_case("M")
        for person in members:
            self.personal_facts(person, household)

    def welfare_case(self, category: str) -> tuple[str, int, int]:
        """A 低收入戶 (categories 1-3, by how poor) or 中低收入戶 (M) case, most still valid."""
        approved = REFERENCE - self.randint(30, 8 * 365)
        end_year = REFERENCE_DATE.year + 1 if self.random() < 0.92 else REFERENCE_DATE.year - 1
        return category, approved, date(end_year, 12, 31).toordinal()

    def personal_facts(self, person: Person, household: Household) -> None:
        age = person.age()
        disability_rate = 0.12 if age >= 65 else 0.035 if age >= 18 else 0.015
        if person.death is None and self.random() < disability_rate:
            level = self.pick(*_DISABILITY_TABLE)
            issued = REFERENCE - self.randint(30, 5 * 365)
            renew = REFERENCE + self.randint(30, 5 * 365)
            if self.random() < 0.06:
                renew = REFERENCE - self.randint(1, 400)
            person.disability = (str(level), issued, renew)
        if person.sex == "M" and age > 60 and self.random() < 0.015:
            discharge = person.birth + int(self.uniform(38, 55) * _YEAR)
            card = veteran_card_no(self._next("veteran", 1_000), self.seed)
            person.veteran = (self.choice("123"), card, discharge)
        if person.marital == "1" and age >= 30 and self.random() < 0.12:
            person.marital = self.choice("334")
        if self.random() < 0.005 and age >= 18:
            old_given = names.given_name(
                self.random, person.sex, date.fromordinal(person.birth).year
            )
            changed = self.after_age(person, 18, (person.death or REFERENCE) - 1)
            person.former_name = (person.surname + old_given, changed)
        if age < 18:
            return
        low = household.low_income
        working = self.random() < (0.78 if age < 65 else 0.1)
        if working:
            if low is not None:
                person.salary = self.randint(0, 150_000 if low[0] != "M" else 260_000)
            else:
                person.salary = int(math.exp(self.rng.gauss(13.2, 0.55)))
        if self.random() < 0.55:
            person.interest = (
                int(math.exp(self.rng.gauss(8.5, 1.4))) if low is None else self.randint(0, 800)
            )
        if low is None and self.random() < 0.12:
            person.other_income = int(math.exp(self.rng.gauss(11.5, 1.0)))

    def life_events(self, person: Person) -> None:
        """Birth, marriage, moves, name change and death, in date order (the register's log)."""
        household = person.household
        events: list[tuple[int, str, str | None]] = [(person.birth, "B", None)]
        end = person.death or REFERENCE
        if person.marital != "1":
            married_age = self.uniform(23, 34)
            when = min(person.birth + int(married_age * _YEAR), end - 60)
            spouse = person.spouse.nid if person.spouse is not None and person.spouse.nid else None
            events.append((max(when, person.birth + 1), "M", spouse))
            if person.marital == "3":
                events.append((min(when + self.randint(365, 9000), end - 30), "R", None))
        if person.moved_in > person.birth:
            if self.random() < 0.7:
                origin = household.jur.name + self.choice(household.jur.districts).name
            else:
                origin = self.choice(CITIES)
            events.append((person.moved_in, "V", f"自{origin}遷入"))
        if person.former_name is not None:
            events.append((person.former_name[1], "N", person.former_name[0]))
        if person.death is not None:
            events.append((person.death, "D", None))
        events.sort(key=lambda event: event[0])
        person.events = events

    # what the agencies registered ----------------------------------------------------------

    def register_holdings(self, household: Household) -> None:
        members = household.members
        head = members[0]
        adults = [p for p in members if p.age() >= 20 and p.death is None]
        low = household.low_income
        own_rate = (
            0.12
            if low and low[0] != "M"
            else 0.35
            if low
            else (0.3 if len(members) == 1 and head.age() < 35 else 0.82)
        )
        if adults and self.random() < own_rate:
            owners = [head] if head.death is None else adults[:1]
            spouse = head.spouse
            if head.death is None and spouse and spouse.death is None and self.random() < 0.3:
                owners = [head, spouse]
            self.dwelling(household, owners)
        for person in adults:
            age = person.age()
            if low is None and age >= 35 and self.random() < (0.15 if age >= 55 else 0.07):
                self.extra_parcel(person)
            if low is None and age >= 35 and self.random() < 0.02:
                self.commercial_unit(person)
            if low is None and 25 <= age <= 75 and self.random() < 0.03:
                self.business(person)

    def shares(
        self, owners: list[Person], numerator: int, denominator: int, reason: str, registered: int
    ) -> list[Share]:
        count = len(owners)
        return [Share(p, numerator, denominator * count, reason, registered) for p in owners]

    def random_section(self, jur: Jurisdiction, district: District) -> tuple[str, str | None]:
        _, section, subsection = self.choice(sections_of(jur).by_district[district.name])
        return section, subsection

    def land_value(self, district: District, zone: str) -> int:
        value = district.land_value * 1000 * _ZONE_FACTOR[zone] * self.uniform(0.7, 1.3)
        return max(300, int(value / 100) * 100)

    def dwelling(self, household: Household, owners: list[Person]) -> None:
        jur, district = household.jur, household.address.district
        apartment = household.address.floor is not None
        registered = max(household.setup, max(o.birth for o in owners) + int(20 * _YEAR))
        registered = min(registered, REFERENCE - 1)
        section, subsection = self.random_section(jur, district)
        area = round(self.uniform(400, 3000) if apartment else self.uniform(60, 300), 2)
        numerator, denominator = (self.randint(40, 600), 10_000) if apartment else (1, 1)
        reason = self.choice(("買賣", "買賣", "買賣", "繼承", "贈與"))
        self.chunk.parcels.append(
            Parcel(
                *self.new_parcel_no(jur),
                jur,
                district,
                section,
                subsection,
                area,
                "住宅區",
                self.land_value(district, "住宅區"),
                self.shares(owners, numerator, denominator, reason, registered),
                dwelling=True,
            )
        )
        floor_area = round(self.uniform(45, 180) if apartment else self.uniform(80, 260), 2)
        self.chunk.buildings.append(
            Building(
                *self.new_building_no(jur),
                jur,
                district,
                section,
                subsection,
                household.address.text(jur.name),
                "住家用",
                floor_area,
                self.shares(owners, 1, 1, reason, registered),
            )
        )

    def extra_parcel(self, person: Person) -> None:
        jur = person.household.jur
        if self.random() < 0.3 and len(self.jurs) > 1:
            jur = self.choice([j for j in self.jurs if j is not jur])
        district = self.pick(*self.district_tables[jur.code])
        assert isinstance(district, District)
        zone = str(self.pick(*_EXTRA_ZONE_TABLE))
        section, subsection = self.random_section(jur, district)
        area = round(
            self.uniform(300, 5000) if zone in ("農業區", "保護區") else self.uniform(50, 400), 2
        )
        registered = self.after_age(person, 25, REFERENCE - 1)
        owners = [person]
        reason = self.choice(("買賣", "繼承", "贈與", "繼承"))
        if reason == "繼承" and self.random() < 0.4:
            others = [
                p
                for p in self.chunk.households[
                    self.rng.randrange(len(self.chunk.households))
                ].members
                if not p.planted and p is not person and p.death is None and p.age() >= 20
            ]
            owners += others[:2]
        self.chunk.parcels.append(
            Parcel(
                *self.new_parcel_no(jur),
                jur,
                district,
                section,
                subsection,
                area,
                zone,
                self.land_value(district, zone),
                self.shares(owners, 1, 1, reason, max(registered, person.birth + 1)),
            )
        )

    def commercial_unit(self, person: Person) -> None:
        jur = person.household.jur
        address = self.random_address(jur)
        address.floor = None
        self.owned_premises(person, jur, address, "商業區", "商業用")

    def owned_premises(
        self, person: Person, jur: Jurisdiction, address: Address, zone: str, use: str
    ) -> None:
        district = address.district
        section, subsection = self.random_section(jur, district)
        registered = self.after_age(person, 28, REFERENCE - 1)
        self.chunk.parcels.append(
            Parcel(
                *self.new_parcel_no(jur),
                jur,
                district,
                section,
                subsection,
                round(self.uniform(80, 1500), 2),
                zone,
                self.land_value(district, zone),
                self.shares([person], 1, 1, "買賣", registered),
            )
        )
        self.chunk.buildings.append(
            Building(
                *self.new_building_no(jur),
                jur,
                district,
                section,
                subsection,
                address.text(jur.name),
                use,
                round(self.uniform(60, 1200), 2),
                self.shares([person], 1, 1, "買賣", registered),
            )
        )

    def business(self, person: Person, kind: tuple[str, bool] | None = None) -> Business:
        jur = person.household.jur
        word = self.choice(_BIZ_WORDS)
        kind = kind or self.choice(_BIZ_KINDS)
        company = self.random() < 0.55
        suffix = self.choice(("有限公司", "股份有限公司")) if company else "商行"
        capital = (
            self.choice((500_000, 1_000_000, 3_000_000, 5_000_000, 10_000_000, 50_000_000))
            if company
            else self.choice((30_000, 50_000, 100_000, 200_000))
        )
        status = self.rng.choices(("01", "02", "03"), (0.85, 0.05, 0.10))[0]
        setup = self.after_age(person, 23, REFERENCE - 30)
        address = self.random_address(jur)
        business = Business(
            jur,
            self.new_business_id(),
            f"{word}{kind[0]}{suffix}",
            "1" if company else "2",
            person,
            address.street(jur.name),
            capital,
            status,
            setup,
        )
        self.chunk.businesses.append(business)
        if kind[1] and self.random() < 0.6:
            self.factory(business, kind[0])
        return business

    def factory(self, business: Business, kind: str) -> Factory:
        jur = business.jur
        address = self.random_address(jur)
        address.floor = None
        status = {"01": "生產中", "02": "停工", "03": "歇業"}[business.status]
        item = Factory(
            jur,
            self.new_factory_no(jur),
            business.name.split(kind)[0] + kind + "廠",
            business,
            address.street(jur.name),
            _INDUSTRY[kind],
            status,
            min(REFERENCE - 1, business.setup + self.randint(30, 2000)),
        )
        self.chunk.factories.append(item)
        if self.random() < 0.5:
            self.owned_premises(business.owner, jur, address, "工業區", "工業用")
        return item
