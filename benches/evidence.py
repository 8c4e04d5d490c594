"""Benchmark: evidence requests under load, against a trivial endpoint of the same app.

    python benches/evidence.py [--people 100000] [--clients 32] [--requests 3000]

Prepares the demo with N people in a temporary directory, starts ``onceonly serve`` as a real
server on loopback, and lets C concurrent clients each ask for two evidence types (the
household-registration record and the income predicate) about random people, through the
same HTTP client it then points at ``/healthz``. Throughput, p50 and p99 of both, and their
ratio, are printed; the last line is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from onceonly.accounts.service import get_user, issue_api_token
from onceonly.cases import service as cases
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.run import prepare_demo

ITEM = "public-housing-low-income"
BODY = {
    "application_item": ITEM,
    "evidence": [{"type": "household_registration"}, {"type": "household_income_below"}],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def subjects(settings: Settings, count: int = 5000) -> list[str]:
    store = settings.registries_dir / "central.moi_household.sqlite"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        ids = [row[0] for row in db.execute("SELECT idn FROM persons LIMIT ?", (count,))]
    random.Random(7).shuffle(ids)
    return ids


def open_cases(settings: Settings, ids: list[str]) -> dict[str, str]:
    """An open case of the clerk's agency per subject: evidence is asked only for a case."""
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        user = get_user(db, "tpe-udd-clerk")
        assert user is not None
        clerk = cases.CaseActor(user.username, user.agency_code, user.role, user.badge)
        numbers = {
            nid: cases.open_case(db, clerk, application_item=ITEM, subject=nid).number
            for nid in ids
        }
    engine.dispose()
    return numbers


def token(settings: Settings) -> str:
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        user = get_user(db, "tpe-udd-clerk")
        assert user is not None
        plain, _ = issue_api_token(db, user, "bench", 1)
    engine.dispose()
    return plain


async def load(
    url: str, clients: int, requests: int, make_request: object
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    per_client = requests // clients
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker(number: int) -> None:
            nonlocal failures
            for index in range(per_client):
                started = time.perf_counter()
                response = await make_request(client, number * per_client + index)  # type: ignore[operator]
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failures


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="onceonly-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        started = time.perf_counter()
        prepare_demo(settings, people=args.people)
        print(f"prepared {args.people:,} people in {time.perf_counter() - started:.1f}s")
        ids = subjects(settings, min(5000, args.requests))
        started = time.perf_counter()
        case_of = open_cases(settings, ids)
        print(f"opened {len(ids):,} cases in {time.perf_counter() - started:.1f}s")
        bearer = {"Authorization": f"Bearer {token(settings)}"}
        port = free_port()
        env = dict(os.environ, ONCEONLY_DATA_DIR=str(settings.data_dir))
        server = subprocess.Popen(
            [sys.executable, "-m", "onceonly.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)

            async def evidence(client: httpx.AsyncClient, n: int) -> httpx.Response:
                subject = ids[n % len(ids)]
                body = dict(BODY, subject=subject, case_id=case_of[subject])
                return await client.post("/api/v1/evidence-requests", json=body, headers=bearer)

            async def trivial(client: httpx.AsyncClient, n: int) -> httpx.Response:
                return await client.get("/healthz")

            asyncio.run(load(url, args.clients, args.clients * 4, evidence))  # warm up
            ev_rate, ev_lat, ev_fail = asyncio.run(load(url, args.clients, args.requests, evidence))
            tr_rate, tr_lat, tr_fail = asyncio.run(load(url, args.clients, args.requests, trivial))
        finally:
            server.terminate()
            server.wait(timeout=10)

    print(
        f"evidence: {ev_rate:,.0f} req/s, p50 {quantile(ev_lat, 0.5):.1f} ms, "
        f"p99 {quantile(ev_lat, 0.99):.1f} ms, {ev_fail} failed"
    )
    print(
        f"trivial:  {tr_rate:,.0f} req/s, p50 {quantile(tr_lat, 0.5):.1f} ms, "
        f"p99 {quantile(tr_lat, 0.99):.1f} ms, {tr_fail} failed"
    )
    print(
        f"evidence (2 types, {args.clients} clients, {args.people:,} people, SQLite): "
        f"{ev_rate:,.0f} req/s, p99 {quantile(ev_lat, 0.99):.1f} ms; "
        f"{ev_rate / tr_rate:.2f}x the trivial endpoint's throughput"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
