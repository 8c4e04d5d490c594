"""Benchmark: how fast the demo registries are generated, against a bare-insert baseline.

    python benches/generate.py [--people N] [--seed S]

Generates N people (default 100,000) with every registry of the five demo jurisdictions in a
temporary directory, then, in the same run, writes N bare rows (a national ID, a name, a
birth date) to one SQLite table with ``executemany`` in one transaction: the cheapest way to
put N people into SQLite at all. The ratio of the two rates is comparable across machines;
the absolute figure is not. The last line is the figure.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from onceonly.demo.registries import generate_registries


def bare_insert_rate(directory: Path, people: int) -> float:
    """Rows per second of the simplest possible load of ``people`` rows."""
    rows = [(i, f"A1{i:08d}", "陳小明", "0700101") for i in range(people)]
    started = time.perf_counter()
    with closing(sqlite3.connect(directory / "baseline.sqlite", isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE people (id INTEGER, idn TEXT, name TEXT, birth TEXT)")
        db.execute("BEGIN")
        db.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    return people / (time.perf_counter() - started)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the writer processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def count_rows(directory: Path) -> int:
    total = 0
    for path in directory.glob("*.sqlite"):
        with closing(sqlite3.connect(path)) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            total += sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20101225)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onceonly-bench-") as temp:
        registries = Path(temp) / "registries"
        started, cpu_started = time.perf_counter(), cpu_seconds()
        generate_registries(registries, people=args.people, seed=args.seed)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_started
        rate = args.people / seconds
        rows = count_rows(registries)
        baseline = bare_insert_rate(Path(temp), args.people)
    print(f"registries: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    print(f"cpu: {cpu / args.people * 1e6:,.0f} µs per person, all processes")
    print(f"baseline: {baseline:,.0f} bare rows/s (one table, executemany)")
    print(
        f"generate: {rate:,.0f} people/s (all registries, {args.people:,} people); "
        f"{rate / baseline:.3f}x bare-insert baseline"
    )


if __name__ == "__main__":
    main()
