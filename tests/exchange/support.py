"""The demo app driven through the evidence API with a bearer token per demo account: what the
evidence tests (and the caches', gateway's and policy's tests that ask for evidence) share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.db import transaction
from onceonly.errors import Problem
from onceonly.web.app import create_app
from tests.casework import open_case
from tests.conftest import DemoEnv

ITEM = "public-housing-low-income"
URL = "/api/v1/evidence-requests"


class Counter:
    """The demo app with a bearer token per demo account."""

    def __init__(self, env: DemoEnv) -> None:
        self.env = env
        self.app = create_app(env.settings)
        self.client = TestClient(self.app)
        self._tokens: dict[str, str] = {}
        self._cases: dict[tuple[str, str, str], str] = {}

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            with transaction(self.app.state.sessions) as db:
                user = get_user(db, username)
                assert user is not None, username
                self._tokens[username], _ = issue_api_token(db, user, "test", 1)
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def case(self, username: str, subject: str, item: str = ITEM) -> str:
        """An open case of the clerk's agency for ``item`` and ``subject`` (one per triple)."""
        key = (username, subject, item)
        if key not in self._cases:
            try:
                self._cases[key] = open_case(self.app.state.sessions, username, item, subject)
            except Problem:  # not a clerk, no such item or citizen: the request is refused
                self._cases[key] = "NO-SUCH-CASE"
        return self._cases[key]

    def ask(self, username: str, subject: str, **body: Any) -> Any:
        item = body.get("application_item", ITEM)
        payload = {"case_id": self.case(username, subject, item), "application_item": item}
        payload["subject"] = subject
        payload.update(body)
        return self.client.post(URL, json=payload, headers=self.headers(username))

    def results(self, response: Any) -> dict[str, dict[str, Any]]:
        return {r["evidence_type"]: r for r in response.json()["results"]}


@contextmanager
def running_counter(env: DemoEnv) -> Iterator[Counter]:
    """A :class:`Counter` on ``env``, its client and the exchange's owner threads closed after."""
    counter = Counter(env)
    try:
        yield counter
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()
