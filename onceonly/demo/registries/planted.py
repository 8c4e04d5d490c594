"""Sample citizens planted at the start of the first chunk, the same at every size >= 200.

Demos and tests need people with known circumstances (a Taipei resident in a low-income
household who owns no home, a veteran, a deceased person ...). Random data would have them
somewhere, but not reliably and not the same ones; these are written out in full instead.
Their national IDs still come from the seed, so the manifest names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from onceonly.demo.registries.gazetteer import district, jurisdiction
from onceonly.demo.registries.population import (
    REFERENCE,
    Address,
    Building,
    Business,
    ChunkBuilder,
    Factory,
    Household,
    Parcel,
    Person,
    Share,
)


@dataclass(frozen=True)
class Sample:
    """Who a planted person is; ``description_key`` names the text in ``demo.yaml``."""

    key: str
    person: Person
    jurisdictions: tuple[str, ...]

    @property
    def description_key(self) -> str:
        return f"demo.sample.{self.key}"


def _day(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


class _Planter:
    def __init__(self, builder: ChunkBuilder) -> None:
        self.builder = builder
        self.households: list[Household] = []
        self.samples: list[Sample] = []

    def household(
        self,
        jur_code: str,
        town: str,
        village: str,
        neighbourhood: int,
        road: str,
        section: str | None,
        lane: str | None,
        number: str,
        floor: str | None,
        setup: str,
    ) -> Household:
        jur = jurisdiction(jur_code)
        address = Address(
            district(jur_code, town),
            village,
            neighbourhood,
            road,
            section,
            lane,
            None,
            number,
            floor,
        )
        household = Household(jur=jur, address=address, setup=_day(setup))
        household.plate_assigned = _day(setup) - 3650
        self.households.append(household)
        return household

    def person(
        self,
        household: Household,
        relation: str,
        title: str,
        sex: str,
        surname: str,
        given: str,
        birth: str,
        marital: str = "1",
    ) -> Person:
        person = Person(household, relation, title, sex)
        person.surname, person.given = surname, given
        person.birth = _day(birth)
        person.marital = marital
        person.moved_in = max(household.setup, person.birth)
        household.members.append(person)
        return person

    def sample(self, key: str, person: Person, *extra_jurisdictions: str) -> None:
        codes = (person.household.jur.code, *extra_jurisdictions)
        self.samples.append(Sample(key, person, codes))

    def marry(self, one: Person, other: Person) -> None:
        one.marital = other.marital = "2"
        one.spouse, other.spouse = other, one

    def parcel(
        self,
        owner: Person,
        jur_code: str,
        town: str,
        zone: str,
        area: float,
        share: tuple[int, int],
        registered: str,
        dwelling: bool = False,
    ) -> Parcel:
        jur = jurisdiction(jur_code)
        where = district(jur_code, town)
        section, subsection = self.builder.random_section(jur, where)
        item = Parcel(
            *self.builder.new_parcel_no(jur),
            jur,
            where,
            section,
            subsection,
            area,
            zone,
            self.builder.land_value(where, zone),
            [Share(owner, *share, "買賣", _day(registered))],
            dwelling,
        )
        self.builder.chunk.parcels.append(item)
        return item

    def building(
        self, owner: Person, parcel: Parcel, address: str, use: str, area: float, registered: str
    ) -> None:
        self.builder.chunk.buildings.append(
            Building(
                *self.builder.new_building_no(parcel.jur),
                parcel.jur,
                parcel.district,
                parcel.section,
                parcel.subsection,
                address,
                use,
                area,
                [Share(owner, 1, 1, "買賣", _day(registered))],
            )
        )


def _low_income_applicant(p: _Planter) -> None:
    home = p.household(
        "taipei-city", "萬華區", "青山里", 8, "西園路", "二段", "140", "6", "3", "2017-09-01"
    )
    head = p.person(home, "head", "戶長", "F", "林", "淑芬", "1984-03-12", marital="3")
    head.salary, head.interest = 216_000, 120
    p.person(home, "child", "長男", "M", "黃", "冠宇", "2012-08-05")
    p.person(home, "child", "長女", "F", "黃", "詩涵", "2016-11-20")
    home.low_income = ("2", _day("2024-02-01"), _day("2028-12-31"))
    p.sample("low_income_applicant", head)


def _taipei_home_owner(p: _Planter) -> None:
    home = p.household(
        "taipei-city", "大安區", "龍安里", 5, "新生南路", "三段", "52", "9", "4", "2001-06-15"
    )
    head = p.person(home, "head", "戶長", "M", "王", "志明", "1971-05-20")
    wife = p.person(home, "spouse", "妻", "F", "張", "雅婷", "1973-09-02")
    p.marry(head, wife)
    p.person(home, "child", "長男", "M", "王", "柏翰", "2003-01-15")
    head.salary, head.interest, head.other_income = 1_850_000, 42_000, 160_000
    wife.salary, wife.interest = 920_000, 8_500
    land = p.parcel(
        head, "taipei-city", "大安區", "住宅區", 1_262.0, (235, 10_000), "2001-06-01", dwelling=True
    )
    p.building(head, land, home.address.text("臺北市"), "住家用", 132.56, "2001-06-01")
    p.sample("taipei_home_owner", head)


def _indigenous(p: _Planter) -> None:
    home = p.household(
        "new-taipei-city", "烏來區", "忠治里", 3, "新烏路", "五段", None, "88", None, "2005-03-20"
    )
    head = p.person(home, "head", "戶長", "M", "", "瓦旦．達利", "1979-07-07")
    wife = p.person(home, "spouse", "妻", "F", "高", "美惠", "1982-04-18")
    p.marry(head, wife)
    p.person(home, "child", "長女", "F", "", "比黛．瓦旦", "2008-10-03")
    for person in home.members:
        person.indigenous = "2"
    head.salary = 420_000
    wife.salary = 310_000
    p.sample("indigenous", head)


def _factory_owner(p: _Planter) -> None:
    home = p.household(
        "tainan-city", "永康區", "大灣里", 12, "大灣路", None, "55", "21", None, "1996-10-01"
    )
    head = p.person(home, "head", "戶長", "M", "陳", "建宏", "1966-02-27")
    wife = p.person(home, "spouse", "妻", "F", "李", "美華", "1968-06-30")
    p.marry(head, wife)
    head.salary, head.other_income, head.interest = 1_200_000, 2_400_000, 65_000
    wife.salary = 600_000
    house = p.parcel(
        head, "tainan-city", "永康區", "住宅區", 186.4, (1, 1), "1996-09-20", dwelling=True
    )
    p.building(head, house, home.address.text("臺南市"), "住家用", 210.8, "1996-09-20")
    business = Business(
        home.jur,
        p.builder.new_business_id(),
        "宏昌精密工業股份有限公司",
        "1",
        head,
        "臺南市永康區中正南路88號",
        12_000_000,
        "01",
        _day("1998-04-01"),
    )
    p.builder.chunk.businesses.append(business)
    site = "臺南市永康區永大路二段300號"
    p.builder.chunk.factories.append(
        Factory(
            home.jur,
            p.builder.new_factory_no(home.jur),
            "宏昌精密工業股份有限公司永康廠",
            business,
            site,
            "25",
            "生產中",
            _day("1999-01-15"),
        )
    )
    plant = p.parcel(head, "tainan-city", "永康區", "工業區", 2_450.0, (1, 1), "1998-12-01")
    p.building(head, plant, site, "工業用", 1_860.0, "1998-12-01")
    p.sample("factory_owner", head)


def _veteran(p: _Planter) -> None:
    home = p.household(
        "keelung-city", "仁愛區", "花崗里", 7, "愛一路", None, None, "32", "5", "1988-05-05"
    )
    head = p.person(home, "head", "戶長", "M", "李", "國華", "1942-10-10", marital="4")
    head.veteran = ("1", "0451023", _day("1992-12-31"))
    head.interest, head.other_income = 12_000, 216_000
    p.sample("veteran", head)


def _yilan_resident(p: _Planter) -> None:
    home = p.household(
        "yilan-county", "羅東鎮", "公正里", 4, "公正路", None, "120", "8", None, "2019-04-10"
    )
    head = p.person(home, "head", "戶長", "F", "游", "雅雯", "1990-08-16")
    head.salary, head.interest = 480_000, 2_300
    p.parcel(head, "yilan-county", "冬山鄉", "農業區", 1_820.0, (1, 1), "2020-07-01")
    p.sample("yilan_resident", head)


def _deceased(p: _Planter) -> None:
    home = p.household(
        "new-taipei-city", "板橋區", "留侯里", 15, "文化路", "一段", "25", "3", "6", "1979-02-01"
    )
    head = p.person(home, "head", "戶長", "M", "張", "明德", "1938-01-22")
    wife = p.person(home, "spouse", "妻", "F", "蔡", "秀英", "1941-12-05")
    p.marry(head, wife)
    head.death = _day("2026-03-14")
    wife.marital, wife.spouse = "4", None
    head.interest, wife.interest = 35_000, 18_000
    p.sample("deceased", head)


def _land_elsewhere(p: _Planter) -> None:
    home = p.household(
        "taipei-city", "內湖區", "港墘里", 9, "港墘路", None, "221", "17", "7", "2010-12-01"
    )
    head = p.person(home, "head", "戶長", "M", "吳", "俊傑", "1975-12-01")
    head.salary, head.interest = 1_150_000, 15_000
    p.parcel(head, "yilan-county", "三星鄉", "農業區", 3_105.0, (1, 1), "2016-03-08")
    p.sample("land_elsewhere", head, "yilan-county")


def _disabled_mid_low_income(p: _Planter) -> None:
    home = p.household(
        "new-taipei-city", "三重區", "福利里", 11, "重新路", "四段", "60", "5", "2", "2008-08-08"
    )
    head = p.person(home, "head", "戶長", "F", "周", "玉蘭", "1958-05-05", marital="3")
    head.salary = 168_000
    head.disability = ("2", _day("2022-05-01"), _day("2029-04-30"))
    home.low_income = ("M", _day("2023-07-01"), _day("2028-12-31"))
    p.sample("disabled_mid_low_income", head)


def _name_changed(p: _Planter) -> None:
    home = p.household(
        "taipei-city", "信義區", "興雅里", 14, "松仁路", None, "100", "12", "8", "2025-11-03"
    )
    head = p.person(home, "head", "戶長", "F", "劉", "宥蓁", "1988-09-09")
    head.former_name = ("劉淑貞", _day("2019-05-20"))
    head.salary, head.interest = 760_000, 3_100
    p.sample("name_changed", head)


def _kin(
    p: _Planter, one: Person, other: Person, since: str, until: str | None, end: str | None
) -> None:
    """A marriage in both people's kinship records (``end``: "D" divorce, "X" death)."""
    ended = _day(until) if until else None
    one.marriages.append((other, _day(since), ended, end))
    other.marriages.append((one, _day(since), ended, end))


def _kinship_family(p: _Planter) -> None:
    """鄭國榮 died in Taipei in 2026; his heirs' and forebears' records are kept by four
    cities' household offices (three federation nodes), his grandparents' from the
    Japanese-era household register (日據時期戶口調查簿) of 宜蘭."""
    forebears = p.household(
        "yilan-county", "宜蘭市", "民權里", 6, "中山路", "三段", None, "41", None, "1946-10-01"
    )
    grandpa = p.person(forebears, "head", "戶長", "M", "鄭", "水木", "1912-02-10", marital="4")
    grandpa.death = _day("1943-07-15")
    grandpa.moved_in = grandpa.birth  # died before the 1946 register: carried over, never moved
    grandpa.kin_register = "臺北州宜蘭郡宜蘭街戶口調查簿（昭和18年除戶）"
    grandma = p.person(forebears, "spouse", "妻", "F", "林", "罔市", "1913-05-05", marital="4")
    grandma.death = _day("1975-01-30")
    grandma.kin_register = "臺北州宜蘭郡宜蘭街戶口調查簿"
    _kin(p, grandpa, grandma, "1929-03-12", "1943-07-15", "X")

    parents = p.household(
        "yilan-county", "宜蘭市", "民權里", 6, "中山路", "三段", None, "43", None, "1960-04-01"
    )
    father = p.person(parents, "head", "戶長", "M", "鄭", "文雄", "1930-06-18")
    father.death = _day("2001-08-09")
    mother = p.person(parents, "spouse", "妻", "F", "黃", "玉霞", "1933-03-03", marital="4")
    mother.death = _day("2015-11-11")
    p.marry(father, mother)
    _kin(p, father, mother, "1953-11-20", "2001-08-09", "X")
    father.kin_parents = [grandpa, grandma]
    brother = p.person(parents, "child", "次子", "M", "鄭", "國華", "1958-09-21")
    brother.kin_parents = [father, mother]

    home = p.household(
        "taipei-city", "中山區", "民安里", 3, "民生東路", "二段", "77", "15", "2", "1991-02-01"
    )
    deceased = p.person(home, "head", "戶長", "M", "鄭", "國榮", "1955-04-02")
    deceased.death = _day("2026-01-20")
    deceased.kin_parents = [father, mother]
    widow = p.person(home, "spouse", "妻", "F", "許", "淑惠", "1960-10-15")
    p.marry(deceased, widow)
    widow.marital, widow.spouse = "4", None
    _kin(p, deceased, widow, "1990-05-20", "2026-01-20", "X")

    former = p.household(
        "new-taipei-city", "中和區", "福美里", 10, "景平路", None, "310", "9", "4", "1988-01-05"
    )
    ex_wife = p.person(former, "head", "戶長", "F", "蘇", "麗珠", "1957-07-07", marital="3")
    _kin(p, deceased, ex_wife, "1980-03-01", "1987-09-30", "D")
    daughter = p.person(former, "child", "長女", "F", "鄭", "怡君", "1982-02-14")
    daughter.kin_parents = [deceased, ex_wife]

    son_home = p.household(
        "keelung-city", "中正區", "正砂里", 2, "北寧路", None, None, "128", "3", "2020-06-15"
    )
    son = p.person(son_home, "head", "戶長", "M", "鄭", "家豪", "1992-12-03")
    son.kin_parents = [deceased, widow]
    son.salary = 640_000
    for child in (father, brother, deceased, daughter, son):
        for parent in child.kin_parents:
            parent.kin_children.append(child)
    p.sample("kinship_deceased", deceased, "new-taipei-city", "keelung-city", "yilan-county")


PLANTERS: tuple[tuple[tuple[str, ...], Callable[[_Planter], None]], ...] = (
    (("taipei-city",), _low_income_applicant),
    (("taipei-city",), _taipei_home_owner),
    (("new-taipei-city",), _indigenous),
    (("tainan-city",), _factory_owner),
    (("keelung-city",), _veteran),
    (("yilan-county",), _yilan_resident),
    (("new-taipei-city",), _deceased),
    (("taipei-city", "yilan-county"), _land_elsewhere),
    (("new-taipei-city",), _disabled_mid_low_income),
    (("taipei-city",), _name_changed),
    (("taipei-city", "new-taipei-city", "keelung-city", "yilan-county"), _kinship_family),
)
"""The jurisdictions each sample needs, and the function that writes it out."""


def plant(
    builder: ChunkBuilder, jurisdictions: tuple[str, ...]
) -> tuple[list[Household], list[Sample]]:
    """The planted households (to register first) and who is who among them."""
    planter = _Planter(builder)
    for needs, write in PLANTERS:
        if all(code in jurisdictions for code in needs):
            write(planter)
    assert all(h.setup < REFERENCE for h in planter.households)
    return planter.households, planter.samples
