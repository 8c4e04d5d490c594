"""A served process keeps what it holds for life out of full garbage collections, which
otherwise stopped every request for 130-190 ms now and then (see onceonly/web/serving.py)."""

from __future__ import annotations

import gc
import time

from fastapi.testclient import TestClient

from onceonly.web.app import create_app
from onceonly.web.serving import freeze_after_startup
from tests.conftest import DemoEnv


def _walked_by_collections(obj: object) -> bool:
    return any(tracked is obj for tracked in gc.get_objects())


def test_a_served_app_is_out_of_full_collections_while_it_serves(demo_env: DemoEnv) -> None:
    app = freeze_after_startup(create_app(demo_env.settings), settle=0.5)
    made_at_start = app.router
    assert _walked_by_collections(made_at_start)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert not _walked_by_collections(made_at_start)
            kept_since = app.state.kept_since_start = [["made after start-up"]]
            assert _walked_by_collections(kept_since)
            deadline = time.monotonic() + 10
            while _walked_by_collections(kept_since) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _walked_by_collections(kept_since), "not frozen once settled"
        assert _walked_by_collections(made_at_start)  # given back when the app shuts down
    finally:
        gc.unfreeze()
        app.state.engine.dispose()
