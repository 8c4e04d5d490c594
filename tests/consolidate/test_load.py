"""Loading golden records into the merged city's store: one transaction, idempotent, and
then the exchange gives a clerk one answer about a person the legacy systems held twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.consolidate.load import LoadConflict, LoadError, store_of
from onceonly.consolidate.load_people import load_golden
from onceonly.consolidate.pipeline import read_golden, run_pipeline
from onceonly.consolidate.plan import load_plan
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.web.app import create_app
from tests.casework import open_case
from tests.conftest import DemoEnv
from tests.consolidate.conftest import DemoCopy

OWNER = "central.moi_household"


def _dump(store: Path) -> list[Any]:
    with sqlite3.connect(store) as connection:
        return [
            sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("persons", "households", "addresses")
        ]


@pytest.fixture
def golden(finished_run: Path) -> list[dict[str, Any]]:
    return read_golden(finished_run / "run")


@pytest.fixture
def store(demo_env: DemoEnv) -> Path:
    return store_of(demo_env.settings.registries_dir, OWNER)


def test_load_is_idempotent(store: Path, golden: list[dict[str, Any]]) -> None:
    before = _dump(store)
    first = load_golden(store, "demo", "tainan-city", golden)
    after_first = _dump(store)
    second = load_golden(store, "demo", "tainan-city", golden)
    assert first.rows["persons"] == second.rows["persons"] == len(golden)
    assert second.replaced == len(golden) and first.replaced == 0
    assert _dump(store) == after_first
    assert len(after_first[0]) == len(before[0]) + len(golden)


def test_the_register_is_written_with_its_own_county_code(
    store: Path, golden: list[dict[str, Any]]
) -> None:
    load_golden(store, "demo", "tainan-city", golden[:3])
    with sqlite3.connect(store) as connection:
        codes = connection.execute(
            "SELECT DISTINCT a.county_code FROM persons p JOIN households h ON h.hh_no = p.hh_no "
            "JOIN addresses a ON a.addr_id = h.addr_id WHERE p.idn IN (?, ?, ?)",
            [g["fields"]["national_id"] for g in golden[:3]],
        ).fetchall()
        assert codes == [("67000",)]
        connection.execute("UPDATE addresses SET county_name = '臺南' WHERE county_code = '67000'")
    with pytest.raises(LoadError) as caught:
        load_golden(store, "again", "tainan-city", golden[3:6])
    assert caught.value.key == "consolidate.load.unknown_county"


def test_a_failure_mid_load_leaves_the_store_unchanged(
    store: Path, golden: list[dict[str, Any]]
) -> None:
    household = sorted(g["fields"]["household_id"] for g in golden)[-1]
    with sqlite3.connect(store) as connection:  # a household the plan did not load
        connection.execute("INSERT INTO households VALUES (?, 'X', 0, 'x', NULL)", (household,))
    before = _dump(store)
    with pytest.raises(sqlite3.IntegrityError):  # raised after addresses and persons were written
        load_golden(store, "demo", "tainan-city", golden)
    assert _dump(store) == before


def test_a_national_id_held_by_another_record_stops_the_load(
    store: Path, golden: list[dict[str, Any]]
) -> None:
    with sqlite3.connect(store) as connection:
        existing = connection.execute("SELECT idn FROM persons LIMIT 1").fetchone()[0]
    clash = [{**golden[0], "fields": {**golden[0]["fields"], "national_id": existing}}]
    before = _dump(store)
    with pytest.raises(LoadConflict):
        load_golden(store, "demo", "tainan-city", clash + golden[1:])
    assert _dump(store) == before


def test_a_clerk_gets_one_answer_about_a_person_registered_twice(
    demo_env: DemoEnv, demo: DemoCopy
) -> None:
    plan_text = demo.plan.read_text("utf-8")
    registries = demo_env.settings.registries_dir
    demo.plan.write_text(plan_text + f"load:\n  registries: {registries}\n  owner: {OWNER}\n",
                         "utf-8")  # fmt: skip
    sessions = make_session_factory(make_engine(demo_env.settings.resolved_database_url))
    result = run_pipeline(load_plan(demo.plan), sessions)
    assert result.steps["load"] == "done"
    golden = read_golden(demo.directory / "run")
    person = next(
        g for g in golden
        if {m.split(":")[0] for m in g["members"]} == {"county", "city"}
        and len({c["value"] for c in g["lineage"]["address"]["candidates"]}) == 2
    )  # fmt: skip
    national_id = person["fields"]["national_id"]

    app = create_app(demo_env.settings)
    with TestClient(app) as client, transaction(app.state.sessions) as db:
        user = get_user(db, "tpe-udd-clerk")
        assert user is not None
        token, _ = issue_api_token(db, user, "test", 1)
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/evidence-requests",
            json={
                "case_id": open_case(
                    app.state.sessions, "tpe-udd-clerk", "public-housing-low-income", national_id
                ),
                "application_item": "public-housing-low-income",
                "subject": national_id,
                "evidence": [{"type": "household_registration"}],
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 1 and results[0]["status"] == "issued", results
    fields = results[0]["fields"]
    assert fields["name"] == person["fields"]["name"]
    assert fields["address"] == person["fields"]["address"]  # the newer of the two
    assert fields["jurisdiction"] == "tainan-city"
