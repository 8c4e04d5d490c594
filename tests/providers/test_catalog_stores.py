"""The owner stores added for the report's whole catalog, read through their connector files
like every other demo owner: house tax at the tax offices, use permits at the building
authorities, military dependant cards, and the land office's values, other rights, manual
register pages and survey drawings. Each predicate is checked against the store's own rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onceonly.demo.registries import RegistryManifest
from onceonly.providers.base import InvalidPredicateParams, PredicateAnswer
from onceonly.providers.registry import ProviderDirectory, load_providers

CITY = "taipei-city"


@pytest.fixture(scope="module")
def registries(shared_registries: tuple[Path, RegistryManifest]) -> Path:
    return shared_registries[0]


@pytest.fixture(scope="module")
def directory(registries: Path) -> Iterator[ProviderDirectory]:
    with load_providers(registries) as providers:
        yield providers


def rows(registries: Path, owner: str, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(registries / f"{owner}.sqlite")) as connection:
        return connection.execute(sql).fetchall()


def ask(
    directory: ProviderDirectory,
    owner: str,
    dataset: str,
    predicate: str,
    nid: str,
    **params: object,
) -> bool:
    provider = directory.for_owner(owner)
    assert provider is not None, owner
    answer = provider.evaluate(dataset, predicate, nid, params)
    assert isinstance(answer, PredicateAnswer) and answer.as_of == "2026-06-30"
    return answer.value


def test_new_datasets_have_owners_found_by_their_connectors(directory: ProviderDirectory) -> None:
    cities = ("keelung-city", "new-taipei-city", "tainan-city", "taipei-city", "yilan-county")
    assert directory.owners_of("house_tax") == [f"{c}.tax_office" for c in cities]
    assert directory.owners_of("building_use_permit") == [
        f"{c}.building_administration" for c in cities
    ]
    assert directory.owners_of("military_dependant_status") == ["central.mnd"]
    for dataset in (
        "declared_land_value",
        "other_rights",
        "manual_land_register",
        "building_survey_drawing",
    ):
        assert directory.owners_of(dataset) == [f"{c}.land_office" for c in cities], dataset


def _taxpayers(registries: Path) -> list[str]:
    found = rows(registries, f"{CITY}.tax_office", "SELECT DISTINCT idn FROM hou_bill ORDER BY idn")
    return [str(r[0]) for r in found]


def test_house_tax_lists_each_house_and_year(
    registries: Path, directory: ProviderDirectory
) -> None:
    nid, tax_no, address = rows(
        registries, f"{CITY}.tax_office", "SELECT idn, tax_no, door_addr FROM hou_bill LIMIT 1"
    )[0]
    provider = directory.for_owner(f"{CITY}.tax_office")
    assert provider is not None
    record = provider.fetch("house_tax", str(nid), ["houses"])
    assert record is not None
    houses = record.fields["houses"]
    assert isinstance(houses, list)
    mine = [h for h in houses if h["tax_registration_no"] == tax_no]
    assert [h["tax_year"] for h in mine] == [2025, 2026]
    assert all(h["address"] == address and h["jurisdiction"] == CITY for h in mine)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), year=st.sampled_from([2024, 2025, 2026]))
def test_house_tax_paid_for_year_is_no_unpaid_bill_of_that_year(
    registries: Path, directory: ProviderDirectory, data: st.DataObject, year: int
) -> None:
    nid = data.draw(st.sampled_from(_taxpayers(registries)))
    unpaid = rows(
        registries,
        f"{CITY}.tax_office",
        f"SELECT 1 FROM hou_bill WHERE idn = '{nid}' AND tax_yr = {year - 1911} "
        "AND paid_ymd IS NULL",
    )
    assert ask(
        directory, f"{CITY}.tax_office", "house_tax", "house_tax_paid_for_year", nid, year=year
    ) is (not unpaid)


def test_some_taxpayers_owe_this_years_house_tax(
    registries: Path, directory: ProviderDirectory
) -> None:
    owing = rows(
        registries,
        f"{CITY}.tax_office",
        "SELECT idn FROM hou_bill WHERE tax_yr = 115 AND paid_ymd IS NULL LIMIT 1",
    )
    assert owing, "the demo needs someone who has not paid"
    nid = str(owing[0][0])
    assert not ask(
        directory, f"{CITY}.tax_office", "house_tax", "house_tax_paid_for_year", nid, year=2026
    )


def test_house_tax_year_must_be_a_whole_number(directory: ProviderDirectory) -> None:
    provider = directory.for_owner(f"{CITY}.tax_office")
    assert provider is not None
    with pytest.raises(InvalidPredicateParams):
        provider.evaluate("house_tax", "house_tax_paid_for_year", "A123456789", {"year": "今年"})


def test_building_has_use_permit_fails_for_a_building_reported_without_one(
    registries: Path, directory: ProviderDirectory
) -> None:
    owner = f"{CITY}.building_administration"
    without = str(
        rows(registries, owner, "SELECT owner_idno FROM use_lic WHERE lic_no IS NULL")[0][0]
    )
    with_all = str(
        rows(
            registries,
            owner,
            "SELECT owner_idno FROM use_lic GROUP BY owner_idno HAVING COUNT(lic_no) = COUNT(*)",
        )[0][0]
    )
    dataset, predicate = "building_use_permit", "building_has_use_permit"
    assert not ask(directory, owner, dataset, predicate, without)
    assert ask(directory, owner, dataset, predicate, with_all)
    provider = directory.for_owner(owner)
    assert provider is not None
    record = provider.fetch(dataset, with_all, ["permits"])
    assert record is not None
    permits = record.fields["permits"]
    assert isinstance(permits, list) and permits
    assert all(p["permit_no"].startswith("(") and "使字第" in p["permit_no"] for p in permits)
    assert {p["use"] for p in permits} <= {"residential", "commercial", "industrial", "other"}


def test_military_dependant_cards_answer_with_their_validity(
    registries: Path, directory: ProviderDirectory
) -> None:
    valid = rows(
        registries,
        "central.mnd",
        "SELECT idn FROM dep_card WHERE valid_end_ymd >= '1150630' ORDER BY idn LIMIT 1",
    )
    expired = rows(
        registries,
        "central.mnd",
        "SELECT idn FROM dep_card WHERE valid_end_ymd < '1150630' ORDER BY idn LIMIT 1",
    )
    assert valid and expired
    dataset, predicate = "military_dependant_status", "is_military_dependant"
    assert ask(directory, "central.mnd", dataset, predicate, str(valid[0][0]), on="2026-06-30")
    assert not ask(
        directory, "central.mnd", dataset, predicate, str(expired[0][0]), on="2026-06-30"
    )
    assert not ask(directory, "central.mnd", dataset, predicate, "A123456789", on="2026-06-30")


def test_military_dependants_live_in_their_sponsors_household(registries: Path) -> None:
    cards = rows(registries, "central.mnd", "SELECT idn, sponsor_idn FROM dep_card")
    households = dict(rows(registries, "central.moi_household", "SELECT idn, hh_no FROM persons"))
    assert len(cards) >= 20
    assert all(households[holder] == households[sponsor] for holder, sponsor in cards)


def test_land_office_documents_are_read_per_parcel_and_building(
    registries: Path, directory: ProviderDirectory
) -> None:
    office = f"{CITY}.land_office"
    provider = directory.for_owner(office)
    assert provider is not None
    encumbered = str(
        rows(
            registries,
            office,
            "SELECT o.owner_idno FROM land_own o JOIN oth_right r ON r.land_key = o.land_key",
        )[0][0]
    )
    rights = provider.fetch("other_rights", encumbered, ["rights"])
    assert rights is not None and rights.fields["rights"]
    assert not ask(directory, office, "other_rights", "land_free_of_other_rights", encumbered)
    free = str(
        rows(
            registries,
            office,
            "SELECT owner_idno FROM land_own WHERE owner_idno NOT IN (SELECT o.owner_idno FROM "
            "land_own o JOIN oth_right r ON r.land_key = o.land_key)",
        )[0][0]
    )
    assert ask(directory, office, "other_rights", "land_free_of_other_rights", free)
    values = provider.fetch("declared_land_value", encumbered, ["parcels"])
    assert values is not None
    for parcel in values.fields["parcels"]:  # type: ignore[union-attr]
        # 申報地價 defaults to 80% of 公告地價 (平均地權條例第16條)
        assert parcel["declared_value_per_m2"] == round(parcel["announced_value_per_m2"] * 0.8)
    old = str(
        rows(
            registries,
            office,
            "SELECT o.owner_idno FROM land_own o JOIN manual_book b ON b.land_key = o.land_key",
        )[0][0]
    )
    pages = provider.fetch("manual_land_register", old, ["pages"])
    assert pages is not None and all(p["closed_on"] == "1989-12-31" for p in pages.fields["pages"])  # type: ignore[union-attr]
    owner = str(rows(registries, office, "SELECT owner_idno FROM bldg_own LIMIT 1")[0][0])
    drawings = provider.fetch("building_survey_drawing", owner, ["drawings"])
    assert drawings is not None and drawings.fields["drawings"]
