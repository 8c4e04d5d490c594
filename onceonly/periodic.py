"""A piece of work repeated in a daemon thread of the app, started and stopped with it.

Used for what the app does beside its requests: pushing audit checkpoints to witnesses
(:class:`onceonly.audit.publish.Publisher`) and copying SQLite's WAL back
(:mod:`onceonly.sqlite_checkpoints`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    """Runs ``work`` every ``seconds`` (first after one interval). A round that raises is
    logged and tried again at the next tick."""

    def __init__(self, name: str, seconds: float, work: Callable[[], object]) -> None:
        self.name = name
        self.seconds = seconds
        self.work = work
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        """Start, or restart after a stop: an app may be started more than once, as each
        ``TestClient`` block does. A thread still finishing a round after a stop that timed
        out is waited for, not taken for a running one."""
        if self._thread.is_alive():
            if not self._stopped.is_set():
                return
            self._thread.join()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped.wait(self.seconds):
            try:
                self.work()
            except Exception:
                logger.debug(
                    "%s failed; tried again in %.1f s", self.name, self.seconds, exc_info=True
                )
