"""The tell-us-once part of ``onceonly demo``: three agencies of 臺北市 receive deaths.

Social welfare, the tax office and the land office each run the reference receiver on
loopback; a delivery worker runs beside the web app. ``onceonly notify record-death ID``
registers a death as the household registration office would, and ``/notify/citizens/ID``
shows each agency's acknowledgement.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.notify.demo import DEMO_POLICY, demo_receiver_urls, seed_demo_notify
from onceonly.notify.receiver import spawn_receiver, wait_until_up
from onceonly.notify.subscriptions import SubscriptionView
from onceonly.notify.worker import run_worker

DEMO_NOTIFY_JURISDICTION = "taipei-city"


def seed(sessions: sessionmaker[Session], port: int | None = None) -> list[SubscriptionView]:
    """The demo's subscriptions; with ``port`` (the web port), their receivers on the ports
    derived from it, so two demos on one machine never deliver to each other."""
    urls = demo_receiver_urls(port) if port is not None else None
    with transaction(sessions) as session:
        return seed_demo_notify(session, DEMO_NOTIFY_JURISDICTION, urls)


@dataclass
class NotifyDemo:
    """Receivers and a worker running for as long as the demo serves."""

    receivers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    worker: threading.Thread | None = None

    def close(self) -> None:
        self.stop.set()
        for process in self.receivers:
            process.terminate()
        for process in self.receivers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.worker is not None:
            self.worker.join(timeout=10)


def start(settings: Settings, subscriptions: list[SubscriptionView]) -> NotifyDemo:
    """Start one receiver per subscribed agency and the delivery worker."""
    demo = NotifyDemo()
    folder = Path(settings.data_dir) / "receivers"
    folder.mkdir(parents=True, exist_ok=True)
    for subscription in subscriptions:
        port = int((subscription.webhook_url or "").rsplit(":", 1)[1].split("/", 1)[0])
        process = spawn_receiver(
            subscription.secret or "",
            folder / f"{subscription.agency_code}.sqlite",
            port,
            folder / f"{subscription.agency_code}.log",
        )
        demo.receivers.append(process)
        wait_until_up(process, port)
    demo.worker = threading.Thread(
        target=run_worker,
        args=(settings.resolved_database_url, None, demo.stop, DEMO_POLICY),
        name="notify-worker",
        daemon=True,
    )
    demo.worker.start()
    return demo
