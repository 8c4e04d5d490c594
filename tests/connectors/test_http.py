"""An HTTP JSON source: the reference agency service answers through a connector file the
same things the household register's SQL store answers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from onceonly.cli import app
from onceonly.connectors import ConnectorInvalid, load_connector, provider_for
from onceonly.connectors.check import check_dataset
from onceonly.connectors.engine import ConnectorProvider
from onceonly.demo.registries import RegistryManifest
from onceonly.providers.base import ProviderUnavailable
from tests.connectors.agency_service import KEY_HEADER, AgencyService, serve

HR = "household_registration"
SECRET = "s3cret-key-of-the-agency"

CONNECTOR = """
connector: 1
owner: central.moi_household
system: RIS-API 2
source:
  kind: http
  base_url: {base}
  timeout: 2.0
  auth: {{header: {header}, env: AGENCY_KEY}}
  as_of: {{endpoint: /api/v2/extract, from: extracted, convert: roc_date}}
codes:
  county: {{"63000": taipei-city, "65000": new-taipei-city, "67000": tainan-city,
           "10017": keelung-city, "10002": yilan-county}}
  sex: {{"1": M, "2": F}}
datasets:
  household_registration:
    endpoint: /api/v2/people/{{subject}}
    records: result.person
    sample: /api/v2/sample
    fields:
      national_id: idn
      name: {{from: [name.family, name.given], convert: concat}}
      sex: {{from: sex, convert: {{use: code, table: sex}}}}
      birth_date: {{from: born, convert: roc_date}}
      household_id: {{from: household.no, convert: strip}}
      relationship_to_head: {{value: other}}
      address: addr.full
      jurisdiction: {{from: addr.county, convert: {{use: code, table: county}}}}
      district: addr.town
      is_alive: {{from: died, convert: is_null}}
    predicates:
      is_registered_resident_of:
        params:
          jurisdiction: {{type: string}}
        endpoint: /api/v2/people/{{subject}}/status?asked={{jurisdiction}}
        records: status
        holds: all
        when:
          - {{from: died, op: is_null}}
          - {{from: county, convert: {{use: code, table: county}}, op: eq, param: jurisdiction}}
"""


def _people(registries: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The sample citizens as the agency's API shapes them (read from the demo store)."""
    connection = sqlite3.connect(registries / "central.moi_household.sqlite")
    people = {}
    for nid in ids:
        row = connection.execute(
            "SELECT p.idn, p.surname, p.given_name, p.sex_code, p.birth_ymd, p.hh_no, "
            "a.county_code, a.town_name, p.death_ymd FROM persons p "
            "JOIN households h ON h.hh_no = p.hh_no JOIN addresses a ON a.addr_id = h.addr_id "
            "WHERE p.idn = ?",
            (nid,),
        ).fetchone()
        idn, surname, given, sex, born, hh_no, county, town, died = row
        people[idn] = {
            "idn": idn,
            "name": {"family": surname, "given": given},
            "sex": sex,
            "born": born,
            "household": {"no": f" {hh_no}  "},
            "addr": {"county": county, "town": town, "full": f"{town}某路1號"},
            "died": died,
        }
    connection.close()
    return people


@pytest.fixture(scope="module")
def service(shared_registries: tuple[Path, RegistryManifest]) -> AgencyService:
    ids = [c.national_id for c in shared_registries[1].sample_citizens.values()]
    return AgencyService(_people(shared_registries[0], ids), SECRET)


@pytest.fixture(scope="module")
def base_url(service: AgencyService) -> Iterator[str]:
    with serve(service) as url:
        yield url


@pytest.fixture
def connector_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "moi-api.connector.yaml"
    path.write_text(CONNECTOR.format(base=base_url, header=KEY_HEADER), "utf-8")
    return path


@pytest.fixture
def provider(
    connector_file: Path, monkeypatch: pytest.MonkeyPatch, service: AgencyService
) -> Iterator[ConnectorProvider]:
    monkeypatch.setenv("AGENCY_KEY", SECRET)
    service.delay, service.down = 0.0, False
    made = provider_for(load_connector(connector_file))
    yield made
    made.close()
    service.delay, service.down = 0.0, False


def test_http_answers_like_the_sql_store(
    provider: ConnectorProvider, shared_registries: tuple[Path, RegistryManifest]
) -> None:
    sql = provider_for(
        load_connector(shared_registries[0] / "central.moi_household.connector.yaml")
    )
    same = ["national_id", "name", "sex", "birth_date", "household_id", "jurisdiction",
            "district", "is_alive"]  # fmt: skip
    try:
        for citizen in shared_registries[1].sample_citizens.values():
            nid = citizen.national_id
            got, want = provider.fetch(HR, nid, same), sql.fetch(HR, nid, same)
            assert got is not None and want is not None
            assert got.fields == want.fields and got.source_updated_at == "2026-06-30"
            for jurisdiction in ("taipei-city", "tainan-city"):
                params = {"jurisdiction": jurisdiction}
                assert (
                    provider.evaluate(HR, "is_registered_resident_of", nid, params).value
                    == sql.evaluate(HR, "is_registered_resident_of", nid, params).value
                )
    finally:
        sql.close()
    assert provider.fetch(HR, "A123456789", ["name"]) is None
    assert not provider.evaluate(
        HR, "is_registered_resident_of", "A123456789", {"jurisdiction": "taipei-city"}
    ).value
    only = provider.fetch(HR, next(iter(shared_registries[1].sample_citizens.values())).national_id,
                          ["sex"])  # fmt: skip
    assert only is not None and list(only.fields) == ["sex"]


def test_request_values_are_escaped_into_the_url(
    provider: ConnectorProvider, service: AgencyService
) -> None:
    nid = next(iter(service.people))
    hostile = "taipei-city&asked=tainan-city/../x?y#z"
    service.asked.clear()
    provider.evaluate(HR, "is_registered_resident_of", nid, {"jurisdiction": hostile})
    assert service.asked == [{"asked": hostile}]
    assert provider.fetch(HR, "../extract", ["name"]) is None


def test_down_slow_or_refused_is_unavailable(
    provider: ConnectorProvider, service: AgencyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    nid = next(iter(service.people))
    service.down = True
    with pytest.raises(ProviderUnavailable) as raised:
        provider.fetch(HR, nid, ["name"])
    assert raised.value.retry_after == 17
    service.down, service.delay = False, 5.0  # past the 2 s timeout
    with pytest.raises(ProviderUnavailable) as raised:
        provider.fetch(HR, nid, ["name"])
    # the clerk reads why in words, in each language, not the HTTP library's exception name
    reason = raised.value.reason
    assert isinstance(reason, dict), reason
    assert reason["zh-TW"].startswith("未在時限內回應")
    assert reason["en"].startswith("did not answer in time") and "Timeout" not in reason["en"]
    service.delay = 0.0
    assert provider.fetch(HR, nid, ["name"]) is not None
    provider.close()
    monkeypatch.setenv("AGENCY_KEY", "wrong")
    with pytest.raises(ProviderUnavailable) as raised:
        provider.fetch(HR, nid, ["name"])
    assert "HTTP 401" in raised.value.reason_in("en")
    assert "HTTP 401" in raised.value.reason_in("zh-TW") and "對方系統" in raised.value.reason_in(
        "zh-TW"
    )
    provider.close()
    monkeypatch.delenv("AGENCY_KEY")
    with pytest.raises(ProviderUnavailable) as raised:
        provider.fetch(HR, nid, ["name"])
    assert KEY_HEADER in raised.value.reason_in("en") and KEY_HEADER in raised.value.reason_in(
        "zh-TW"
    )


def test_a_check_of_a_source_that_does_not_answer_says_so_in_words(
    provider: ConnectorProvider, service: AgencyService
) -> None:
    service.delay = 5.0  # past the 2 s timeout
    report = check_dataset(provider, HR, subjects=[next(iter(service.people))])
    service.delay = 0.0
    [problem] = report.problems
    assert "did not answer in time" in problem and "zh-TW" not in problem, problem


def test_the_secret_never_sits_in_the_file(connector_file: Path) -> None:
    assert SECRET not in connector_file.read_text("utf-8")
    data = yaml.safe_load(connector_file.read_text("utf-8"))
    data["source"]["auth"] = {"header": KEY_HEADER, "value": SECRET}
    connector_file.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.raises(ConnectorInvalid, match=r"source\.auth"):
        load_connector(connector_file)


def test_check_runs_against_the_http_source(
    connector_file: Path, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    monkeypatch.setenv("AGENCY_KEY", SECRET)
    result = CliRunner().invoke(
        app, ["connector", "check", str(connector_file), "--on", "2026-06-30"]
    )
    assert result.exit_code == 0, result.output
    assert "household_registration" in result.output
