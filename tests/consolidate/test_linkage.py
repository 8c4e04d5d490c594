"""Linkage on small data: people across sources (DuckDB, and Spark in local mode), parcels,
and how thresholds and reviewers' decisions make clusters."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import NoReturn

import polars as pl
import pytest

from onceonly.consolidate.linkage import (
    LinkageUnavailable,
    clusters,
    edges,
    prepare,
    score_pairs,
)
from onceonly.consolidate.plan import LinkageSpec
from tests.consolidate.conftest import true_pairs


def _kept(finished_run: Path) -> pl.DataFrame:
    return pl.read_parquet(finished_run / "run" / "kept.parquet")


def test_reviewer_decisions_override_the_threshold() -> None:
    pairs = pl.DataFrame(
        {
            "left_id": ["a:1", "a:2", "a:3"],
            "right_id": ["b:1", "b:2", "b:3"],
            "match_probability": [0.99, 0.95, 0.4],
            "match_weight": [9.0, 5.0, -1.0],
        }
    )
    decided = {("a:2", "b:2"): False, ("a:3", "b:3"): True, ("a:4", "b:4"): True}
    links = edges(pairs, 0.9, decided)
    assert {(e.left_id, e.right_id) for e in links} == {
        ("a:1", "b:1"),
        ("a:3", "b:3"),
        ("a:4", "b:4"),
    }
    ids = ["a:1", "a:2", "a:3", "a:4", "b:1", "b:2", "b:3", "b:4"]
    cluster_of = clusters(ids, links)
    assert cluster_of["b:1"] == "a:1" and cluster_of["b:2"] == "b:2"
    assert len(set(cluster_of.values())) == 5


def test_parcels_link_on_section_number_area_and_owner() -> None:
    rows = []
    for i in range(60):
        section, number = f"{['中興', '福德', '永安'][i % 3]}段", f"{100 + i:04d}-0000"
        owner = f"R1{i:08d}"
        rows.append(("county", f"county:{i}", section, number, 100.0 + i, owner))
        if i % 4 == 0:  # the same parcel in the city's register: area rounded, section typo
            rows.append(
                (
                    "city",
                    f"city:{i}",
                    section.replace("段", "") + "段",
                    number,
                    round(100.0 + i + 0.4),
                    owner,
                )
            )
        else:
            rows.append(
                ("city", f"city:{i}", "和平段", f"{500 + i:04d}-0001", 80.0 + i, f"D2{i:08d}")
            )
    frame = pl.DataFrame(
        rows,
        schema=["_source", "_record_id", "section", "parcel_no", "area_m2", "owner_national_id"],
        orient="row",
    )
    pairs = score_pairs(prepare(frame, "parcel"), LinkageSpec(max_pairs_u=1e4))
    found = {
        (left, right)
        for left, right, p in pairs.select("left_id", "right_id", "match_probability").iter_rows()
        if p >= 0.9
    }
    assert found == {(f"city:{i}", f"county:{i}") for i in range(0, 60, 4)}


def _without_spark(reason: str) -> NoReturn:
    """Skip where Spark is optional; fail where ``./run-tests`` installed it on purpose."""
    if os.environ.get("ONCEONLY_REQUIRE_SPARK") == "1":
        pytest.fail(f"the Spark backend must be tested here: {reason}")
    pytest.skip(reason)


@pytest.mark.slow
def test_spark_backend_links_like_duckdb(finished_run: Path) -> None:
    if shutil.which("java") is None:
        _without_spark("Spark needs Java (no `java` on PATH)")
    if importlib.util.find_spec("pyspark") is None:
        _without_spark("pyspark is not installed")
    kept = _kept(finished_run).head(300)
    prepared = prepare(kept, "person")
    spec = LinkageSpec(max_pairs_u=2e4)
    try:
        spark = score_pairs(prepared, spec, backend="spark")
    except LinkageUnavailable as error:
        _without_spark(str(error))
        raise
    duck = score_pairs(prepared, spec)
    truth = true_pairs(finished_run / "truth.csv", set(kept["_record_id"]))

    def matched(pairs: pl.DataFrame) -> set[tuple[str, str]]:
        rows = pairs.select("left_id", "right_id", "match_probability").iter_rows()
        return {(left, right) for left, right, p in rows if p >= 0.9}

    assert matched(spark) == truth
    assert matched(duck) == truth
