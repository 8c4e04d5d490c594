"""``onceonly consolidate draft``: profiles legacy files and drafts a plan that loads."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.consolidate.plan import parse_plan
from tests.consolidate.conftest import DemoCopy


def test_draft_guesses_columns_formats_and_values_and_the_plan_loads(
    demo: DemoCopy, tmp_path: Path
) -> None:
    us = tmp_path / "census.csv"
    us.write_text(
        "rid,SSN,full_name,gender,dob,street\n"
        + "".join(
            f"{i},A1{i:07d}9,Mary Smith {i},{'F' if i % 2 else 'M'},"
            f"{(i % 12) + 1:02d}/{(i % 28) + 1:02d}/19{50 + i % 40},{i} Main St 號\n"
            for i in range(60)
        ),
        "utf-8",
    )
    out = tmp_path / "draft.yaml"
    files = [str(demo.directory / "county.csv"), str(us)]
    result = CliRunner().invoke(cli, ["consolidate", "draft", *files, "-o", str(out)])
    assert result.exit_code == 0, result.output
    raw = yaml.safe_load(out.read_text("utf-8"))
    county, census = raw["sources"]
    assert county["fields"]["national_id"]["column"] == "身分證字號"
    assert county["fields"]["birth_date"]["date_formats"][0] == "roc"
    assert county["fields"]["sex"]["values"] == {"男": "M", "女": "F"}
    assert county["fields"]["village"]["column"] == "村里"
    assert census["fields"]["birth_date"]["date_formats"][0] == "%m/%d/%Y"
    assert census["record_id"] == "rid"
    raw["target"]["jurisdiction"] = "tainan-city"
    plan = parse_plan(yaml.safe_dump(raw, allow_unicode=True), out)
    assert "national_id" in plan.mapped_fields
    assert "# national_id <- 身分證字號" in out.read_text("utf-8")  # every guess says why


def test_draft_names_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["consolidate", "draft", str(tmp_path / "nope.csv"), "--lang", "en"]
    )
    # Rich wraps long paths at the terminal's width: judge the words, not the layout
    assert result.exit_code == 2 and "nope.csv" in result.output.replace("\n", "")


def test_draft_names_a_file_it_cannot_read(tmp_path: Path) -> None:
    """A ragged text file, a SQLite file without tables, a file that is not SQLite: the
    operator reads which file and why, not a polars or sqlite3 traceback."""
    ragged = tmp_path / "notes.csv"
    ragged.write_text("a,b\n1,2,3,4\n", "utf-8")
    empty = tmp_path / "empty.sqlite"
    import sqlite3

    sqlite3.connect(empty).close()
    fake = tmp_path / "fake.sqlite"
    fake.write_text("not a database", "utf-8")
    for path in (ragged, empty, fake):
        result = CliRunner().invoke(cli, ["consolidate", "draft", str(path), "--lang", "en"])
        # the console wraps at its width, inside a long path too
        letters = "".join(result.output.split())
        assert result.exit_code == 2, (path, result.output)
        assert path.name in letters and "cannotberead" in letters, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
