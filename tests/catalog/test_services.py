"""The catalog's Open311 service types (services.yaml): checks, load, CLI, per-city views."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from onceonly.catalog.loader import DATA_DIR, SERVICES_FILE, validate_catalog
from onceonly.cli import app

runner = CliRunner()


def _edit(copy: Path, change: object) -> None:
    path = copy / SERVICES_FILE
    data = yaml.safe_load(path.read_text("utf-8"))
    change(data["services"])  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def test_the_packaged_services_cover_the_demo_cities() -> None:
    services = yaml.safe_load((DATA_DIR / SERVICES_FILE).read_text("utf-8"))["services"]
    codes = {s["code"] for s in services}
    assert {"streetlight-out", "pothole", "illegal-parking", "noise", "fallen-tree",
            "stray-animal", "garbage"} <= codes  # fmt: skip
    assert all(s["answer_zh"] and s["answer_en"] for s in services)
    assert any(s.get("jurisdictions") for s in services)  # a city's own service
    assert any(s.get("extensions") for s in services)  # a city's extra attribute


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda s: s[0].update(agency_kind="sewers"), "services[0].agency_kind", "sewers"),
        (
            lambda s: s[0].update(jurisdictions=["taipei-city", "atlantis"]),
            "services[0].jurisdictions[1]",
            "atlantis",
        ),
        (
            lambda s: s[1]["extensions"]["taipei-city"][0].update(code="size"),
            "services[1].extensions.taipei-city[0].code",
            "size",
        ),
        (lambda s: s[0]["attributes"][1].pop("values"), "services[0].attributes[1]", "values"),
        (lambda s: s.append(dict(s[0])), "services[8].code", "streetlight-out"),
    ],
)
def test_broken_services_are_named(
    catalog_copy: Path, change: object, path: str, words: str
) -> None:
    _edit(catalog_copy, change)
    errors = validate_catalog(catalog_copy)
    assert any(e.file == SERVICES_FILE and e.path == path for e in errors), errors
    assert any(words in e.reason for e in errors if e.path == path), errors


def test_catalog_without_services_file_is_still_valid(catalog_copy: Path) -> None:
    (catalog_copy / SERVICES_FILE).unlink()
    assert validate_catalog(catalog_copy) == []


def test_cli_lists_services_per_city(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, empty_database_url: str
) -> None:
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "zh-TW")
    assert runner.invoke(app, ["catalog", "load"]).exit_code == 0
    tainan = runner.invoke(
        app, ["catalog", "services", "--jurisdiction", "tainan-city"], env={"COLUMNS": "200"}
    )
    assert tainan.exit_code == 0, tainan.output
    assert "登革熱孳生源" in tainan.output and "dig_permit_number" not in tainan.output
    taipei = runner.invoke(
        app, ["catalog", "services", "--jurisdiction", "taipei-city"], env={"COLUMNS": "200"}
    )
    assert "dig_permit_number" in taipei.output and "登革熱" not in taipei.output
    target = tmp_path / "out"
    assert runner.invoke(app, ["catalog", "export", str(target)]).exit_code == 0
    assert (target / SERVICES_FILE).read_bytes() == (DATA_DIR / SERVICES_FILE).read_bytes()
