"""The demo app in process, with bearer headers for its demo accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.db import transaction
from onceonly.web.app import create_app
from tests.conftest import DemoEnv

ROLES = {
    "clerk": "tpe-udd-clerk",
    "owner": "tpe-social-owner",
    "auditor": "tpe-auditor",
    "admin": "admin",
}
"""One demo account per staff role, all in 臺北市 except the platform administrator."""


def bearer_for(app: FastAPI, username: str) -> dict[str, str]:
    """A fresh API token of a demo account, as an ``Authorization`` header."""
    with transaction(app.state.sessions) as db:
        user = get_user(db, username)
        assert user is not None, username
        token, _ = issue_api_token(db, user, "web-tests", 1)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class DemoClient:
    app: FastAPI
    client: TestClient
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            self._headers[username] = bearer_for(self.app, username)
        return self._headers[username]


@pytest.fixture
def demo_client(demo_env: DemoEnv) -> Iterator[DemoClient]:
    """The demo app answering in process; server errors come back as responses."""
    app = create_app(demo_env.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield DemoClient(app, client)
    app.state.engine.dispose()


Headers = Callable[[str], dict[str, str]]
