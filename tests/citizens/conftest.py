"""The prepared demo with its demo CA and cards, a test client, and helpers to act as the
sample citizen (signing in with the card) and as clerks and auditors (bearer tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.citizens.cards import DemoPki, ensure_demo_pki, read_card
from onceonly.citizens.identity import sign_challenge
from onceonly.db import transaction
from onceonly.web.app import create_app
from tests.casework import open_case
from tests.conftest import DemoEnv

CONSENT_ITEM = "job-seeking-transport-allowance"
LABOUR_CLERK = "tpe-labour-clerk"
HOUSING_CLERK = "tpe-udd-clerk"
HOUSING_ITEM = "public-housing-low-income"


class Portal:
    """The demo app, one browser-like client per role, and the sample citizen's card."""

    def __init__(self, env: DemoEnv, pki: DemoPki) -> None:
        self.env = env
        self.pki = pki
        self.app = create_app(env.settings)
        self.client = TestClient(self.app, base_url="http://testserver")
        self.staff = TestClient(self.app, base_url="http://testserver")
        self.nid = env.sample("low_income_applicant")
        self._tokens: dict[str, str] = {}
        self._cases: dict[tuple[str, str, str], str] = {}

    def card(self, national_id: str | None = None) -> Any:
        folder = self.env.settings.data_dir / "cards" / (national_id or self.nid)
        return read_card(folder)

    def sign_in(self, client: TestClient | None = None, national_id: str | None = None) -> Any:
        client = client or self.client
        start = client.post("/api/v1/citizen/sign-in/begin").json()
        certificate, key = self.card(national_id)
        from cryptography.hazmat.primitives import serialization

        return client.post(
            "/api/v1/citizen/sign-in/complete",
            json={
                "challenge_id": start["challenge_id"],
                "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
                "signature": sign_challenge(key, start["challenge"]),
            },
        )

    def csrf(self, client: TestClient | None = None) -> str:
        whoami = (client or self.client).get("/api/v1/auth/whoami").json()
        return str(whoami.get("csrf_token") or "")

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            with transaction(self.app.state.sessions) as db:
                user = get_user(db, username)
                assert user is not None, username
                self._tokens[username], _ = issue_api_token(db, user, "test", 1)
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def case(self, clerk: str, item: str, label: str, subject: str | None = None) -> str:
        """The number of the real open case a test calls ``label`` (opened on first use):
        evidence is fetched only for an open case of the clerk's agency."""
        key = (clerk, item, label)
        if key not in self._cases:
            sessions = self.app.state.sessions
            self._cases[key] = open_case(sessions, clerk, item, subject or self.nid)
        return self._cases[key]

    def ask(self, clerk: str, item: str, case_id: str, **body: Any) -> Any:
        number = self.case(clerk, item, case_id, body.get("subject"))
        payload = {"case_id": number, "application_item": item, "subject": self.nid, **body}
        return self.staff.post(
            "/api/v1/evidence-requests", json=payload, headers=self.headers(clerk)
        )

    def close(self) -> None:
        self.client.close()
        self.staff.close()
        exchange = getattr(self.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()
        # the app's pooled connections: kept open, PostgreSQL ran out of them a few tests later
        self.app.state.engine.dispose()


@pytest.fixture
def portal(demo_env: DemoEnv) -> Iterator[Portal]:
    result = Portal(demo_env, ensure_demo_pki(demo_env.settings))
    yield result
    result.close()
