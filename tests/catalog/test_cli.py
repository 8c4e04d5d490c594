"""``onceonly catalog``: validate, load, export and show, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from onceonly.catalog.loader import DATA_DIR
from onceonly.cli import app

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, empty_database_url: str) -> str:
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "zh-TW")
    return empty_database_url


def test_validate_packaged_catalog() -> None:
    result = runner.invoke(app, ["catalog", "validate"])
    assert result.exit_code == 0, result.output
    assert "資料目錄正確" in result.output


def test_validate_broken_copy_exits_1_with_both_languages(catalog_copy: Path) -> None:
    path = catalog_copy / "application_items.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    del data["application_items"][0]["required_evidence"][2]["legal_basis"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    result = runner.invoke(app, ["catalog", "validate", str(catalog_copy)])
    assert result.exit_code == 1
    assert (
        "application_items.yaml: application_items[0].required_evidence[2].legal_basis: "
        "缺少法源依據：沒有法源依據的證明資料不得調閱 / "
        "missing legal basis: evidence without a legal basis is refused"
    ) in result.output
    assert "資料目錄有 1 個錯誤，未載入任何資料" in result.output


def test_load_broken_copy_loads_nothing(env: str, catalog_copy: Path) -> None:
    (catalog_copy / "agencies.yaml").write_text("agencies: [\n", "utf-8")
    result = runner.invoke(app, ["catalog", "load", str(catalog_copy)])
    assert result.exit_code == 1
    assert "agencies.yaml: line" in result.output
    shown = runner.invoke(app, ["catalog", "show", "public-housing-low-income"])
    assert shown.exit_code == 1


def test_load_show_export(env: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["catalog", "load"])
    assert result.exit_code == 0, result.output
    assert "已載入資料目錄" in result.output and "items 89" in result.output

    shown = runner.invoke(
        app, ["catalog", "show", "public-housing-low-income"], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    for text in (
        "低收入戶申請等候承租國宅",
        "戶籍謄本",
        "household_income_below",
        "稅捐稽徵法第33條",
    ):
        assert text in shown.output

    missing = runner.invoke(app, ["catalog", "show", "no-such-item"])
    assert missing.exit_code == 1 and "no-such-item" in missing.output

    target = tmp_path / "out"
    exported = runner.invoke(app, ["catalog", "export", str(target)])
    assert exported.exit_code == 0, exported.output
    assert (target / "agencies.yaml").read_bytes() == (DATA_DIR / "agencies.yaml").read_bytes()


def test_every_command_has_help() -> None:
    result = runner.invoke(app, ["catalog", "--help"])
    assert result.exit_code == 0
    for command in ("validate", "load", "export", "show"):
        assert command in result.output
