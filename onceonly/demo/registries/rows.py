"""One chunk of the population as rows of each agency's legacy tables.

The row tuples follow the column order of :mod:`.schema`; the owner agency code is the store.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date
from functools import cache

from onceonly.demo.registries.gazetteer import Jurisdiction
from onceonly.demo.registries.population import (
    LAND_TAX_YEARS,
    REFERENCE_DATE,
    TAX_YEARS,
    Chunk,
    Household,
    Parcel,
    Person,
    sections_of,
)
from onceonly.domain.address import parse_address
from onceonly.domain.errors import DomainValueError
from onceonly.domain.merger_renames import rename_table
from onceonly.domain.subjects import former_address

Rows = dict[str, dict[str, list[tuple[object, ...]]]]
"""Owner agency code -> table -> rows."""

_YEAR_BOUNDS = {y: (date(y, 1, 1).toordinal(), date(y, 12, 31).toordinal()) for y in TAX_YEARS}
_LAND_TAX_RATE = {True: ("自用住宅", 0.002), False: ("一般", 0.01)}
_DECLARED_SHARE = 0.25
"""申報地價 as a share of the announced current value the land register shows."""
_MAP_SCALES = (500, 1000, 1200)


@cache
def roc(ordinal: int) -> str:
    """The legacy ``YYYMMDD`` ROC-era text of a date, e.g. ``1150630``."""
    day = date.fromordinal(ordinal)
    return f"{day.year - 1911:03d}{day.month:02d}{day.day:02d}"


def chunk_rows(chunk: Chunk) -> Rows:
    rows: Rows = defaultdict(lambda: defaultdict(list))
    for household in chunk.households:
        _household(rows, household)
        _income(rows["central.fia"], household)
    _land(rows, chunk)
    for business in chunk.businesses:
        if not business.owner.nid:
            continue
        rows[f"{business.jur.code}.economic_development"]["biz_reg"].append(
            (
                business.business_id,
                business.name,
                business.org_type,
                business.owner.nid,
                business.address,
                business.capital,
                business.status,
                roc(business.setup),
            )
        )
    for factory in chunk.factories:
        if not factory.business.owner.nid:
            continue
        rows[f"{factory.jur.code}.economic_development"]["fac_reg"].append(
            (
                factory.factory_no,
                factory.name,
                factory.business.business_id,
                factory.business.owner.nid,
                factory.address,
                factory.industry,
                factory.status,
                roc(factory.registered),
            )
        )
    return rows


def _household(rows: Rows, household: Household) -> None:
    jur = household.jur
    address = household.address
    central = rows["central.moi_household"]
    office = rows[f"{jur.code}.household_office"]
    welfare = rows[f"{jur.code}.social_welfare"]
    members = household.members
    old_code = jur.county_code
    if jur.former_codes is not None:
        city = address.district.name in jur.former_city_districts
        old_code = jur.former_codes[1] if city else jur.former_codes[0]
    central["addresses"].append(
        (
            household.seq + 1,
            jur.county_code,
            old_code,
            jur.name,
            address.district.name,
            address.village,
            address.neighbourhood,
            address.road,
            address.section,
            address.lane,
            address.alley,
            address.number,
            address.floor,
        )
    )
    central["households"].append(
        (
            household.hh_no,
            members[0].nid,
            household.seq + 1,
            f"{jur.name}{address.district.name}戶政事務所",
            roc(household.setup),
        )
    )
    office["door_plates"].append(
        (
            household.seq + 1,
            address.text(jur.name),
            address.district.name,
            roc(household.plate_assigned),
            household.plate_old_address,
        )
    )
    persons = central["persons"]
    events = central["life_events"]
    residents = office["plate_residents"]
    for person in members:
        nid = person.nid
        persons.append(
            (
                person.seq + 1,
                nid,
                person.surname,
                person.given,
                "1" if person.sex == "M" else "2",
                roc(person.birth),
                household.hh_no,
                person.title,
                person.marital,
                person.spouse.nid if person.spouse is not None else None,
                person.indigenous,
                roc(person.moved_in),
                roc(person.death) if person.death is not None else None,
            )
        )
        for seq, (when, code, detail) in enumerate(person.events, 1):
            events.append((nid, seq, code, roc(when), detail))
        if person.death is None:
            residents.append((nid, household.seq + 1))
        if person.disability is not None:
            level, issued, renew = person.disability
            welfare["disability_cards"].append(
                (person.seq + 1, nid, level, roc(issued), roc(renew))
            )
        if person.veteran is not None:
            branch, card, discharge = person.veteran
            rows["central.vac"]["vet_master"].append(
                (
                    person.seq + 1,
                    nid,
                    card,
                    branch,
                    roc(discharge),
                    "9" if person.death is not None else "1",
                )
            )
    _household_kinship(office, household)
    if household.low_income is not None:
        category, approved, valid_until = household.low_income
        case_no = f"{jur.letter}L{household.seq:08d}"
        welfare["lowinc_cases"].append((case_no, category, roc(approved), roc(valid_until)))
        for person in members:
            if person.death is None:
                welfare["lowinc_members"].append((case_no, person.nid))


KIN_SHARE = 3
"""One household in this many keeps kinship records (親等資料) of its head, the head's
spouse, children and parent; the planted families keep theirs in full."""

Marriages = list[tuple[Person, int | None, int | None, str | None]]


def _household_kinship(office: dict[str, list[tuple[object, ...]]], household: Household) -> None:
    if household.planted:
        for person in household.members:
            if person.kin_parents or person.marriages or person.kin_children:
                marriages: Marriages = [(s, a, b, c) for s, a, b, c in person.marriages]
                _kinship(office, person, person.kin_parents, marriages, person.kin_children)
        return
    if household.seq % KIN_SHARE or not household.members:
        return
    head = household.members[0]
    spouse = head.spouse if head.spouse in household.members else None
    children = [p for p in household.members if p.relation == "child"]
    elders = [p for p in household.members if p.relation == "parent"]
    married = next((when for when, code, _ in head.events if code == "M"), None)
    couple: Marriages = [(spouse, married, None, None)] if spouse is not None else []
    _kinship(office, head, elders, couple, children)
    if spouse is not None:
        _kinship(office, spouse, [], [(head, married, None, None)], children)
    for child in children:
        _kinship(office, child, [head, *([spouse] if spouse else [])], [], [])
    for elder in elders:
        _kinship(office, elder, [], [], [head])


def _kinship(
    office: dict[str, list[tuple[object, ...]]],
    person: Person,
    parents: list[Person],
    marriages: Marriages,
    children: list[Person],
) -> None:
    """The person's 親等資料 at their household office: parents, marriages, children."""
    if not person.nid:
        return
    office["kin_persons"].append(
        (
            person.nid,
            person.surname,
            person.given,
            "1" if person.sex == "M" else "2",
            roc(person.birth),
            roc(person.death) if person.death is not None else None,
            person.kin_register,
        )
    )
    links: list[tuple[str, Person, int | None, int | None, str | None]] = [
        ("F" if parent.sex == "M" else "M", parent, None, None, None) for parent in parents
    ]
    links += [("S", spouse, start, end, code) for spouse, start, end, code in marriages]
    links += [("C", child, None, None, None) for child in children]
    for seq, (code, relative, start, end, end_code) in enumerate(links, 1):
        if not relative.nid:
            continue
        office["kin_links"].append(
            (
                person.nid,
                seq,
                code,
                relative.nid,
                relative.name,
                "1" if relative.sex == "M" else "2",
                roc(relative.birth),
                roc(relative.death) if relative.death is not None else None,
                relative.household.jur.code,
                roc(start) if start is not None else None,
                roc(end) if end is not None else None,
                end_code,
            )
        )


def _income(fia: dict[str, list[tuple[object, ...]]], household: Household) -> None:
    latest = TAX_YEARS[-1]
    for year in TAX_YEARS:
        start, end = _YEAR_BOUNDS[year]
        members = [
            p for p in household.members if p.birth <= end and (p.death is None or p.death >= start)
        ]
        if not members:
            continue
        unit_no = f"{year - 1911:03d}{household.hh_no}"
        growth = 1.03 ** (year - latest)
        adult_born_before = end - 6574
        fia["filing_units"].append((unit_no, year - 1911, members[0].nid, len(members)))
        for person in members:
            earning = person.birth <= adult_born_before
            fia["unit_members"].append(
                (
                    unit_no,
                    year - 1911,
                    person.nid,
                    int(person.salary * growth) if earning else 0,
                    int(person.interest * growth),
                    int(person.other_income * growth) if earning else 0,
                )
            )


def _land(rows: Rows, chunk: Chunk) -> None:
    bills: dict[tuple[str, str], list[tuple[Parcel, int, int]]] = defaultdict(list)
    for parcel in chunk.parcels:
        jur = parcel.jur
        store = rows[f"{jur.code}.land_office"]
        owners = [s for s in parcel.owners if s.person.nid]
        if not owners:
            continue
        code = sections_of(jur).code_of[(parcel.district.name, parcel.section, parcel.subsection)]
        store["land_mark"].append(
            (
                parcel.key,
                code,
                parcel.parcel_no.replace("-", ""),
                parcel.area,
                parcel.zone,
                parcel.value,
            )
        )
        for order, share in enumerate(owners, 1):
            store["land_own"].append(
                (
                    parcel.key,
                    f"{order:04d}",
                    share.person.nid,
                    share.numerator,
                    share.denominator,
                    share.reason,
                    roc(share.registered),
                )
            )
            store["land_own_name"].append((parcel.key, f"{order:04d}", share.person.name))
            bills[(jur.code, share.person.nid)].append((parcel, share.numerator, share.denominator))
        store["land_history"].extend(_renumbered(parcel, code))
        if jur.cadastral_map_digitised:
            store["map_index"].append(_map_entry(parcel, code))
    for building in chunk.buildings:
        store = rows[f"{building.jur.code}.land_office"]
        owners = [s for s in building.owners if s.person.nid]
        if not owners:
            continue
        code = sections_of(building.jur).code_of[
            (building.district.name, building.section, building.subsection)
        ]
        registered = _as_registered(building.key, building.address)
        store["bldg_door"].append((building.key, *_door(registered)))
        store["bldg_mark"].append(
            (
                building.key,
                code,
                building.building_no.replace("-", ""),
                registered,
                building.use,
                building.area,
            )
        )
        for share in owners:
            store["bldg_own"].append(
                (
                    building.key,
                    share.person.nid,
                    share.numerator,
                    share.denominator,
                    roc(share.registered),
                )
            )
            store["bldg_own_name"].append((building.key, share.person.nid, share.person.name))
    for (jur_code, nid), holdings in bills.items():
        _land_value_tax(rows[f"{jur_code}.tax_office"]["ltx_bill"], jur_code, nid, holdings)


_RENUMBERINGS = {0: "重測", 5: "合併", 10: "分割"}
"""One parcel in 25 was re-surveyed, one merged from two and one split off another."""


def _renumbered(parcel: Parcel, code: str) -> list[tuple[object, ...]]:
    """The parcel's former numbers, if it has any. A former number's 子號 is 8000 or more,
    which no current demo number uses, so asking by it can only mean the renumbered one."""
    key = parcel.key
    reason = _RENUMBERINGS.get(key % 25)
    if reason is None:
        return []
    mother = int(parcel.parcel_no[:4])
    day = roc(REFERENCE_DATE.toordinal() - 400 - key % 3000)
    olds = [f"{mother:04d}{8000 + key % 1000:04d}"]
    if reason == "合併":
        olds.append(f"{mother:04d}{9000 + key % 1000:04d}")
    return [(key, code, parcel.section, old, day, reason) for old in olds]


def renamed_sections(jur: Jurisdiction) -> list[tuple[object, ...]]:
    """Sections a merger renamed (``sect_history``): in the demo, every other section of a
    district that was a township of the former county was named with the township in front
    (板橋文化段) until the merger dropped it."""
    merger = next((m for m in rename_table().mergers if m.to_city == jur.name), None)
    if merger is None:
        return []
    changed = roc(merger.effective.toordinal())
    rows: list[tuple[object, ...]] = []
    for district in jur.districts:
        if district.name in jur.former_city_districts:
            continue
        stem = district.name[:-1]
        renamed = [s for s in district.sections if not s.startswith(stem)][::2]
        for code, section, _ in sections_of(jur).by_district[district.name]:
            if section in renamed:
                rows.append((code, stem + section, changed, "縣市合併段名調整"))
    return rows


def _as_registered(key: int, address: str) -> str:
    """A building's 門牌 as the register holds it: one in three of a merged county's is
    still written the way it was before the merger (臺北縣板橋市…), never updated."""
    if key % 3:
        return address
    try:
        before = former_address(parse_address(address))
    except DomainValueError:
        return address
    return str(before) if before else address


def _door(address: str) -> tuple[str, str]:
    """(門牌 with its floor, 門牌 without it), 里 and 鄰 left out."""
    parsed = dataclasses.replace(parse_address(address), village=None, neighbourhood=None)
    return str(parsed), str(dataclasses.replace(parsed, floor=None))


def _map_entry(parcel: Parcel, code: str) -> tuple[object, ...]:
    """Sheet, scale and (for numeric maps) a square of the parcel's area in TWD97 TM2."""
    key = parcel.key
    urban = parcel.district.urban
    scale = 500 if urban else _MAP_SCALES[key % 3]
    system = "97" if urban or key % 10 < 7 else ("67" if key % 10 < 9 else "G")
    if system == "G":
        return (key, f"{code}-{key % 89 + 1:02d}", scale, system, None, None, None)
    origin_x, origin_y = parcel.jur.tm2_origin
    x0 = origin_x + (key * 7_919) % 20_000 + (key % 97) / 10
    y0 = origin_y + (key * 104_729) % 20_000 + (key % 89) / 10
    side = round(parcel.area**0.5, 2)
    return (key, f"{code}-{key % 89 + 1:02d}", scale, system, x0, y0, side)


def _land_value_tax(
    bills: list[tuple[object, ...]],
    jur_code: str,
    nid: str,
    holdings: list[tuple[Parcel, int, int]],
) -> None:
    self_use = any(parcel.dwelling for parcel, _, _ in holdings)
    rate_type, _ = _LAND_TAX_RATE[self_use]
    for year in LAND_TAX_YEARS:
        amount = 0.0
        for parcel, numerator, denominator in holdings:
            _, rate = _LAND_TAX_RATE[parcel.dwelling]
            amount += parcel.area * numerator / denominator * parcel.value * _DECLARED_SHARE * rate
        amount *= 1.0 if year == LAND_TAX_YEARS[-1] else 0.97
        if amount < 100:
            continue
        bill_no = f"{year - 1911:03d}{nid}{jur_code[:2].upper()}"
        digest = int(nid[2:]) + year
        paid = roc(date(year, 11, 30).toordinal() - digest % 25) if digest % 31 else None
        bills.append((bill_no, year - 1911, nid, round(amount), rate_type, paid))
