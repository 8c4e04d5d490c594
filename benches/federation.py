"""Benchmark: cross-node evidence requests against the same requests served locally.

    python benches/federation.py [--people 1000] [--clients 16] [--requests 600]

Builds a federation (CA, directory, 臺北市 node and the regional node hosting 基隆市 and 宜蘭縣)
in a temporary directory and starts each as a real server on loopback. A 臺北市 clerk then asks,
with C concurrent clients, for the low-income-household answer about a citizen registered in
臺北市 (decided and signed on the 臺北市 node: local) and about one registered in 宜蘭縣 (forwarded
over mutual TLS, signed request, decided and signed on the regional node, verified back: cross-
node), interleaved in the same run. Throughputs, p99 latencies and their ratio are printed;
the last line is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from onceonly.accounts.service import get_user, issue_api_token
from onceonly.cases import service as cases
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.federated.cluster import (
    DEMO_NODES,
    build_federation,
    start_directory,
    start_node,
    stop,
)
from onceonly.demo.registries.manifest import RegistryManifest

ITEM = "public-housing-low-income"


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else 0.0


async def run(
    url: str, token: str, subject: str, clients: int, total: int, case_id: str
) -> tuple[float, list[float], Counter[str]]:
    body = {
        "case_id": case_id,
        "application_item": ITEM,
        "subject": subject,
        "evidence": [{"type": "is_low_income_household"}],
    }
    latencies: list[float] = []
    failed: Counter[str] = Counter()
    per_client = total // clients
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in range(per_client):
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/v1/evidence-requests",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError as error:  # counted and named, not a traceback
                    failed[f"{type(error).__name__}: {error}"] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                reason = failure(response)
                if reason:
                    failed[reason] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failed


def failure(response: httpx.Response) -> str | None:
    """Why a request did not get an issued answer (``None`` if it did), for the report."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    result = response.json()["results"][0]
    if result["status"] == "issued":
        return None
    return f"{result['status']}: {result.get('reason') or result}"[:300]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3, help="Alternating local/cross rounds.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onceonly-bench-fed-") as tmp:
        root = Path(tmp)
        plans = [p for p in DEMO_NODES if p.id in {"taipei", "north-regional"}]
        layout = build_federation(root, people=args.people, plans=plans)
        manifest = RegistryManifest.read(root / "registries-all")
        processes = [start_directory(layout)]
        try:
            for node in layout.nodes:
                processes.append(start_node(node))
            taipei = layout.node("taipei")
            engine = make_engine(taipei.settings.resolved_database_url)
            with transaction(make_session_factory(engine)) as db:
                user = get_user(db, "tpe-udd-clerk")
                assert user is not None
                token, _ = issue_api_token(db, user, "bench", 1)
                local_subject = manifest.sample("low_income_applicant").national_id
                cross_subject = manifest.sample("yilan_resident").national_id
                clerk = cases.CaseActor(user.username, user.agency_code, user.role, user.badge)
                case_of = {  # evidence is asked only for an open case of the clerk's agency
                    nid: cases.open_case(db, clerk, application_item=ITEM, subject=nid).number
                    for nid in (local_subject, cross_subject)
                }
            engine.dispose()
            asyncio.run(run(taipei.url, token, cross_subject, 2, 20, case_of[cross_subject]))
            asyncio.run(run(taipei.url, token, local_subject, 2, 20, case_of[local_subject]))
            local: list[float] = []
            cross: list[float] = []
            local_time = cross_time = 0.0
            failures: Counter[str] = Counter()
            per_round = max(args.requests // args.rounds, args.clients)
            for _ in range(args.rounds):
                for subject, bucket in ((local_subject, local), (cross_subject, cross)):
                    rate, lat, failed = asyncio.run(
                        run(taipei.url, token, subject, args.clients, per_round, case_of[subject])
                    )
                    bucket.extend(lat)
                    failures.update(failed)
                    if bucket is local:
                        local_time += len(lat) / rate
                    else:
                        cross_time += len(lat) / rate
        finally:
            for process in reversed(processes):
                stop(process)
    local_rate, cross_rate = len(local) / local_time, len(cross) / cross_time
    local_p99, cross_p99 = quantile(local, 0.99), quantile(cross, 0.99)
    for label, rate, values in (("local", local_rate, local), ("cross-node", cross_rate, cross)):
        print(
            f"{label + ':':<11} {rate:,.0f} req/s, p50 {quantile(values, 0.5):.1f} ms, "
            f"p99 {quantile(values, 0.99):.1f} ms"
        )
    print(f"failed: {sum(failures.values())}")
    for reason, count in failures.most_common():
        print(f"  {count} x {reason}")
    print(
        f"cross-node evidence ({args.clients} clients, mTLS + signed request + remote signing): "
        f"{cross_rate:,.0f} req/s vs local {local_rate:,.0f} req/s = "
        f"{cross_rate / local_rate:.2f}x throughput, p99 {cross_p99:.0f} ms vs {local_p99:.0f} ms "
        f"= {cross_p99 / local_p99:.2f}x"
    )
    if failures:  # (a Counter never equals 0: this used to exit 1 even when all succeeded)
        print(
            f"{sum(failures.values())} requests failed; first: {failures.most_common(1)[0][0]}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
