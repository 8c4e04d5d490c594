"""Demo legacy data and one finished run, shared by the consolidation tests."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from onceonly.consolidate.demo import DemoData, generate_demo

RECORDS = 800


def true_pairs(truth: Path, ids: set[str] | None = None) -> set[tuple[str, str]]:
    """Every pair of record ids that belong to the same person or parcel (the truth file's
    second column), optionally among ``ids``."""
    groups: dict[str, list[str]] = defaultdict(list)
    with truth.open(encoding="utf-8") as handle:
        for record_id, entity in list(csv.reader(handle))[1:]:
            if ids is None or record_id in ids:
                groups[entity].append(record_id)
    return {
        tuple(sorted((a, b)))  # type: ignore[misc]
        for members in groups.values()
        for i, a in enumerate(members)
        for b in members[i + 1 :]
    }


def cluster_pairs(golden: list[dict]) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {
        tuple(sorted((a, b)))  # type: ignore[misc]
        for g in golden
        for i, a in enumerate(g["members"])
        for b in g["members"][i + 1 :]
    }


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return generate_demo(tmp_path_factory.mktemp("consolidate-demo"), records=RECORDS)


@dataclass(frozen=True)
class DemoCopy:
    data: DemoData
    directory: Path

    @property
    def plan(self) -> Path:
        return self.directory / "plan.yaml"

    @property
    def truth(self) -> Path:
        return self.directory / "truth.csv"

    @property
    def land_plan(self) -> Path:
        return self.directory / "land.yaml"


@pytest.fixture
def demo(tmp_path: Path, demo_template: DemoData) -> DemoCopy:
    """A private copy of the demo sources and plan (no run directory yet)."""
    target = tmp_path / "legacy"
    shutil.copytree(demo_template.directory, target, ignore=shutil.ignore_patterns("run"))
    return DemoCopy(demo_template, target)


@pytest.fixture(scope="session")
def finished_run(demo_template: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plan run once to the end on its own SQLite database; returns the copy's dir."""
    from onceonly.consolidate.pipeline import run_pipeline
    from onceonly.consolidate.plan import load_plan
    from onceonly.db import make_engine, make_session_factory
    from onceonly.models import Base

    target = tmp_path_factory.mktemp("consolidate-run") / "demo"
    shutil.copytree(demo_template.directory, target)
    engine = make_engine(f"sqlite:///{target / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    run_pipeline(load_plan(target / "plan.yaml"), make_session_factory(engine))
    engine.dispose()
    return target


@pytest.fixture(scope="session")
def finished_land_run(demo_template: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's land plan run once to the end without a database (no review queue);
    returns the copy's directory (``run-land`` inside it)."""
    from onceonly.consolidate.pipeline import run_pipeline
    from onceonly.consolidate.plan import load_plan

    target = tmp_path_factory.mktemp("consolidate-land-run") / "demo"
    shutil.copytree(demo_template.directory, target)
    run_pipeline(load_plan(target / "land.yaml"), None)
    return target
