"""The service functions other capabilities call: views by code, search, lineage, owners."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from onceonly.catalog import service
from onceonly.catalog.service import CatalogNotFound


def test_low_income_public_housing_item(shared_db: Session) -> None:
    item = service.get_application_item(shared_db, "public-housing-low-income")
    assert item is not None
    assert item.name_zh == "低收入戶申請等候承租國宅"
    assert item.agency_kind == "urban_development"
    assert item.jurisdictions == ("taipei-city",)
    assert item.offered_in("taipei-city") and not item.offered_in("tainan-city")
    household, welfare, income, building = item.required_evidence
    assert household.dataset == "household_registration"
    assert household.fields == (
        "name", "birth_date", "address", "household_id", "relationship_to_head", "jurisdiction",
    )  # fmt: skip
    assert household.paper_name_zh == "戶籍謄本"
    assert (welfare.dataset, welfare.predicate) == ("welfare_status", "is_low_income_household")
    assert (income.predicate, income.predicate_params) == (
        "household_income_below",
        {"threshold": 19013},
    )
    assert income.legal_basis_citation_zh == "稅捐稽徵法第33條"
    assert building.predicate == "owns_no_residential_property"
    assert all(e.legal_basis for e in item.required_evidence)
    assert {b.code for b in item.legal_bases} >= {"pdpa-art16"}


def test_views_are_immutable(shared_db: Session) -> None:
    item = service.get_application_item(shared_db, "public-housing-low-income")
    assert item is not None
    with pytest.raises(ValidationError):
        item.code = "other"  # type: ignore[misc]


def test_unknown_codes_give_none(shared_db: Session) -> None:
    assert service.get_application_item(shared_db, "no-such-item") is None
    assert service.get_dataset(shared_db, "no_such_dataset") is None
    assert service.get_agency(shared_db, "taipei-city.space_agency") is None
    assert service.get_jurisdiction(shared_db, "atlantis") is None
    assert service.get_legal_basis(shared_db, "no-such-law") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("國宅", "public-housing-low-income"),
        ("Public-Housing rental: LOW", "public-housing-low-income"),
        ("land-boundary", "land-boundary-survey"),
        ("鑑界", "land-boundary-survey"),
    ],
)
def test_search_matches_names_and_codes(shared_db: Session, query: str, expected: str) -> None:
    codes = [i.code for i in service.search_application_items(shared_db, query)]
    assert expected in codes


def test_search_filters(shared_db: Session) -> None:
    assert len(service.search_application_items(shared_db, "")) >= 30
    assert service.search_application_items(shared_db, "沒有這種申請") == []
    fire = service.search_application_items(shared_db, "", agency_kind="fire")
    assert fire and all(i.agency_kind == "fire" for i in fire)
    # The water utility exists only in Taipei; elsewhere Taiwan Water Corporation (central).
    assert service.search_application_items(shared_db, "接水", jurisdiction="taipei-city")
    assert service.search_application_items(shared_db, "接水", jurisdiction="tainan-city") == []
    # Tax items are offered wherever there is a local tax office, a former county included.
    assert service.search_application_items(
        shared_db, "地價稅自用住宅", jurisdiction="tainan-county"
    )
    penghu = {
        i.agency_kind
        for i in service.search_application_items(shared_db, "", jurisdiction="penghu-county")
    }
    assert "indigenous" not in penghu and "tax_office" in penghu
    with pytest.raises(CatalogNotFound):
        service.search_application_items(shared_db, "", jurisdiction="atlantis")


def test_dataset_with_local_extensions(shared_db: Session) -> None:
    core = service.get_dataset(shared_db, "household_registration")
    assert core is not None and core.owner_agency == "central.moi_household"
    assert "former_jurisdiction" not in [f.name for f in core.fields]
    assert set(core.extensions) == {"taipei-city", "tainan-city"}
    tainan = service.get_dataset(shared_db, "household_registration", "tainan-city")
    assert tainan is not None
    extension = tainan.field("former_jurisdiction")
    assert extension is not None and extension.jurisdiction == "tainan-city"
    assert [f.name for f in tainan.fields][-1] == "former_jurisdiction"
    # A former jurisdiction reads as its successor.
    via_county = service.get_dataset(shared_db, "household_registration", "tainan-county")
    assert via_county is not None and via_county.fields == tainan.fields
    assert core.field("national_id") is not None and core.field("national_id").personal  # type: ignore[union-attr]
    assert "national_id" in core.personal_fields and "jurisdiction" not in core.personal_fields
    assert core.predicate("is_registered_resident_of") is not None


def test_dataset_array_fields_and_predicates(shared_db: Session) -> None:
    land = service.get_dataset(shared_db, "land_registration")
    assert land is not None and land.owner_scope == "all_jurisdictions"
    section = land.field("parcels.section")
    assert section is not None and section.label_zh == "段"
    zone = land.field("parcels.land_use_zone")
    assert zone is not None and {c.code for c in zone.code_list} >= {"residential", "agricultural"}
    income = service.get_dataset(shared_db, "income")
    assert income is not None
    predicate = income.predicate("household_income_below")
    assert predicate is not None and [p.name for p in predicate.params] == ["threshold"]


def test_cadastral_map_not_digitised_everywhere(shared_db: Session) -> None:
    cadastral = service.get_dataset(shared_db, "cadastral_map")
    assert cadastral is not None
    assert not cadastral.is_digitised_in("tainan-city")
    assert not cadastral.is_digitised_in("yilan-county")
    assert cadastral.is_digitised_in("taipei-city")
    land = service.get_dataset(shared_db, "land_registration")
    assert land is not None and land.is_digitised_in("tainan-city")


@pytest.mark.parametrize(
    ("former", "current"),
    [
        ("taipei-county", "new-taipei-city"),
        ("taichung-county", "taichung-city"),
        ("former-taichung-city", "taichung-city"),
        ("tainan-county", "tainan-city"),
        ("former-tainan-city", "tainan-city"),
        ("kaohsiung-county", "kaohsiung-city"),
        ("former-kaohsiung-city", "kaohsiung-city"),
        ("taoyuan-county", "taoyuan-city"),
        ("yilan-county", "yilan-county"),
    ],
)
def test_successor_of(shared_db: Session, former: str, current: str) -> None:
    assert service.successor_of(shared_db, former) == current


def test_successor_of_unknown(shared_db: Session) -> None:
    with pytest.raises(CatalogNotFound):
        service.successor_of(shared_db, "atlantis")


def test_owner_agency_for(shared_db: Session) -> None:
    assert (
        service.owner_agency_for(shared_db, "household_registration", "tainan-city")
        == "central.moi_household"
    )
    assert service.owner_agency_for(shared_db, "income", "yilan-county") == "central.fia"
    assert (
        service.owner_agency_for(shared_db, "land_registration", "taipei-county")
        == "new-taipei-city.land_office"
    )
    assert (
        service.owner_agency_for(shared_db, "welfare_status", "keelung-city")
        == "keelung-city.social_welfare"
    )
    with pytest.raises(CatalogNotFound):
        service.owner_agency_for(shared_db, "no_such_dataset", "taipei-city")
    with pytest.raises(CatalogNotFound):
        service.owner_agency_for(shared_db, "land_registration", "atlantis")


def test_jurisdictions_and_agencies(shared_db: Session) -> None:
    everything = service.list_jurisdictions(shared_db)
    tainan = service.get_jurisdiction(shared_db, "tainan-city")
    assert tainan is not None and set(tainan.predecessors) == {
        "tainan-county",
        "former-tainan-city",
    }
    assert len(tainan.districts) == 37 and "永康區" in tainan.districts
    county = service.get_jurisdiction(shared_db, "tainan-county")
    assert county is not None and "永康市" in county.districts and not county.is_current
    assert county.national_id_letter == "R"
    assert sum(1 for j in everything if j.is_current and j.kind != "central") == 22
    water = service.list_agencies(shared_db, kind="water")
    assert [a.code for a in water] == ["taipei-city.water"]
    assert service.get_agency(shared_db, "central.taiwan_water") is not None
    taipei = service.list_agencies(shared_db, jurisdiction="taipei-city")
    assert {a.kind for a in taipei} >= {"urban_development", "social_welfare", "land_office"}
    basis = service.get_legal_basis(shared_db, "pdpa-art15")
    assert basis is not None and basis.citation_zh == "個人資料保護法第15條"


def test_dataset_of_evidence_type(shared_db: Session) -> None:
    assert service.dataset_of_evidence_type(shared_db, "income") == "income"
    assert service.dataset_of_evidence_type(shared_db, "household_income_below") == "income"
    assert (
        service.dataset_of_evidence_type(shared_db, "owns_no_residential_property")
        == "building_registration"
    )
    assert service.dataset_of_evidence_type(shared_db, "nothing") is None
