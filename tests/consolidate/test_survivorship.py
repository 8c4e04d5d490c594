"""The golden records decided for a whole run at once (polars) are exactly the ones the
rules give one cluster at a time (the plain-Python reference), on the demo run and on
made-up clusters full of ties, blanks, suspect values and disagreements under every rule."""

from __future__ import annotations

import dataclasses
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onceonly.consolidate.demo import DemoData
from onceonly.consolidate.normalise import normalise_source
from onceonly.consolidate.pipeline import find_golden, read_golden
from onceonly.consolidate.plan import RULES, Plan, SurvivorshipSpec, load_plan
from onceonly.consolidate.sources import read_source
from onceonly.consolidate.survivorship import (
    golden_frames,
    golden_records,
    reference_golden,
    rules_of,
)


def _fast(plan: Plan, kept: pl.DataFrame, clusters: pl.DataFrame) -> list[dict[str, Any]]:
    golden, lineage = golden_frames(plan, kept, clusters)
    return list(golden_records(golden, lineage, rules_of(plan)))


def test_the_run_matches_the_reference_rules(finished_run: Path) -> None:
    run = finished_run / "run"
    plan = load_plan(finished_run / "plan.yaml")
    kept = pl.read_parquet(run / "kept.parquet")
    clusters = pl.read_parquet(run / "clusters.parquet")
    expected = list(reference_golden(plan, kept, clusters))
    assert any(len(g["members"]) > 1 for g in expected)
    assert read_golden(run) == expected
    assert read_golden(run, lineage=False) == [
        {k: g[k] for k in ("golden_id", "members", "fields")} for g in expected
    ]


def test_a_record_is_found_by_any_of_its_keys(finished_run: Path) -> None:
    run = finished_run / "run"
    merged = next(g for g in read_golden(run) if len(g["members"]) > 1)
    for key in (merged["golden_id"], merged["members"][-1], merged["fields"]["national_id"]):
        assert find_golden(run, key) == merged
    assert find_golden(run, "nobody") is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_made_up_clusters_match_the_reference_rules(
    demo_template: DemoData, data: st.DataObject
) -> None:
    plan = _plan_with_random_rules(load_plan(demo_template.plan), data)
    pool = _pool(demo_template.plan)
    rows = data.draw(st.integers(1, 14))
    columns: dict[str, list[Any]] = {name: [] for name in pool.columns}
    for name in pool.columns:
        options = pool.get_column(name).drop_nulls().unique().sort().head(3).to_list()
        if pool.schema[name] == pl.String:
            options.append("")
        columns[name] = data.draw(
            st.lists(st.sampled_from([None, *options]), min_size=rows, max_size=rows)
        )
    kept = pl.DataFrame(columns, schema=pool.schema).with_columns(
        pl.Series("_record_id", [f"r{i:02d}" for i in range(rows)]),
        pl.Series(
            "_source",
            data.draw(st.lists(st.sampled_from(["county", "city"]), min_size=rows, max_size=rows)),
        ),
        pl.Series(
            "_warnings",
            data.draw(
                st.lists(
                    st.lists(
                        st.sampled_from(["id_checksum", "sex_matches_id", "other"]), max_size=2
                    ),
                    min_size=rows,
                    max_size=rows,
                )
            ),
            dtype=pl.List(pl.String),
        ),
    )
    cluster = data.draw(
        st.lists(st.sampled_from(["r00", "r05", "r09"]), min_size=rows, max_size=rows)
    )
    clusters = pl.DataFrame({"record_id": kept.get_column("_record_id"), "cluster": cluster})
    assert _fast(plan, kept, clusters) == list(reference_golden(plan, kept, clusters))


@cache
def _pool(plan_file: Path) -> pl.DataFrame:
    """Real normalised values of every mapped field (the first rows of one source), to
    draw clusters from."""
    plan = load_plan(plan_file)
    source = plan.model.sources[0]
    normalised = normalise_source(plan, source, read_source(plan, source).head(60))
    return normalised.drop("_record_id", "_source", "_errors")


def _plan_with_random_rules(plan: Plan, data: st.DataObject) -> Plan:
    rule = st.sampled_from(RULES)
    names = list(plan.mapped_fields)
    survivorship = SurvivorshipSpec(
        default=data.draw(rule),
        fields={
            name: data.draw(rule)
            for name in data.draw(st.lists(st.sampled_from(names), unique=True))
        },
        recency_field=data.draw(st.sampled_from([None, "moved_in_on", "birth_date"])),
    )
    sources = [
        s.model_copy(
            update={
                "trust": data.draw(st.integers(1, 2)),
                "as_of": data.draw(st.sampled_from([None, date(2010, 12, 24), date(2009, 1, 1)])),
            }
        )
        for s in plan.model.sources
    ]
    model = plan.model.model_copy(update={"survivorship": survivorship, "sources": sources})
    return dataclasses.replace(plan, model=model)
