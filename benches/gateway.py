"""Benchmark: evidence answered by an owner's gateway ÷ the same evidence from a connector on
the node, in the same run (goal ≥ 0.5).

    python benches/gateway.py [--people 20000] [--connections 16] [--duration 10]

Prepares the demo, serves it (``onceonly serve`` on loopback) and asks the income predicate
(``household_income_below``, owned by 財政資訊中心) about people with open cases: first from
the connector on the node, then with the owner moved behind its own ``onceonly gateway serve``
process (mutual TLS, signed requests, the owner's rules and key at the gateway). The load comes
from ``wrk`` (a native generator, so the figure is the server's, not a Python client's); the
last line is the figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from evidence import (
    _LUA_DONE,
    _LUA_ISSUED,
    EVIDENCE_PATH,
    ITEM,
    Run,
    bench_token,
    describe,
    find_wrk,
    free_port,
    open_cases,
    server,
    subjects,
    tail,
    wrk,
)

from onceonly.config import Settings
from onceonly.demo import gateways
from onceonly.demo.run import prepare_demo

OWNER = "central.fia"
_LUA_INCOME = """
local ids = {%(ids)s}
local cases = {%(cases)s}
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer %(token)s"}
local n = 0
request = function()
  n = n %% #ids + 1
  local body = '{"case_id":"' .. cases[n] .. '","application_item":"%(item)s",' ..
    '"subject":"' .. ids[n] .. '","evidence":[{"type":"household_income_below"}]}'
  return wrk.format("POST", "%(path)s", headers, body)
end
"""


def measure(
    settings: Settings, binary: str, script: Path, args: argparse.Namespace, log: Path
) -> Run:
    with server(settings, 1, log) as (url, _pid):
        wrk(binary, url, script, 4, 2)  # warm up
        run = wrk(binary, url, script, args.connections, args.duration)
    if run.errors:
        print(f"  errors {dict(run.errors)}; server log {log}:\n{tail(log, 10)}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    binary = find_wrk()

    with tempfile.TemporaryDirectory(prefix="onceonly-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(data_dir=work / "data")
        started = time.perf_counter()
        prepare_demo(settings, people=args.people)
        print(f"prepared {args.people:,} people in {time.perf_counter() - started:.1f}s")
        ids = subjects(settings, args.cases)
        numbers = open_cases(settings, ids)
        script = work / "income.lua"
        lua = _LUA_INCOME % {
            "ids": ",".join(f'"{i}"' for i in ids),
            "cases": ",".join(f'"{n}"' for n in numbers),
            "token": bench_token(settings),
            "path": EVIDENCE_PATH,
            "item": ITEM,
        }
        script.write_text(lua + _LUA_ISSUED + _LUA_DONE, "utf-8")
        node = measure(settings, binary, script, args, work / "server-node.log")
        [plan] = gateways.move_to_gateways(settings, work / "gw", {OWNER: free_port()})
        process = gateways.start(plan, work / "gateway.log")
        try:
            gateway = measure(settings, binary, script, args, work / "server-gateway.log")
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"node connector: {describe(node)}")
    print(f"owner gateway:  {describe(gateway)}")
    ratio = gateway.rate / node.rate if node.rate else 0.0
    print(
        f"evidence through an owner's gateway ({args.connections} connections, "
        f"{args.people:,} people, wrk): {gateway.rate:,.0f} req/s; "
        f"{ratio:.2f}x a connector on the node"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
