"""Fixtures for the page tests: the prepared demo behind a TestClient, and signed-in visitors."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onceonly.web.app import create_app
from tests.conftest import DemoEnv
from tests.counter.support import Visitor


@pytest.fixture
def demo_app(demo_env: DemoEnv) -> Iterator[FastAPI]:
    app = create_app(demo_env.settings)
    yield app
    exchange = getattr(app.state, "exchange", None)
    if exchange is not None:
        exchange.close()
    app.state.engine.dispose()


@pytest.fixture
def visit(demo_app: FastAPI) -> Iterator[Callable[[str], Visitor]]:
    """``visit("tpe-udd-clerk")``: a browser-less person signed in with that demo account."""
    clients: list[TestClient] = []

    def make(username: str) -> Visitor:
        client = TestClient(demo_app)
        clients.append(client)
        return Visitor(client).sign_in(username)

    yield make
    for client in clients:
        client.close()
