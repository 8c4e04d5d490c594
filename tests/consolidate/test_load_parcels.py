"""Loading golden parcels into 臺南市's land office: one transaction, idempotent, refusing
parcels it did not load; then a clerk asking for an owner's land evidence gets one parcel
where the legacy land registers held two."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.cli import app as cli
from onceonly.consolidate.load import LoadConflict, LoadError, store_of
from onceonly.consolidate.load_parcels import load_parcels
from onceonly.consolidate.pipeline import read_golden
from onceonly.db import transaction
from onceonly.web.app import create_app
from tests.casework import open_case
from tests.conftest import DemoEnv
from tests.consolidate.conftest import DemoCopy

LAND_OFFICE = "tainan-city.land_office"
TABLES = ("sections", "land_mark", "land_own", "consolidate_loaded")


def _dump(store: Path) -> list[Any]:
    with sqlite3.connect(store) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS consolidate_loaded (plan TEXT, tbl TEXT, key TEXT)"
        )
        return [
            sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in TABLES
        ]


@pytest.fixture
def golden(finished_land_run: Path) -> list[dict[str, Any]]:
    return read_golden(finished_land_run / "run-land", lineage=False)


@pytest.fixture
def store(demo_env: DemoEnv) -> Path:
    return store_of(demo_env.settings.registries_dir, LAND_OFFICE, "land_registration")


def test_the_land_office_store_takes_only_land_records(demo_env: DemoEnv) -> None:
    registries = demo_env.settings.registries_dir
    with pytest.raises(LoadError) as caught:
        store_of(registries, LAND_OFFICE, "household_registration")
    assert caught.value.key == "consolidate.load.unsupported"


def test_parcels_load_is_idempotent(store: Path, golden: list[dict[str, Any]]) -> None:
    before = _dump(store)
    first = load_parcels(store, "land", "tainan-city", golden)
    after_first = _dump(store)
    second = load_parcels(store, "land", "tainan-city", golden)
    assert first.rows["parcels"] == second.rows["parcels"] == len(golden)
    assert first.replaced == 0 and second.replaced == len(golden)
    assert _dump(store) == after_first
    assert len(after_first[1]) == len(before[1]) + len(golden)
    assert len(after_first[0]) == len(before[0]) + first.rows["sections"] > len(before[0])


def test_a_rerun_with_fewer_parcels_leaves_what_one_run_of_them_leaves(
    store: Path, golden: list[dict[str, Any]], tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.sqlite"
    shutil.copyfile(store, fresh)
    load_parcels(fresh, "land", "tainan-city", golden[:10])
    load_parcels(store, "land", "tainan-city", golden)
    load_parcels(store, "land", "tainan-city", golden[:10])
    assert _dump(store) == _dump(fresh)  # the sections only the others needed are gone


def test_a_failure_on_a_later_row_leaves_the_land_office_unchanged(
    store: Path, golden: list[dict[str, Any]]
) -> None:
    load_parcels(store, "land", "tainan-city", golden[:5])  # a previous run, to be replaced
    last_owner = golden[-1]["fields"]["owner_national_id"]
    with sqlite3.connect(store) as connection:  # the store refuses the last owner row
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON land_own "
            f"WHEN NEW.owner_idno = '{last_owner}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    before = _dump(store)
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        load_parcels(store, "land", "tainan-city", golden)
    assert _dump(store) == before


def test_a_parcel_the_plan_did_not_load_stops_the_load(
    store: Path, golden: list[dict[str, Any]]
) -> None:
    fields = golden[-1]["fields"]
    with sqlite3.connect(store) as connection:  # registered there already, by someone else
        connection.execute(
            "INSERT INTO sections VALUES ('9999', ?, ?, NULL)",
            (fields["district"], fields["section"]),
        )
        connection.execute(
            "INSERT INTO land_mark VALUES (999999, '9999', ?, 1.0, '住宅區', 1)",
            (fields["parcel_no"].replace("-", ""),),
        )
    before = _dump(store)
    with pytest.raises(LoadConflict) as caught:
        load_parcels(store, "land", "tainan-city", golden)
    assert caught.value.params["count"] == 1
    assert fields["parcel_no"] in caught.value.params["first"]
    assert _dump(store) == before


def test_two_golden_records_of_one_parcel_stop_the_load(
    store: Path, golden: list[dict[str, Any]]
) -> None:
    twin = {**golden[0], "golden_id": "g-twin"}
    before = _dump(store)
    with pytest.raises(LoadError) as caught:
        load_parcels(store, "land", "tainan-city", [*golden, twin])
    assert caught.value.key == "consolidate.load.parcel_twice"
    assert caught.value.params["second"] == "g-twin"
    missing = {**golden[0], "fields": {**golden[0]["fields"], "registered_on": None}}
    with pytest.raises(LoadError) as caught:
        load_parcels(store, "land", "tainan-city", [missing, *golden[1:]])
    assert caught.value.params == {"record": golden[0]["golden_id"], "field": "registered_on"}
    assert _dump(store) == before


def _token(app: Any, username: str) -> str:
    with transaction(app.state.sessions) as db:
        user = get_user(db, username)
        assert user is not None
        token, _ = issue_api_token(db, user, "test", 1)
    return token


def test_a_clerk_gets_one_parcel_about_an_owner_whose_parcel_was_registered_twice(
    demo_env: DemoEnv, demo: DemoCopy
) -> None:
    registries = demo_env.settings.registries_dir
    for plan, owner in ((demo.plan, "central.moi_household"), (demo.land_plan, LAND_OFFICE)):
        text = plan.read_text("utf-8")
        plan.write_text(f"{text}load:\n  registries: {registries}\n  owner: {owner}\n", "utf-8")
    env = {"ONCEONLY_DATABASE_URL": demo_env.settings.resolved_database_url, "COLUMNS": "200"}
    result = CliRunner(env=env).invoke(
        cli, ["consolidate", "run", str(demo.plan), "--lang", "en"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "Plan tainan-land-demo (target dataset land_registration)" in result.output
    assert (demo.directory / "run-land" / "steps" / "load.json").is_file()

    golden = read_golden(demo.directory / "run-land")
    parcels_of: dict[str, int] = {}
    for g in golden:
        owner = g["fields"]["owner_national_id"]
        parcels_of[owner] = parcels_of.get(owner, 0) + 1
    twice = next(
        g
        for g in golden
        if len(g["members"]) == 2
        and parcels_of[g["fields"]["owner_national_id"]] == 1
        and g["lineage"]["owner_national_id"]["reason"] == "agreed"
    )
    owner = twice["fields"]["owner_national_id"]

    app = create_app(demo_env.settings)
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/evidence-requests",
            json={
                "case_id": open_case(
                    app.state.sessions, "tnn-tax-clerk", "land-value-tax-self-use", owner
                ),
                "application_item": "land-value-tax-self-use",
                "subject": owner,
                "evidence": [{"type": "land_registration"}],
            },
            headers={"Authorization": f"Bearer {_token(app, 'tnn-tax-clerk')}"},
        )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 1 and results[0]["status"] == "issued", results
    parcels = results[0]["fields"]["parcels"]
    assert len(parcels) == 1, parcels  # the legacy registers held it twice
    (parcel,) = parcels
    expected = twice["fields"]
    assert (parcel["section"], parcel["parcel_no"]) == (expected["section"], expected["parcel_no"])
    assert parcel["district"] == expected["district"]
    assert parcel["area_m2"] == expected["area_m2"]
    assert parcel["registered_on"] == expected["registered_on"]
    assert parcel["jurisdiction"] == "tainan-city"
