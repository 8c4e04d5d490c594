"""The delivery worker: claims due push deliveries, posts them, records the outcome.

Claiming: PostgreSQL selects due rows ``FOR UPDATE OF notify_deliveries SKIP LOCKED`` so
workers never wait on each other; SQLite runs the claim in a ``BEGIN IMMEDIATE`` transaction
(one writer at a time). On both, the claim writes ``claim_token`` and ``lease_until`` and the
update re-checks that the row is still unclaimed, so two workers never hold the same row. No
transaction stays open while posting: a worker killed mid-batch leaves leased rows that any
worker takes again once the lease expires (the receiver sees a duplicate of the same event,
under the same ``Idempotency-Key``, and applies it once).

Signing: ``v2``, which covers the idempotency key and the event id, and for now the
deprecated ``v1`` next to it (:attr:`NotifySettings.sign_v1`; :mod:`onceonly.notify.webhook`).
A URL in plain ``http://`` to a host the operator has not allowed is never posted to
(:func:`~onceonly.notify.subscriptions.cleartext_refusal`): its delivery is dead at once.

Order: a delivery is due only when no earlier event about the same citizen for the same
subscription is still ``pending``. So seq n+1 is never sent to a subscriber before seq n has
been delivered or dead-lettered; a failing event holds back only that citizen's later events
for that subscriber, not the whole queue. A dead-lettered event that is replayed later
arrives after the ones that followed it; receivers see ``seq`` and may detect that.

Retries: exponential back-off with full jitter, ``uniform(0, min(cap, base * 2**(n-1)))``
after the n-th failed attempt; after ``max_attempts`` the delivery is dead and copied to the
dead-letter queue for an administrator to inspect and replay.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased, sessionmaker

from onceonly.call_failures import failure_in_words
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.notify.models import DeadLetter, Delivery, Subscription
from onceonly.notify.outbox import tell_citizen_if_done, tell_citizen_of_failure
from onceonly.notify.subscriptions import cleartext_refusal
from onceonly.notify.webhook import signed_headers
from onceonly.outbound import CheckedTransport, OutboundPolicy

if TYPE_CHECKING:
    from onceonly.federation.remote import RemoteNodes

log = logging.getLogger("onceonly.notify.worker")


class NotifySettings(BaseSettings):
    """Delivery tuning, from ``ONCEONLY_NOTIFY_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ONCEONLY_NOTIFY_", extra="ignore")

    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    max_attempts: int = 12
    lease_seconds: float = 30.0
    batch_size: int = 32
    concurrency: int = 32
    request_timeout_seconds: float = 5.0
    poll_interval_seconds: float = 0.5
    loops: int = 2
    """Claim-post-record loops per worker, so one posts while another talks to the database."""
    sign_v1: bool = True
    """Send the deprecated ``v1`` signature next to ``v2`` (``ONCEONLY_NOTIFY_SIGN_V1``), for
    receivers not yet moved to ``v2``; turn it off once every agency's receiver checks ``v2``
    (:mod:`onceonly.notify.webhook`, ``docs/webhooks.md``)."""

    @property
    def effective_lease_seconds(self) -> float:
        """Long enough for a whole batch of timed-out posts, so a slow but live worker does not
        lose its claims to another."""
        rounds = math.ceil(self.batch_size / max(1, self.concurrency))
        return max(self.lease_seconds, rounds * self.request_timeout_seconds)


def backoff_delay(
    attempts: int, base: float, cap: float, rng: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after the ``attempts``-th failure: full jitter over the capped
    exponential."""
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 62))
    return rng(0.0, ceiling)


def make_worker_engine(url: str) -> Engine:
    """An engine for the worker: on SQLite every transaction is ``BEGIN IMMEDIATE`` so a
    claim's read and write happen under the one write lock."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str
    event_id: str
    subscription_id: int
    url: str
    secret: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    ok: bool
    processed: bool
    status_code: int | None
    error: str | None
    permanent: bool = False
    """Trying again cannot help (the URL may not be pushed to): dead at once."""


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def claim_due(
    sessions: sessionmaker[Session], worker_id: str, settings: NotifySettings
) -> list[Claim]:
    """Lease up to ``batch_size`` due push deliveries to ``worker_id``."""
    with transaction(sessions) as session:
        now = utcnow()
        earlier = aliased(Delivery)
        held_back = exists().where(
            earlier.subscription_id == Delivery.subscription_id,
            earlier.national_id == Delivery.national_id,
            earlier.seq < Delivery.seq,
            earlier.status == "pending",
        )
        free = or_(Delivery.lease_until.is_(None), Delivery.lease_until < now)
        query = (
            select(Delivery.id)
            .where(
                Delivery.status == "pending",
                Delivery.mode == "push",
                Delivery.next_attempt_at <= now,
                free,
                ~held_back,
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(settings.batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Delivery)
        ids = list(session.scalars(query))
        if not ids:
            return []
        token = uuid.uuid4().hex
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == "pending", free)
            .values(
                claimed_by=worker_id,
                claim_token=token,
                lease_until=now + timedelta(seconds=settings.effective_lease_seconds),
            )
        )
        rows = session.execute(
            select(Delivery, Subscription.webhook_url, Subscription.secret)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(Delivery.claim_token == token)
            .order_by(Delivery.id)
        ).all()
        return [
            Claim(
                delivery_id=d.id,
                token=token,
                event_id=d.event_id,
                subscription_id=d.subscription_id,
                url=url or "",
                secret=secret,
                body=encode_body(d.payload),
                attempts=d.attempts,
            )
            for d, url, secret in rows
        ]


def post(client: httpx.Client, claim: Claim, *, legacy: bool = True) -> Outcome:
    """One push; a 2xx is received, ``{"status": "processed"}`` in the body is processed too.
    ``legacy``: sign with the deprecated ``v1`` scheme too (:attr:`NotifySettings.sign_v1`)."""
    headers = signed_headers(
        claim.secret, claim.body, claim.event_id, claim.subscription_id, legacy=legacy
    )
    headers["Content-Type"] = "application/json"
    try:
        response = client.post(claim.url, content=claim.body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(claim, False, False, None, failure_in_words(exc)[:500])
    if 200 <= response.status_code < 300:
        processed = False
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                answer = response.json()
            except ValueError:
                answer = None
            processed = isinstance(answer, dict) and answer.get("status") == "processed"
        return Outcome(claim, True, processed, response.status_code, None)
    return Outcome(claim, False, False, response.status_code, response.text[:500])


def record_outcomes(
    sessions: sessionmaker[Session],
    outcomes: list[Outcome],
    settings: NotifySettings,
    rng: Callable[[float, float], float] = random.uniform,
) -> None:
    """Write what happened to each claimed delivery in one transaction.

    A success counts even if the lease has passed to another worker meanwhile (the agency did
    receive it); a failure only touches rows this worker still holds.
    """
    with transaction(sessions) as session:
        now = utcnow()
        groups: dict[tuple[bool, int | None], list[int]] = {}
        for outcome in outcomes:
            if outcome.ok:
                key = (outcome.processed, outcome.status_code)
                groups.setdefault(key, []).append(outcome.claim.delivery_id)
        for (processed, code), ids in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or 0)):
            values: dict[str, Any] = (
                {"status": "processed", "processed_at": now}
                if processed
                else {"status": "delivered"}
            )
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status == "pending")
                .values(
                    delivered_at=now,
                    attempts=Delivery.attempts + 1,
                    last_status_code=code,
                    last_error=None,
                    claim_token=None,
                    lease_until=None,
                    **values,
                )
            )
        for outcome in outcomes:
            if not outcome.ok:
                _record_failure(session, outcome, settings, now, rng)
        session.flush()
        tell_citizen_if_done(session, (o.claim.event_id for o in outcomes if o.ok and o.processed))


def _record_failure(
    session: Session,
    outcome: Outcome,
    settings: NotifySettings,
    now: datetime,
    rng: Callable[[float, float], float],
) -> None:
    claim = outcome.claim
    attempts = claim.attempts + 1
    mine = (
        (Delivery.id == claim.delivery_id)
        & (Delivery.claim_token == claim.token)
        & (Delivery.status == "pending")
    )
    common: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "claim_token": None,
        "lease_until": None,
    }
    if attempts >= settings.max_attempts or outcome.permanent:
        result = session.execute(update(Delivery).where(mine).values(status="dead", **common))
        if getattr(result, "rowcount", 0):
            session.add(
                DeadLetter(
                    delivery_id=claim.delivery_id,
                    attempts=attempts,
                    last_error=outcome.error,
                    last_status_code=outcome.status_code,
                    dead_at=now,
                )
            )
            session.flush()
            tell_citizen_of_failure(session, claim.delivery_id)
        return
    delay = backoff_delay(
        attempts, settings.backoff_base_seconds, settings.backoff_cap_seconds, rng
    )
    session.execute(
        update(Delivery)
        .where(mine)
        .values(next_attempt_at=now + timedelta(seconds=delay), **common)
    )


class Worker:
    """Claims, posts and records in a loop; usable in-process (tests, demo) or via the CLI."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: NotifySettings | None = None,
        worker_id: str | None = None,
        client: httpx.Client | None = None,
        policy: OutboundPolicy | None = None,
    ) -> None:
        """``policy`` says where pushes may go (by default the operator's allow-list); the
        address is checked again at every delivery, after resolving the name."""
        self.sessions = sessions
        self.settings = settings or NotifySettings()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._own_client = client is None
        self.policy = policy or OutboundPolicy.from_env()
        limits = httpx.Limits(max_connections=self.settings.concurrency * 2)
        self.client = client or httpx.Client(
            timeout=self.settings.request_timeout_seconds,
            transport=CheckedTransport(self.policy, httpx.HTTPTransport(limits=limits)),
        )
        self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency)
        self._remote: RemoteNodes | Literal[False] | None = None
        """The way to other federation nodes, once looked up (``False``: not a node)."""
        self._relay_lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._remote:
            self._remote.close()
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run_once(self) -> int:
        """One batch: returns how many deliveries were attempted."""
        claims = claim_due(self.sessions, self.worker_id, self.settings)
        if not claims:
            return 0
        outcomes = list(self._pool.map(self._push, claims))
        self._record(outcomes)
        return len(claims)

    def _push(self, claim: Claim) -> Outcome:
        """Post one claim, unless its URL is plain HTTP to a host the operator has not
        allowed (a subscription from before https was required): that fails for good,
        with the reason, and nothing is sent in clear text."""
        refused = cleartext_refusal(claim.url, self.policy)
        if refused is not None:
            return Outcome(claim, False, False, None, refused, permanent=True)
        return post(self.client, claim, legacy=self.settings.sign_v1)

    def send_notices(self) -> int:
        """Send the citizens' notices (done, or failed for good) written since the last call;
        SMTP settings come from the environment, like the web app's."""
        from onceonly.config import Settings
        from onceonly.notify.notices import send_notices

        report = send_notices(self.sessions, Settings())
        return len(report.sent) + len(report.failed)

    def send_relays(self) -> int:
        """Send the moves due to other federation nodes (:mod:`onceonly.notify.relays`);
        the node's identity comes from the settings, as for :meth:`send_notices`. A failure
        to reach the database is the caller's to wait out, like a batch's."""
        from onceonly.config import Settings
        from onceonly.federation.remote import connect
        from onceonly.notify.relays import send_due_relays

        if not self._relay_lock.acquire(blocking=False):
            return 0  # another loop of this worker is sending them
        try:
            if self._remote is None:
                self._remote = connect(Settings(), set()) or False
            if self._remote is False:
                return 0  # a stand-alone deployment queues no relays
            return len(send_due_relays(self.sessions, self._remote))
        finally:
            self._relay_lock.release()

    def _record(self, outcomes: list[Outcome]) -> None:
        """Retry writing outcomes while the database is away; if it stays away past the lease,
        give up: the rows are leased and will be delivered again (and deduplicated)."""
        deadline = time.monotonic() + self.settings.effective_lease_seconds
        pause = 0.2
        while True:
            try:
                record_outcomes(self.sessions, outcomes, self.settings)
                return
            except DBAPIError as exc:
                if time.monotonic() > deadline:
                    log.error("could not record %d outcomes: %s", len(outcomes), exc)
                    return
                log.warning("database unavailable while recording outcomes, retrying: %s", exc)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def run(self, stop: threading.Event | None = None, until_idle: bool = False) -> int:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until nothing is due);
        returns how many attempts were made. Database outages are waited out."""
        stop = stop or threading.Event()
        totals = [0] * max(1, self.settings.loops)

        def loop(index: int) -> None:
            totals[index] = self._loop(stop, until_idle)

        helpers = [threading.Thread(target=loop, args=(i,)) for i in range(1, len(totals))]
        for helper in helpers:
            helper.start()
        loop(0)
        for helper in helpers:
            helper.join()
        return sum(totals)

    def _loop(self, stop: threading.Event, until_idle: bool) -> int:
        total = 0
        pause = self.settings.poll_interval_seconds
        while not stop.is_set():
            try:
                count = self.run_once()
                self.send_notices()
                try:
                    count += self.send_relays()
                except DBAPIError:
                    raise
                except Exception:  # e.g. the node's certificate files missing: say so, go on
                    log.exception("could not send the moves to other nodes")
            except DBAPIError as exc:
                log.warning("database unavailable, retrying: %s", exc)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = self.settings.poll_interval_seconds
            total += count
            if count == 0:
                if until_idle:
                    return total
                stop.wait(self.settings.poll_interval_seconds)
        return total


def pending_push_count(sessions: sessionmaker[Session]) -> int:
    """Push deliveries not yet received (due or waiting for a retry)."""
    with transaction(sessions) as session:
        count = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == "pending", Delivery.mode == "push")
        )
        return int(count or 0)


def deliver_all(
    sessions: sessionmaker[Session],
    settings: NotifySettings | None = None,
    timeout: float = 30.0,
    policy: OutboundPolicy | None = None,
) -> int:
    """Run a worker in this process until no push delivery is pending (retries included) or
    ``timeout`` passes; for the demo and tests. Returns the pending count left."""
    deadline = time.monotonic() + timeout
    with Worker(sessions, settings, policy=policy) as worker:
        while time.monotonic() < deadline:
            worker.run(until_idle=True)
            left = pending_push_count(sessions)
            if left == 0:
                return 0
            time.sleep(min(worker.settings.poll_interval_seconds, 0.2))
    return pending_push_count(sessions)


def run_worker(
    database_url: str,
    settings: NotifySettings | None = None,
    stop: threading.Event | None = None,
    policy: OutboundPolicy | None = None,
) -> int:
    """The worker as the CLI runs it, on its own engine."""
    engine = make_worker_engine(database_url)
    try:
        with Worker(make_session_factory(engine), settings, policy=policy) as worker:
            return worker.run(stop)
    finally:
        engine.dispose()
