"""Every kind of legacy source reads to the same text table: CSV, Excel, SQLite, any
SQLAlchemy URL; and the CLI writes demo data whose plan runs."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.consolidate.plan import load_plan
from onceonly.consolidate.sources import RECORD_ID, read_source


def test_excel_sqlite_and_url_sources_read_alike(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["consolidate", "demo-data", str(tmp_path / "xl"), "--records", "60", "--excel",
              "--lang", "en"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "plan:" in result.output
    CliRunner().invoke(cli, ["consolidate", "demo-data", str(tmp_path / "db"), "--records", "60"])
    from_excel = read_source(
        load_plan(tmp_path / "xl" / "plan.yaml"),
        load_plan(tmp_path / "xl" / "plan.yaml").model.sources[1],
    )
    sqlite_plan = load_plan(tmp_path / "db" / "plan.yaml")
    from_sqlite = read_source(sqlite_plan, sqlite_plan.model.sources[1])
    assert from_excel.equals(from_sqlite)
    assert from_sqlite[RECORD_ID][0] == "city:1"
    assert from_sqlite.schema["lin"].is_(from_sqlite.schema["pid"])  # text, never numbers

    raw = yaml.safe_load((tmp_path / "db" / "plan.yaml").read_text("utf-8"))
    city = raw["sources"][1]
    city.update(kind="sql", url=f"sqlite:///{tmp_path / 'db' / 'city.sqlite'}",
                query="SELECT * FROM jumin ORDER BY pid")  # fmt: skip
    del city["path"], city["table"]
    (tmp_path / "db" / "url.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    url_plan = load_plan(tmp_path / "db" / "url.yaml")
    assert read_source(url_plan, url_plan.model.sources[1]).equals(from_sqlite)


def test_the_cli_refuses_a_broken_plan_with_its_reasons(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\ntarget: {dataset: nothing, jurisdiction: tainan-city}\n"
                    "sources: []\n", "utf-8")  # fmt: skip
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["consolidate", "run", str(plan), "--lang", "en"]
    )
    assert result.exit_code == 2
    assert "nothing was run" in result.output and "sources" in result.output
