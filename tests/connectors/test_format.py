"""The connector file format: errors name the file, the path and the reason; request
values are bound, never pasted into SQL; ``onceonly connector check`` reports field by
field and fails on errors."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from onceonly.cli import app
from onceonly.connectors import ConnectorInvalid, load_connector, provider_for, read_connector
from onceonly.demo.registries import RegistryManifest
from onceonly.providers.base import InvalidPredicateParams, ProviderUnavailable
from onceonly.providers.registry import load_providers

HOUSEHOLD = "central.moi_household.connector.yaml"


def _edit(source: Path, target: Path, change: object) -> Path:
    data = yaml.safe_load(source.read_text("utf-8"))
    change(data)  # type: ignore[operator]
    target.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return target


@pytest.fixture
def own(tmp_path: Path, shared_registries: tuple[Path, RegistryManifest]) -> Path:
    target = tmp_path / "registries"
    shutil.copytree(shared_registries[0], target)
    return target


def _reasons(path: Path) -> list[tuple[str, str]]:
    connector, errors = read_connector(path)
    assert connector is None
    for error in errors:
        assert error.file == str(path) and error.reason and error.reason_zh
    return [(e.path, e.reason) for e in errors]


def test_every_demo_connector_loads_and_names_its_owner(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    directory, manifest = shared_registries
    for store in manifest.stores:
        connector = load_connector(directory / f"{store.owner}.connector.yaml")
        assert connector.owner == store.owner
        assert set(connector.spec.datasets) == set(store.datasets)


def test_errors_name_file_path_and_reason(own: Path) -> None:
    def break_it(data: dict) -> None:  # type: ignore[type-arg]
        hr = data["datasets"]["household_registration"]
        hr["fields"]["name"] = {"from": ["p.surname", "p.given_name"]}  # two values, no concat
        hr["fields"]["sex"]["convert"] = {"use": "code", "table": "sexes"}
        hr["fields"]["favourite_colour"] = "p.colour"
        hr["fields"]["birth_date"] = "p.birth_ymd || '; DROP TABLE persons'"
        hr["predicates"]["is_rich"] = {"query": "SELECT 1 WHERE :x", "holds": "exists"}
        data["source"]["url"] = "postgresql+psycopg://clerk:hunter2@db/ris"
        data["surprise"] = 1

    path = _edit(own / HOUSEHOLD, own / "broken.connector.yaml", break_it)
    reasons = dict(_reasons(path))
    hr = "datasets.household_registration"
    assert "several values" in reasons[f"{hr}.fields.name"]
    assert "password" in reasons["source.url"]
    assert "unknown key" in reasons["surprise"]
    assert ":x" in reasons[f"{hr}.predicates.is_rich"]

    # checks against the whole file and the catalog come once the models are valid
    def second(data: dict) -> None:  # type: ignore[type-arg]
        hr = data["datasets"]["household_registration"]
        hr["fields"]["sex"]["convert"] = {"use": "code", "table": "sexes"}
        hr["fields"]["favourite_colour"] = "p.colour"
        hr["fields"]["birth_date"] = "p.birth_ymd || '; DROP TABLE persons'"
        hr["predicates"]["is_rich"] = {
            "query": "SELECT 1 FROM persons WHERE idn = :subject",
            "holds": "exists",
        }

    path = _edit(own / HOUSEHOLD, own / "broken.connector.yaml", second)
    reasons = dict(_reasons(path))
    assert "sexes" in reasons[f"{hr}.fields.sex.convert[0].table"]
    assert "favourite_colour" in reasons[f"{hr}.fields.favourite_colour"]
    assert "not a column" in reasons[f"{hr}.fields.birth_date.from[0]"]
    assert "is_rich" in reasons[f"{hr}.predicates.is_rich"]
    with pytest.raises(ConnectorInvalid):
        load_providers(own)


def test_yaml_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "x.connector.yaml"
    path.write_text("connector: 1\nowner: [unclosed\n", "utf-8")
    [(where, reason)] = _reasons(path)
    assert where.startswith("line ") and "YAML" in reason


def test_a_query_must_be_about_the_subject(own: Path) -> None:
    """A query that does not bind the subject would answer with someone else's record."""
    hr = "datasets.household_registration"

    def dataset(data: dict) -> None:  # type: ignore[type-arg]
        data["datasets"]["household_registration"]["query"] = "SELECT {columns} FROM persons p"

    def predicate(data: dict) -> None:  # type: ignore[type-arg]
        hr = data["datasets"]["household_registration"]
        hr["predicates"]["is_registered_resident_of"]["query"] = "SELECT 1 AS found"

    for change, where in ((dataset, hr), (predicate, f"{hr}.predicates.is_registered_resident_of")):
        path = _edit(own / HOUSEHOLD, own / "anyone.connector.yaml", change)
        assert ":subject" in dict(_reasons(path))[where]


def test_predicate_parameters_are_bound_not_pasted(
    own: Path, shared_registries: tuple[Path, RegistryManifest]
) -> None:
    """A parameter full of SQL is compared as a value: no injection, and the store survives."""
    nid = shared_registries[1].sample("low_income_applicant").national_id

    def in_sql(data: dict) -> None:  # type: ignore[type-arg]
        """The same predicate with the parameter compared inside the query."""
        data["datasets"]["household_registration"]["predicates"]["is_registered_resident_of"] = {
            "params": {"jurisdiction": {"type": "string"}},
            "query": "SELECT 1 AS found FROM persons p JOIN households h ON h.hh_no = p.hh_no "
            "JOIN addresses a ON a.addr_id = h.addr_id WHERE p.idn = :subject "
            "AND a.county_code = :jurisdiction AND p.death_ymd IS NULL",
            "holds": "exists",
        }

    path = _edit(own / HOUSEHOLD, own / "bound.connector.yaml", in_sql)
    provider = provider_for(load_connector(path))
    try:
        resident = "household_registration", "is_registered_resident_of", nid
        assert provider.evaluate(*resident, {"jurisdiction": "63000"}).value is True
        hostile = "x' OR '1'='1"
        assert provider.evaluate(*resident, {"jurisdiction": hostile}).value is False
        drop = "x'); DROP TABLE persons; --"
        assert provider.fetch("household_registration", drop, ["name"]) is None
        with pytest.raises(InvalidPredicateParams):
            provider.evaluate(
                "household_registration", "is_registered_resident_of", nid, {"jurisdiction": 7}
            )
    finally:
        provider.close()
    with sqlite3.connect(own / "central.moi_household.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM persons").fetchone()[0] > 0


def test_check_passes_on_the_demo_and_fails_field_by_field(own: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        app, ["connector", "check", str(own / HOUSEHOLD), "--limit", "30", "--on", "2026-06-30"]
    )
    assert ok.exit_code == 0, ok.output
    assert "household_registration" in ok.output and "national_id" in ok.output

    def miscode(data: dict) -> None:  # type: ignore[type-arg]
        data["codes"]["sex"] = {"1": "male", "2": "F"}  # "male" is not in the code list
        del data["datasets"]["household_registration"]["fields"]["household_id"]

    path = _edit(own / HOUSEHOLD, own / "miscoded.connector.yaml", miscode)
    bad = runner.invoke(app, ["connector", "check", str(path), "--limit", "30"])
    assert bad.exit_code == 1, bad.output
    sex_line = next(line for line in bad.output.splitlines() if "│ sex " in line)
    assert "code_list" in sex_line
    household_line = next(line for line in bad.output.splitlines() if "household_id" in line)
    assert "—" in household_line  # required, not mapped

    invalid = own / "invalid.connector.yaml"
    invalid.write_text("connector: 2\n", "utf-8")
    result = runner.invoke(app, ["connector", "check", str(invalid)])
    assert result.exit_code == 1 and "invalid.connector.yaml" in result.output


def test_check_reports_an_unreachable_source(own: Path) -> None:
    (own / "central.fia.sqlite").unlink()
    result = CliRunner().invoke(
        app, ["connector", "check", str(own / "central.fia.connector.yaml")]
    )
    assert result.exit_code == 1 and "store not found" in result.output


def test_every_demo_store_meets_the_standard_through_its_connector(
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    from datetime import date

    from onceonly.connectors.check import check_connector

    directory, manifest = shared_registries
    for store in manifest.stores:
        connector = load_connector(directory / f"{store.owner}.connector.yaml")
        provider = provider_for(connector)
        try:
            reports = check_connector(connector, provider, limit=15, today=date(2026, 6, 30))
        finally:
            provider.close()
        for report in reports:
            assert report.errors == 0, (store.owner, report)
            assert report.rows > 0, (store.owner, report)


def test_an_older_registries_directory_gets_its_connector_files(
    own: Path, shared_registries: tuple[Path, RegistryManifest]
) -> None:
    """A data directory made before connectors: the demo writes the missing files, the same
    as a fresh build would."""
    from onceonly.demo.connectors import ensure_connectors

    manifest = shared_registries[1]
    before = {p.name: p.read_text("utf-8") for p in own.glob("*.connector.yaml")}
    for path in own.glob("*.connector.yaml"):
        path.unlink()
    with load_providers(own) as empty:
        assert len(empty) == 0
    written = ensure_connectors(own, manifest)
    assert len(written) == len(manifest.stores)
    assert {p.name: p.read_text("utf-8") for p in own.glob("*.connector.yaml")} == before
    assert ensure_connectors(own, manifest) == []


def test_two_files_for_one_owner_are_refused(own: Path) -> None:
    shutil.copy(own / HOUSEHOLD, own / "again.connector.yaml")
    with pytest.raises(ConnectorInvalid) as raised:
        load_providers(own)
    [error] = raised.value.errors
    assert error.path == "owner" and "central.moi_household" in error.reason


def test_check_asks_the_predicates_and_names_a_broken_one(own: Path) -> None:
    runner = CliRunner()
    fia = own / "central.fia.connector.yaml"
    skipped = runner.invoke(app, ["connector", "check", str(fia), "--limit", "10"])
    assert skipped.exit_code == 0 and "--param" in skipped.output
    asked = runner.invoke(
        app, ["connector", "check", str(fia), "--limit", "10", "-p", "threshold=20379"]
    )
    assert asked.exit_code == 0 and "household_income_below" in asked.output, asked.output

    def typo(data: dict) -> None:  # type: ignore[type-arg]
        predicate = data["datasets"]["income"]["predicates"]["household_income_below"]
        predicate["query"] = predicate["query"].replace("u.mem_cnt", "u.member_count")

    path = _edit(fia, own / "typo.connector.yaml", typo)
    broken = runner.invoke(
        app, ["connector", "check", str(path), "--limit", "10", "-p", "threshold=20379"]
    )
    assert broken.exit_code == 1
    assert "household_income_below" in broken.output and "member_count" in broken.output
    bad = runner.invoke(app, ["connector", "check", str(fia), "-p", "threshold"])
    assert bad.exit_code == 2 and "名稱=值" in bad.output and "NAME=VALUE" in bad.output
    day = runner.invoke(app, ["connector", "check", str(fia), "--on", "2026-13-01"])
    assert day.exit_code == 2 and "YYYY-MM-DD" in day.output, day.output


def test_a_query_still_running_at_the_timeout_is_stopped_and_named_so(
    own: Path, shared_registries: tuple[Path, RegistryManifest]
) -> None:
    """A SQLite file is asked in the request's own thread (no pool to time it out), so the
    connector stops a query that runs past its timeout itself, and says so in words."""
    nid = shared_registries[1].sample("low_income_applicant").national_id

    def slow(data: dict) -> None:  # type: ignore[type-arg]
        data["source"]["timeout"] = 0.3
        data["datasets"]["household_registration"]["predicates"]["is_registered_resident_of"] = {
            "params": {"jurisdiction": {"type": "string"}},
            "query": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 1000000000) SELECT 1 AS found FROM n, persons p "
            "WHERE p.idn = :subject AND i = -1 AND :jurisdiction IS NOT NULL",
            "holds": "exists",
        }

    provider = provider_for(
        load_connector(_edit(own / HOUSEHOLD, own / "slow.connector.yaml", slow))
    )
    try:
        assert provider.answers_locally
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as stopped:
            provider.evaluate(
                "household_registration", "is_registered_resident_of", nid, {"jurisdiction": "x"}
            )
        assert time.monotonic() - started < 3
        assert stopped.value.reason_in("en") == "its query did not finish in 0.3 s"
        assert stopped.value.reason_in("zh-TW") == "查詢超過 0.3 秒仍未完成"
        # the connection it ran on is not left interrupted: the next question is answered
        assert provider.fetch("household_registration", nid, ["name"]) is not None
    finally:
        provider.close()
