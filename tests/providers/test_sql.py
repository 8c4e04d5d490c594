"""The SQL provider adapters, through the product boundary: what an owner answers about the
planted sample citizens, field minimisation, predicates, and unavailability."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onceonly.connectors.engine import item_fields, standard_fields
from onceonly.demo.registries import RegistryManifest, generate_registries
from onceonly.providers.base import (
    InvalidPredicateParams,
    PredicateAnswer,
    Provider,
    ProviderUnavailable,
    SourceRecord,
    UnknownDataset,
    UnknownPredicate,
)
from onceonly.providers.registry import ProviderDirectory, load_providers

TAIPEI_LOW_INCOME_LINE = 20_379
"""臺北市 2026 最低生活費 (NT$ per person per month), the demo's threshold."""


@pytest.fixture(scope="module")
def directory(shared_registries: tuple[Path, RegistryManifest]) -> Iterator[ProviderDirectory]:
    with load_providers(shared_registries[0]) as providers:
        yield providers


@pytest.fixture(scope="module")
def manifest(shared_registries: tuple[Path, RegistryManifest]) -> RegistryManifest:
    return shared_registries[1]


def owner(directory: ProviderDirectory, code: str) -> Provider:
    provider = directory.for_owner(code)
    assert provider is not None, code
    return provider


def fetch(
    directory: ProviderDirectory, code: str, dataset: str, nid: str, fields: list[str]
) -> dict[str, object]:
    record = owner(directory, code).fetch(dataset, nid, fields)
    assert record is not None, (code, dataset, nid)
    assert record.dataset == dataset and record.subject == nid
    return dict(record.fields)


def ask(
    directory: ProviderDirectory,
    code: str,
    dataset: str,
    predicate: str,
    nid: str,
    **params: object,
) -> bool:
    answer = owner(directory, code).evaluate(dataset, predicate, nid, params)
    assert isinstance(answer, PredicateAnswer) and answer.as_of
    return answer.value


def owns_no_home_anywhere(directory: ProviderDirectory, nid: str) -> bool:
    """How the caller combines the per-land-office answers: AND over every land office."""
    return all(
        ask(directory, code, "building_registration", "owns_no_residential_property", nid)
        for code in directory.owners_of("building_registration")
    )


def test_the_directory_finds_each_owners_provider(directory: ProviderDirectory) -> None:
    assert len(directory) == 34
    assert directory.owners_of("household_registration") == ["central.moi_household"]
    assert directory.owners_of("land_registration") == [
        f"{c}.land_office"
        for c in ("keelung-city", "new-taipei-city", "tainan-city", "taipei-city", "yilan-county")
    ]
    assert directory.owners_of("cadastral_map") == [
        "keelung-city.land_office",
        "new-taipei-city.land_office",
        "taipei-city.land_office",
    ]
    assert directory.for_owner("kaohsiung-city.land_office") is None
    for provider in directory:
        assert isinstance(provider, Provider)
        assert provider.datasets()


def test_main_demo_low_income_applicant_qualifies_for_public_housing(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("low_income_applicant").national_id
    hr = "household_registration"
    assert ask(
        directory,
        "central.moi_household",
        hr,
        "is_registered_resident_of",
        nid,
        jurisdiction="taipei-city",
    )
    assert not ask(
        directory,
        "central.moi_household",
        hr,
        "is_registered_resident_of",
        nid,
        jurisdiction="new-taipei-city",
    )
    assert ask(
        directory, "taipei-city.social_welfare", "welfare_status", "is_low_income_household", nid
    )
    assert ask(
        directory,
        "central.fia",
        "income",
        "household_income_below",
        nid,
        threshold=TAIPEI_LOW_INCOME_LINE,
    )
    assert owns_no_home_anywhere(directory, nid)
    person = fetch(
        directory,
        "central.moi_household",
        hr,
        nid,
        ["name", "jurisdiction", "district", "relationship_to_head"],
    )
    assert person == {
        "name": "林淑芬",
        "jurisdiction": "taipei-city",
        "district": "萬華區",
        "relationship_to_head": "head",
    }


def test_household_income_is_per_member_per_month_of_the_latest_tax_year(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("low_income_applicant").national_id
    income = fetch(
        directory, "central.fia", "income", nid, ["tax_year", "total_income", "household_size"]
    )
    assert income["tax_year"] == 2025 and income["household_size"] == 3
    monthly = 216_120 / 3 / 12  # the whole tax household's income: her salary and interest
    answer = owner(directory, "central.fia").evaluate(
        "income", "household_income_below", nid, {"threshold": monthly}
    )
    assert answer == PredicateAnswer(False, "tax year 2025")
    assert ask(
        directory, "central.fia", "income", "household_income_below", nid, threshold=monthly + 1
    )


def test_home_owner_without_welfare_status(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("taipei_home_owner").national_id
    assert (
        owner(directory, "taipei-city.social_welfare").fetch(
            "welfare_status", nid, ["low_income_status"]
        )
        is None
    )
    assert not ask(
        directory, "taipei-city.social_welfare", "welfare_status", "is_low_income_household", nid
    )
    assert not owns_no_home_anywhere(directory, nid)
    assert ask(
        directory,
        "new-taipei-city.land_office",
        "building_registration",
        "owns_no_residential_property",
        nid,
    )
    assert not ask(
        directory,
        "central.fia",
        "income",
        "household_income_below",
        nid,
        threshold=TAIPEI_LOW_INCOME_LINE,
    )
    buildings = fetch(
        directory,
        "taipei-city.land_office",
        "building_registration",
        nid,
        ["owner_national_id", "buildings"],
    )
    assert buildings["owner_national_id"] == nid
    [home] = buildings["buildings"]  # type: ignore[misc]
    assert home["main_use"] == "residential" and home["jurisdiction"] == "taipei-city"
    assert home["address"].startswith("臺北市大安區")
    tax = fetch(
        directory,
        "taipei-city.tax_office",
        "land_value_tax",
        nid,
        ["tax_year", "self_use_residential_rate", "paid", "assessed_amount"],
    )
    assert tax["tax_year"] == 2025 and tax["self_use_residential_rate"] is True


def test_indigenous_veteran_deceased_and_yilan_samples(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    hr, central = "household_registration", "central.moi_household"
    indigenous = fetch(
        directory,
        central,
        hr,
        manifest.sample("indigenous").national_id,
        ["name", "indigenous_status", "jurisdiction"],
    )
    assert indigenous == {
        "name": "瓦旦．達利",
        "indigenous_status": "mountain",
        "jurisdiction": "new-taipei-city",
    }
    veteran = manifest.sample("veteran").national_id
    assert fetch(
        directory, "central.vac", "veteran_status", veteran, ["is_veteran", "card_no"]
    ) == {"is_veteran": True, "card_no": "0451023"}
    assert (
        owner(directory, "central.vac").fetch(
            "veteran_status", manifest.sample("taipei_home_owner").national_id, ["is_veteran"]
        )
        is None
    )
    deceased = manifest.sample("deceased").national_id
    record = fetch(
        directory, central, hr, deceased, ["is_alive", "death_date", "spouse_national_id"]
    )
    assert record["is_alive"] is False and record["death_date"] == "2026-03-14"
    widow = fetch(directory, central, hr, str(record["spouse_national_id"]), ["marital_status"])
    assert widow == {"marital_status": "widowed"}
    assert not ask(
        directory,
        central,
        hr,
        "is_registered_resident_of",
        deceased,
        jurisdiction="new-taipei-city",
    )
    yilan = manifest.sample("yilan_resident").national_id
    assert ask(
        directory, central, hr, "is_registered_resident_of", yilan, jurisdiction="yilan-county"
    )
    parcels = fetch(
        directory,
        "yilan-county.land_office",
        "land_registration",
        yilan,
        ["parcels.land_use_zone", "parcels.district"],
    )
    assert parcels == {"parcels": [{"land_use_zone": "agricultural", "district": "冬山鄉"}]}


def test_land_in_another_jurisdiction_is_answered_by_that_land_office(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("land_elsewhere").national_id
    residence = fetch(
        directory, "central.moi_household", "household_registration", nid, ["jurisdiction"]
    )
    assert residence == {"jurisdiction": "taipei-city"}
    assert (
        owner(directory, "taipei-city.land_office").fetch("land_registration", nid, ["parcels"])
        is None
    )
    land = fetch(
        directory,
        "yilan-county.land_office",
        "land_registration",
        nid,
        ["owner_national_id", "parcels"],
    )
    [parcel] = land["parcels"]  # type: ignore[misc]
    assert parcel["jurisdiction"] == "yilan-county" and parcel["district"] == "三星鄉"
    assert parcel["share_numerator"] == parcel["share_denominator"] == 1


def test_factory_owner_business_and_factory(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("factory_owner").national_id
    ed = "tainan-city.economic_development"
    [business] = fetch(directory, ed, "business_registration", nid, ["businesses"])["businesses"]  # type: ignore[misc]
    [factory] = fetch(directory, ed, "factory_registration", nid, ["factories"])["factories"]  # type: ignore[misc]
    assert business["status"] == "active" and business["registered_on"] == "1998-04-01"
    assert factory["business_id"] == business["business_id"]
    assert factory["status"] == "active"
    buildings = fetch(
        directory, "tainan-city.land_office", "building_registration", nid, ["buildings.main_use"]
    )
    assert {"main_use": "industrial"} in buildings["buildings"]  # type: ignore[operator]


def test_welfare_validity_is_judged_on_a_day(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("disabled_mid_low_income").national_id
    office = "new-taipei-city.social_welfare"
    status = fetch(
        directory,
        office,
        "welfare_status",
        nid,
        ["low_income_status", "disability_level", "disability_valid_until"],
    )
    assert status == {
        "low_income_status": "mid_low_income",
        "disability_level": "moderate",
        "disability_valid_until": "2029-04-30",
    }
    ws = "welfare_status"
    assert ask(directory, office, ws, "is_mid_low_income_household", nid, on="2027-01-01")
    assert not ask(directory, office, ws, "is_low_income_household", nid, on="2027-01-01")
    assert ask(directory, office, ws, "has_disability_certificate", nid, on=date(2029, 4, 30))
    assert not ask(directory, office, ws, "has_disability_certificate", nid, on="2029-05-01")
    assert not ask(directory, office, ws, "has_disability_certificate", nid, on="2021-01-01")
    with pytest.raises(InvalidPredicateParams):
        ask(directory, office, ws, "has_disability_certificate", nid, on="next week")


def test_extension_fields_only_for_their_jurisdiction(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    hr, central = "household_registration", "central.moi_household"
    fields = ["district", "household_office", "former_jurisdiction"]
    taipei = fetch(directory, central, hr, manifest.sample("taipei_home_owner").national_id, fields)
    assert taipei == {"district": "大安區", "household_office": "臺北市大安區戶政事務所"}
    tainan = fetch(directory, central, hr, manifest.sample("factory_owner").national_id, fields)
    assert tainan == {"district": "永康區", "former_jurisdiction": "tainan-county"}


def test_fetch_reads_only_the_requested_fields_and_sub_fields(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("taipei_home_owner").national_id
    land = fetch(
        directory,
        "taipei-city.land_office",
        "land_registration",
        nid,
        ["parcels.section", "parcels.parcel_no"],
    )
    assert list(land) == ["parcels"]
    [parcel] = land["parcels"]  # type: ignore[misc]
    assert set(parcel) == {"section", "parcel_no"}
    assert parcel["section"].endswith("段")
    assert len(parcel["parcel_no"]) == 9 and parcel["parcel_no"][4] == "-"
    only_owner = fetch(
        directory, "taipei-city.land_office", "land_registration", nid, ["owner_national_id"]
    )
    assert only_owner == {"owner_national_id": nid}
    cadastral = fetch(
        directory,
        "taipei-city.land_office",
        "cadastral_map",
        nid,
        ["parcels.map_sheet", "parcels.scale", "parcels.boundary_wkt"],
    )
    [sheet] = cadastral["parcels"]  # type: ignore[misc]
    assert sheet["scale"] == 500 and sheet["boundary_wkt"].startswith("POLYGON((")
    person = fetch(
        directory,
        "central.moi_household",
        "household_registration",
        nid,
        ["birth_date", "not_a_field"],
    )
    assert person == {"birth_date": "1971-05-20"}


def test_unknown_person_predicate_and_dataset(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    nobody = "A123456789"
    central = owner(directory, "central.moi_household")
    assert central.fetch("household_registration", nobody, ["name"]) is None
    assert not ask(
        directory,
        "central.moi_household",
        "household_registration",
        "is_registered_resident_of",
        nobody,
        jurisdiction="taipei-city",
    )
    assert owner(directory, "central.fia").evaluate(
        "income", "household_income_below", nobody, {"threshold": 10**9}
    ) == PredicateAnswer(False, "")
    with pytest.raises(UnknownPredicate):
        central.evaluate("household_registration", "is_rich", nobody, {})
    with pytest.raises(UnknownPredicate):
        central.evaluate("income", "household_income_below", nobody, {"threshold": 1})
    with pytest.raises(InvalidPredicateParams):
        owner(directory, "central.fia").evaluate("income", "household_income_below", nobody, {})
    with pytest.raises(UnknownDataset):
        owner(directory, "tainan-city.land_office").fetch("cadastral_map", nobody, ["parcels"])


@pytest.fixture
def own_registries(tmp_path: Path, shared_registries: tuple[Path, RegistryManifest]) -> Path:
    """A private copy of the shared stores, for tests that break them."""
    target = tmp_path / "registries"
    shutil.copytree(shared_registries[0], target)
    return target


def test_a_removed_store_makes_only_its_owner_unavailable(
    own_registries: Path, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("taipei_home_owner").national_id
    with load_providers(own_registries, timeout=0.2) as providers:
        land = owner(providers, "taipei-city.land_office")
        assert land.fetch("land_registration", nid, ["parcels"]) is not None  # pool is open
        (own_registries / "taipei-city.land_office.sqlite").unlink()
        with pytest.raises(ProviderUnavailable) as raised:
            land.fetch("land_registration", nid, ["parcels"])
        assert raised.value.owner == "taipei-city.land_office"
        with pytest.raises(ProviderUnavailable):
            land.evaluate("building_registration", "owns_no_residential_property", nid, {})
        assert fetch(
            providers, "central.moi_household", "household_registration", nid, ["name"]
        ) == {"name": "王志明"}


def test_a_locked_store_is_unavailable_until_released(
    own_registries: Path, manifest: RegistryManifest
) -> None:
    nid = manifest.sample("veteran").national_id
    locker = sqlite3.connect(own_registries / "central.vac.sqlite", isolation_level=None)
    with load_providers(own_registries, timeout=0.1) as providers:
        vac = owner(providers, "central.vac")
        locker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(ProviderUnavailable) as raised:
                vac.fetch("veteran_status", nid, ["card_no"])
            assert "locked" in raised.value.reason_in("en")
            assert raised.value.reason_in("zh-TW").startswith("資料庫回報")
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert vac.fetch("veteran_status", nid, ["card_no"]) is not None


def test_a_store_that_is_not_a_database_is_unavailable(
    own_registries: Path, manifest: RegistryManifest
) -> None:
    (own_registries / "central.fia.sqlite").write_bytes(b"not a database at all" * 300)
    with load_providers(own_registries) as providers, pytest.raises(ProviderUnavailable):
        owner(providers, "central.fia").fetch(
            "income", manifest.sample("veteran").national_id, ["tax_year"]
        )


def test_concurrent_readers_get_consistent_answers(
    directory: ProviderDirectory, manifest: RegistryManifest
) -> None:
    ids = [s.national_id for s in manifest.sample_citizens.values()]
    provider = owner(directory, "central.moi_household")
    expected = {i: provider.fetch("household_registration", i, ["name", "address"]) for i in ids}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                for i in ids:
                    got = provider.fetch("household_registration", i, ["name", "address"])
                    assert got == expected[i]
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


_CASES = [
    ("central.moi_household", "household_registration"),
    ("central.fia", "income"),
    ("taipei-city.land_office", "land_registration"),
    ("taipei-city.land_office", "building_registration"),
    ("taipei-city.land_office", "cadastral_map"),
    ("new-taipei-city.tax_office", "land_value_tax"),
    ("new-taipei-city.social_welfare", "welfare_status"),
    ("tainan-city.economic_development", "business_registration"),
    ("new-taipei-city.household_office", "house_number"),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_fetch_returns_exactly_the_requested_subset(
    data: st.DataObject, directory: ProviderDirectory, shared_registries: tuple[Path, object]
) -> None:
    code, dataset = data.draw(st.sampled_from(_CASES))
    provider = directory.for_owner(code)
    assert provider is not None
    subjects = _subjects(shared_registries[0], code, dataset)
    nid = data.draw(st.sampled_from(subjects))
    list_field, items = item_fields(provider, dataset)  # type: ignore[arg-type]
    names = sorted(standard_fields(provider, dataset))  # type: ignore[arg-type]
    if list_field:
        names += [f"{list_field}.{item}" for item in sorted(items)]
    wanted = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    full = provider.fetch(dataset, nid, [n for n in names if "." not in n])
    record = provider.fetch(dataset, nid, wanted)
    assert isinstance(full, SourceRecord) and isinstance(record, SourceRecord)
    top = {n.split(".")[0] for n in wanted}
    assert set(record.fields) == top
    if list_field and list_field in top:
        whole = list_field in wanted
        subs = set(items) if whole else {n.split(".", 1)[1] for n in wanted if "." in n}
        assert [set(item) for item in record.fields[list_field]] == [
            subs for _ in full.fields[list_field]
        ]
        assert record.fields[list_field] == [
            {k: v for k, v in item.items() if k in subs} for item in full.fields[list_field]
        ]
    for name in top - {list_field}:
        assert record.fields[name] == full.fields[name]


_SUBJECT_QUERIES = {
    "household_registration": "SELECT idn FROM persons ORDER BY per_id LIMIT 300",
    "income": "SELECT idn FROM unit_members WHERE tax_yr = 114 LIMIT 300",
    "land_registration": "SELECT owner_idno FROM land_own LIMIT 300",
    "building_registration": "SELECT owner_idno FROM bldg_own LIMIT 300",
    "cadastral_map": "SELECT owner_idno FROM land_own JOIN map_index USING (land_key) LIMIT 300",
    "land_value_tax": "SELECT idn FROM ltx_bill LIMIT 300",
    "welfare_status": "SELECT idn FROM disability_cards UNION SELECT idn FROM lowinc_members",
    "business_registration": "SELECT resp_idno FROM biz_reg",
    "house_number": "SELECT idn FROM plate_residents LIMIT 300",
}
_SUBJECT_CACHE: dict[tuple[str, str], list[str]] = {}


def _subjects(registries: Path, code: str, dataset: str) -> list[str]:
    """People the owner holds a record of (read straight from its store, for test input)."""
    if (code, dataset) not in _SUBJECT_CACHE:
        connection = sqlite3.connect(registries / f"{code}.sqlite")
        rows = connection.execute(_SUBJECT_QUERIES[dataset]).fetchall()
        connection.close()
        _SUBJECT_CACHE[(code, dataset)] = sorted({r[0] for r in rows})
    return _SUBJECT_CACHE[(code, dataset)]


def test_generating_again_while_providers_are_open_is_seen_after_close(tmp_path: Path) -> None:
    manifest = generate_registries(tmp_path, people=200, seed=1)
    nid = manifest.sample("veteran").national_id
    with load_providers(tmp_path) as providers:
        assert owner(providers, "central.vac").fetch("veteran_status", nid, ["card_no"])
        again = generate_registries(tmp_path, people=200, seed=2)
        providers.close()
        new = again.sample("veteran").national_id
        assert owner(providers, "central.vac").fetch("veteran_status", new, ["is_veteran"])
