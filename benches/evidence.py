"""Benchmark: evidence requests under load, against a trivial endpoint of the same server.

    python benches/evidence.py [--people 20000] [--duration 10] [--rounds 3] [--profile]
                               [--only sqlite]

Prepares the demo with N people in a temporary directory, starts ``onceonly serve`` as a real
server on loopback and drives it with ``wrk`` (a native load generator, so the client is not
what saturates): a clerk's bearer token asks for two evidence types (the household record and
the income predicate) about random people, then the same ``wrk`` asks ``/healthz``. Each is
measured at 32 connections (throughput; ``--rounds`` rounds of both back to back, the round
with the median ratio reported, so a busy neighbour weighs on both sides) and at one
connection (the cost of one request, p50 and p99, no queueing), on SQLite with one worker and
on a throwaway PostgreSQL (``scripts/postgres.sh``) with one and with two workers. The last
line holds the figures.

``--profile`` records a py-spy sampling profile of the server (every worker) during the
32-connection evidence run and prints where the file is and its hottest functions.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import onceonly
from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.cases import service as cases
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.demo.run import prepare_demo

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE_PATH = "/api/v1/evidence-requests"
TRIVIAL_PATH = "/healthz"
ITEM = "public-housing-low-income"

_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""

_LUA_ISSUED = """
response = function(status, headers, body)
  -- a 200 whose pieces were not all issued (denied, failed, owner down) is no success: it
  -- would measure how fast the server refuses
  local _, pieces = string.gsub(body, '"status":"', '')
  local _, issued = string.gsub(body, '"status":"issued"', '')
  if status == 200 and (pieces == 0 or issued < pieces) then
    io.write("NOTISSUED " .. string.gsub(string.sub(body, 1, 300), "\\n", " ") .. "\\n")
  elseif status >= 300 then
    -- what the server said, so a bench run that failed says why
    io.write("NOTISSUED HTTP " .. status .. " " ..
             string.gsub(string.sub(body, 1, 300), "\\n", " ") .. "\\n")
  end
end
"""
"""Appended to an evidence script: counts answers that were not issued in full."""

_LUA_HEALTHY = """
response = function(status, headers, body)
  -- the trivial endpoint's own answer, not whatever page a wrong path finds (the home page
  -- was measured as if it were /healthz until this check)
  if status ~= 200 or not string.find(body, '"status":"ok"', 1, true) then
    io.write("NOTISSUED not /healthz's answer: " .. status .. " " ..
             string.gsub(string.sub(body, 1, 100), "\\n", " ") .. "\\n")
  end
end
"""

_LUA_EVIDENCE = """
local ids = {%(ids)s}
local cases = {%(cases)s}
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer %(token)s"}
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("start", threads * 997)
end
local n = 0
init = function(args)
  n = (start or 0) %% #ids
end
request = function()
  n = n %% #ids + 1
  local body = '{"case_id":"' .. cases[n] .. '","application_item":"' .. "%(item)s" .. '",' ..
    '"subject":"' .. ids[n] .. '","evidence":[{"type":"household_registration"},' ..
    '{"type":"household_income_below"}]}'
  return wrk.format("POST", "%(path)s", headers, body)
end
"""


@dataclass(frozen=True)
class Run:
    """One ``wrk`` run, as its Lua ``done`` hook reported it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: Counter[str]
    client_cpu: float = 0.0
    """CPU seconds ``wrk`` itself used per second of the run: well below the cores left to
    the server means the load generator was not what limited the figure."""
    first_refusal: str = ""
    machine_cpu: float = 0.0
    """Cores the whole machine kept busy during the run (server, database, wrk, anything
    else): near ``os.cpu_count()`` means the machine, not the server, set the figure."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Config:
    label: str
    database_url: str | None
    workers: int
    evidence32: Run | None = None
    trivial32: Run | None = None
    evidence1: Run | None = None
    trivial1: Run | None = None
    ratios: list[float] = field(default_factory=list)
    """Evidence ÷ trivial throughput of each round at 32 connections."""


def find_wrk() -> str:
    """The ``wrk`` binary; installed from Debian's packages when this is root on Debian, or a
    clear message saying how to get it."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing it from Debian's packages (apt-get install wrk)")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "benches/evidence.py needs wrk, a native HTTP load generator (a Python client would "
        "saturate before the server). Install it: `apt-get install wrk` (Debian/Ubuntu) or "
        "see https://github.com/wg/wrk."
    )


def subjects(settings: Settings, count: int = 5000) -> list[str]:
    store = settings.registries_dir / "central.moi_household.sqlite"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        ids = [row[0] for row in db.execute("SELECT idn FROM persons LIMIT ?", (count,))]
    random.Random(7).shuffle(ids)
    return ids


def open_cases(settings: Settings, ids: list[str]) -> list[str]:
    """An open case of the clerk's agency per subject (evidence is asked only for a case),
    opened through the cases service; the case numbers in the order of ``ids``."""
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        user = get_user(db, "tpe-udd-clerk")
        assert user is not None
        clerk = cases.CaseActor(user.username, user.agency_code, user.role, user.badge)
        numbers = [
            cases.open_case(db, clerk, application_item=ITEM, subject=nid).number for nid in ids
        ]
    engine.dispose()
    return numbers


def bench_token(settings: Settings) -> str:
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        user = get_user(db, "tpe-udd-clerk")
        assert user is not None
        plain, _ = issue_api_token(db, user, "bench", 1)
    engine.dispose()
    return plain


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server started by ``scripts/postgres.sh`` (as the test suite does)."""
    script = (
        f". {ROOT / 'scripts/postgres.sh'} && start_test_postgres >&2 && "
        'echo "$ONCEONLY_TEST_PG_URL" && echo "$PG_DIR" && echo "$ONCEONLY_TEST_PG_CTL"'
    )
    started = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    lines = started.stdout.strip().splitlines()
    if started.returncode != 0 or len(lines) < 3:
        sys.exit(f"could not start PostgreSQL for the bench: {started.stderr.strip()}")
    url, pg_dir, pg_ctl = lines[-3:]
    try:
        yield url
    finally:
        subprocess.run(
            f"{pg_ctl} -m immediate stop >/dev/null 2>&1; rm -rf {pg_dir}", shell=True, check=False
        )


@contextmanager
def server(settings: Settings, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """``onceonly serve`` on a loopback port; yields its URL and process id. A server that
    does not come up is reported with the tail of its log."""
    port = free_port()
    env = dict(os.environ, ONCEONLY_DATA_DIR=str(settings.data_dir))
    if settings.database_url:
        env["ONCEONLY_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "onceonly.cli", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("ab") as out:
        process = subprocess.Popen(  # cwd: `-m` puts it first on sys.path; PYTHONPATH rules
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"onceonly serve exited {process.returncode}:\n{tail(log)}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"onceonly serve did not answer within 60 s:\n{tail(log)}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core so far, from /proc/stat; (0, 0) elsewhere."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(value) for value in first]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


def wrk(binary: str, url: str, script: Path, connections: int, seconds: int) -> Run:
    threads = max(1, min(connections, os.cpu_count() or 1))
    command = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--timeout", "30s", "-s", str(script), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, all_before = machine_ticks()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    busy_after, all_after = machine_ticks()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"^RESULT (.*)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    n, duration_us, p50, p99, status, connect, read, write, timeout = map(int, match[1].split())
    refusals = re.findall(r"^NOTISSUED (.*)$", result.stdout, re.MULTILINE)
    errors = Counter(
        {
            "non-2xx": status,
            "not issued": sum(1 for r in refusals if not r.startswith("HTTP ")),
            "connect": connect,
            "read": read,
            "write": write,
            "timeout": timeout,
        }
    )
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    elapsed = duration_us / 1e6
    return Run(
        n,
        elapsed,
        p50 / 1000,
        p99 / 1000,
        +errors,
        client_cpu=used / elapsed if elapsed else 0.0,
        first_refusal=refusals[0] if refusals else "",
        machine_cpu=(
            (busy_after - busy_before) / (all_after - all_before) * (os.cpu_count() or 1)
            if all_after > all_before
            else 0.0
        ),
    )


def why_failed(url: str, token: str, subject: str, case: str) -> str:
    """One evidence request made by hand, to say why wrk saw non-2xx answers."""
    body = {
        "case_id": case,
        "application_item": ITEM,
        "subject": subject,
        "evidence": [{"type": "household_registration"}, {"type": "household_income_below"}],
    }
    try:
        response = httpx.post(
            url + EVIDENCE_PATH, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    return f"HTTP {response.status_code}: {response.text[:300]}"


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("--profile needs py-spy: pip install -e '.[dev]' (it is in the dev extra)")
    # --gil: only the thread holding the interpreter lock is sampled. A server of many threads
    # spends most of its samples waiting for that lock, inside whatever call released it
    # (a query, a commit), which would be read as the query's cost.
    command = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--gil"]
    command += ["--duration", str(seconds), "--rate", "200", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def hottest(collapsed: Path, count: int = 15) -> list[tuple[float, float, str]]:
    """(self %, inclusive %, frame) of the busiest frames of a py-spy raw (collapsed) file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text("utf-8", "replace").splitlines():
        stack, _, weight = line.rpartition(" ")
        if not weight.isdigit():
            continue
        samples = int(weight)
        frames = stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return []
    return [
        (100 * samples / total, 100 * inclusive[frame] / total, frame)
        for frame, samples in own.most_common(count)
    ]


def measure(
    config: Config,
    settings: Settings,
    tools: tuple[str, Path, Path],
    seconds: int,
    work: Path,
    profile_dir: Path | None,
    token: str,
    subject: str,
    case: str,
    rounds: int = 3,
) -> None:
    binary, evidence_lua, trivial_lua = tools
    log = work / f"server-{config.label}.log"
    with server(settings, config.workers, log) as (url, pid):
        wrk(binary, url, evidence_lua, 8, 3)  # warm up every worker
        pairs: list[tuple[Run, Run]] = []
        for round_ in range(rounds):
            sampler = None
            if profile_dir is not None and round_ == 0:
                out = profile_dir / f"evidence-{config.label}.txt"
                sampler = profile(pid, seconds, out)
            evidence = wrk(binary, url, evidence_lua, 32, seconds)
            if sampler is not None:
                _, stderr = sampler.communicate()
                report_profile(out, sampler.returncode, stderr.decode("utf-8", "replace"))
            pairs.append((evidence, wrk(binary, url + TRIVIAL_PATH, trivial_lua, 32, seconds)))
        # Each round measures both back to back, so a neighbour's load falls on both; the
        # round with the median ratio is the one reported.
        pairs.sort(key=lambda pair: pair[0].rate / pair[1].rate if pair[1].rate else 0.0)
        config.ratios = [e.rate / t.rate if t.rate else 0.0 for e, t in pairs]
        config.evidence32, config.trivial32 = pairs[len(pairs) // 2]
        config.evidence1 = wrk(binary, url, evidence_lua, 1, seconds)
        config.trivial1 = wrk(binary, url + TRIVIAL_PATH, trivial_lua, 1, seconds)
        if config.evidence32.errors or config.evidence1.errors:
            print(f"  {config.label}: evidence errors; one request by hand says:")
            print(f"    {why_failed(url, token, subject, case)}")
            print(f"    server log {log}:\n{tail(log, 10)}")


def report_profile(out: Path, returncode: int | None, stderr: str) -> None:
    if returncode != 0 or not out.exists():
        print(f"  py-spy failed ({returncode}): {stderr.strip()[-500:]}")
        return
    print(f"  profile (py-spy, collapsed stacks; open in speedscope.app): {out}")
    print("    self%  incl%  frame")
    for own, inclusive, frame in hottest(out):
        print(f"    {own:5.1f}  {inclusive:5.1f}  {frame[:110]}")


def describe(run: Run | None) -> str:
    if run is None:
        return "-"
    errors = ", ".join(f"{n} {kind}" for kind, n in run.errors.items())
    return (
        f"{run.rate:8,.0f} req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms  "
        f"wrk {run.client_cpu:4.2f} cores, machine {run.machine_cpu:4.2f}/{os.cpu_count()}"
        + (f"  ERRORS: {errors}" if errors else "")
        + (f"\n    first refused: {run.first_refusal[:300]}" if run.first_refusal else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument(
        "--cases", type=int, default=1000, help="Subjects asked about, each with an open case."
    )
    parser.add_argument(
        "--only",
        choices=["sqlite", "postgres"],
        help="Measure one database (default: SQLite x1, PostgreSQL x1 and x2).",
    )
    parser.add_argument(
        "--pg-workers",
        default="1,2",
        help="Worker counts measured on PostgreSQL, comma-separated (default 1,2).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Rounds of evidence then /healthz at 32 connections; the median ratio is kept.",
    )
    parser.add_argument("--profile", action="store_true", help="Record a py-spy profile.")
    parser.add_argument(
        "--profile-dir", type=Path, default=Path("bench-profiles"), help="Where profiles go."
    )
    args = parser.parse_args()
    binary = find_wrk()
    profile_dir = args.profile_dir.resolve() if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)

    configs: list[Config] = []
    if args.only in (None, "sqlite"):
        configs.append(Config("sqlite-1", None, 1))
    if args.only in (None, "postgres"):
        for workers in sorted({int(n) for n in args.pg_workers.split(",") if n.strip()}):
            configs.append(Config(f"postgres-{workers}", "", workers))

    with tempfile.TemporaryDirectory(prefix="onceonly-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(data_dir=work / "data")
        started = time.perf_counter()
        prepare_demo(settings, people=args.people)
        print(f"prepared {args.people:,} people in {time.perf_counter() - started:.1f}s")
        print(f"measuring the onceonly in {Path(onceonly.__file__).parent}")
        load = " ".join(f"{n:.2f}" for n in os.getloadavg())
        print(f"load average before measuring (1, 5, 15 min): {load}")
        ids = subjects(settings, args.cases)
        trivial_lua = work / "trivial.lua"
        trivial_lua.write_text(_LUA_HEALTHY + _LUA_DONE, "utf-8")

        def scripts_for(token: str, numbers: list[str]) -> tuple[str, Path, Path]:
            lua = _LUA_EVIDENCE % {
                "ids": ",".join(f'"{i}"' for i in ids),
                "cases": ",".join(f'"{n}"' for n in numbers),
                "token": token,
                "path": EVIDENCE_PATH,
                "item": ITEM,
            }
            evidence_lua = work / "evidence.lua"
            evidence_lua.write_text(lua + _LUA_ISSUED + _LUA_DONE, "utf-8")
            return binary, evidence_lua, trivial_lua

        for config in configs:
            if config.database_url is None:
                token = bench_token(settings)
                numbers = open_cases(settings, ids)
                print(f"measuring {config.label} ...")
                measure(
                    config,
                    settings,
                    scripts_for(token, numbers),
                    args.duration,
                    work,
                    profile_dir,
                    token,
                    ids[0],
                    numbers[0],
                    args.rounds,
                )
        postgres = [c for c in configs if c.database_url is not None]
        if postgres:
            with throwaway_postgres() as url:
                pg_settings = Settings(data_dir=settings.data_dir, database_url=url)
                prepare_demo(pg_settings, people=args.people)
                token = bench_token(pg_settings)
                numbers = open_cases(pg_settings, ids)
                for config in postgres:
                    print(f"measuring {config.label} ...")
                    measure(
                        config,
                        pg_settings,
                        scripts_for(token, numbers),
                        args.duration,
                        work,
                        profile_dir,
                        token,
                        ids[0],
                        numbers[0],
                    )

    for config in configs:
        print(f"{config.label}:")
        print(f"  evidence, 32 connections: {describe(config.evidence32)}")
        print(f"  /healthz, 32 connections: {describe(config.trivial32)}")
        print(f"  evidence, 1 connection:   {describe(config.evidence1)}")
        print(f"  /healthz, 1 connection:   {describe(config.trivial1)}")
        shown = " ".join(f"{r:.2f}" for r in config.ratios)
        print(f"  ratio at 32 connections, round by round (sorted): {shown}")
    figures = []
    failed = False
    for c in configs:
        assert c.evidence32 and c.trivial32 and c.evidence1 and c.trivial1
        runs = (c.evidence32, c.evidence1, c.trivial32, c.trivial1)
        failed = failed or any(r.errors for r in runs)
        figures.append(
            f"{c.label} {c.evidence32.rate / c.trivial32.rate:.2f}x "
            f"(median of {len(c.ratios)}) "
            f"({c.evidence32.rate:,.0f}/{c.trivial32.rate:,.0f} req/s), 1 conn p50/p99 "
            f"evidence {c.evidence1.p50_ms:.2f}/{c.evidence1.p99_ms:.2f} ms, "
            f"healthz {c.trivial1.p50_ms:.2f}/{c.trivial1.p99_ms:.2f} ms"
        )
    print(
        f"evidence ÷ /healthz throughput at 32 connections (2 types, {args.people:,} people): "
        + "; ".join(figures)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
