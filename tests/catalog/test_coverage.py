"""The report's lists of paper-free items (表2-3, 表2-6, 表2-7) against the catalog:
``onceonly catalog coverage`` and the promise that no listed item is silently dropped."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from onceonly.catalog.coverage import coverage, read_report_tables
from onceonly.catalog.loader import DATA_DIR, read_catalog
from onceonly.catalog.schema import ApplicationItemSpec
from onceonly.cli import app

runner = CliRunner()


@pytest.fixture
def zh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "zh-TW")


def test_report_lists_are_counted_as_the_issue_counts_them() -> None:
    tables = read_report_tables()
    counts = {t.table: sum(len(a.items) for a in t.agencies) for t in tables.tables}
    assert counts == {"表2-3": 74, "表2-6": 14, "表2-7": 1}
    codes = Counter(i.item for t in tables.tables for a in t.agencies for i in a.items)
    assert [c for c, n in codes.items() if n > 1] == []


def test_packaged_catalog_covers_every_listed_item_with_time_limit_and_form() -> None:
    catalog, errors = read_catalog(DATA_DIR)
    assert catalog is not None, errors
    rows = coverage(catalog.items.application_items, read_report_tables())
    assert [(r.table, r.covered, r.listed) for r in rows] == [
        ("表2-3", 74, 74),
        ("表2-6", 14, 14),
        ("表2-7", 1, 1),
    ]
    assert all(r.complete and not r.gaps for r in rows)
    for item in catalog.items.application_items:
        if item.time_limit_days is not None:
            assert item.time_limit_source and item.form is not None, item.code
            if item.time_limit_demo:
                assert "示範值" in item.time_limit_source, item.code


def test_cli_prints_each_table(zh: None) -> None:
    result = runner.invoke(app, ["catalog", "coverage"])
    assert result.exit_code == 0, result.output
    assert (
        "表2-3 臺北市政府推動免書證免謄本之業務機關與申請項目：已涵蓋 74 / 列出 74 項"
        in result.output
    )
    assert "表2-6 臺中市政府推動免書證免謄本之情形：已涵蓋 14 / 列出 14 項" in result.output
    assert "表2-7 臺南市政府推動免書證免謄本之情形：已涵蓋 1 / 列出 1 項" in result.output
    assert "合計：已涵蓋 89 / 列出 89 項" in result.output


def test_dropping_an_item_is_reported_and_fails(zh: None, catalog_copy: Path) -> None:
    path = catalog_copy / "application_items.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["application_items"] = [
        i for i in data["application_items"] if i["code"] != "tax-correction"
    ]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    result = runner.invoke(app, ["catalog", "coverage", str(catalog_copy)])
    assert result.exit_code == 1
    assert "已涵蓋 73 / 列出 74 項" in result.output
    assert (
        "缺：臺北市財政局「一般各稅申請更正」（tax-correction）：資料目錄沒有此申請項目"
        in result.output
    )


def test_an_item_without_its_time_limit_or_form_is_not_covered(catalog_copy: Path) -> None:
    path = catalog_copy / "application_items.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    for item in data["application_items"]:
        if item["code"] == "land-loss-survey":
            del item["form"]
        if item["code"] == "kinship-chart":
            del item["time_limit_days"], item["time_limit_source"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    catalog, errors = read_catalog(catalog_copy)
    assert catalog is not None, errors
    rows = {r.table: r for r in coverage(catalog.items.application_items, read_report_tables())}
    assert [(g.item, g.reason) for g in rows["表2-6"].gaps] == [("land-loss-survey", "no_form")]
    assert [(g.item, g.reason) for g in rows["表2-7"].gaps] == [("kinship-chart", "no_time_limit")]


def test_time_limit_needs_its_source() -> None:
    base = {
        "code": "x",
        "name_zh": "甲",
        "name_en": "A",
        "agency_kind": "labour",
        "source": "表2-3",
        "legal_bases": ["pdpa-art16"],
        "required_evidence": [
            {
                "dataset": "income",
                "fields": ["tax_year"],
                "legal_basis": "pdpa-art16",
                "paper_name_zh": "甲",
                "paper_name_en": "A",
                "purpose_zh": "甲",
            }
        ],
    }
    with pytest.raises(ValidationError, match="time_limit_source"):
        ApplicationItemSpec.model_validate({**base, "time_limit_days": 7})
    spec = ApplicationItemSpec.model_validate(
        {**base, "time_limit_days": 7, "time_limit_source": "行政程序法第51條"}
    )
    assert spec.time_limit_days == 7
