"""A served process keeps what its app made at start-up out of full garbage collections, which
otherwise stopped every request for 130-150 ms now and then (see onceonly/web/serving.py)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from onceonly.web.app import create_app
from onceonly.web.serving import freeze_after_startup
from tests.conftest import DemoEnv


def _walked_by_collections(obj: object) -> bool:
    return any(tracked is obj for tracked in gc.get_objects())


def test_a_served_app_is_out_of_full_collections_while_it_serves(demo_env: DemoEnv) -> None:
    app = freeze_after_startup(create_app(demo_env.settings))
    made_at_start = app.router
    assert _walked_by_collections(made_at_start)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert not _walked_by_collections(made_at_start)
        assert _walked_by_collections(made_at_start)  # given back when the app shuts down
    finally:
        gc.unfreeze()
        app.state.engine.dispose()
