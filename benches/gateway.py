"""Benchmark: evidence answered by an owner's gateway ÷ the same evidence from a connector on
the node, in the same run (goal ≥ 0.5).

    python benches/gateway.py [--people 20000] [--clients 16] [--requests 1600]

Prepares the demo, serves it (``onceonly serve`` on loopback) and asks the income predicate
(``household_income_below``, owned by 財政資訊中心) about random people: first from the
connector on the node, then with the owner moved behind its own ``onceonly gateway serve``
process (mutual TLS, signed requests, the owner's rules and key at the gateway). The evidence
bench's load loop is reused; the last line is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from evidence import free_port, load, open_cases, quantile, subjects, token

from onceonly.config import Settings
from onceonly.demo import gateways
from onceonly.demo.run import prepare_demo

OWNER = "central.fia"
BODY = {"application_item": "public-housing-low-income",
        "evidence": [{"type": "household_income_below"}]}  # fmt: skip


def measure(
    settings: Settings, ids: list[str], case_of: dict[str, str], args: Any
) -> tuple[float, list[float], int]:
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
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

        async def evidence(client: httpx.AsyncClient, n: int) -> httpx.Response:
            subject = ids[n % len(ids)]
            body = dict(BODY, subject=subject, case_id=case_of[subject])
            return await client.post("/api/v1/evidence-requests", json=body, headers=bearer)

        asyncio.run(load(url, args.clients, args.clients * 4, evidence))  # warm up
        return asyncio.run(load(url, args.clients, args.requests, evidence))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1600)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="onceonly-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        prepare_demo(settings, people=args.people)
        ids = subjects(settings, min(2000, args.requests))
        case_of = open_cases(settings, ids)
        node_rate, node_lat, node_fail = measure(settings, ids, case_of, args)
        [plan] = gateways.move_to_gateways(settings, Path(tmp) / "gw", {OWNER: free_port()})
        process = gateways.start(plan, Path(tmp) / "gateway.log")
        try:
            gw_rate, gw_lat, gw_fail = measure(settings, ids, case_of, args)
        finally:
            process.terminate()
            process.wait(timeout=10)
    for name, rate, lat, fail in (("node connector", node_rate, node_lat, node_fail),
                                  ("owner gateway", gw_rate, gw_lat, gw_fail)):  # fmt: skip
        print(f"{name}: {rate:,.0f} req/s, p50 {quantile(lat, 0.5):.1f} ms, "
              f"p99 {quantile(lat, 0.99):.1f} ms, {fail} failed")  # fmt: skip
    print(
        f"evidence through an owner's gateway ({args.clients} clients, {args.people:,} people): "
        f"{gw_rate:,.0f} req/s; {gw_rate / node_rate:.2f}x a connector on the node"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
