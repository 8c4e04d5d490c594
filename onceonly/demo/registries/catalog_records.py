"""The stores and tables the report's whole catalog needs beyond the first demo: house tax at
the tax offices, use permits at the building authorities (建管), military dependant cards
(軍眷) at the Ministry of National Defense, and the land office's land values (地價), other
rights (他項權利), manual register pages (人工登記簿) and building survey drawings.

Kept apart from :mod:`.schema` and :mod:`.rows` so those stay about the first demo's stores;
the same legacy habits apply (ROC dates as ``YYYMMDD`` text, Chinese code values, numbers
without dashes). Everything is derived from the chunk deterministically, without a random
generator of its own, so the other stores' rows stay exactly what they were.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text

from onceonly.demo.registries.population import REFERENCE_DATE, Chunk, Household

Rows = dict[str, dict[str, list[tuple[object, ...]]]]

HOUSE_TAX_YEARS = (REFERENCE_DATE.year - 1, REFERENCE_DATE.year)
"""House tax is levied in May for the year, so the reference year's bill is out already."""
_HOUSE_TAX_RATE = {"住家用": 0.012, "商業用": 0.03, "工業用": 0.03}
_PERMIT_USE = {"住家用": "住宅", "商業用": "商業", "工業用": "工業"}
_RIGHTS = ("抵押權", "最高限額抵押權", "地上權", "典權", "不動產役權")
_LENDERS = ("臺灣銀行", "臺灣土地銀行", "合作金庫商業銀行", "第一商業銀行", "華南商業銀行")


def add_house_tax(md: MetaData) -> None:
    """稅捐稽徵處 house tax bills: one per house and year, the house by its 稅籍編號."""
    Table(
        "hou_bill",
        md,
        Column("bill_no", Text, nullable=False),
        Column("tax_yr", Integer, nullable=False),
        Column("idn", Text, nullable=False),
        Column("tax_no", Text, nullable=False),
        Column("door_addr", Text, nullable=False),
        Column("use_type", Text, nullable=False),
        Column("tax_amt", Integer, nullable=False),
        Column("paid_ymd", Text),
        Index("ix_hou_bill_bill_no", "bill_no", unique=True),
        Index("ix_hou_bill_idn_tax_yr", "idn", "tax_yr"),
    )


def add_land_documents(md: MetaData) -> None:
    """The land office's values, other rights, manual register index and survey drawings."""
    Table(
        "land_price",
        md,
        Column("land_key", Integer, nullable=False),
        Column("val_yr", Integer, nullable=False),
        Column("ann_price", Integer, nullable=False),
        Column("decl_price", Integer, nullable=False),
        Column("cur_value", Integer, nullable=False),
        Index("ix_land_price_land_key", "land_key", unique=True),
    )
    Table(
        "oth_right",
        md,
        Column("land_key", Integer, nullable=False),
        Column("right_name", Text, nullable=False),
        Column("holder", Text, nullable=False),
        Column("amount", Integer),
        Column("reg_ymd", Text, nullable=False),
        Index("ix_oth_right_land_key", "land_key"),
    )
    Table(
        "manual_book",
        md,
        Column("land_key", Integer, nullable=False),
        Column("book_vol", Text, nullable=False),
        Column("page_no", Integer, nullable=False),
        Column("image_id", Text),
        Column("close_ymd", Text, nullable=False),
        Index("ix_manual_book_land_key", "land_key"),
    )
    Table(
        "bldg_survey",
        md,
        Column("bldg_key", Integer, nullable=False),
        Column("drawing_no", Text, nullable=False),
        Column("survey_ymd", Text, nullable=False),
        Column("map_scale", Integer, nullable=False),
        Column("sheets", Integer, nullable=False),
        Index("ix_bldg_survey_bldg_key", "bldg_key", unique=True),
    )


def add_use_permits(md: MetaData) -> None:
    """建築管理 (建管): use permits, and buildings reported without one (違章建築查報)."""
    Table(
        "use_lic",
        md,
        Column("bldg_key", Integer, nullable=False),
        Column("lic_no", Text),
        Column("build_lic_no", Text),
        Column("bldg_addr", Text, nullable=False),
        Column("use_code", Text, nullable=False),
        Column("floors", Integer, nullable=False),
        Column("lic_ymd", Text),
        Column("owner_idno", Text, nullable=False),
        Index("ix_use_lic_owner_idno", "owner_idno"),
    )


def add_dependant_cards(md: MetaData) -> None:
    """國防部 眷補證 (military dependant cards)."""
    Table(
        "dep_card",
        md,
        Column("card_no", Text, nullable=False),
        Column("idn", Text, nullable=False),
        Column("sponsor_idn", Text, nullable=False),
        Column("rel_code", Text, nullable=False),
        Column("issue_ymd", Text, nullable=False),
        Column("valid_end_ymd", Text, nullable=False),
        Index("ix_dep_card_card_no", "card_no", unique=True),
        Index("ix_dep_card_idn", "idn"),
    )


def _digits(nid: str) -> int:
    return int(nid[2:]) if nid[2:].isdigit() else sum(map(ord, nid))


def catalog_rows(rows: Rows, chunk: Chunk, roc: Callable[[int], str]) -> None:
    """Add this module's rows for ``chunk`` to ``rows`` (owner -> table -> rows)."""
    for building in chunk.buildings:
        owners = [s for s in building.owners if s.person.nid]
        if not owners:
            continue
        key, jur = building.key, building.jur.code
        main = owners[0].person.nid
        registered = min(s.registered for s in owners)
        built = date.fromordinal(registered)
        permitted = key % 13 != 0
        rows[f"{jur}.building_administration"]["use_lic"].append(
            (
                key,
                f"({built.year - 1911})使字第{key:05d}號" if permitted else None,
                f"({built.year - 1913})建字第{key:05d}號" if permitted else None,
                building.address,
                _PERMIT_USE.get(building.use, "其他"),
                1 + key % 12,
                roc(registered - 30) if permitted else None,
                main,
            )
        )
        land_office = rows[f"{jur}.land_office"]
        land_office["bldg_survey"].append(
            (
                key,
                f"{building.building_no.replace('-', '')}-{key % 7 + 1}",
                roc(registered - 60),
                200 if key % 3 else 100,
                1 + key % 3,
            )
        )
        tax_no = f"{key:010d}"
        rate = _HOUSE_TAX_RATE.get(building.use, 0.02)
        for share in owners:
            nid = share.person.nid
            for year in HOUSE_TAX_YEARS:
                amount = round(building.area * 3_000 * rate * share.numerator / share.denominator)
                digest = _digits(nid) + key + year
                unpaid = digest % 23 == 0
                paid = None if unpaid else roc(date(year, 5, 31).toordinal() - digest % 30)
                rows[f"{jur}.tax_office"]["hou_bill"].append(
                    (
                        f"H{year - 1911:03d}{tax_no}{nid}",
                        year - 1911,
                        nid,
                        tax_no,
                        building.address,
                        building.use,
                        max(amount, 100),
                        paid,
                    )
                )
    for parcel in chunk.parcels:
        owners = [s for s in parcel.owners if s.person.nid]
        if not owners:
            continue
        key = parcel.key
        land_office = rows[f"{parcel.jur.code}.land_office"]
        announced = round(parcel.value * 0.3125)
        land_office["land_price"].append(
            (key, REFERENCE_DATE.year - 1911 - 1, announced, round(announced * 0.8), parcel.value)
        )
        first = min(s.registered for s in owners)
        if key % 4 == 0:
            right = _RIGHTS[(0, 0, 1, 1, 2, 3, 4)[key // 4 % 7]]
            mortgage = "抵押" in right
            secured = round(parcel.area * parcel.value * 0.6, -4) if mortgage else None
            holder = _LENDERS[key % len(_LENDERS)] if mortgage else "財政部國有財產署"
            land_office["oth_right"].append((key, right, holder, secured, roc(first + 45)))
        if first < date(1990, 1, 1).toordinal():
            land_office["manual_book"].append(
                (
                    key,
                    f"{parcel.section}第{1 + key % 40}冊",
                    1 + key % 200,
                    f"IMG{key:08d}" if key % 6 else None,
                    roc(date(1989, 12, 31).toordinal()),
                )
            )
    for household in chunk.households:
        _dependants(rows["central.mnd"]["dep_card"], household, roc)


def _dependants(
    cards: list[tuple[object, ...]], household: Household, roc: Callable[[int], str]
) -> None:
    """Families of a veteran head or of one serving (every 29th adult male head by ID)."""
    head = next((p for p in household.members if p.relation == "head"), None)
    if head is None or not head.nid or head.death is not None:
        return
    serving = head.sex == "M" and _digits(head.nid) % 29 == 0 and 20 <= head.age() <= 50
    if head.veteran is None and not serving:
        return
    issued = max(head.birth + 20 * 366, date(2000, 1, 1).toordinal())
    for member in household.members:
        if member is head or not member.nid or member.death is not None:
            continue
        relation = {"spouse": "配偶", "child": "子女", "parent": "父母"}.get(member.relation)
        if relation is None:
            continue
        expired = _digits(member.nid) % 11 == 0
        end = date(REFERENCE_DATE.year - 1 if expired else REFERENCE_DATE.year + 3, 12, 31)
        cards.append(
            (f"D{member.nid}", member.nid, head.nid, relation, roc(issued), roc(end.toordinal()))
        )
