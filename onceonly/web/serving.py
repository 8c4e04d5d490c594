"""What a serving process adds to the app: the objects made at start-up kept out of the way of
the garbage collector.

A full collection walks every object the collector tracks. A node holds about 280,000 made
while its app starts (routes, models, the catalog, connectors), so each full collection
stopped every thread for 130–150 ms. At one connection that was a request in a few thousand,
but it set the p99 (wrk, correcting for the requests such a stall holds back, reported 94–113
ms where the median was 1.6 ms). ``gc.freeze()`` moves them to a generation collections skip;
they live as long as the process anyway. Tests build many apps in one process, so this is
done for served processes only, and undone when the app shuts down.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI


def freeze_after_startup(app: FastAPI) -> FastAPI:
    """``app``, whose start-up ends by freezing every object alive then (after a collection,
    so no start-up garbage is kept for ever)."""

    @app.on_event("startup")
    def freeze_long_lived() -> None:
        gc.collect()
        gc.freeze()

    @app.on_event("shutdown")
    def unfreeze() -> None:
        gc.unfreeze()

    return app


def served_app() -> FastAPI:
    """The app of one ``onceonly serve`` worker process (uvicorn's factory)."""
    from onceonly.web.app import create_app  # the gateway's listener uses the above alone

    return freeze_after_startup(create_app())
