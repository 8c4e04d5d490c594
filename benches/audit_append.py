"""Audit append as the evidence path makes it: two entries, committed (fsync'd) at once.

A batched append remembers the head and the Merkle peaks it left, so the next one neither
claims nor reads them back (``onceonly.audit.log``, ``onceonly.audit.tree_store``). This
times such appends against the same appends made as by a process that remembers nothing (the
first append of a process, or one after another worker wrote), taking turns so a busy
machine slows both alike, on a SQLite file of the backend the node uses.

    .venv/bin/python benches/audit_append.py [--appends 300] [--rounds 5]

The last line is the figure: the median time of a remembered append ÷ a forgetful one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import append_many_durably
from onceonly.audit.tree_store import forget_appended_peaks
from onceonly.db import make_session_factory

sys.path.insert(0, str(Path(__file__).parent))
from audit import fresh_engine, record


def _median_us(sessions: sessionmaker[Session], appends: int, remember: bool) -> float:
    times = []
    for n in range(appends):
        if not remember:
            forget_appended_peaks()  # as a process new to the log
        started = time.perf_counter()
        append_many_durably(sessions, [record(2 * n), record(2 * n + 1)])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        engine = fresh_engine(None, Path(directory), "audit.sqlite")
        sessions = make_session_factory(engine)
        _median_us(sessions, 100, remember=True)  # warm up
        pairs = []
        for round_no in range(args.rounds):
            remembered = _median_us(sessions, args.appends, remember=True)
            forgetful = _median_us(sessions, args.appends, remember=False)
            pairs.append((remembered, forgetful))
            print(
                f"round {round_no + 1}: remembered {remembered:.0f} µs, "
                f"forgetful {forgetful:.0f} µs"
            )
        engine.dispose()
    ratio = statistics.median(r / f for r, f in pairs)
    remembered = statistics.median(r for r, _ in pairs)
    forgetful = statistics.median(f for _, f in pairs)
    print(
        f"audit append of two entries, fsync'd: remembered head and peaks {remembered:.0f} µs "
        f"vs read back {forgetful:.0f} µs = {ratio:.2f}x the time (median of {args.rounds})"
    )


if __name__ == "__main__":
    main()
