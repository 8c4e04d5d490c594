"""Fixtures for the notify tests: sessions on the backend under test, approved subscriptions,
and reference receivers served over real HTTP on loopback (in a thread, or as a process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.ports import free_port
from onceonly.domain.national_id import make_national_id
from onceonly.notify.receiver import create_receiver_app
from onceonly.notify.subscriptions import (
    SubscriptionRequest,
    SubscriptionView,
    approve_subscription,
    request_subscription,
)


def citizen(n: int) -> str:
    """A valid, synthetic national ID."""
    return make_national_id("E", 1 + n % 2, 1000 + n)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def make_subscribe(sessions: sessionmaker[Session]) -> Callable[..., SubscriptionView]:
    """Request and approve a subscription as the agency and the owner would."""

    def make(
        agency: str,
        kinds: tuple[str, ...] = ("death", "address_change"),
        url: str | None = None,
        fields: tuple[str, ...] = ("death_date", "new_address"),
        mode: str = "push",
        approve: bool = True,
    ) -> SubscriptionView:
        with transaction(sessions) as session:
            view = request_subscription(
                session,
                SubscriptionRequest(
                    agency_code=agency,
                    event_kinds=list(kinds),
                    legal_basis="household-registration-act",
                    fields=list(fields),
                    mode=mode,
                    webhook_url=url,
                ),
                requested_by=f"test:{agency}",
            )
            if approve:
                approve_subscription(session, view.id, "test:owner")
        return view

    return make


@pytest.fixture
def subscribe(sessions: sessionmaker[Session]) -> Callable[..., SubscriptionView]:
    return make_subscribe(sessions)


@dataclass
class Receiver:
    url: str
    db_path: Path
    base: str

    def set_fault(
        self, status: int | None = None, delay: float = 0.0, remaining: int | None = None
    ) -> None:
        httpx.post(
            f"{self.base}/_faults",
            json={"status": status, "delay": delay, "remaining": remaining},
            timeout=5,
        ).raise_for_status()


class ThreadedReceiver:
    """The reference receiver under uvicorn in a background thread."""

    def __init__(
        self, secret: str, db_path: Path, ack: str = "inline", port: int | None = None
    ) -> None:
        self.port = port or free_port()
        app = create_receiver_app([secret], db_path, ack=ack, faults=True)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.receiver = Receiver(
            f"http://127.0.0.1:{self.port}/webhook", db_path, f"http://127.0.0.1:{self.port}"
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.02)
        return self.receiver

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def push_subscriber(
    subscribe: Callable[..., SubscriptionView], tmp_path: Path
) -> Callable[..., tuple[SubscriptionView, ThreadedReceiver]]:
    """An approved push subscription and a reference receiver (not yet started) for it."""

    def make(
        agency: str, ack: str = "inline", **kwargs: object
    ) -> tuple[SubscriptionView, ThreadedReceiver]:
        port = free_port()
        view = subscribe(agency, url=f"http://127.0.0.1:{port}/webhook", **kwargs)
        name = agency.replace(".", "_")
        return view, ThreadedReceiver(
            view.secret or "", tmp_path / f"{name}.sqlite", ack=ack, port=port
        )

    return make
