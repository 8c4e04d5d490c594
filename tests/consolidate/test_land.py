"""Land parcels through the pipeline: the demo's two legacy land registers with their ground
truth, the land normalisers a plan names, linkage of the planted duplicate parcels and the
golden parcels survivorship makes of them; `then` runs the land plan after the people's."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.consolidate import review
from onceonly.consolidate.demo import DemoData
from onceonly.consolidate.demo.land import SECTION_STEMS
from onceonly.consolidate.normalise import NORMALISER_FUNCTIONS
from onceonly.consolidate.normalise_parcels import normalise_section, place_names
from onceonly.consolidate.pipeline import read_golden, run_pipeline
from onceonly.consolidate.plan import NORMALISERS, PlanError, load_plans, parse_plan
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.registries.gazetteer import jurisdiction
from onceonly.demo.registries.population import sections_of
from onceonly.domain.merger_renames import rename_table
from onceonly.domain.variants import clean_national_id
from tests.consolidate.conftest import DemoCopy, cluster_pairs, true_pairs


def _truth(directory: Path) -> dict[str, str]:
    with (directory / "land_truth.csv").open(encoding="utf-8") as handle:
        return {row["record_id"]: row["parcel"] for row in csv.DictReader(handle)}


def _household_ids(directory: Path) -> set[str]:
    with (directory / "county.csv").open(encoding="utf-8") as handle:
        ids = {clean_national_id(r["身分證字號"]) for r in csv.DictReader(handle)}
    with sqlite3.connect(directory / "city.sqlite") as connection:
        ids |= {clean_national_id(r[0]) for r in connection.execute("SELECT idno FROM jumin")}
    return ids


def _land_rows(directory: Path) -> dict[str, dict[str, str]]:
    """Record id -> the legacy row (owner ID and registration date under common names)."""
    rows: dict[str, dict[str, str]] = {}
    with (directory / "county_land.csv").open(encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            rows[f"county_land:{r['序號']}"] = {"owner": r["所有權人統一編號"]}
    with sqlite3.connect(directory / "city_land.sqlite") as connection:
        for land_id, owner in connection.execute("SELECT land_id, owner_idno FROM land_reg"):
            rows[f"city_land:{land_id}"] = {"owner": owner}
    return rows


def test_the_land_demo_has_known_duplicates_owned_by_the_demo_people(
    demo_template: DemoData,
) -> None:
    directory = demo_template.directory
    truth = _truth(directory)
    rows = _land_rows(directory)
    land = demo_template.land
    assert set(truth) == set(rows)
    assert len(rows) == land.county_rows + land.city_rows >= 350
    parcels: dict[str, list[str]] = defaultdict(list)
    for record_id, parcel in truth.items():
        parcels[parcel].append(record_id)
    twice = [m for m in parcels.values() if len(m) > 1]
    assert len(twice) == land.duplicated_parcels > 20
    assert any(
        {m.split(":")[0] for m in members} == {"county_land", "city_land"} for members in twice
    )
    assert any(len({m.split(":")[0] for m in members}) == 1 for members in twice)

    people = _household_ids(directory)
    owners = [clean_national_id(r["owner"]) for r in rows.values()]
    known = [o for o in owners if o in people]
    assert len(known) >= 0.95 * len(owners)  # the rest carry an injected one-digit typo
    for owner in set(owners) - people:
        assert any(sum(a != b for a, b in zip(owner, p, strict=True)) == 1 for p in people)
    sold = [m for m in twice if len({clean_national_id(rows[r]["owner"]) for r in m}) > 1]
    assert sold, "some parcels changed owner between the two copies"


def test_demo_sections_are_not_sections_of_the_demo_land_office() -> None:
    existing = {row[2] for row in sections_of(jurisdiction("tainan-city")).rows}
    assert not existing & {stem + "段" for stem in SECTION_STEMS}


def test_every_normaliser_a_plan_may_name_exists() -> None:
    assert set(NORMALISERS) <= set(NORMALISER_FUNCTIONS)


FORMER_TOWNSHIPS = sorted(
    {old for m in rename_table().mergers if m.to_city == "臺南市" for old in m.districts}
)


@given(st.sampled_from(SECTION_STEMS), st.sampled_from(FORMER_TOWNSHIPS), st.booleans())
def test_a_county_section_loses_its_township_before_or_after_the_merger(
    stem: str, township: str, county: bool
) -> None:
    renamed = next(m.districts[township] for m in rename_table().mergers if township in m.districts)
    expected = normalise_section(stem)
    city = "台南縣" if county else ""
    for written in (f"{city}{township}{stem}段", f"{renamed}{stem}", stem.replace("臺", "台")):
        assert normalise_section(written) == expected
    assert normalise_section(expected) == expected
    assert {township, renamed, "臺南縣", "臺南市"} <= place_names()


def _kept_parcels(run: Path) -> dict[str, dict[str, str]]:
    kept = pl.read_parquet(run / "kept.parquet")
    columns = ["_record_id", "section", "parcel_no", "owner_national_id"]
    return {r["_record_id"]: r for r in kept.select(columns).iter_rows(named=True)}


def _queued(run: Path, plan_path: Path) -> set[tuple[str, str]]:
    """Pairs the run puts before a clerk: scored in the review band, below the threshold."""
    linkage = load_plans(plan_path)[0].model.linkage
    assert linkage is not None
    pairs = pl.read_parquet(run / "pairs.parquet").filter(
        pl.col("match_probability").is_between(
            linkage.review_band[0], linkage.threshold, closed="left"
        )
    )
    return {tuple(sorted(p)) for p in pairs.select("left_id", "right_id").iter_rows()}  # type: ignore[misc]


def test_linkage_links_the_planted_duplicates_and_queues_the_doubtful(
    finished_land_run: Path,
) -> None:
    run = finished_land_run / "run-land"
    truth = true_pairs(finished_land_run / "land_truth.csv", set(_kept_parcels(run)))
    found = cluster_pairs(read_golden(run))
    queued = _queued(run, finished_land_run / "land.yaml")
    assert len(truth) > 20
    assert len(found & truth) / len(found) >= 0.98, "what is linked unseen is right"
    assert len(found & truth) / len(truth) >= 0.85
    assert truth <= found | queued, "every true pair is linked or waits for a clerk"


def test_re_surveyed_parcels_wait_for_a_clerk_and_siblings_are_not_linked(
    finished_land_run: Path,
) -> None:
    """One parcel under two numbers after a 地籍圖重測 goes to review, never linked unseen;
    two parcels of one owner with sibling numbers (0123-0004, 0123-0005) stay apart."""
    run = finished_land_run / "run-land"
    rows = _kept_parcels(run)
    truth = true_pairs(finished_land_run / "land_truth.csv", set(rows))
    found = cluster_pairs(read_golden(run))
    queued = _queued(run, finished_land_run / "land.yaml")
    renumbered = {p for p in truth if rows[p[0]]["parcel_no"] != rows[p[1]]["parcel_no"]}
    assert len(renumbered) >= 3
    assert renumbered <= queued and not renumbered & found

    by_owner: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record_id, row in rows.items():
        by_owner[(row["owner_national_id"], row["section"])].append(record_id)
    siblings = {
        tuple(sorted((a, b)))
        for members in by_owner.values()
        for a in members
        for b in members
        if rows[a]["parcel_no"][:4] == rows[b]["parcel_no"][:4]
        and rows[a]["parcel_no"] != rows[b]["parcel_no"]
    }
    assert len(siblings) >= 3
    assert not siblings & found


def test_a_clerk_s_decisions_on_the_doubtful_parcels_complete_the_linkage(
    demo: DemoCopy, database_url: str
) -> None:
    sessions = make_session_factory(make_engine(database_url))
    plan = load_plans(demo.land_plan)[0]
    run_pipeline(plan, sessions)
    truth = _truth(demo.directory)
    with transaction(sessions) as session:
        queued = review.pending(session, plan.name, limit=500)
        assert queued, "the re-surveyed parcels wait for review"
        for item in queued:
            same = truth[item.left_id] == truth[item.right_id]
            review.decide(session, item.id, "match" if same else "non_match", "tnn-land-clerk")
    run_pipeline(plan, sessions)
    run = demo.directory / "run-land"
    expected = true_pairs(demo.directory / "land_truth.csv", set(_kept_parcels(run)))
    assert cluster_pairs(read_golden(run)) == expected


def test_golden_parcels_take_the_newer_owner_and_the_city_s_square_metres(
    finished_land_run: Path,
) -> None:
    golden = read_golden(finished_land_run / "run-land")
    both = [
        g for g in golden if {m.split(":")[0] for m in g["members"]} == {"county_land", "city_land"}
    ]
    assert both
    sold = [g for g in both if g["lineage"]["owner_national_id"]["reason"] == "most_recent"]
    assert sold
    for g in sold:
        candidates = g["lineage"]["owner_national_id"]["candidates"]
        newest = max(candidates, key=lambda c: c["recency"])
        assert g["fields"]["owner_national_id"] == newest["value"]
        assert g["fields"]["registered_on"] == newest["recency"]
    for g in both:
        area = g["lineage"]["area_m2"]
        city = next(c for c in area["candidates"] if c["source"] == "city_land")
        if city["value"] is not None:
            assert g["fields"]["area_m2"] == city["value"]
            county = next(c for c in area["candidates"] if c["source"] == "county_land")
            if county["value"] is not None:  # 坪 to 0.01 坪 and back: within 0.02 m²
                assert round(abs(county["value"] - city["value"]), 6) <= 0.02


def test_quarantined_land_rows_name_their_reasons(finished_land_run: Path) -> None:
    lines = (finished_land_run / "run-land" / "quarantine.jsonl").read_text("utf-8").splitlines()
    checks = {r["check"] for line in lines for r in json.loads(line)["reasons"]}
    assert {"parcel_no.format", "section.format"} <= checks  # section and number swapped
    assert "not_nullable" in checks  # the area missing


def test_the_demo_plan_runs_the_land_plan_next(demo: DemoCopy) -> None:
    plans = load_plans(demo.plan)
    assert [p.name for p in plans] == ["tainan-merger-demo", "tainan-land-demo"]
    assert plans[1].model.target.dataset == "land_registration"
    assert plans[1].model.linkage.entity == "parcel"


def test_a_missing_follow_on_plan_is_refused(demo: DemoCopy) -> None:
    text = demo.plan.read_text("utf-8").replace("then: [land.yaml]", "then: [lands.yaml]")
    with pytest.raises(PlanError) as caught:
        parse_plan(text, demo.plan)
    assert {i.path for i in caught.value.issues} == {"then[0]"}


def test_two_plans_may_not_share_a_name(demo: DemoCopy) -> None:
    demo.land_plan.write_text(
        demo.land_plan.read_text("utf-8").replace("tainan-land-demo", "tainan-merger-demo"),
        "utf-8",
    )
    with pytest.raises(PlanError) as caught:
        load_plans(demo.plan)
    assert "already used" in caught.value.issues[0].reason
