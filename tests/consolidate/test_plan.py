"""A broken plan is refused before anything runs, naming the file, the path and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from onceonly.consolidate.plan import PlanError, load_plan, parse_plan
from tests.consolidate.conftest import DemoCopy


def _issues(plan: DemoCopy, change: dict) -> dict[str, str]:  # type: ignore[type-arg]
    raw = yaml.safe_load(plan.plan.read_text("utf-8"))
    for dotted, value in change.items():
        target = raw
        parts = dotted.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value
    with pytest.raises(PlanError) as caught:
        parse_plan(yaml.safe_dump(raw, allow_unicode=True), plan.plan)
    assert all(i.file == str(plan.plan) for i in caught.value.issues)
    return {i.path: i.reason for i in caught.value.issues}


def test_the_demo_plan_is_valid(demo: DemoCopy) -> None:
    plan = load_plan(demo.plan)
    assert plan.name == "tainan-merger-demo"
    assert [s.id for s in plan.model.sources] == ["county", "city"]
    assert "former_jurisdiction" in plan.mapped_fields  # 臺南市's extension field


def test_unknown_dataset(demo: DemoCopy) -> None:
    issues = _issues(demo, {"target.dataset": "horoscope"})
    assert "no dataset horoscope" in issues["target.dataset"]


def test_unknown_field_and_normaliser_are_located(demo: DemoCopy) -> None:
    issues = _issues(
        demo,
        {
            "sources.0.fields.shoe_size": {"column": "x"},
            "sources.1.fields.name.normalise": ["name", "soundex"],
        },
    )
    assert "shoe_size is not in the common standard" in issues["sources[0].fields.shoe_size"]
    assert "no normaliser soundex" in issues["sources[1].fields.name.normalise[1]"]


def test_a_required_field_left_unmapped_when_the_plan_loads(demo: DemoCopy) -> None:
    load = {"registries": str(demo.directory), "owner": "central.moi_household"}
    issues = _issues(demo, {"sources.0.fields.birth_date": None, "load": load})
    assert "required field birth_date" in issues["sources[0].fields"]


def test_a_plan_that_only_links_maps_only_what_linkage_uses(demo: DemoCopy) -> None:
    raw = yaml.safe_load(demo.plan.read_text("utf-8"))
    register_only = ("household_id", "relationship_to_head", "jurisdiction", "district")
    for source in raw["sources"]:
        for name in (*register_only, "is_alive"):
            del source["fields"][name]
    demo.plan.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    plan = load_plan(demo.plan)
    assert not set(register_only) & set(plan.mapped_fields)
    from rich.console import Console

    from onceonly.consolidate.pipeline import read_golden, run_pipeline

    run_pipeline(plan, None, console=Console(quiet=True))
    assert any(len(g["members"]) > 1 for g in read_golden(plan.run_dir, lineage=False))


def test_structure_errors_name_their_path(demo: DemoCopy) -> None:
    issues = _issues(
        demo,
        {
            "linkage.review_band": [0.95, 0.99],
            "sources.1.kind": "parquet",
            "sources.0.fields.sex": {"column": "性別", "constant": "M"},
        },
    )
    assert "review band must contain the threshold" in issues["linkage"]
    assert "sources[1].kind" in issues
    assert "exactly one of column" in issues["sources[0].fields.sex"]


def test_missing_source_file(demo: DemoCopy) -> None:
    issues = _issues(demo, {"sources.0.path": "nowhere.csv"})
    assert "file not found: nowhere.csv" in issues["sources[0].path"]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("name: x\ntarget: [unclosed\n", "utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.issues[0].path.startswith("line ")


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "absent.yaml")
    assert caught.value.issues[0].reason == "plan file not found"
