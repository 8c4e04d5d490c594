"""How one evidence request calls the owners it asks: on the pool, or in its own thread.

An owner reached over the network (an HTTP connector, a database server) is asked on the
exchange's pool, every one at once, under one deadline: a slow owner costs the clerk its
timeout once. An owner that answers from this machine and bounds its own time (a SQLite
file, :attr:`onceonly.providers.base.Provider.answers_locally`) is asked in the request's own
thread: its answer takes about 0.1 ms, and handing it to a pool thread and back cost about
as much again, twice per request (measured: 0.3 ms of a 2.1 ms request at one connection).
It is held to the same deadline: told it, it stops its own work then, and an answer that
comes later is dropped as a timeout.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from onceonly.providers.base import ANSWER_BY, Provider


class NotAsked(FutureTimeout):
    """A local call not begun because the deadline had passed (an earlier owner took the
    time): a timeout, but not this owner's; a piece another owner stopped keeps that
    owner's reason."""


class Asking:
    """The calls of one request: :meth:`ask` sends a networked owner's call to the pool at
    once and keeps a local owner's; :meth:`answer_local` makes the kept calls in this
    thread, after every pool call has been sent, so they overlap. Either way the answer is
    a future, read (and its exception raised) where the pool's are."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.local: list[tuple[Future[Any], Callable[[], Any]]] = []

    def ask(self, provider: Provider, call: Callable[..., Any], *args: Any) -> Future[Any]:
        if not provider.answers_locally:
            return self.pool.submit(call, *args)
        answer: Future[Any] = Future()
        self.local.append((answer, functools.partial(call, *args)))
        return answer

    def answer_local(self, deadline: float) -> None:
        """Make the kept calls, in the order they were asked, each told the ``deadline``
        (``time.monotonic()``) so it stops its own work then (:data:`ANSWER_BY`). A call
        not begun by then, or answered after it, is a timeout, as the pool's would be: the
        clerk hears "did not answer in time" and nothing late is issued."""
        for answer, call in self.local:
            if time.monotonic() >= deadline:
                answer.set_exception(NotAsked())
                continue
            told = ANSWER_BY.set(deadline)
            try:
                result = call()
            except BaseException as exc:  # raised where the answer is read, as from the pool
                answer.set_exception(FutureTimeout() if time.monotonic() > deadline else exc)
            else:
                if time.monotonic() > deadline:
                    answer.set_exception(FutureTimeout())
                else:
                    answer.set_result(result)
            finally:
                ANSWER_BY.reset(told)
        self.local.clear()
