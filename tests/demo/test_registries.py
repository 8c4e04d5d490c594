"""The demo registries: deterministic, valid identifiers, realistic proportions, one store per
owning agency. Properties of people are checked through the stores' own tables here; what
the platform sees through the adapters is in tests/providers."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from onceonly.demo.registries import (
    DEMO_JURISDICTIONS,
    RegistryManifest,
    generate,
    generate_registries,
    load_manifest,
)
from onceonly.demo.registries.identifiers import business_checksum_ok, national_id
from onceonly.domain.address import parse_address
from onceonly.domain.national_id import is_valid_national_id, make_national_id

SAMPLE_KEYS = {
    "low_income_applicant",
    "taipei_home_owner",
    "indigenous",
    "factory_owner",
    "veteran",
    "yilan_resident",
    "deceased",
    "land_elsewhere",
    "disabled_mid_low_income",
    "name_changed",
    "kinship_deceased",
}


@contextmanager
def store(directory: Path, owner: str) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(directory / f"{owner}.sqlite")) as connection:
        yield connection


def all_rows(directory: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of every store, in storage order."""
    result = {}
    for path in sorted(directory.glob("*.sqlite")):
        with closing(sqlite3.connect(path)) as connection:
            tables = [
                r[0]
                for r in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for table in tables:
                rows = connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                result[f"{path.name}:{table}"] = rows
    return result


def test_same_seed_and_size_give_byte_identical_stores(tmp_path: Path) -> None:
    first = generate_registries(tmp_path / "a", people=600, seed=7)
    second = generate_registries(tmp_path / "b", people=600, seed=7)
    assert first == second
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(names) == 2 * (4 + 6 * 5) + 1  # a store and its connector file per owner
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_different_seed_gives_different_people(tmp_path: Path) -> None:
    generate_registries(tmp_path / "a", people=300, seed=1)
    generate_registries(tmp_path / "b", people=300, seed=2)
    with (
        store(tmp_path / "a", "central.moi_household") as a,
        store(tmp_path / "b", "central.moi_household") as b,
    ):
        ids_a = {r[0] for r in a.execute("SELECT idn FROM persons")}
        ids_b = {r[0] for r in b.execute("SELECT idn FROM persons")}
        names_a = [r[0] for r in a.execute("SELECT given_name FROM persons ORDER BY per_id")]
        names_b = [r[0] for r in b.execute("SELECT given_name FROM persons ORDER BY per_id")]
    assert len(ids_a) == len(ids_b) == 300
    assert len(ids_a & ids_b) < 10
    assert names_a != names_b


def test_a_larger_registry_starts_with_the_smaller_one(tmp_path: Path) -> None:
    small = generate_registries(tmp_path / "small", people=250)
    large = generate_registries(tmp_path / "large", people=900)
    assert small.sample_citizens == large.sample_citizens
    with (
        store(tmp_path / "small", "central.moi_household") as a,
        store(tmp_path / "large", "central.moi_household") as b,
    ):
        query = "SELECT idn, surname, given_name, birth_ymd FROM persons ORDER BY per_id"
        assert b.execute(query).fetchall()[:240] == a.execute(query).fetchall()[:240]


@pytest.mark.slow
def test_writer_processes_produce_the_same_rows_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = 2 * generate.CHUNK_PEOPLE + 7
    monkeypatch.setattr(generate, "_PARALLEL_FROM_CHUNKS", 1_000)
    serial = generate_registries(tmp_path / "serial", people=people, seed=3)
    monkeypatch.setattr(generate, "_PARALLEL_FROM_CHUNKS", 2)
    parallel = generate_registries(tmp_path / "parallel", people=people, seed=3)
    assert serial == parallel
    assert not list((tmp_path / "parallel").glob("*.part*"))
    assert all_rows(tmp_path / "serial") == all_rows(tmp_path / "parallel")


def test_each_owning_agency_has_its_own_store_in_the_manifest(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, manifest = shared_registries
    assert load_manifest(directory) == manifest
    owners = {s.owner for s in manifest.stores}
    assert {"central.moi_household", "central.fia", "central.vac", "central.mnd"} <= owners
    for code in DEMO_JURISDICTIONS:
        for kind in (
            "land_office",
            "tax_office",
            "social_welfare",
            "economic_development",
            "household_office",
            "building_administration",
        ):
            assert f"{code}.{kind}" in owners
    for entry in manifest.stores:
        assert (directory / entry.path).is_file()
        assert entry.url == f"sqlite:///{entry.path}"
        assert entry.people == 10_000 and entry.seed == 20101225
        assert entry.schema_version
    assert manifest.store("taipei-city.land_office").datasets == (  # type: ignore[union-attr]
        "land_registration",
        "building_registration",
        "cadastral_map",
        "declared_land_value",
        "other_rights",
        "manual_land_register",
        "building_survey_drawing",
    )
    for undigitised in ("tainan-city", "yilan-county"):
        entry = manifest.store(f"{undigitised}.land_office")
        assert entry is not None and "cadastral_map" not in entry.datasets


def test_stores_keep_the_agencies_own_schemas(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, _ = shared_registries
    with store(directory, "central.moi_household") as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        birth = connection.execute("SELECT birth_ymd FROM persons LIMIT 1").fetchone()[0]
    assert {"persons", "households", "addresses", "life_events"} <= tables
    assert re.fullmatch(r"[0-9]{7}", birth)  # ROC-era YYYMMDD, as the legacy system keeps it
    with store(directory, "taipei-city.land_office") as connection:
        bldg = connection.execute("SELECT bldg_no, main_purpose FROM bldg_mark").fetchall()
    assert all(re.fullmatch(r"[0-9]{8}", no) for no, _ in bldg)
    assert {use for _, use in bldg} <= {"住家用", "商業用", "工業用"}


def test_every_national_id_is_valid_and_unique(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, _ = shared_registries
    with store(directory, "central.moi_household") as connection:
        ids = [r[0] for r in connection.execute("SELECT idn FROM persons")]
        spouses = {r[0] for r in connection.execute("SELECT spouse_idn FROM persons")} - {None}
    assert len(ids) == len(set(ids)) == 10_000
    assert all(is_valid_national_id(i) for i in ids)
    letters = Counter(i[0] for i in ids)
    assert letters.most_common(1)[0][0] == "F"  # New Taipei is the largest
    assert spouses <= set(ids)


def test_every_person_in_another_agency_store_is_in_the_household_register(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, _ = shared_registries
    with store(directory, "central.moi_household") as connection:
        known = {r[0] for r in connection.execute("SELECT idn FROM persons")}
    references = {
        "central.fia": "SELECT idn FROM unit_members",
        "central.vac": "SELECT idno FROM vet_master",
        "taipei-city.land_office": "SELECT owner_idno FROM land_own",
        "yilan-county.land_office": "SELECT owner_idno FROM bldg_own",
        "new-taipei-city.tax_office": "SELECT idn FROM ltx_bill",
        "tainan-city.social_welfare": "SELECT idn FROM lowinc_members",
        "keelung-city.economic_development": "SELECT resp_idno FROM biz_reg",
        "taipei-city.household_office": "SELECT idn FROM plate_residents",
    }
    for owner, query in references.items():
        with store(directory, owner) as connection:
            ids = {r[0] for r in connection.execute(query)}
        assert ids and ids <= known, owner


def test_fast_national_ids_equal_the_domain_rule() -> None:
    for letter in "ACDFGZ":
        for sex in (1, 2):
            for serial in (0, 1, 999, 1000, 4_567_890, 9_999_999):
                assert national_id(letter, sex, serial) == make_national_id(letter, sex, serial)


def test_proportions_are_realistic(shared_registries: tuple[Path, RegistryManifest]) -> None:
    directory, _ = shared_registries
    with store(directory, "central.moi_household") as connection:
        persons = connection.execute(
            "SELECT idn, surname, sex_code, birth_ymd, abor_code, death_ymd, hh_no FROM persons"
        ).fetchall()
        counties = Counter(
            r[0]
            for r in connection.execute(
                "SELECT a.county_name FROM persons p JOIN households h ON h.hh_no = p.hh_no "
                "JOIN addresses a ON a.addr_id = h.addr_id"
            )
        )
    total = len(persons)
    share = lambda n: n / total  # noqa: E731
    assert 0.45 < share(sum(r[2] == "1" for r in persons)) < 0.55
    assert 0.015 < share(sum(r[4] != "0" for r in persons)) < 0.035
    assert 0.004 < share(sum(r[5] is not None for r in persons)) < 0.011
    assert 0.08 < share(sum(r[1] == "陳" for r in persons)) < 0.14
    assert 2.1 < total / len({r[6] for r in persons}) < 3.2
    assert 0.22 < counties["臺北市"] / total < 0.32
    assert 0.38 < counties["新北市"] / total < 0.50
    assert any(len(r[1]) == 2 for r in persons)  # 歐陽, 張簡 ...
    adults = {r[0] for r in persons if int(r[3][:3]) <= 115 - 20}
    men_over_60 = {r[0] for r in persons if r[2] == "1" and int(r[3][:3]) <= 115 - 61}

    low = mid = disabled = 0
    businesses: set[str] = set()
    for code in DEMO_JURISDICTIONS:
        with store(directory, f"{code}.social_welfare") as connection:
            low += connection.execute(
                "SELECT count(*) FROM lowinc_members m JOIN lowinc_cases c USING (case_no) "
                "WHERE c.category IN ('1', '2', '3')"
            ).fetchone()[0]
            mid += connection.execute(
                "SELECT count(*) FROM lowinc_members m JOIN lowinc_cases c USING (case_no) "
                "WHERE c.category = 'M'"
            ).fetchone()[0]
            disabled += connection.execute("SELECT count(*) FROM disability_cards").fetchone()[0]
        with store(directory, f"{code}.economic_development") as connection:
            businesses |= {r[0] for r in connection.execute("SELECT resp_idno FROM biz_reg")}
    assert 0.018 < share(low) < 0.045
    assert 0.01 < share(mid) < 0.033
    assert 0.035 < share(disabled) < 0.07
    assert 0.018 < len(businesses & adults) / len(adults) < 0.045
    with store(directory, "central.vac") as connection:
        veterans = {r[0] for r in connection.execute("SELECT idno FROM vet_master")}
    assert veterans <= men_over_60
    assert 0.004 < len(veterans) / len(men_over_60) < 0.035


def test_most_owners_hold_land_where_they_live_and_some_elsewhere(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, _ = shared_registries
    with store(directory, "central.moi_household") as connection:
        home = dict(
            connection.execute(
                "SELECT p.idn, a.county_code FROM persons p JOIN households h ON h.hh_no = p.hh_no "
                "JOIN addresses a ON a.addr_id = h.addr_id"
            ).fetchall()
        )
    county = {
        "taipei-city": "63000",
        "new-taipei-city": "65000",
        "tainan-city": "67000",
        "keelung-city": "10017",
        "yilan-county": "10002",
    }
    owners: set[str] = set()
    elsewhere: set[str] = set()
    shares: Counter[tuple[int, int]] = Counter()
    for code in DEMO_JURISDICTIONS:
        with store(directory, f"{code}.land_office") as connection:
            for idn, num, den in connection.execute(
                "SELECT owner_idno, right_num, right_den FROM land_own"
            ):
                owners.add(idn)
                shares[(num, den)] += 1
                if home[idn] != county[code]:
                    elsewhere.add(idn)
    assert 0.05 < len(elsewhere) / len(owners) < 0.2
    assert shares[(1, 2)] > 0 and shares[(1, 3)] > 0 and shares[(1, 1)] > 0


def test_addresses_are_well_formed_taiwanese_addresses(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, _ = shared_registries
    with store(directory, "taipei-city.household_office") as connection:
        texts = [r[0] for r in connection.execute("SELECT full_addr FROM door_plates")]
    with store(directory, "central.moi_household") as connection:
        villages = {r[0] for r in connection.execute("SELECT vill_name FROM addresses")}
    assert texts
    for text in texts:
        parsed = parse_address(text)
        assert str(parsed) == text
        assert parsed.city == "臺北市" and parsed.village is not None
    assert any(v.endswith("村") for v in villages)  # 鄉 in Yilan have 村, not 里


def test_registry_numbers_follow_their_formats(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, _ = shared_registries
    ids: list[str] = []
    for code in DEMO_JURISDICTIONS:
        with store(directory, f"{code}.economic_development") as connection:
            ids += [r[0] for r in connection.execute("SELECT ban FROM biz_reg")]
        with store(directory, f"{code}.land_office") as connection:
            lands = [r[0] for r in connection.execute("SELECT land_no FROM land_mark")]
        assert all(re.fullmatch(r"[0-9]{8}", no) and no[:4] != "0000" for no in lands)
    assert ids and len(ids) == len(set(ids))
    assert all(business_checksum_ok(ban) for ban in ids)
    assert not business_checksum_ok("12345678")
    assert business_checksum_ok("04595257")


def test_life_events_are_numbered_per_person_in_date_order(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, manifest = shared_registries
    with store(directory, "central.moi_household") as connection:
        events = connection.execute(
            "SELECT idn, seq, event_code, event_ymd, detail FROM life_events ORDER BY idn, seq"
        ).fetchall()
        deaths = dict(connection.execute("SELECT idn, death_ymd FROM persons").fetchall())
    by_person: dict[str, list[tuple[object, ...]]] = {}
    for event in events:
        by_person.setdefault(str(event[0]), []).append(event)
    assert len(by_person) == 10_000
    for idn, items in by_person.items():
        assert [e[1] for e in items] == list(range(1, len(items) + 1))
        assert items[0][2] == "B"
        assert [e[3] for e in items] == sorted(str(e[3]) for e in items)
        assert (items[-1][2] == "D") == (deaths[idn] is not None)
    codes = Counter(e[2] for e in events)
    assert {"B", "M", "V", "N", "D", "R"} <= set(codes)
    renamed = by_person[manifest.sample("name_changed").national_id]
    assert ("N", "劉淑貞") in [(e[2], e[4]) for e in renamed]


def test_sample_citizens_are_planted_from_200_people(tmp_path: Path) -> None:
    manifest = generate_registries(tmp_path, people=200)
    assert set(manifest.sample_citizens) == SAMPLE_KEYS
    for sample in manifest.sample_citizens.values():
        assert is_valid_national_id(sample.national_id)
        assert sample.description_key == f"demo.sample.{sample.key}"
    assert manifest.sample("land_elsewhere").jurisdictions == ("taipei-city", "yilan-county")
    assert manifest.sample("yilan_resident").jurisdiction == "yilan-county"


def test_only_the_requested_jurisdictions_get_stores(tmp_path: Path) -> None:
    manifest = generate_registries(tmp_path, people=300, jurisdictions=["taipei-city"])
    assert manifest.jurisdictions == ("taipei-city",)
    assert {s.jurisdiction for s in manifest.stores} == {None, "taipei-city"}
    assert set(manifest.sample_citizens) == {
        "low_income_applicant",
        "taipei_home_owner",
        "name_changed",
    }
    with store(tmp_path, "central.moi_household") as connection:
        counties = {r[0] for r in connection.execute("SELECT county_name FROM addresses")}
    assert counties == {"臺北市"}


def test_progress_is_reported_up_to_the_total(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    generate_registries(tmp_path, people=500, progress=lambda *a: seen.append(a))
    assert ("people", 500, 500) in seen
    assert seen[-1] == ("indexes", 34, 34)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"people": 0}, ValueError), ({"jurisdictions": ["kaohsiung-city"]}, KeyError)],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        generate_registries(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "manifest.json").exists()


def test_kinship_records_are_kept_where_each_person_is_registered(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    """Part of every city's population has 親等資料; the planted family's records are kept by
    four cities' offices, the grandparents' with their Japanese-era register."""
    directory, manifest = shared_registries
    deceased = manifest.sample("kinship_deceased").national_id
    holders: dict[str, str] = {}
    registers: list[str] = []
    for code in manifest.jurisdictions:
        with store(directory, f"{code}.household_office") as connection:
            people = connection.execute("SELECT COUNT(*) FROM kin_persons").fetchone()[0]
            plates = connection.execute("SELECT COUNT(*) FROM plate_residents").fetchone()[0]
            assert 0 < people < plates, code  # part of the population, in every city
            for (idn,) in connection.execute(
                "SELECT idn FROM kin_links WHERE rel_idn = ? OR idn = ?", (deceased, deceased)
            ):
                holders[idn] = code
            registers += [
                r for (r,) in connection.execute("SELECT jp_register FROM kin_persons") if r
            ]
    assert set(holders.values()) == {
        "taipei-city",
        "new-taipei-city",
        "keelung-city",
        "yilan-county",
    }
    assert len(registers) == 2 and all("戶口調查簿" in r for r in registers)
