"""Tell-us-once delivery throughput: 10,000 events x 5 push subscribers over real loopback HTTP.

Five reference receivers run as uvicorn processes; events are recorded (with their outbox rows)
while an in-process worker delivers them. Then a bare loop posts the same payloads, signed the
same way, with the same HTTP client and concurrency, straight to the same receivers. Prints
deliveries per second, p99 event-to-delivery latency (recorded_at -> delivered_at) and the
ratio of the worker's rate to the bare loop's; the last line is that ratio.

    .venv/bin/python benches/notify.py [--events 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import as_utc, make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.domain.national_id import make_national_id
from onceonly.models import Base
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.models import Delivery, LifeEvent
from onceonly.notify.receiver import spawn_receiver, wait_until_up
from onceonly.notify.subscriptions import (
    SubscriptionRequest,
    approve_subscription,
    request_subscription,
)
from onceonly.notify.webhook import signed_headers
from onceonly.notify.worker import NotifySettings, Worker, encode_body, make_worker_engine
from onceonly.outbound import ALLOWED_HOSTS_ENV

AGENCIES = ("social_welfare", "tax_office", "land_office", "urban_development", "district_office")
CHUNK = 100
BARE_ATTEMPTS = 3


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """CPU time the processes used so far (user + system, from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in processes:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def pending(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            )
            or 0
        )


def main() -> None:
    # the receivers listen on loopback, which the platform refuses unless the operator allows it
    os.environ[ALLOWED_HOSTS_ENV] = ",".join(
        filter(None, [os.environ.get(ALLOWED_HOSTS_ENV, ""), "127.0.0.1"])
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("ONCEONLY_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="onceonly-bench-notify-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)

    ports = {agency: free_port() for agency in AGENCIES}
    with transaction(sessions) as session:
        subs = []
        for agency, port in ports.items():
            view = request_subscription(
                session,
                SubscriptionRequest(
                    f"bench-city.{agency}",
                    ["address_change"],
                    "household-registration-act",
                    ["new_address"],
                    "push",
                    f"http://127.0.0.1:{port}/webhook",
                ),
                "bench",
            )
            approve_subscription(session, view.id, "bench")
            subs.append(view)
    receivers = [
        spawn_receiver(s.secret or "", tmp / f"receiver-{i}.sqlite", ports[a])
        for i, (s, a) in enumerate(zip(subs, AGENCIES, strict=True))
    ]
    try:
        for process, port in zip(receivers, ports.values(), strict=True):
            wait_until_up(process, port)
        tuning = NotifySettings(batch_size=64, concurrency=64, loops=3, poll_interval_seconds=0.01)
        total = args.events * len(subs)
        citizens = max(1, args.events // 5)

        def produce() -> None:
            for start in range(0, args.events, CHUNK):
                with transaction(sessions) as session:
                    for i in range(start, min(start + CHUNK, args.events)):
                        record_life_event(
                            session,
                            LifeEventIn(
                                kind="address_change",
                                national_id=make_national_id("A", 1 + i % 2, i % citizens),
                                payload={"new_address": f"臺北市信義區市府路{i % 300 + 1}號"},
                            ),
                        )

        worker_engine = make_worker_engine(url)
        begin = time.perf_counter()
        producer = threading.Thread(target=produce)
        producer.start()
        with Worker(make_session_factory(worker_engine), tuning) as worker:
            stop = threading.Event()
            runner = threading.Thread(target=worker.run, args=(stop,))
            runner.start()
            while pending(sessions) or producer.is_alive():
                time.sleep(0.05)
            stop.set()
            runner.join()
            client = worker.client
            elapsed = time.perf_counter() - begin
            producer.join()
            with transaction(sessions) as session:
                latencies = [
                    (as_utc(d) - as_utc(r)).total_seconds()
                    for d, r in session.execute(
                        select(Delivery.delivered_at, LifeEvent.recorded_at).join(
                            LifeEvent, LifeEvent.id == Delivery.event_id
                        )
                    )
                    if d is not None
                ]
                rows = [
                    (d.payload, d.event_id, d.subscription_id, d.mode)
                    for d in session.scalars(select(Delivery).order_by(Delivery.id))
                ]
            secrets = {s.id: s.secret or "" for s in subs}
            targets = {s.id: s.webhook_url or "" for s in subs}

            retried: Counter[str] = Counter()

            def bare(row: tuple[dict[str, object], str, int, str]) -> str:
                """The post's outcome: ``"ok"``, or why it failed after retries. A kept-alive
                connection the receiver closed meanwhile (reset by peer on a busy machine)
                is retried on a new one, as the worker retries its deliveries."""
                payload, event_id, sub_id, _ = row
                # an event of its own (the receiver applies each event id once), so the
                # receiver does for it all it did for the worker's
                bare_id = f"{event_id}-bare"
                body = encode_body({**payload, "id": bare_id})
                headers = signed_headers(secrets[sub_id], body, bare_id, sub_id)
                headers["Content-Type"] = "application/json"
                for attempt in range(BARE_ATTEMPTS):
                    try:
                        response = client.post(targets[sub_id], content=body, headers=headers)
                    except httpx.TransportError as error:
                        outcome = f"{type(error).__name__}: {error}"
                    else:
                        if 200 <= response.status_code < 300:
                            return "ok"
                        outcome = f"HTTP {response.status_code}: {response.text[:200]}"
                    if attempt + 1 < BARE_ATTEMPTS:
                        retried[outcome] += 1
                return outcome

            bare_begin = time.perf_counter()
            receivers_before = cpu_seconds(receivers)
            client_before = time.process_time()
            with ThreadPoolExecutor(max_workers=tuning.concurrency) as pool:
                codes = list(pool.map(bare, rows))
            bare_elapsed = time.perf_counter() - bare_begin
            receiver_cores = (cpu_seconds(receivers) - receivers_before) / bare_elapsed
            client_cores = (time.process_time() - client_before) / bare_elapsed
        worker_engine.dispose()
    finally:
        for process in receivers:
            process.terminate()
        for process in receivers:
            process.wait(10)
        engine.dispose()
        if not args.database_url:
            shutil.rmtree(tmp, ignore_errors=True)

    failed = Counter(code for code in codes if code != "ok")
    for outcome, count in retried.most_common():
        print(f"bare loop retried {count} x {outcome}")
    if failed:
        for outcome, count in failed.most_common():
            print(f"bare loop failed {count} x {outcome}", file=sys.stderr)
        sys.exit(f"the bare loop could not post {sum(failed.values())} of {len(codes)} payloads")
    rate = total / elapsed
    bare_rate = len(rows) / bare_elapsed
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    print(f"backend: {url.split(':')[0]}; {args.events} events x {len(subs)} subscribers")
    print(f"outbox + worker: {total} deliveries in {elapsed:.1f} s = {rate:.0f} deliveries/s")
    median = statistics.median(latencies)
    print(f"p99 event-to-delivery latency: {p99 * 1000:.0f} ms (median {median * 1000:.0f} ms)")
    print(f"bare loop, same client and concurrency: {bare_rate:.0f} posts/s")
    print(
        f"during the bare loop: the posting process used {client_cores:.2f} cores, the five "
        f"receivers {receiver_cores:.2f} cores, of {os.cpu_count()} (a side near the whole "
        "machine is what limited both figures)"
    )
    print(f"ratio worker / bare loop: {rate / bare_rate:.2f}")
    print(f"{rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
