"""Audit log speed: appends per second, and proof time as the log grows from 10^3 to 10^6.

The log is built through the real append path (hash chain + Merkle subtrees):
``append_batch``, which the exchange's group commit uses for every batch of evidence requests,
in batches of 5,000; the rate of one-at-a-time ``append`` (cases, policy changes) is measured
as well. At 10^3, 10^4, 10^5 and 10^6 entries it measures the append rate of the last
stretch and the mean time of inclusion and consistency proofs for random entries (database
reads included). A proof reads O(log n) subtree hashes, so the time should grow like log n,
not n: from 10^3 to 10^6 log2 n only doubles.

It also inserts the same kind of rows into the same ``audit_entries`` table with a plain
batched INSERT (no chain, no tree), taking turns with appends so a busy machine slows both
alike, and prints the append rate as a fraction of that.

    .venv/bin/python benches/audit.py                # up to 10^6 (a few minutes on SQLite)
    .venv/bin/python benches/audit.py --max 100000   # quicker
    .venv/bin/python benches/audit.py --database-url postgresql+psycopg://...

The last line is the figure.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import AuditRecord, append, append_batch
from onceonly.audit.models import AuditEntry, AuditHead, AuditTreeNode
from onceonly.audit.tree_store import consistency_proof, inclusion_proof
from onceonly.db import Base, make_engine, make_session_factory, transaction

CHECKPOINTS = (1_000, 10_000, 100_000, 1_000_000)
BATCH = 5_000
PROOFS = 200
PLAIN_SEQ = 1_000_000_000
"""Plain rows go into the same table, numbered far past the chain so that neither disturbs
the other (the chain takes its numbers from the head row)."""


def record(n: int) -> AuditRecord:
    return AuditRecord(
        event="evidence.request",
        request_id=f"bench-{n:08d}",
        actor_username="tpe-udd-clerk",
        actor_badge="B-BENCH1",
        actor_role="clerk",
        actor_agency="taipei-city.urban_development",
        application_item="public-housing-low-income",
        case_id=f"TPE-UDD-115-{n % 1_000_000:06d}",
        subject="A123456789",
        dataset="household_registration",
        fields=["name", "address", "jurisdiction"],
        owner_agency="central.moi_household",
        legal_basis="pdpa-art16",
        reason_zh="依存取規則允許",
        reason_en="Allowed by the access rule",
        details={"status": "issued", "rule_ids": [1]},
    )


def fresh_engine(url: str | None, folder: Path, name: str) -> Engine:
    """The bench's own audit tables: made in a temporary SQLite file, or in ``url``, which
    must hold no audit entries (the tables are dropped and made again)."""
    engine = make_engine(url or f"sqlite:///{folder / name}")
    if url and inspect(engine).has_table("audit_entries"):
        with engine.connect() as connection:
            if connection.execute(text("SELECT 1 FROM audit_entries LIMIT 1")).first():
                raise SystemExit(f"{url} holds audit entries: give the bench a scratch database")
    tables = [m.__table__ for m in (AuditEntry, AuditHead, AuditTreeNode)]
    Base.metadata.drop_all(engine, tables=tables)
    Base.metadata.create_all(engine, tables=tables)
    return engine


def grow(sessions: sessionmaker[Session], start: int, end: int) -> float:
    """Append entries start+1..end; returns appends per second."""
    began = time.perf_counter()
    n = start
    while n < end:
        upto = min(end, n + BATCH)
        with transaction(sessions) as session:
            append_batch(session, [record(i) for i in range(n + 1, upto + 1)])
        n = upto
    return (end - start) / (time.perf_counter() - began)


def single_rate(sessions: sessionmaker[Session], start: int, count: int) -> float:
    """Appends per second of one-at-a-time ``append`` (one transaction for all of them)."""
    began = time.perf_counter()
    with transaction(sessions) as session:
        for i in range(start + 1, start + count + 1):
            append(session, record(i))
    return count / (time.perf_counter() - began)


def proof_times(
    sessions: sessionmaker[Session], size: int, rng: random.Random
) -> tuple[float, float]:
    """Mean seconds of one inclusion proof and of one consistency proof at ``size``."""
    inclusion: list[float] = []
    consistency: list[float] = []
    with sessions() as session:
        for _ in range(PROOFS):
            seq = rng.randint(1, size)
            began = time.perf_counter()
            inclusion_proof(session, seq, size)
            inclusion.append(time.perf_counter() - began)
            first = rng.randint(1, size)
            began = time.perf_counter()
            consistency_proof(session, first, size)
            consistency.append(time.perf_counter() - began)
    return statistics.fmean(inclusion), statistics.fmean(consistency)


def plain_insert_rate(engine: Engine, start: int, count: int) -> float:
    """Rows per second of a plain batched INSERT of comparable rows into the same table."""
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    began = time.perf_counter()
    n = start
    while n < start + count:
        upto = min(start + count, n + BATCH)
        rows = [
            asdict(record(i))
            | {
                "seq": i,
                "recorded_at": now,
                "prev_hash": f"{i - 1:064x}",
                "entry_hash": f"{i:064x}",
            }
            for i in range(n + 1, upto + 1)
        ]
        with transaction(sessions) as session:
            session.execute(insert(AuditEntry), rows)
        n = upto
    return count / (time.perf_counter() - began)


def interleaved_proofs(
    sessions: sessionmaker[Session], sizes: list[int], rng: random.Random
) -> dict[int, float]:
    """Mean inclusion-proof seconds per tree size, the sizes taking turns, so that a busy
    machine slows every size alike."""
    spent: dict[int, list[float]] = {size: [] for size in sizes}
    with sessions() as session:
        for _ in range(PROOFS):
            for size in sizes:
                seq = rng.randint(1, size)
                began = time.perf_counter()
                inclusion_proof(session, seq, size)
                spent[size].append(time.perf_counter() - began)
    return {size: statistics.fmean(times) for size, times in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=CHECKPOINTS[-1], help="largest log size")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()
    sizes = [c for c in CHECKPOINTS if c <= args.max] or [args.max]
    rng = random.Random(20101225)

    with tempfile.TemporaryDirectory() as folder:
        engine = fresh_engine(args.database_url, Path(folder), "audit.sqlite")
        sessions = make_session_factory(engine)
        print(f"backend: {engine.dialect.name}; proofs averaged over {PROOFS} random entries")
        print("growing the log (rates as they come; a busy machine shows here):")
        print(f"{'entries':>10} {'appends/s':>10} {'inclusion ms':>13} {'consistency ms':>15}")
        size = 0
        for target in sizes:
            rate = grow(sessions, size, target)
            size = target
            inclusion, consistency = proof_times(sessions, size, rng)
            print(
                f"{size:>10,} {rate:>10,.0f} {inclusion * 1000:>13.3f} {consistency * 1000:>15.3f}",
                flush=True,
            )

        print("then side by side, taking turns (3 rounds of 10,000 rows each):")
        batched, plain, single = [], [], []
        for round_no in range(3):
            batched.append(grow(sessions, size, size + 10_000))
            size += 10_000
            plain.append(plain_insert_rate(engine, PLAIN_SEQ + round_no * 10_000, 10_000))
            single.append(single_rate(sessions, size, 1_000))
            size += 1_000
        proofs = interleaved_proofs(sessions, sizes, rng)
        engine.dispose()

    append_rate, plain_rate = statistics.median(batched), statistics.median(plain)
    print(f"plain INSERT into audit_entries: {plain_rate:,.0f} rows/s")
    print(f"append, batches of {BATCH:,} (chain + Merkle tree): {append_rate:,.0f}/s")
    print(f"append, one entry at a time: {statistics.median(single):,.0f}/s")
    for tree in sizes:
        print(f"inclusion proof in the tree of {tree:>9,}: {proofs[tree] * 1000:.3f} ms")
    small, large = sizes[0], sizes[-1]
    log_ratio = math.log2(large) / math.log2(small)
    print(
        f"inclusion proof time {large:,} vs {small:,}: x{proofs[large] / proofs[small]:.2f} "
        f"(log2 n grows x{log_ratio:.2f}, n grows x{large / small:,.0f}); "
        f"append rate / plain insert: {append_rate / plain_rate:.2f}"
    )


if __name__ == "__main__":
    main()
