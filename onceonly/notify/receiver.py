"""A reference receiver for pushed events: what an agency's endpoint must do, in one file.

It verifies the HMAC signature (scheme ``v2``, which covers the timestamp, the event id, the
``Idempotency-Key`` and the body: :mod:`onceonly.notify.webhook`), applies each *event* once
by the ``id`` in the signed body (event ids kept in its own SQLite file, so a restarted
receiver still knows them), keeps the latest state per citizen, and answers
``{"status": "processed"}`` so the platform marks the delivery processed at once (with
``ack="none"`` it answers ``received`` and the agency acknowledges later through
``POST /api/v1/notify/acks``).

Deduplicating by the unsigned ``Idempotency-Key`` header, as it once did, let anyone who
captured a push send it again with a fresh key inside the timestamp tolerance and have it
applied twice. The key is now signed (``v2``), and even so the receiver does not trust it
for deduplication: the body's event id is what it applies once, so a push of the same event
for another subscription, a retry, or a replay under any header is answered as a duplicate.
A push signed only the deprecated way (``v1``) is refused unless the receiver is started with
``accept_v1`` (``ONCEONLY_RECEIVER_ACCEPT_V1=1``, ``--accept-v1``) for the time its platform
may still send ``v1`` alone; such a push is deduplicated by its body's event id all the same.

The demo's agency receivers and the fault tests run it with uvicorn:
``uvicorn --factory onceonly.notify.receiver:app_from_env`` configured by
``ONCEONLY_RECEIVER_SECRET`` (comma-separated to accept several), ``ONCEONLY_RECEIVER_DB``,
``ONCEONLY_RECEIVER_ACK``, ``ONCEONLY_RECEIVER_ACCEPT_V1`` and ``ONCEONLY_RECEIVER_FAULTS=1``
(enables ``POST /_faults``, which makes it answer an error status or answer slowly, for tests
only).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from onceonly.i18n import LANGUAGES, t
from onceonly.notify.webhook import EVENT_HEADER, IDEMPOTENCY_HEADER, verify

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    applied_at REAL NOT NULL DEFAULT (julianday('now'))
);
CREATE TABLE IF NOT EXISTS citizens (
    subject TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS received (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    duplicate INTEGER NOT NULL,
    out_of_order INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS applied_event_id ON applied (event_id);
"""


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    remaining: int | None = None
    """How many more requests get the fault; None for all until cleared."""


class UnusableStore(Exception):
    """The receiver's SQLite file cannot be opened, made or written. :meth:`words` say which
    path and why, naming the setting that gave it (``--db``, ``ONCEONLY_RECEIVER_DB``)."""

    def __init__(self, path: Path, why: str, reason: str = "") -> None:
        super().__init__(f"{path}: {why} {reason}".rstrip())
        self.path = path
        self.why = why
        """The end of a message key ``notify.receiver.db.<why>``."""
        self.reason = reason

    def words(self, option: str, lang: str | None = None) -> str:
        return t(
            f"notify.receiver.db.{self.why}",
            lang,
            option=option,
            path=self.path,
            folder=self.path.parent,
            reason=self.reason,
        )

    def in_both(self, option: str) -> str:
        """Traditional Chinese, then English, one line each."""
        return "\n".join(self.words(option, lang) for lang in LANGUAGES)


def _why_unusable(path: Path, error: sqlite3.Error) -> UnusableStore:
    """What made SQLite refuse ``path``, in the operator's terms rather than its error code."""
    folder = path.parent
    if path.is_dir():
        return UnusableStore(path, "is_a_folder")
    if not folder.exists():
        return UnusableStore(path, "no_folder")
    if not folder.is_dir():
        return UnusableStore(path, "not_a_folder")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return UnusableStore(path, "no_permission")
    if not os.access(folder, os.W_OK | os.X_OK):  # the file, its -wal and -shm are made there
        return UnusableStore(path, "folder_no_permission")
    if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return UnusableStore(path, "not_sqlite")
    return UnusableStore(path, "cannot_open", str(error))


class ReceiverStore:
    """The receiver's own SQLite file: applied keys, per-citizen state, every receipt.

    Raises :class:`UnusableStore` when the file cannot be opened, made or written (a folder,
    a folder that is not there, no permission, not an SQLite file)."""

    def __init__(self, path: Path) -> None:
        connection = None
        try:
            connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(SCHEMA)
        except sqlite3.Error as error:
            if connection is not None:
                connection.close()
            raise _why_unusable(path, error) from error
        self.connection = connection

    def apply(self, event: dict[str, Any], key: str | None = None) -> tuple[bool, bool]:
        """Apply each event once, by its ``id``: returns (duplicate, out_of_order). One
        transaction per delivery; ``key`` (the delivery's ``Idempotency-Key``) is only
        recorded, never what decides (see the module's description)."""
        event_id = event["id"]
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("the event has no id")
        key = key or event_id
        db = self.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)).fetchone():
                db.execute("INSERT INTO received (key, duplicate) VALUES (?, 1)", (key,))
                db.execute("COMMIT")
                return True, False
            subject, seq = str(event["subject"]), int(event["seq"])
            row = db.execute(
                "SELECT last_seq, state FROM citizens WHERE subject = ?", (subject,)
            ).fetchone()
            out_of_order = row is not None and seq <= row[0]
            state = json.loads(row[1]) if row else {}
            state.update(event.get("data") or {})
            state["last_kind"] = event.get("kind")
            db.execute(
                "INSERT INTO applied (key, event_id, subject, seq, kind, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, event_id, subject, seq, event.get("kind", ""), json.dumps(event)),
            )
            db.execute(
                "INSERT INTO citizens (subject, last_seq, state) VALUES (?, ?, ?) "
                "ON CONFLICT (subject) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq), "
                "state = excluded.state",
                (subject, seq, json.dumps(state, ensure_ascii=False)),
            )
            db.execute(
                "INSERT INTO received (key, duplicate, out_of_order) VALUES (?, 0, ?)",
                (key, int(out_of_order)),
            )
            db.execute("COMMIT")
            return False, out_of_order
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def summary(self) -> dict[str, int]:
        db = self.connection
        applied = db.execute("SELECT count(*) FROM applied").fetchone()[0]
        received = db.execute("SELECT count(*) FROM received").fetchone()[0]
        duplicates = db.execute("SELECT count(*) FROM received WHERE duplicate = 1").fetchone()[0]
        disordered = db.execute("SELECT count(*) FROM received WHERE out_of_order = 1").fetchone()[
            0
        ]
        return {
            "applied": applied,
            "received": received,
            "duplicates": duplicates,
            "out_of_order": disordered,
        }


def read_applied(path: Path) -> list[tuple[str, str, int]]:
    """(event id, subject, seq) in the order the receiver applied them; for tests and demo."""
    connection = sqlite3.connect(str(path))
    try:
        return [
            (e, s, int(q))
            for e, s, q in connection.execute(
                "SELECT event_id, subject, seq FROM applied ORDER BY rowid"
            )
        ]
    finally:
        connection.close()


ACKS = ("inline", "none")
"""``inline``: answer once the event is processed; ``none``: once it is received."""


def parse_secrets(given: str) -> list[str] | None:
    """The comma-separated HMAC secrets, each without the spaces written around it (``"a, b"``
    is ``a`` and ``b``: the platform signs with ``b``, never with `` b``); ``None`` when one
    is empty, as anyone could sign with an empty key for the platform."""
    secrets = [secret.strip() for secret in given.split(",")]
    return secrets if all(secrets) else None


def create_receiver_app(
    secrets: list[str],
    db_path: Path,
    *,
    ack: str = "inline",
    faults: bool = False,
    tolerance: int = 300,
    accept_v1: bool = False,
) -> FastAPI:
    """``accept_v1``: also take pushes signed only the deprecated ``v1`` way (the platform
    sends ``v2`` too unless its operator turned ``v1`` off; see the module's description)."""
    if not secrets or not all(secret.strip() for secret in secrets) or ack not in ACKS:
        raise ValueError("a receiver needs non-empty secrets and an ack of " + ", ".join(ACKS))
    app = FastAPI(title="onceonly reference receiver", docs_url=None, redoc_url=None)
    store = ReceiverStore(db_path)
    fault = Fault()

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if fault.status is not None or fault.delay:
            take = fault.remaining is None or fault.remaining > 0
            if take:
                if fault.remaining is not None:
                    fault.remaining -= 1
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    return JSONResponse({"status": "error"}, status_code=fault.status)
        headers = request.headers
        schemes = [
            verify(s, headers, body, tolerance=tolerance, accept_v1=accept_v1) for s in secrets
        ]
        scheme = "v2" if "v2" in schemes else "v1" if "v1" in schemes else None
        if scheme is None:
            return JSONResponse({"status": "bad-signature"}, status_code=401)
        key = headers.get(IDEMPOTENCY_HEADER)
        try:
            event = json.loads(body)
            event_id = event["id"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"status": "bad-body"}, status_code=400)
        if scheme == "v2" and (
            headers.get(EVENT_HEADER) != event_id or not (key or "").startswith(f"{event_id}:")
        ):  # signed, so the platform said two things at once: take neither
            return JSONResponse({"status": "mismatched-event"}, status_code=400)
        try:
            duplicate, _ = store.apply(event, key if scheme == "v2" else None)
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"status": "bad-body"}, status_code=400)
        status = "processed" if ack == "inline" else "received"
        return JSONResponse({"status": status, "duplicate": duplicate})

    @app.get("/state")
    def state() -> dict[str, int]:
        return store.summary()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if faults:

        @app.post("/_faults")
        async def set_fault(request: Request) -> dict[str, Any]:
            wanted = await request.json()
            fault.status = wanted.get("status")
            fault.delay = float(wanted.get("delay") or 0.0)
            fault.remaining = wanted.get("remaining")
            return {"status": fault.status, "delay": fault.delay, "remaining": fault.remaining}

    return app


def _refuse_start(variable: str, key: str, **params: str) -> NoReturn:
    """Said in words, in both languages, naming the variable; the server does not start."""
    for lang in LANGUAGES:
        print(f"{variable}: {t(key, lang, **params)}", file=sys.stderr)
    raise SystemExit(2)


def app_from_env() -> FastAPI:
    """The receiver configured from ``ONCEONLY_RECEIVER_*`` variables (``uvicorn --factory``)."""
    given = os.environ.get("ONCEONLY_RECEIVER_SECRET", "")
    ack = os.environ.get("ONCEONLY_RECEIVER_ACK", "inline")
    secrets = parse_secrets(given)
    if secrets is None:
        _refuse_start("ONCEONLY_RECEIVER_SECRET", "notify.cli.empty_secret")
    if ack not in ACKS:
        allowed = ", ".join(ACKS)
        _refuse_start("ONCEONLY_RECEIVER_ACK", "notify.cli.bad_ack", ack=ack, allowed=allowed)
    try:
        return create_receiver_app(
            secrets,
            Path(os.environ.get("ONCEONLY_RECEIVER_DB", "receiver.sqlite")),
            ack=ack,
            faults=os.environ.get("ONCEONLY_RECEIVER_FAULTS") == "1",
            accept_v1=os.environ.get("ONCEONLY_RECEIVER_ACCEPT_V1") == "1",
        )
    except UnusableStore as unusable:  # said in words, and the server does not start
        print(unusable.in_both("ONCEONLY_RECEIVER_DB"), file=sys.stderr)
        raise SystemExit(2) from None


def spawn_receiver(
    secret: str,
    db_path: Path,
    port: int,
    log_path: Path | None = None,
    *,
    ack: str = "inline",
    faults: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the receiver as its own uvicorn process on loopback ``port`` (see
    :func:`wait_until_up`); for the demo, the fault tests and the benchmark."""
    env = {
        **os.environ,
        "ONCEONLY_RECEIVER_SECRET": secret,
        "ONCEONLY_RECEIVER_DB": str(db_path),
        "ONCEONLY_RECEIVER_ACK": ack,
        "ONCEONLY_RECEIVER_FAULTS": "1" if faults else "0",
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "onceonly.notify.receiver:app_from_env",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    if log_path is None:
        return subprocess.Popen(command, env=env)
    with log_path.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(process: subprocess.Popen[bytes], port: int, timeout: float = 60) -> None:
    """Return once the receiver on ``port`` answers; raise if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"receiver on port {port} exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"receiver on port {port} did not start")
