"""Benchmark: cross-node evidence requests against the same requests served locally.

    python benches/federation.py [--people 1000] [--connections 16] [--duration 5] [--rounds 3]
                                 [--profile [--profile-dir bench-profiles]]

Builds a federation (CA, directory, 臺北市 node and the regional node hosting 基隆市 and 宜蘭縣)
in a temporary directory and starts each as a real server on loopback. A 臺北市 clerk then asks,
with C concurrent clients, for the low-income-household answer about a citizen registered in
臺北市 (decided and signed on the 臺北市 node: local) and about one registered in 宜蘭縣 (forwarded
over mutual TLS, signed request, decided and signed on the regional node, verified back: cross-
node), interleaved in the same run. Throughputs, p99 latencies, the CPU each node spent per
request (which node limits the cross-node rate) and the ratio are printed; the last line is
the figure. ``--profile`` records a py-spy profile of each node during the first cross-node
run (the asking node's is where a cross-node request costs more than a local one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
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

sys.path.insert(0, str(Path(__file__).parent))
from evidence import (
    _LUA_DONE,
    _LUA_ISSUED,
    EVIDENCE_PATH,
    Run,
    describe,
    find_wrk,
    profile,
    report_profile,
    wrk,
)

ITEM = "public-housing-low-income"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def script(work: Path, token: str, subject: str, case_id: str) -> Path:
    """A ``wrk`` script asking the low-income answer about one subject, for its open case."""
    body = json.dumps(
        {
            "case_id": case_id,
            "application_item": ITEM,
            "subject": subject,
            "evidence": [{"type": "is_low_income_household"}],
        }
    )
    lua = (
        'local headers = {["Content-Type"] = "application/json", '
        f'["Authorization"] = "Bearer {token}"}}\n'
        f"local body = [[{body}]]\n"
        f'request = function() return wrk.format("POST", "{EVIDENCE_PATH}", headers, body) end\n'
    )
    path = work / f"{subject}.lua"
    path.write_text(lua + _LUA_ISSUED + _LUA_DONE, "utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=5, help="Seconds per wrk run.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating local/cross rounds.")
    parser.add_argument("--profile", action="store_true", help="Record py-spy profiles.")
    parser.add_argument(
        "--profile-dir", type=Path, default=Path("bench-profiles"), help="Where profiles go."
    )
    args = parser.parse_args()
    profile_dir = args.profile_dir.resolve() if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    binary = find_wrk()
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
            scripts = {
                label: script(root, token, nid, case_of[nid])
                for label, nid in (("local", local_subject), ("cross-node", cross_subject))
            }
            for path in scripts.values():
                wrk(binary, taipei.url, path, 2, 2)  # warm up both paths
            runs: dict[str, list[Run]] = {label: [] for label in scripts}
            started = zip(layout.nodes, processes[1:], strict=True)
            nodes = {node.plan.id: process.pid for node, process in started}
            cpu = {label: dict.fromkeys(nodes, 0.0) for label in scripts}
            for round_ in range(args.rounds):  # alternating, so drift on a busy machine hits both
                for label, path in scripts.items():
                    samplers = {}
                    if profile_dir is not None and round_ == 0 and label == "cross-node":
                        samplers = {
                            profile_dir / f"federation-{node_id}.txt": profile(
                                pid, args.duration, profile_dir / f"federation-{node_id}.txt"
                            )
                            for node_id, pid in nodes.items()
                        }
                    before = {node_id: cpu_seconds(pid) for node_id, pid in nodes.items()}
                    runs[label].append(
                        wrk(binary, taipei.url, path, args.connections, args.duration)
                    )
                    for node_id, pid in nodes.items():
                        cpu[label][node_id] += cpu_seconds(pid) - before[node_id]
                    for out, sampler in samplers.items():
                        _, stderr = sampler.communicate()
                        report_profile(out, sampler.returncode, stderr.decode("utf-8", "replace"))
        finally:
            for process in reversed(processes):
                stop(process)
    rates = {}
    for label, measured in runs.items():
        requests = sum(r.requests for r in measured)
        rates[label] = requests / sum(r.seconds for r in measured)
        print(f"{label + ':':<11} " + "; ".join(describe(r) for r in measured))
    spent = "; ".join(
        f"{label}: "
        + ", ".join(
            f"{node_id} {seconds / sum(r.requests for r in runs[label]) * 1000:.2f}"
            for node_id, seconds in by_node.items()
        )
        for label, by_node in cpu.items()
    )
    print(f"CPU per request (ms) by node, {spent}")
    failed = [r for measured in runs.values() for r in measured if r.errors]
    local_p99 = max(r.p99_ms for r in runs["local"])
    cross_p99 = max(r.p99_ms for r in runs["cross-node"])
    print(
        f"cross-node evidence ({args.connections} connections, wrk; mTLS + signed request + "
        f"remote signing): {rates['cross-node']:,.0f} req/s vs local {rates['local']:,.0f} req/s "
        f"= {rates['cross-node'] / rates['local']:.2f}x throughput, worst p99 {cross_p99:.0f} ms "
        f"vs {local_p99:.0f} ms = {cross_p99 / local_p99:.2f}x"
    )
    if failed:
        print(f"{len(failed)} runs had failures; see ERRORS above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
