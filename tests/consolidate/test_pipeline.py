"""The pipeline on the demo legacy data: quality report, quarantine, linkage of the planted
duplicates, golden records with lineage, review decisions reused, resumable after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.consolidate import review
from onceonly.consolidate.pipeline import read_golden, run_pipeline
from onceonly.consolidate.plan import load_plan
from onceonly.db import make_engine, make_session_factory, transaction
from tests.consolidate.conftest import DemoCopy, cluster_pairs, true_pairs


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def test_quarantine_keeps_every_failed_row_with_reasons(finished_run: Path) -> None:
    run = finished_run / "run"
    quality = json.loads((run / "report" / "quality.json").read_text("utf-8"))
    quarantine = _lines(run / "quarantine.jsonl")
    kept = pl.read_parquet(run / "kept.parquet")
    for source in quality["sources"]:
        raw = pl.read_parquet(run / "extract" / f"{source['source']}.parquet")
        mine = [q for q in quarantine if q["source"] == source["source"]]
        kept_here = kept.filter(pl.col("_source") == source["source"]).height
        assert raw.height == source["rows"] == kept_here + len(mine)
        assert source["quarantined"] == len(mine) > 0
    for q in quarantine:
        assert q["reasons"] and all(r["field"] and r["en"] and r["zh"] for r in q["reasons"])
        assert q["raw"]  # the legacy values, for a clerk to fix at the source
    assert any(r["check"] == "not_nullable" for q in quarantine for r in q["reasons"])
    missing = next(r for q in quarantine for r in q["reasons"] if r["check"] == "not_nullable")
    assert missing["zh"].startswith(("出生日期：", "姓名：", "身分證統一編號：")), missing
    assert missing["field"] not in missing["zh"] + missing["en"]  # the field in words


def test_quality_report_measures_every_field(finished_run: Path) -> None:
    report = finished_run / "run" / "report"
    quality = json.loads((report / "quality.json").read_text("utf-8"))
    names = [f["name"] for f in quality["table_schema"]["fields"]]
    assert "former_jurisdiction" in names
    for source in quality["sources"]:
        assert set(source["fields"]) == set(names)
        for values in source["fields"].values():
            assert 0 <= values["completeness"] <= 1 and 0 <= values["validity"] <= 1
        assert source["fields"]["village"]["completeness"] < 1  # missing villages injected
        assert source["checks"].get("id_checksum", 0) > 0  # typo'd IDs warned, kept
    page = (report / "quality.html").read_text("utf-8")
    assert "<svg" in page and "資料品質報告" in page
    assert "<td>出生日期</td>" in page and "<td>birth_date</td>" not in page
    assert "<script" not in page and "src=" not in page and "<link" not in page  # no CDN


def test_linkage_finds_the_planted_duplicates(finished_run: Path) -> None:
    golden = read_golden(finished_run / "run")
    kept = set(pl.read_parquet(finished_run / "run" / "kept.parquet")["_record_id"])
    truth = true_pairs(finished_run / "truth.csv", kept)
    found = cluster_pairs(golden)
    tp = len(found & truth)
    precision, recall = tp / len(found), tp / len(truth)
    assert len(truth) > 30
    assert precision >= 0.97 and recall >= 0.95, (precision, recall)


def test_golden_records_keep_lineage(finished_run: Path) -> None:
    golden = read_golden(finished_run / "run")
    merged = [g for g in golden if len(g["members"]) > 1]
    assert merged
    for g in merged:
        for name, info in g["lineage"].items():
            assert set(info["sources"]) <= set(g["members"])
            if g["fields"][name] is not None:
                assert info["sources"], name
    moved = next(
        g
        for g in merged
        if {m.split(":")[0] for m in g["members"]} == {"county", "city"}
        and g["lineage"]["address"]["reason"] == "most_recent"
    )
    newest = max(moved["lineage"]["address"]["candidates"], key=lambda c: c["recency"])
    assert moved["fields"]["address"] == newest["value"]
    assert moved["fields"]["address"].startswith("臺南市")


def test_explain_shows_why_each_value_won(finished_run: Path) -> None:
    golden = read_golden(finished_run / "run")
    record = next(g for g in golden if len(g["members"]) > 1)
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli,
        [
            "consolidate",
            "explain",
            str(finished_run / "plan.yaml"),
            record["members"][0],
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    assert record["golden_id"] in result.output
    assert "national_id" in result.output and "most recent" in result.output
    missing = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli, ["consolidate", "explain", str(finished_run / "plan.yaml"), "nobody", "--lang", "en"]
    )
    assert missing.exit_code == 1 and "No record nobody" in missing.output


def _sessions(url: str) -> sessionmaker:  # type: ignore[type-arg]
    return make_session_factory(make_engine(url))


def test_review_decisions_are_reused_on_the_next_run(demo: DemoCopy, database_url: str) -> None:
    sessions = _sessions(database_url)
    plan = load_plan(demo.plan)
    first = run_pipeline(plan, sessions)
    golden = read_golden(plan.run_dir)
    # The model is sure of every pair on this small demo, so a clerk's doubt is planted: a
    # pair of two golden records, queued as if scored in the band.
    left, right = golden[0]["members"][0], golden[1]["members"][0]
    with transaction(sessions) as session:
        review.sync_queue(
            session, plan.name, "tainan-city", [review.Candidate(left, right, 0.5, {}, {})]
        )
    with sessions() as session:
        queued = [  # held-back rows wait there too, but never join a cluster until fixed
            i
            for i in review.pending(session, plan.name, limit=500)
            if review.HELD not in i.left and review.HELD not in i.right
        ]
        assert queued, "uncertain pairs should wait for review"
        item = queued[0]
        pair = (item.left_id, item.right_id)
    golden = read_golden(plan.run_dir)
    assert not any(set(pair) <= set(g["members"]) for g in golden)  # below threshold

    with transaction(sessions) as session:
        review.decide(session, item.id, "match", "tnn-civil-clerk")
    second = run_pipeline(plan, sessions)
    assert second.steps["link"] == "skipped" and second.steps["cluster"] == "done"
    golden = read_golden(plan.run_dir)
    assert any(set(pair) <= set(g["members"]) for g in golden)
    assert first.summary["golden"] == second.summary["golden"] + 1

    with transaction(sessions) as session:
        review.decide(session, item.id, "non_match", "tnn-civil-clerk")
        assert review.sync_queue(session, plan.name, "tainan-city", []) == 0
    third = run_pipeline(plan, sessions)
    assert third.summary["golden"] == first.summary["golden"]
    with sessions() as session:
        assert review.counts(session, plan.name)["non_match"] == 1


def _run_in_subprocess(plan: Path, database_url: str) -> subprocess.Popen:  # type: ignore[type-arg]
    env = {**os.environ, "ONCEONLY_DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "onceonly.cli", "consolidate", "run", str(plan), "--lang", "en"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_killed_run_resumes_without_redoing_finished_steps(
    demo: DemoCopy, database_url: str, tmp_path: Path
) -> None:
    run_dir = demo.directory / "run"
    process = _run_in_subprocess(demo.plan, database_url)
    checkpoint = run_dir / "steps" / "validate.json"
    log_file = run_dir / "run.log"

    def linking() -> bool:
        return log_file.exists() and "start link" in log_file.read_text("utf-8")

    deadline = time.time() + 120
    while not (checkpoint.exists() and linking()) and time.time() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.02)
    assert checkpoint.exists() and linking(), process.communicate()
    process.send_signal(signal.SIGKILL)  # mid-way through linkage, the slowest step
    process.wait()
    assert not (run_dir / "steps" / "link.json").exists()
    finished = {p.name: p.stat().st_mtime_ns for p in (run_dir / "steps").iterdir()}
    kept_mtime = (run_dir / "kept.parquet").stat().st_mtime_ns

    resumed = _run_in_subprocess(demo.plan, database_url)
    output, error = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, error.decode()
    assert "steps finished earlier and skipped: extract:county" in output.decode()
    assert (run_dir / "kept.parquet").stat().st_mtime_ns == kept_mtime
    for name, mtime in finished.items():
        assert (run_dir / "steps" / name).stat().st_mtime_ns == mtime
    log = (run_dir / "run.log").read_text("utf-8")
    assert log.count("start validate") == 1 and log.count("start link") == 2

    clean = tmp_path / "clean"
    clean.mkdir()
    for name in ("county.csv", "city.sqlite", "plan.yaml", "land.yaml"):
        (clean / name).write_bytes((demo.directory / name).read_bytes())
    run_pipeline(load_plan(clean / "plan.yaml"), None)
    assert read_golden(clean / "run") == read_golden(run_dir)


def test_held_back_rows_are_linked_shown_with_their_partner_and_released_once_fixed(
    demo: DemoCopy, database_url: str
) -> None:
    sessions = _sessions(database_url)
    plan = load_plan(demo.plan)
    run_pipeline(plan, sessions)
    held = {q["record_id"]: q for q in _lines(plan.run_dir / "quarantine.jsonl")}
    partners = {
        q["record_id"]: q["partner"]
        for q in _lines(plan.run_dir / "quarantine_partners.jsonl")
        if "partner" in q
    }
    truth = true_pairs(demo.truth)
    linked = [(r, p) for r, p in partners.items() if tuple(sorted((r, p))) in truth]
    assert linked, "a held-back row with a true partner is linked to it"
    assert all(r in held for r in partners)
    with sessions() as session:
        items = [
            i
            for i in review.pending(session, plan.name, limit=10_000)
            if review.HELD in i.left or review.HELD in i.right
        ]
    assert items, "held-back rows linked to a partner wait on the review page"
    item = next(i for i in items if tuple(sorted((i.left_id, i.right_id))) in truth)
    record_id = item.left_id if item.left_id in held else item.right_id
    partner_id = item.right_id if record_id == item.left_id else item.left_id
    values = item.left if record_id == item.left_id else item.right
    partner = item.right if record_id == item.left_id else item.left
    assert values[review.HELD][0]["zh"]  # the reason it is held, in words
    assert record_id not in set(pl.read_parquet(plan.run_dir / "kept.parquet")["_record_id"])
    fixed = {name: str(partner[name]) for name in review.held_fields(values)}
    with transaction(sessions) as session:
        review.fix(session, item.id, record_id, fixed, "tnn-civil-clerk")
    run_pipeline(plan, sessions)
    kept = set(pl.read_parquet(plan.run_dir / "kept.parquet")["_record_id"])
    assert record_id in kept  # released to the load
    golden = read_golden(plan.run_dir, lineage=False)
    assert any({record_id, partner_id} <= set(g["members"]) for g in golden)
