"""What a serving process adds to the app: the objects it keeps for life out of the way of the
garbage collector.

A full collection walks every object the collector tracks. A node holds about 280,000 made
while its app starts (routes, models, the catalog, connectors), so each full collection
stopped every thread for 130-190 ms. At one connection that was a request in a few thousand,
but it set the p99 (wrk, correcting for the requests such a stall holds back, reported 94-113
ms where the median was 1.6 ms). ``gc.freeze()`` moves them to a generation collections skip;
they live as long as the process anyway. Frozen at start-up only, the ~45,000 objects the first
requests make and keep (FastAPI resolves its routes' dependencies then; statement caches)
still made each full collection take 14-40 ms, so what is alive after the first
:data:`SETTLE_SECONDS` of serving is frozen too. Tests build many apps in one process, so this
is done for served processes only, and undone when the app shuts down.
"""

from __future__ import annotations

import gc
import threading

from fastapi import FastAPI

SETTLE_SECONDS = 30.0


def _freeze() -> None:
    gc.collect()  # so no garbage of the moment is kept for ever
    gc.freeze()


def freeze_after_startup(app: FastAPI, settle: float = SETTLE_SECONDS) -> FastAPI:
    """``app``, whose start-up ends by freezing every object alive then, and again ``settle``
    seconds later."""
    timers: list[threading.Timer] = []

    @app.on_event("startup")
    def freeze_long_lived() -> None:
        _freeze()
        timers.append(threading.Timer(settle, _freeze))  # one per start: a thread starts once
        timers[-1].daemon = True
        timers[-1].start()

    @app.on_event("shutdown")
    def unfreeze() -> None:
        for timer in timers:
            timer.cancel()
        gc.unfreeze()

    return app


def served_app() -> FastAPI:
    """The app of one ``onceonly serve`` worker process (uvicorn's factory)."""
    from onceonly.web.app import create_app  # the gateway's listener uses the above alone

    return freeze_after_startup(create_app())
