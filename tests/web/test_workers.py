"""``onceonly serve --workers N``: refused on SQLite, and on PostgreSQL two real worker
processes that never serve a stale rule or token and keep one audit chain between them.

The PostgreSQL test starts ``onceonly serve --workers 2`` on a loopback port and finds, for
each keep-alive connection, which worker process accepted it (from ``/proc``), so it can
change something through one worker and ask through the other.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from onceonly.accounts.api_tokens import issue_api_token, list_api_tokens
from onceonly.accounts.users import get_user
from onceonly.audit.verify import verify_database
from onceonly.db import make_engine, make_session_factory, transaction
from tests.casework import open_case
from tests.conftest import PG_URL, DemoEnv
from tests.test_cli import onceonly

ITEM = "public-housing-low-income"


def test_more_than_one_worker_on_sqlite_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = onceonly(
        "serve",
        "--workers",
        "2",
        "--port",
        "1",
        ONCEONLY_DATA_DIR=str(tmp_path),
        ONCEONLY_LANGUAGE="en",
    )
    assert result.returncode == 2
    assert "Cannot serve with 2 worker processes: SQLite allows one writer" in result.stderr
    assert "PostgreSQL" in result.stderr and "--workers 1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    zh = onceonly("serve", "--workers", "3", "--port", "1", ONCEONLY_DATA_DIR=str(tmp_path))
    assert zh.returncode == 2 and "SQLite 同一時間只允許一個寫入者" in zh.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the accepted socket whose peer is our client's port (``/proc/net/tcp``)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    return None


class Worker:
    """A keep-alive connection known to be served by one worker process."""

    def __init__(self, pid: int, client: httpx.Client) -> None:
        self.pid = pid
        self.client = client


def _connect_to_each_worker(url: str, port: int, supervisor: int) -> list[Worker]:
    """Open connections until two of them are held by two different worker processes."""
    by_pid: dict[int, Worker] = {}
    spare: list[httpx.Client] = []
    for _ in range(200):
        client = httpx.Client(base_url=url, timeout=30)
        assert client.get("/healthz").status_code == 200
        client_port = None
        for pool_connection in client._transport._pool.connections:  # type: ignore[attr-defined]
            stream = pool_connection._connection._network_stream
            client_port = stream.get_extra_info("client_addr")[1]
        assert client_port is not None
        inode = None
        for _ in range(50):
            inode = _server_side_inode(port, client_port)
            if inode:
                break
            time.sleep(0.02)
        owner = next((pid for pid in _children(supervisor) if inode in _socket_inodes(pid)), None)
        if owner is not None and owner not in by_pid:
            by_pid[owner] = Worker(owner, client)
        else:
            spare.append(client)
        if len(by_pid) == 2:
            break
    for client in spare:
        client.close()
    assert len(by_pid) == 2, "the kernel never handed a connection to the second worker"
    return list(by_pid.values())


@pytest.fixture
def two_workers(demo_env: DemoEnv) -> Iterator[tuple[str, int, int]]:
    if not PG_URL:
        pytest.skip("two workers need PostgreSQL (ONCEONLY_TEST_PG_URL)")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
    env |= {
        "ONCEONLY_DATA_DIR": str(demo_env.settings.data_dir),
        "ONCEONLY_DATABASE_URL": demo_env.settings.resolved_database_url,
        "ONCEONLY_SECRET_KEY": "test-secret",
    }
    log = demo_env.settings.data_dir / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "onceonly.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while len(_children(server.pid)) < 2 or not _answers(url):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url, port, server.pid
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _token(env: DemoEnv, username: str) -> str:
    engine = make_engine(env.settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        user = get_user(db, username)
        assert user is not None
        plain, _ = issue_api_token(db, user, "two-workers", 1)
    engine.dispose()
    return plain


def _case(env: DemoEnv, subject: str) -> str:
    """An open case of the clerk's agency: evidence is asked only for one."""
    engine = make_engine(env.settings.resolved_database_url)
    number = open_case(make_session_factory(engine), "tpe-udd-clerk", ITEM, subject)
    engine.dispose()
    return number


def _ask(worker: Worker, token: str, subject: str, case: str) -> httpx.Response:
    body = {"case_id": case, "application_item": ITEM, "subject": subject}
    return worker.client.post(
        "/api/v1/evidence-requests", json=body, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.postgres_only
def test_a_change_through_one_worker_stops_the_next_request_on_the_other(
    demo_env: DemoEnv, two_workers: tuple[str, int, int]
) -> None:
    url, port, supervisor = two_workers
    one, other = _connect_to_each_worker(url, port, supervisor)
    clerk, owner = _token(demo_env, "tpe-udd-clerk"), _token(demo_env, "tpe-social-owner")
    subject = demo_env.sample("low_income_applicant")
    case = _case(demo_env, subject)

    for worker in (one, other, one, other):  # both workers have the rule and token in memory
        answer = _ask(worker, clerk, subject, case)
        assert answer.status_code == 200, answer.text
    results = {r["evidence_type"]: r for r in answer.json()["results"]}
    assert results["is_low_income_household"]["status"] == "issued"
    rule_id = results["is_low_income_household"]["rule_ids"][0]

    revoked = one.client.post(
        f"/api/v1/access-rules/{rule_id}/revoke",
        json={"reason": "稽核發現用途不符"},
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert revoked.status_code == 200, revoked.text
    after = _ask(other, clerk, subject, case)
    assert after.status_code == 200, after.text
    welfare = {r["evidence_type"]: r for r in after.json()["results"]}["is_low_income_household"]
    assert welfare["status"] == "denied" and welfare["transcripts"] == []
    assert f"R-{rule_id}" in welfare["reason"]["en"]

    engine = make_engine(demo_env.settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        token_id = next(v.id for v in list_api_tokens(db) if v.prefix == clerk[:10])
    engine.dispose()
    gone = one.client.delete(
        f"/api/v1/auth/tokens/{token_id}", headers={"Authorization": f"Bearer {clerk}"}
    )
    assert gone.status_code == 200, gone.text
    refused = _ask(other, clerk, subject, case)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "token-revoked"
    for worker in (one, other):
        worker.client.close()


@pytest.mark.postgres_only
def test_two_workers_appending_at_once_keep_one_audit_chain(
    demo_env: DemoEnv, two_workers: tuple[str, int, int]
) -> None:
    url, port, supervisor = two_workers
    workers = _connect_to_each_worker(url, port, supervisor)
    clerk = _token(demo_env, "tpe-udd-clerk")
    subject = demo_env.sample("low_income_applicant")
    case = _case(demo_env, subject)
    extra = [httpx.Client(base_url=url, timeout=30) for _ in range(6)]
    clients = [w.client for w in workers] + extra

    def burst(client: httpx.Client) -> list[int]:
        body = {"case_id": case, "application_item": ITEM, "subject": subject}
        headers = {"Authorization": f"Bearer {clerk}"}
        return [
            client.post("/api/v1/evidence-requests", json=body, headers=headers).status_code
            for _ in range(8)
        ]

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = [s for batch in pool.map(burst, clients) for s in batch]
    assert statuses == [200] * len(statuses)
    engine = make_engine(demo_env.settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        result = verify_database(db)
    engine.dispose()
    assert result.ok, (result.first_bad_seq, result.reason_en)
    assert result.checked >= len(statuses) * 2
    for client in clients:
        client.close()
