"""Fault tests with real processes on loopback: reference receivers under uvicorn and the
worker as `onceonly notify worker`, each its own process. After every fault, every event is
applied by every receiver exactly once, in order per citizen, and marked processed.

The PostgreSQL restart test runs only with ``ONCEONLY_TEST_PG_RESTART=1`` (it restarts the
server every other test uses), e.g. as a separate step after the parallel run:
``ONCEONLY_TEST_PG_RESTART=1 pytest -p no:xdist tests/notify/test_faults.py -k restart``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.models import Base
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.models import Delivery
from onceonly.notify.receiver import read_applied, spawn_receiver, wait_until_up
from onceonly.notify.subscriptions import SubscriptionView
from tests.conftest import BACKEND, PG_URL
from tests.notify.conftest import Receiver, citizen, make_subscribe

pytestmark = pytest.mark.slow

WORKER_ENV = {
    "ONCEONLY_NOTIFY_BACKOFF_BASE_SECONDS": "0.05",
    "ONCEONLY_NOTIFY_BACKOFF_CAP_SECONDS": "0.4",
    "ONCEONLY_NOTIFY_MAX_ATTEMPTS": "200",
    "ONCEONLY_NOTIFY_LEASE_SECONDS": "2",
    "ONCEONLY_NOTIFY_BATCH_SIZE": "8",
    "ONCEONLY_NOTIFY_CONCURRENCY": "8",
    "ONCEONLY_NOTIFY_REQUEST_TIMEOUT_SECONDS": "0.6",
    "ONCEONLY_NOTIFY_POLL_INTERVAL_SECONDS": "0.05",
}


class Harness:
    """Receivers and workers as processes around one database."""

    def __init__(
        self,
        tmp_path: Path,
        database_url: str,
        sessions: sessionmaker[Session],
        subscribe: Callable[..., SubscriptionView],
    ) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.sessions = sessions
        self.subscribe = subscribe
        self.receivers: dict[str, tuple[SubscriptionView, Receiver, int]] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.expected: dict[str, list[str]] = {}

    def add_receivers(self, *agencies: str) -> list[Receiver]:
        """Subscribe each agency and start its receiver; the processes start in parallel."""
        for agency in agencies:
            port = free_port()
            url = f"http://127.0.0.1:{port}/webhook"
            view = self.subscribe(
                agency, kinds=("address_change",), fields=("new_address",), url=url
            )
            receiver = Receiver(url, self.tmp_path / f"{agency}.sqlite", f"http://127.0.0.1:{port}")
            self.receivers[agency] = (view, receiver, port)
        self.start_receivers(*agencies)
        return [self.receivers[a][1] for a in agencies]

    def start_receivers(self, *agencies: str) -> None:
        for agency in agencies:
            view, receiver, port = self.receivers[agency]
            log = self.tmp_path / f"{agency}.log"
            self.processes[agency] = spawn_receiver(
                view.secret or "", receiver.db_path, port, log, faults=True
            )
        for agency in agencies:
            port = self.receivers[agency][2]
            wait_until_up(self.processes[agency], port)

    def stop(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(10)

    def start_worker(self, name: str = "worker") -> None:
        env = {
            **os.environ,
            **WORKER_ENV,
            "ONCEONLY_DATABASE_URL": self.database_url,
            "ONCEONLY_DATA_DIR": str(self.tmp_path / "data"),
        }
        with (self.tmp_path / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "onceonly.notify.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def record(self, citizens: int, per_citizen: int) -> None:
        for round_ in range(per_citizen):
            for n in range(citizens):
                event = LifeEventIn(
                    kind="address_change",
                    national_id=citizen(n),
                    payload={"new_address": f"高雄市苓雅區四維三路{round_ + 1}號"},
                )
                with transaction(self.sessions) as session:
                    view = record_life_event(session, event)
                self.expected.setdefault(view.national_id, []).append(view.id)

    def counts(self) -> dict[str, int]:
        with transaction(self.sessions) as session:
            query = select(Delivery.status, func.count()).group_by(Delivery.status)
            return {status: int(n) for status, n in session.execute(query)}

    def wait_until(self, done: Callable[[dict[str, int]], bool], timeout: float) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        counts = self.counts()
        while not done(counts):
            if time.monotonic() > deadline:
                logs = {p.name: p.read_text()[-2000:] for p in self.tmp_path.glob("*.log")}
                raise AssertionError(f"timed out with {counts}; logs: {logs}")
            time.sleep(0.1)
            counts = self.counts()
        return counts

    def wait_for_fresh_claim(self, within: float, timeout: float) -> None:
        """Return once a batch was claimed less than ``within`` seconds ago, so a kill that
        follows lands while its posts are still waiting on the slow receivers (a kill between
        two batches would leave nothing claimed and prove nothing)."""
        lease = float(WORKER_ENV["ONCEONLY_NOTIFY_LEASE_SECONDS"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with transaction(self.sessions) as session:
                newest = session.scalar(
                    select(func.max(Delivery.lease_until)).where(
                        Delivery.status == "pending", Delivery.claim_token.is_not(None)
                    )
                )
            if newest is not None:
                if newest.tzinfo is None:
                    newest = newest.replace(tzinfo=UTC)
                if (newest - datetime.now(UTC)).total_seconds() > lease - within:
                    return
            time.sleep(0.01)
        raise AssertionError(f"no batch was claimed within {timeout} s: {self.counts()}")

    def wait_all_processed(self, timeout: float = 60) -> None:
        total = sum(len(v) for v in self.expected.values()) * len(self.receivers)
        self.wait_until(lambda c: c.get("processed", 0) == total, timeout)

    def check_every_receiver(self) -> dict[str, int]:
        """Every event applied once, in order per citizen; returns duplicates seen per agency."""
        duplicates = {}
        for agency, (_, receiver, _) in self.receivers.items():
            applied = read_applied(receiver.db_path)
            per_citizen: dict[str, list[str]] = {}
            for event_id, subject, _seq in applied:
                per_citizen.setdefault(subject, []).append(event_id)
            assert per_citizen == self.expected, f"{agency} applied out of order or not all"
            seqs = [(s, q) for _, s, q in applied]
            for subject in per_citizen:
                mine = [q for s, q in seqs if s == subject]
                assert mine == sorted(mine) and len(set(mine)) == len(mine)
            import sqlite3

            connection = sqlite3.connect(receiver.db_path)
            duplicates[agency] = connection.execute(
                "SELECT count(*) FROM received WHERE duplicate = 1"
            ).fetchone()[0]
            assert (
                connection.execute(
                    "SELECT count(*) FROM received WHERE out_of_order = 1"
                ).fetchone()[0]
                == 0
            )
            connection.close()
        return duplicates

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@pytest.fixture
def harness(
    tmp_path: Path,
    database_url: str,
    sessions: sessionmaker[Session],
    subscribe: Callable[..., SubscriptionView],
) -> Iterator[Harness]:
    h = Harness(tmp_path, database_url, sessions, subscribe)
    try:
        yield h
    finally:
        h.close()


def test_worker_killed_mid_batch_and_restarted(harness: Harness) -> None:
    tax, land = harness.add_receivers("kaohsiung-city.tax_office", "kaohsiung-city.land_office")
    tax.set_fault(delay=0.3)
    land.set_fault(delay=0.3)
    harness.start_worker()
    harness.record(citizens=12, per_citizen=3)
    harness.wait_until(lambda c: c.get("processed", 0) >= 4, timeout=60)
    # From now on every post outlasts the worker's request timeout, so each batch stays
    # claimed for that whole timeout (0.6 s) and the kill lands inside one however slow the
    # machine. The batches claimed before the change are over after a second.
    tax.set_fault(delay=5)
    land.set_fault(delay=5)
    time.sleep(1.0)
    harness.wait_for_fresh_claim(within=0.3, timeout=60)
    harness.stop("worker", signal.SIGKILL)
    with transaction(harness.sessions) as session:
        in_flight = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == "pending", Delivery.claim_token.is_not(None))
        )
    assert in_flight, "the kill left claimed rows behind"
    tax.set_fault()
    land.set_fault()
    harness.start_worker()
    harness.wait_all_processed()
    harness.check_every_receiver()


def test_receiver_down_for_a_while_then_back(harness: Harness) -> None:
    harness.add_receivers("kaohsiung-city.tax_office", "kaohsiung-city.social_welfare")
    harness.stop("kaohsiung-city.tax_office")
    harness.start_worker()
    harness.record(citizens=5, per_citizen=3)
    harness.wait_until(lambda c: c.get("processed", 0) == 15, timeout=60)
    time.sleep(1.0)
    with transaction(harness.sessions) as session:
        retried = session.scalar(select(func.max(Delivery.attempts)))
    assert retried and retried > 1, "deliveries to the absent receiver were retried"
    harness.start_receivers("kaohsiung-city.tax_office")
    harness.wait_all_processed()
    harness.check_every_receiver()


def test_receiver_answering_500_timing_out_and_slowly(harness: Harness) -> None:
    failing, timing_out, slow = harness.add_receivers(
        "kaohsiung-city.tax_office", "kaohsiung-city.land_office", "kaohsiung-city.social_welfare"
    )
    failing.set_fault(status=500, remaining=12)
    timing_out.set_fault(delay=1.0, remaining=6)
    slow.set_fault(delay=0.25)
    harness.start_worker()
    harness.record(citizens=6, per_citizen=3)
    harness.wait_all_processed(timeout=60)
    duplicates = harness.check_every_receiver()
    assert duplicates["kaohsiung-city.land_office"] > 0, (
        "timed-out pushes the receiver applied anyway came again and were applied once"
    )


def test_duplicate_deliveries_are_applied_once(harness: Harness) -> None:
    harness.add_receivers("kaohsiung-city.tax_office", "kaohsiung-city.land_office")
    harness.start_worker("worker-a")
    harness.start_worker("worker-b")
    harness.record(citizens=6, per_citizen=2)
    harness.wait_all_processed()
    with transaction(harness.sessions) as session:
        # as if the platform lost every outcome it recorded (restored from an older backup)
        session.execute(
            Delivery.__table__.update().values(
                status="pending", processed_at=None, delivered_at=None
            )
        )
    harness.wait_all_processed()
    duplicates = harness.check_every_receiver()
    assert all(n >= 12 for n in duplicates.values()), "every event came again, applied once"


@pytest.fixture
def own_schema_url() -> Iterator[str]:
    """A PostgreSQL schema of its own, made and dropped with pre-pinged connections (the
    shared fixture's admin connection would not survive the restart)."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(PG_URL or "", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in (PG_URL or "") else "?"
    url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.skipif(
    BACKEND != "postgresql" or os.environ.get("ONCEONLY_TEST_PG_RESTART") != "1",
    reason="restarts the PostgreSQL server: needs the PostgreSQL backend, ONCEONLY_TEST_PG_CTL "
    "and ONCEONLY_TEST_PG_RESTART=1 (run on its own, never in parallel with other tests)",
)
def test_database_restarted(tmp_path: Path, own_schema_url: str) -> None:
    pg_ctl = os.environ.get("ONCEONLY_TEST_PG_CTL")
    assert pg_ctl, "ONCEONLY_TEST_PG_CTL names the pg_ctl command prefix"
    engine = make_engine(own_schema_url)
    sessions = make_session_factory(engine)
    harness = Harness(tmp_path, own_schema_url, sessions, make_subscribe(sessions))
    try:
        _restart_while_delivering(harness, pg_ctl)
    finally:
        harness.close()
        engine.dispose()


def _restart_while_delivering(harness: Harness, pg_ctl: str) -> None:
    _, slow = harness.add_receivers("kaohsiung-city.tax_office", "kaohsiung-city.land_office")
    slow.set_fault(delay=0.2)
    harness.start_worker()
    harness.record(citizens=6, per_citizen=2)
    harness.wait_until(lambda c: c.get("processed", 0) >= 2, timeout=60)
    # the restarted server inherits stdout/stderr: never a pipe this test would wait on
    subprocess.run(
        [*shlex.split(pg_ctl), "restart", "-m", "fast", "-w"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            harness.record(citizens=6, per_citizen=1)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    harness.wait_all_processed(timeout=60)
    harness.check_every_receiver()
