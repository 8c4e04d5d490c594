"""The legacy schemas of the demo agencies' stores, one per kind of owning agency.

Each agency designed its system on its own, long before a common standard existed, so the
names and codes here are deliberately theirs: ROC-era dates as 7-digit ``YYYMMDD`` text,
Chinese code values (``住家用``, ``戶長``), the Ministry's county codes, building numbers
without their dash. The connector files (:mod:`onceonly.demo.connectors`) map all of it to
the common standard; nothing outside them should read these tables.

Text keys (戶號, 統一編號 ...) are plain columns made unique by an index, not primary keys:
the generator loads rows first and builds every index once at the end.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, Table, Text

from onceonly.demo.registries.catalog_records import (
    add_dependant_cards,
    add_house_tax,
    add_land_documents,
    add_use_permits,
)

SCHEMA_VERSIONS: dict[str, str] = {
    "household_registry": "RIS 3.2",
    "income": "FIA-IND 2019.4",
    "veterans": "VAC-VMS 5.0",
    "land_office": "LAS 7.1",
    "tax_office": "LTX 2.6",
    "social_welfare": "SWIS 4.3",
    "economic_development": "EDIS 2.0",
    "household_office": "DPL 1.8",
    "building_administration": "BMIS 3.0",
    "military": "MND-DEP 2.1",
}
"""Store kind -> the legacy system's name and version, recorded in the store and the manifest."""


def _meta_table(metadata: MetaData) -> Table:
    """Every store says which system wrote it and how fresh its data is."""
    return Table("meta", metadata, Column("key", Text, primary_key=True), Column("value", Text))


def household_registry() -> MetaData:
    """戶役政資訊系統 (central.moi_household): persons, households, addresses, life events."""
    md = MetaData()
    _meta_table(md)
    Table(
        "addresses",
        md,
        Column("addr_id", Integer, primary_key=True),
        Column("county_code", Text, nullable=False),
        Column("old_county_code", Text, nullable=False),
        Column("county_name", Text, nullable=False),
        Column("town_name", Text, nullable=False),
        Column("vill_name", Text),
        Column("neighbor", Integer),
        Column("road_name", Text),
        Column("sec_name", Text),
        Column("lane", Text),
        Column("alley", Text),
        Column("door_no", Text, nullable=False),
        Column("floor", Text),
    )
    Table(
        "households",
        md,
        Column("hh_no", Text, nullable=False),
        Column("head_idn", Text, nullable=False),
        Column("addr_id", Integer, nullable=False),
        Column("reg_office", Text, nullable=False),
        Column("setup_ymd", Text),
        Index("ix_households_hh_no", "hh_no", unique=True),
    )
    Table(
        "persons",
        md,
        Column("per_id", Integer, primary_key=True),
        Column("idn", Text, nullable=False),
        Column("surname", Text, nullable=False),
        Column("given_name", Text, nullable=False),
        Column("sex_code", Text, nullable=False),
        Column("birth_ymd", Text, nullable=False),
        Column("hh_no", Text, nullable=False),
        Column("title", Text, nullable=False),
        Column("marry_code", Text, nullable=False),
        Column("spouse_idn", Text),
        Column("abor_code", Text, nullable=False),
        Column("move_in_ymd", Text),
        Column("death_ymd", Text),
        Index("ix_persons_idn", "idn", unique=True),
        Index("ix_persons_hh_no", "hh_no"),
    )
    Table(
        "life_events",
        md,
        Column("idn", Text, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("event_code", Text, nullable=False),
        Column("event_ymd", Text, nullable=False),
        Column("detail", Text),
        Index("ix_life_events_idn_seq", "idn", "seq", unique=True),
    )
    return md


def income() -> MetaData:
    """財政資訊中心 individual income data (central.fia): filing units and their members."""
    md = MetaData()
    _meta_table(md)
    Table(
        "filing_units",
        md,
        Column("unit_no", Text, nullable=False),
        Column("tax_yr", Integer, nullable=False),
        Column("filer_idn", Text, nullable=False),
        Column("mem_cnt", Integer, nullable=False),
        Index("ix_filing_units_unit_no_tax_yr", "unit_no", "tax_yr", unique=True),
    )
    Table(
        "unit_members",
        md,
        Column("unit_no", Text, nullable=False),
        Column("tax_yr", Integer, nullable=False),
        Column("idn", Text, nullable=False),
        Column("sal_amt", Integer, nullable=False),
        Column("int_amt", Integer, nullable=False),
        Column("oth_amt", Integer, nullable=False),
        Index("ix_unit_members_idn_tax_yr", "idn", "tax_yr", unique=True),
        Index("ix_unit_members_unit_no_tax_yr", "unit_no", "tax_yr"),
    )
    return md


def veterans() -> MetaData:
    """國軍退除役官兵輔導委員會 veterans' master file (central.vac)."""
    md = MetaData()
    _meta_table(md)
    Table(
        "vet_master",
        md,
        Column("vet_id", Integer, primary_key=True),
        Column("idno", Text, nullable=False),
        Column("card_no", Text, nullable=False),
        Column("branch_code", Text, nullable=False),
        Column("discharge_ymd", Text, nullable=False),
        Column("status_code", Text, nullable=False),
        Index("ix_vet_master_idno", "idno", unique=True),
    )
    return md


def land_office(cadastral_map: bool) -> MetaData:
    """地政事務所 land and building register; the cadastral map index where it is digitised."""
    md = MetaData()
    _meta_table(md)
    Table(
        "sections",
        md,
        Column("sect_code", Text, primary_key=True),
        Column("town_name", Text, nullable=False),
        Column("sect_name", Text, nullable=False),
        Column("subsect_name", Text),
    )
    Table(
        "land_mark",
        md,
        Column("land_key", Integer, primary_key=True),
        Column("sect_code", Text, nullable=False),
        Column("land_no", Text, nullable=False),
        Column("area", Float, nullable=False),
        Column("zone_name", Text, nullable=False),
        Column("ann_value", Integer, nullable=False),
        Index("ix_land_mark_sect_code_land_no", "sect_code", "land_no", unique=True),
    )
    Table(
        "land_own",
        md,
        Column("land_key", Integer, nullable=False),
        Column("reg_order", Text, nullable=False),
        Column("owner_idno", Text, nullable=False),
        Column("right_num", Integer, nullable=False),
        Column("right_den", Integer, nullable=False),
        Column("reg_reason", Text, nullable=False),
        Column("reg_ymd", Text, nullable=False),
        Index("ix_land_own_owner_idno", "owner_idno"),
    )
    Table(
        "bldg_mark",
        md,
        Column("bldg_key", Integer, primary_key=True),
        Column("sect_code", Text, nullable=False),
        Column("bldg_no", Text, nullable=False),
        Column("door_addr", Text, nullable=False),
        Column("main_purpose", Text, nullable=False),
        Column("total_area", Float, nullable=False),
        Index("ix_bldg_mark_sect_code_bldg_no", "sect_code", "bldg_no", unique=True),
    )
    Table(
        "bldg_own",
        md,
        Column("bldg_key", Integer, nullable=False),
        Column("owner_idno", Text, nullable=False),
        Column("right_num", Integer, nullable=False),
        Column("right_den", Integer, nullable=False),
        Column("reg_ymd", Text, nullable=False),
        Index("ix_bldg_own_owner_idno", "owner_idno"),
    )
    # 重測/合併/分割 and sections renamed after a merger; the owners' names per entry
    Table(
        "land_history",
        md,
        Column("land_key", Integer, nullable=False),
        Column("old_sect_code", Text, nullable=False),
        Column("old_sect_name", Text, nullable=False),
        Column("old_land_no", Text, nullable=False),
        Column("changed_ymd", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Index("ix_land_history_old_land_no", "old_land_no"),
    )
    Table(
        "sect_history",
        md,
        Column("sect_code", Text, nullable=False),
        Column("old_sect_name", Text, nullable=False),
        Column("changed_ymd", Text, nullable=False),
        Column("reason", Text, nullable=False),
    )
    Table(
        "land_own_name",
        md,
        Column("land_key", Integer, nullable=False),
        Column("reg_order", Text, nullable=False),
        Column("owner_name", Text, nullable=False),
        Index("ix_land_own_name_land_key", "land_key", "reg_order"),
    )
    Table(
        "bldg_door",  # 門牌 as the house-number register writes it: no 里/鄰; and no floor
        md,
        Column("bldg_key", Integer, nullable=False),
        Column("door_no", Text, nullable=False),
        Column("door_base", Text, nullable=False),
        Index("ix_bldg_door_door_no", "door_no"),
        Index("ix_bldg_door_door_base", "door_base"),
    )
    Table(
        "bldg_own_name",
        md,
        Column("bldg_key", Integer, nullable=False),
        Column("owner_idno", Text, nullable=False),
        Column("owner_name", Text, nullable=False),
        Index("ix_bldg_own_name_bldg_key", "bldg_key", "owner_idno"),
    )
    add_land_documents(md)
    if cadastral_map:
        Table(
            "map_index",
            md,
            Column("land_key", Integer, primary_key=True),
            Column("sheet_no", Text, nullable=False),
            Column("map_scale", Integer, nullable=False),
            Column("coord_sys", Text, nullable=False),
            Column("x0", Float),
            Column("y0", Float),
            Column("side", Float),
        )
    return md


def tax_office() -> MetaData:
    """稅捐稽徵處 / 地方稅務局 land value tax bills."""
    md = MetaData()
    _meta_table(md)
    Table(
        "ltx_bill",
        md,
        Column("bill_no", Text, nullable=False),
        Column("tax_yr", Integer, nullable=False),
        Column("idn", Text, nullable=False),
        Column("tax_amt", Integer, nullable=False),
        Column("rate_type", Text, nullable=False),
        Column("paid_ymd", Text),
        Index("ix_ltx_bill_bill_no", "bill_no", unique=True),
        Index("ix_ltx_bill_idn_tax_yr", "idn", "tax_yr"),
    )
    add_house_tax(md)
    return md


def social_welfare() -> MetaData:
    """社會局 low-income cases (one per household) and disability certificates."""
    md = MetaData()
    _meta_table(md)
    Table(
        "lowinc_cases",
        md,
        Column("case_no", Text, nullable=False),
        Column("category", Text, nullable=False),
        Column("approve_ymd", Text, nullable=False),
        Column("valid_end_ymd", Text, nullable=False),
        Index("ix_lowinc_cases_case_no", "case_no", unique=True),
    )
    Table(
        "lowinc_members",
        md,
        Column("case_no", Text, nullable=False),
        Column("idn", Text, nullable=False),
        Index("ix_lowinc_members_idn", "idn"),
    )
    Table(
        "disability_cards",
        md,
        Column("card_id", Integer, primary_key=True),
        Column("idn", Text, nullable=False),
        Column("level_code", Text, nullable=False),
        Column("issue_ymd", Text, nullable=False),
        Column("renew_ymd", Text, nullable=False),
        Index("ix_disability_cards_idn", "idn"),
    )
    return md


def economic_development() -> MetaData:
    """產業發展局 business (商業/公司) and factory registrations."""
    md = MetaData()
    _meta_table(md)
    Table(
        "biz_reg",
        md,
        Column("ban", Text, nullable=False),
        Column("biz_name", Text, nullable=False),
        Column("org_type", Text, nullable=False),
        Column("resp_idno", Text, nullable=False),
        Column("biz_addr", Text, nullable=False),
        Column("capital_amt", Integer, nullable=False),
        Column("status_code", Text, nullable=False),
        Column("setup_ymd", Text, nullable=False),
        Index("ix_biz_reg_ban", "ban", unique=True),
        Index("ix_biz_reg_resp_idno", "resp_idno"),
    )
    Table(
        "fac_reg",
        md,
        Column("fac_no", Text, nullable=False),
        Column("fac_name", Text, nullable=False),
        Column("ban", Text, nullable=False),
        Column("resp_idno", Text, nullable=False),
        Column("fac_addr", Text, nullable=False),
        Column("ind_code", Text, nullable=False),
        Column("fac_status", Text, nullable=False),
        Column("reg_ymd", Text, nullable=False),
        Index("ix_fac_reg_fac_no", "fac_no", unique=True),
        Index("ix_fac_reg_resp_idno", "resp_idno"),
    )
    return md


def household_office() -> MetaData:
    """戶政事務所 door plates (門牌) and who is registered at each."""
    md = MetaData()
    _meta_table(md)
    Table(
        "door_plates",
        md,
        Column("plate_id", Integer, primary_key=True),
        Column("full_addr", Text, nullable=False),
        Column("town_name", Text, nullable=False),
        Column("compile_ymd", Text, nullable=False),
        Column("old_addr", Text),
    )
    Table(
        "plate_residents",
        md,
        Column("idn", Text, nullable=False),
        Column("plate_id", Integer, nullable=False),
        Index("ix_plate_residents_idn", "idn", unique=True),
    )
    # 親等資料: the people whose record this office keeps (with the Japanese-era register
    # a pre-1946 record was copied from) and their parents, children and marriages, the
    # relative's particulars copied as the office recorded them.
    Table(
        "kin_persons",
        md,
        Column("idn", Text, nullable=False),
        Column("surname", Text, nullable=False),
        Column("given_name", Text, nullable=False),
        Column("sex_code", Text, nullable=False),
        Column("birth_ymd", Text, nullable=False),
        Column("death_ymd", Text),
        Column("jp_register", Text),
        Index("ix_kin_persons_idn", "idn", unique=True),
    )
    Table(
        "kin_links",
        md,
        Column("idn", Text, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("rel_code", Text, nullable=False),
        Column("rel_idn", Text, nullable=False),
        Column("rel_name", Text, nullable=False),
        Column("rel_sex", Text, nullable=False),
        Column("rel_birth_ymd", Text),
        Column("rel_death_ymd", Text),
        Column("rel_office", Text, nullable=False),
        Column("start_ymd", Text),
        Column("end_ymd", Text),
        Column("end_code", Text),
        Index("ix_kin_links_idn_seq", "idn", "seq", unique=True),
    )
    return md


def building_administration() -> MetaData:
    """建築管理機關 use permits (:mod:`.catalog_records`)."""
    md = MetaData()
    _meta_table(md)
    add_use_permits(md)
    return md


def military() -> MetaData:
    """國防部 military dependant cards (:mod:`.catalog_records`)."""
    md = MetaData()
    _meta_table(md)
    add_dependant_cards(md)
    return md


STORE_KINDS: dict[str, str] = {
    "household_registry": "central.moi_household",
    "income": "central.fia",
    "veterans": "central.vac",
    "land_office": "{jurisdiction}.land_office",
    "tax_office": "{jurisdiction}.tax_office",
    "social_welfare": "{jurisdiction}.social_welfare",
    "economic_development": "{jurisdiction}.economic_development",
    "household_office": "{jurisdiction}.household_office",
    "building_administration": "{jurisdiction}.building_administration",
    "military": "central.mnd",
}
"""Store kind -> owner agency code (local kinds are filled in per jurisdiction)."""

CENTRAL_KINDS = ("household_registry", "income", "veterans", "military")
LOCAL_KINDS = (
    "land_office",
    "tax_office",
    "social_welfare",
    "economic_development",
    "household_office",
    "building_administration",
)


def metadata_for(kind: str, cadastral_map: bool = True) -> MetaData:
    """The tables of one store kind."""
    if kind == "land_office":
        return land_office(cadastral_map)
    builders = {
        "household_registry": household_registry,
        "income": income,
        "veterans": veterans,
        "tax_office": tax_office,
        "social_welfare": social_welfare,
        "economic_development": economic_development,
        "household_office": household_office,
        "building_administration": building_administration,
        "military": military,
    }
    return builders[kind]()


def datasets_of(kind: str, cadastral_map: bool = True) -> tuple[str, ...]:
    """Common-standard datasets a store of ``kind`` serves."""
    if kind == "land_office":
        maps = ("cadastral_map",) if cadastral_map else ()
        documents = (
            "declared_land_value",
            "other_rights",
            "manual_land_register",
            "building_survey_drawing",
        )
        return ("land_registration", "building_registration", *maps, *documents)
    return {
        "household_registry": ("household_registration",),
        "income": ("income",),
        "veterans": ("veteran_status",),
        "tax_office": ("land_value_tax", "house_tax"),
        "social_welfare": ("welfare_status",),
        "economic_development": ("business_registration", "factory_registration"),
        "household_office": ("house_number", "kinship"),
        "building_administration": ("building_use_permit",),
        "military": ("military_dependant_status",),
    }[kind]
