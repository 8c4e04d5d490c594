"""The consolidation pipeline: steps with checkpoints in a run directory.

Steps: ``extract:<source>`` and ``normalise:<source>`` for each source, then ``validate``
(quality report and quarantine), ``link``, ``review`` (queue the uncertain pairs),
``cluster`` (threshold + reviewers' decisions), ``survive`` (golden records with lineage,
:data:`GOLDEN` and :data:`LINEAGE`)
and ``load``. Each step writes its outputs to temporary files, renames them into place and
only then writes its checkpoint (``steps/<step>.json``) holding a digest of everything it
depends on: the plan, the digests of the steps before it and, for ``cluster``, the
reviewers' decisions. A crash or Ctrl-C therefore loses at most the step that was running;
the next run skips every step whose checkpoint digest still matches and redoes the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session, sessionmaker

from onceonly.consolidate import review as review_service
from onceonly.consolidate.linkage import BACKENDS, clusters, edges, prepare, score_pairs
from onceonly.consolidate.load import load_into_registries
from onceonly.consolidate.normalise import apply_fixes, normalise_source
from onceonly.consolidate.plan import Plan
from onceonly.consolidate.sources import RECORD_ID, read_source
from onceonly.consolidate.survivorship import golden_frames, golden_records, rules_of
from onceonly.consolidate.validate import (
    WARNINGS,
    SourceQuality,
    check_table_schema,
    quality_json,
    table_schema,
    validate_source,
    write_report,
)
from onceonly.db import transaction


@dataclass
class RunResult:
    run_dir: Path
    steps: dict[str, str] = field(default_factory=dict)
    """Step -> ``done`` (ran now) or ``skipped`` (finished in an earlier run)."""
    summary: dict[str, Any] = field(default_factory=dict)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    write(temporary)
    os.replace(temporary, path)


def _write_text(path: Path, text: str) -> None:
    _write_atomic(path, lambda p: p.write_text(text, "utf-8"))


def _write_parquet(path: Path, frame: pl.DataFrame) -> None:
    _write_atomic(path, frame.write_parquet)


GOLDEN = "golden.parquet"
"""One row per golden record: ``golden_id``, ``members``, ``fields`` and ``ruled`` (see
:func:`~onceonly.consolidate.survivorship.golden_frames`); the rule of each field is in the
file's metadata under :data:`RULES_KEY`."""
LINEAGE = "lineage.parquet"
"""One row per source record of a golden record: its candidate values, which were suspect
and which won. Columnar and compressed: at a million records a JSON line per golden record
with every candidate spelt out took gigabytes."""
RULES_KEY = "onceonly.survivorship.rules"
HELD = "held.parquet"
"""The quarantined rows as normalised (failed values null): linked, never loaded."""
HELD_FORMAT = "held/1"
"""Part of the validate step's digest, so a run directory from before held rows is redone."""
GOLDEN_FORMAT = "golden.parquet/1"
"""Part of the survive step's digest, so a run directory written in an older format is
redone rather than skipped."""


def _rules(run_dir: Path) -> dict[str, str]:
    rules: dict[str, str] = json.loads(pl.read_parquet_metadata(run_dir / GOLDEN)[RULES_KEY])
    return rules


def read_golden(run_dir: Path, lineage: bool = True) -> list[dict[str, Any]]:
    """The golden records of a finished run as ``{golden_id, members, fields, lineage}``;
    ``lineage=False`` leaves the lineage out (all that loading needs, and far smaller)."""
    run_dir = Path(run_dir)
    golden = pl.read_parquet(run_dir / GOLDEN)
    members = pl.read_parquet(run_dir / LINEAGE) if lineage else None
    return list(golden_records(golden, members, _rules(run_dir)))


def find_golden(run_dir: Path, key: str) -> dict[str, Any] | None:
    """The first golden record whose id, member record id or national ID is ``key``,
    with its lineage; read from the run's files without loading every record."""
    run_dir = Path(run_dir)
    golden = pl.scan_parquet(run_dir / GOLDEN)
    names = golden.collect_schema()["fields"].to_schema()  # type: ignore[attr-defined]
    match = (pl.col("golden_id") == key) | pl.col("members").list.contains(key)
    if key:
        for name in ("national_id", "owner_national_id"):
            if name in names:
                match = match | (pl.col("fields").struct.field(name).cast(pl.String) == key)
    found = golden.filter(match).head(1).collect()
    if found.is_empty():
        return None
    members = (
        pl.scan_parquet(run_dir / LINEAGE)
        .filter(pl.col("golden_id") == found.item(0, "golden_id"))
        .collect()
    )
    return next(golden_records(found, members, _rules(run_dir)))


class Pipeline:
    """One run of a plan; see the module docstring."""

    def __init__(
        self,
        plan: Plan,
        sessions: sessionmaker[Session] | None,
        backend: str = "duckdb",
        registries: Path | None = None,
        console: Console | None = None,
        run_dir: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:  # refused before any step runs, not at linkage
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.plan = plan
        self.sessions = sessions
        self.backend = backend
        self.registries = registries
        self.console = console or Console(stderr=True)
        self.dir = run_dir or plan.run_dir
        self.result = RunResult(self.dir)
        self.digests: dict[str, str] = {}
        self.progress: Progress | None = None

    # checkpoints --------------------------------------------------------------------------

    def _checkpoint(self, step: str) -> Path:
        return self.dir / "steps" / f"{step.replace(':', '__')}.json"

    def _log(self, line: str) -> None:
        with (self.dir / "run.log").open("a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")

    @contextmanager
    def _step(self, step: str, *inputs: str) -> Iterator[bool]:
        """Yields True when the step must run; records the checkpoint when it ends."""
        digest = _digest(self.plan.digest(), step, *inputs)
        self.digests[step] = digest
        path = self._checkpoint(step)
        if path.is_file() and json.loads(path.read_text("utf-8")).get("digest") == digest:
            self.result.steps[step] = "skipped"
            self._log(f"skip {step}")
            yield False
            return
        self._log(f"start {step}")
        yield True
        _write_text(path, json.dumps({"step": step, "digest": digest, "at": time.time()}))
        self.result.steps[step] = "done"
        self._log(f"done {step}")

    @contextmanager
    def _task(self, label: str, total: float | None = None) -> Iterator[Callable[..., None]]:
        assert self.progress is not None
        task = self.progress.add_task(label, total=total)

        def advance(amount: float = 1, total: float | None = None) -> None:
            assert self.progress is not None
            if total is not None:
                self.progress.update(task, total=total)
            self.progress.advance(task, amount)

        yield advance
        final = self.progress.tasks[task].total or 1
        self.progress.update(task, completed=final, total=final)

    # steps ------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with self.progress:
            self._run_steps()
        return self.result

    def _run_steps(self) -> None:
        plan = self.plan
        self.fixes: dict[str, dict[str, str]] = {}
        if self.sessions is not None:
            with self.sessions() as session:
                self.fixes = review_service.fixes(session, plan.name)
        source_digests = [_digest(json.dumps(self.fixes, sort_keys=True, ensure_ascii=False))]
        for source in plan.model.sources:
            extract = self.dir / "extract" / f"{source.id}.parquet"
            with (
                self._step(f"extract:{source.id}") as needed,
                self._task(f"extract {source.id}", 1) as advance,
            ):
                if needed:
                    _write_parquet(extract, read_source(plan, source))
                advance()
            normalised = self.dir / "normalised" / f"{source.id}.parquet"
            with (
                self._step(f"normalise:{source.id}", self.digests[f"extract:{source.id}"]) as (
                    needed
                ),
                self._task(f"normalise {source.id}", len(source.fields)) as advance,
            ):
                if needed:
                    raw = pl.read_parquet(extract)
                    _write_parquet(normalised, normalise_source(plan, source, raw, advance))
            source_digests.append(self.digests[f"normalise:{source.id}"])
        source_digests.append(HELD_FORMAT)

        with (
            self._step("validate", *source_digests) as needed,
            self._task("validate", len(plan.model.sources)) as advance,
        ):
            if needed:
                self._validate(advance)

        with (
            self._step("link", self.digests["validate"], self.backend) as needed,
            self._task(f"link ({self.backend})", 1) as advance,
        ):
            if needed:
                # Held-back rows are linked on what they have (they stay out of the load).
                rows = pl.concat(
                    [pl.read_parquet(self.dir / "kept.parquet"), self._held()],
                    how="diagonal_relaxed",
                )
                pairs = score_pairs(
                    prepare(rows, plan.model.linkage.entity), plan.model.linkage, self.backend
                )
                _write_parquet(self.dir / "pairs.parquet", pairs)
                self._held_partners(pairs)
            advance()

        decided: dict[tuple[str, str], bool] = {}
        if self.sessions is not None:
            with (
                self._step("review", self.digests["link"]) as needed,
                self._task("review queue", 1) as advance,
            ):
                if needed:
                    self._queue()
                advance()
            with self.sessions() as session:
                decided = review_service.decisions(session, plan.name)
        decisions_digest = _digest(json.dumps(sorted((*k, v) for k, v in decided.items())))

        with (
            self._step("cluster", self.digests["link"], decisions_digest) as needed,
            self._task("cluster", 1) as advance,
        ):
            if needed:
                kept_ids = pl.read_parquet(self.dir / "kept.parquet", columns=[RECORD_ID])
                pairs = pl.read_parquet(self.dir / "pairs.parquet")
                links = edges(pairs, plan.model.linkage.threshold, decided)
                cluster_of = clusters(kept_ids.get_column(RECORD_ID).to_list(), links)
                frame = pl.DataFrame(
                    {"record_id": list(cluster_of), "cluster": list(cluster_of.values())}
                )
                _write_parquet(self.dir / "clusters.parquet", frame)
            advance()

        with (
            self._step("survive", self.digests["cluster"], GOLDEN_FORMAT) as needed,
            self._task("survive", 1) as advance,
        ):
            if needed:
                golden, lineage = golden_frames(
                    plan,
                    pl.read_parquet(self.dir / "kept.parquet"),
                    pl.read_parquet(self.dir / "clusters.parquet"),
                )
                _write_parquet(self.dir / LINEAGE, lineage)
                rules = {RULES_KEY: json.dumps(rules_of(plan))}
                _write_atomic(
                    self.dir / GOLDEN, lambda path: golden.write_parquet(path, metadata=rules)
                )
                (self.dir / "golden.jsonl").unlink(missing_ok=True)  # an older run's format
            advance()

        self.result.summary.update(self._summary())
        if plan.model.load is not None:
            golden_digest = hashlib.sha256((self.dir / GOLDEN).read_bytes()).hexdigest()
            with (
                self._step("load", self.digests["survive"], golden_digest) as needed,
                self._task("load", 1) as advance,
            ):
                if needed:
                    self._load()
                advance()

    def _validate(self, advance: Callable[..., None]) -> None:
        plan = self.plan
        descriptor = table_schema(plan)
        check_table_schema(descriptor)
        _write_text(
            self.dir / "table_schema.json", json.dumps(descriptor, ensure_ascii=False, indent=2)
        )
        kept_frames = []
        held_frames: list[pl.DataFrame] = []
        quarantine: list[dict[str, Any]] = []
        qualities: list[SourceQuality] = []
        for source in plan.model.sources:
            raw = pl.read_parquet(self.dir / "extract" / f"{source.id}.parquet")
            normalised = pl.read_parquet(self.dir / "normalised" / f"{source.id}.parquet")
            normalised = apply_fixes(plan, source, normalised, self.fixes)
            result = validate_source(plan, normalised, raw)
            kept_frames.append(result.kept)
            if result.held is not None:
                held_frames.append(result.held)
            quarantine += result.quarantine
            qualities.append(result.quality)
            advance()
        kept = pl.concat(kept_frames, how="diagonal_relaxed")
        _write_parquet(self.dir / "kept.parquet", kept)
        held = pl.concat(held_frames, how="diagonal_relaxed") if held_frames else kept.clear()
        _write_parquet(self.dir / HELD, held.drop(WARNINGS, strict=False))
        _write_text(
            self.dir / "quarantine.jsonl",
            "".join(json.dumps(q, ensure_ascii=False, sort_keys=True) + "\n" for q in quarantine),
        )
        self.dir.joinpath("report").mkdir(exist_ok=True)
        write_report(self.dir / "report", quality_json(plan, qualities))

    def _held(self) -> pl.DataFrame:
        path = self.dir / HELD
        return pl.read_parquet(path) if path.is_file() else pl.DataFrame()

    def _quarantine(self) -> dict[str, dict[str, Any]]:
        """Record id -> its quarantine entry (reasons, raw values)."""
        path = self.dir / "quarantine.jsonl"
        if not path.is_file():
            return {}
        entries = (json.loads(line) for line in path.read_text("utf-8").splitlines() if line)
        return {e["record_id"]: e for e in entries}

    def _held_partners(self, pairs: pl.DataFrame) -> None:
        """The quarantine list again, each held-back row with its likeliest partner (at or
        above the review band's low end), so the clerk fixing it sees whom it joins."""
        frame = self._held()
        held = set(frame.get_column(RECORD_ID).to_list()) if frame.height else set()
        best: dict[str, tuple[str, float]] = {}
        low = min(self.plan.model.linkage.review_band[0], self.plan.model.linkage.threshold)
        for left, right, probability in pairs.select(
            "left_id", "right_id", "match_probability"
        ).iter_rows():
            if probability < low:
                continue
            for one, other in ((left, right), (right, left)):
                if one in held and probability > best.get(one, ("", -1.0))[1]:
                    best[one] = (other, probability)
        lines = []
        for record_id, entry in self._quarantine().items():
            partner = best.get(record_id)
            if partner is not None:
                entry = {**entry, "partner": partner[0], "match_probability": partner[1]}
            lines.append(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        _write_text(self.dir / "quarantine_partners.jsonl", "".join(lines))

    def _queue(self) -> None:
        plan = self.plan
        assert self.sessions is not None
        low, high = plan.model.linkage.review_band
        held = self._held()
        held_ids = set(held.get_column(RECORD_ID).to_list()) if held.height else set()
        scored = pl.read_parquet(self.dir / "pairs.parquet")
        in_band = (pl.col("match_probability") >= low) & (pl.col("match_probability") < high)
        # A held-back row linked to anyone goes to the clerk with its partner, however sure.
        with_held = (pl.col("match_probability") >= low) & (
            pl.col("left_id").is_in(list(held_ids)) | pl.col("right_id").is_in(list(held_ids))
        )
        pairs = scored.filter(in_band | with_held)
        kept = pl.concat(
            [pl.read_parquet(self.dir / "kept.parquet").drop(WARNINGS, strict=False), held],
            how="diagonal_relaxed",
        )
        wanted = set(pairs.get_column("left_id")) | set(pairs.get_column("right_id"))
        rows = {
            r[RECORD_ID]: {
                k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()
            }
            for r in kept.filter(pl.col(RECORD_ID).is_in(list(wanted))).iter_rows(named=True)
        }
        quarantine = self._quarantine()
        for record_id in wanted & held_ids:
            rows[record_id][review_service.HELD] = quarantine.get(record_id, {}).get("reasons", [])
        candidates = [
            review_service.Candidate(left, right, probability, rows[left], rows[right])
            for left, right, probability in pairs.select(
                "left_id", "right_id", "match_probability"
            ).iter_rows()
        ]
        with transaction(self.sessions) as session:
            added = review_service.sync_queue(
                session, plan.name, plan.model.target.jurisdiction, candidates
            )
        _write_text(
            self.dir / "review.json", json.dumps({"in_band": len(candidates), "added": added})
        )

    def _load(self) -> None:
        plan = self.plan
        load = plan.model.load
        assert load is not None
        registries = plan.resolve(load.registries) if load.registries else self.registries
        if registries is None:
            raise ValueError("no registries directory: set load.registries in the plan")
        target = plan.model.target
        golden = read_golden(self.dir, lineage=False)  # loading reads fields and ids only
        summary = load_into_registries(
            registries, load.owner, plan.name, target.jurisdiction, golden, target.dataset
        )
        _write_text(
            self.dir / "load.json",
            json.dumps({"store": str(summary.store), **summary.rows, "replaced": summary.replaced}),
        )

    def _summary(self) -> dict[str, Any]:
        quality = json.loads((self.dir / "report" / "quality.json").read_text("utf-8"))
        rows = sum(s["rows"] for s in quality["sources"])
        quarantined = sum(s["quarantined"] for s in quality["sources"])
        golden = pl.scan_parquet(self.dir / GOLDEN).select(pl.len()).collect().item()
        with_review = {}
        if (self.dir / "review.json").is_file():
            with_review = json.loads((self.dir / "review.json").read_text("utf-8"))
        return {"rows": rows, "quarantined": quarantined, "golden": golden, **with_review}


def run_pipeline(
    plan: Plan,
    sessions: sessionmaker[Session] | None,
    backend: str = "duckdb",
    registries: Path | None = None,
    console: Console | None = None,
) -> RunResult:
    """Run (or resume) ``plan``; see :class:`Pipeline`."""
    return Pipeline(plan, sessions, backend, registries, console).run()
