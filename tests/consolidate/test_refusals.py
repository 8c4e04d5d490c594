"""What the operator reads when ``consolidate run`` cannot or will not run: an unknown
backend, records too few to estimate linkage from, a broken plan. Words naming the option,
the field or the reason, in Traditional Chinese or English, an exit code, no traceback, and
nothing half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner, Result

from onceonly.cli import app as cli
from onceonly.consolidate.demo import DemoData, generate_demo
from onceonly.consolidate.linkage import LinkageRefused, prepare, score_pairs
from onceonly.consolidate.pipeline import Pipeline, run_pipeline
from onceonly.consolidate.plan import LinkageSpec, load_plan


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    """The smallest demo `consolidate demo-data` writes: 10 people's rows, 5 parcels' rows,
    none of the parcels registered twice."""
    data = generate_demo(tmp_path_factory.mktemp("tiny"), records=10)
    assert data.land.duplicated_parcels == 0
    return data


@pytest.fixture
def tiny(tmp_path: Path, tiny_template: DemoData) -> Path:
    target = tmp_path / "legacy"
    shutil.copytree(tiny_template.directory, target)
    return target


def _run(args: list[str], tmp_path: Path, database_url: str = "") -> Result:
    env = {"COLUMNS": "400", "ONCEONLY_DATA_DIR": str(tmp_path / "data")}
    if database_url:
        env["ONCEONLY_DATABASE_URL"] = database_url
    return CliRunner(env=env).invoke(cli, ["consolidate", "run", *args])


def _told(result: Result) -> str:
    """The output as one line (Rich wraps at the terminal's width)."""
    return " ".join(result.output.split())


def _no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


def test_an_unknown_backend_is_refused_before_anything_runs(
    tiny: Path, tmp_path: Path, database_url: str
) -> None:
    plan = tiny / "plan.yaml"
    for lang, words in (
        ("zh-TW", ("--backend", "沒有比對引擎 sparkle", "duckdb", "spark", "未執行任何步驟")),
        ("en", ("--backend", "no linkage backend sparkle", "choose one of: duckdb, spark")),
    ):
        result = _run([str(plan), "--backend", "sparkle", "--lang", lang], tmp_path, database_url)
        _no_traceback(result)
        assert result.exit_code == 2, result.output
        told = _told(result)
        assert all(w in told for w in words), told
    assert not (tiny / "run").exists()  # no step ran: nothing extracted, nothing written
    assert not (tmp_path / "data").exists()

    with pytest.raises(ValueError, match="sparkle"):  # refused as made, not at linkage
        Pipeline(load_plan(plan), None, "sparkle")
    assert not (tiny / "run").exists()


def test_a_backend_that_cannot_start_here_is_told_in_words(
    tiny: Path, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from onceonly.consolidate import linkage

    def no_java() -> None:
        raise linkage.LinkageUnavailable("Spark could not start: Java gateway exited")

    monkeypatch.setattr(linkage, "_spark_api", no_java)
    result = _run([str(tiny / "plan.yaml"), "--backend", "spark"], tmp_path, database_url)
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    told = _told(result)
    assert "--backend spark：此處無法執行此比對引擎（Spark could not start" in told, told
    assert not (tiny / "run" / "steps" / "link.json").exists()


def test_too_few_records_to_estimate_linkage_are_explained(
    tiny: Path, tmp_path: Path, database_url: str
) -> None:
    """Five parcels, none registered twice: the strict rule (same section, number and
    owner) finds no pair, so the prior would be 0 and Splink's scoring would take log2(0)."""
    land = tiny / "land.yaml"
    result = _run([str(land), "--lang", "en"], tmp_path, database_url)
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    told = _told(result)
    assert "Linkage cannot be estimated; no records were linked" in told, told
    assert "among the 10 pairs of 5 records, none has the same section, parcel number and" in told
    assert "owner's ID" in told and "the model's prior" in told
    assert "consolidate demo-data --records 200" in told  # what to do
    assert "math domain error" not in told

    result = _run([str(land)], tmp_path, database_url)
    assert result.exit_code == 1, result.output
    told = _told(result)
    assert "無法估計比對模型" in told and "地段、地號與所有權人統一編號" in told, told
    assert "5 筆紀錄的 10 組配對中" in told

    run = tiny / "run-land"
    assert (run / "steps" / "validate.json").is_file()  # the report is there to read
    assert not (run / "steps" / "link.json").exists()  # linkage did not finish ...
    for name in ("pairs.parquet", "clusters.parquet", "golden.parquet", "review.json"):
        assert not (run / name).exists(), name  # ... and left nothing behind
    assert not [p for p in run.rglob(".*.tmp")]
    from onceonly.consolidate import review
    from onceonly.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        assert review.pending(session, "tainan-land-demo", 10) == []
    engine.dispose()


def _people(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [(f"county:{i}", "county", *row) for i, row in enumerate(rows)],
        schema=["_record_id", "_source", "national_id", "name", "birth_date", "district"],
        orient="row",
    )
    return prepare(frame.with_columns(pl.col("birth_date").str.to_date()), "person")


STRANGERS = [
    ("A123456789", "王小明", "1960-01-01", "東區"),
    ("B223456781", "林美玲", "1971-02-02", "北區"),
    ("C133456782", "陳大同", "1982-03-03", "南區"),
    ("D243456783", "黃淑芬", "1993-04-04", "中西區"),
]


@pytest.mark.parametrize(
    ("rows", "key", "words"),
    [
        (STRANGERS[:1], "consolidate.link.too_few", "fewer than two records (1)"),
        (STRANGERS, "consolidate.link.no_sure_pair", "none has the same national ID and birth"),
        (
            [STRANGERS[0], STRANGERS[0]],  # one pair, and it agrees: all the model could see
            "consolidate.link.all_sure",
            "1 of the 1 pairs of 2 records have the same national ID and birth date",
        ),
        (
            # one person twice under another name: nothing alike on name and birth date to
            # train on
            [*STRANGERS, ("A123456789", "李志豪", "1960-01-01", "東區")],
            "consolidate.link.no_training_pair",
            "no two of the 5 records have the same name (the same characters) and birth date",
        ),
    ],
)
def test_each_reason_linkage_cannot_be_estimated_is_named(
    rows: list[tuple[str, str, str, str]], key: str, words: str
) -> None:
    with pytest.raises(LinkageRefused) as caught:
        score_pairs(_people(rows), LinkageSpec(max_pairs_u=1e3))
    assert caught.value.key == key
    assert words in caught.value.reason("en"), caught.value.reason("en")
    assert caught.value.reason("zh-TW") != caught.value.reason("en")


def test_a_few_dozen_parcels_link_without_em_driving_a_level_to_zero(tmp_path: Path) -> None:
    """On 8 parcels written in one section each, EM drove the level "another section" to
    m = 0, which Splink refuses (a ValueError, not a model): that level's m is now given."""
    data = generate_demo(tmp_path / "legacy", records=16, seed=3)
    assert data.land.duplicated_parcels > 0
    result = run_pipeline(load_plan(data.land_plan), None, console=Console(quiet=True))
    assert result.steps["link"] == "done" and result.summary["golden"] > 0


def _broken_plan(tiny: Path) -> Path:
    raw = yaml.safe_load((tiny / "plan.yaml").read_text("utf-8"))
    county = raw["sources"][0]
    county["id"] = "Former County"  # not a source id
    raw["sources"][1]["kind"] = "parquet"
    county["fields"]["sex"] = {"column": "性別", "constant": "M"}  # two origins
    raw["linkage"]["threshold"] = 1.5
    raw["colour"] = "red"
    path = tiny / "broken.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


def test_plan_errors_give_their_reasons_in_the_language_asked(tiny: Path, tmp_path: Path) -> None:
    broken = _broken_plan(tiny)
    zh = _run([str(broken)], tmp_path)
    _no_traceback(zh)
    assert zh.exit_code == 2, zh.output
    told = _told(zh)
    for where, why in (
        ("sources[0].id", "格式不符（應符合 ^[a-z0-9][a-z0-9_-]{0,39}$）"),  # brackets kept
        ("sources[1].kind", "值不在允許的範圍內，應為：csv、excel、sqlite、sql"),
        ("sources[0].fields.sex", "欄位對應須指定 column、columns 或 constant 其中之一"),
        ("linkage.threshold", "應小於 1"),
        ("colour", "計畫檔沒有這個項目"),
    ):
        assert f"{where}: {why}" in told, (where, told)
    assert "Input should" not in told and "Extra inputs" not in told
    assert "exactly one of" not in told and "bad format" not in told

    en = _run([str(broken), "--lang", "en"], tmp_path)
    assert en.exit_code == 2, en.output
    told = _told(en)
    assert "sources[0].id: bad format (must match ^[a-z0-9][a-z0-9_-]{0,39}$)" in told
    assert "sources[1].kind: value not allowed; expected one of: csv, excel, sqlite, sql" in told
    assert "sources[0].fields.sex: a field mapping needs exactly one of column" in told
    assert "colour: a plan has no such key" in told
    assert not (tiny / "run").exists()


def test_the_checks_after_the_structure_are_bilingual_too(tiny: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load((tiny / "plan.yaml").read_text("utf-8"))
    raw["sources"][1]["fields"]["name"]["normalise"] = ["name", "soundex"]
    raw["sources"][0]["path"] = "nowhere.csv"
    path = tiny / "checked.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    told = _told(_run([str(path)], tmp_path))
    assert "sources[1].fields.name.normalise[1]: 沒有正規化方法 soundex" in told, told
    assert "sources[0].path: 找不到檔案 nowhere.csv（相對於計畫檔）" in told
    told = _told(_run([str(tiny / "absent.yaml")], tmp_path))
    assert "(file): 找不到計畫檔" in told, told
