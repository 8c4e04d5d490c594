"""Runs every benchmark in this folder and prints one table of their figures.

Each benchmark is a script whose last printed line is its figure; this runner keeps that line.
Usage: ``.venv/bin/python benches/run.py [name ...]`` (names without ``.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent


def main(names: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in {"run.py", "__init__.py"})
    if names:
        scripts = [p for p in scripts if p.stem in names]
    table = Table(title="onceonly benchmarks")
    table.add_column("benchmark")
    table.add_column("figure (last line)")
    table.add_column("wall s", justify="right")
    failed = 0
    for script in scripts:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        lines = (result.stdout or "").strip().splitlines()
        figure = lines[-1] if lines else ""
        if result.returncode != 0:
            failed += 1
            figure = (
                f"FAILED ({result.returncode}): {(result.stderr or '').strip().splitlines()[-1:]}"
            )
        table.add_row(script.stem, figure, f"{elapsed:.1f}")
    Console().print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
