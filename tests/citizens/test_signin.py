"""Signing in with the citizen digital certificate: the demo CA's card signs a one-time
challenge; anything else (another CA, an expired or revoked card, a replayed or forged
signature) is refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from onceonly.accounts.models import User
from onceonly.citizens.accounts import username_for
from onceonly.citizens.cards import ensure_demo_ca, issue_demo_card, read_card
from onceonly.citizens.identity import sign_challenge
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import transaction, utcnow
from tests.citizens.conftest import Portal


def _complete(portal: Portal, start: dict, folder: object, *, signature: str | None = None):
    certificate, key = read_card(folder)  # type: ignore[arg-type]
    return portal.client.post(
        "/api/v1/citizen/sign-in/complete",
        json={
            "challenge_id": start["challenge_id"],
            "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "signature": signature or sign_challenge(key, start["challenge"]),
        },
    )


def test_the_sample_citizen_signs_in_with_the_demo_card(portal: Portal) -> None:
    card = next(c for c in portal.pki.cards if c.national_id == portal.nid)
    assert card.card_file.is_file() and (card.directory / "cert.pem").is_file()
    response = portal.sign_in()
    assert response.status_code == 200, response.text
    assert response.json()["redirect"] == "/me"
    whoami = portal.client.get("/api/v1/auth/whoami").json()
    assert whoami["role"] == "citizen"
    page = portal.client.get("/me", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "誰看過我的資料" in page.text


def test_the_card_never_signs_in_to_an_account_not_made_for_it(portal: Portal) -> None:
    """A staff account holding the citizen's account name (made before such names were
    reserved): the card's holder is told so and is not signed in with it."""
    with transaction(portal.app.state.sessions) as db:
        staff = User(
            username=username_for(portal.nid),
            display_name="x",
            role="clerk",
            agency_code="taipei-city.civil_affairs",
            active=True,
            created_at=utcnow(),
        )
        db.add(staff)
    refused = portal.sign_in()
    assert refused.status_code == 409, refused.text
    assert "請聯絡平臺維運人員" in refused.json()["detail"]
    assert "onceonly_session" not in refused.cookies
    assert portal.client.get("/api/v1/auth/whoami").status_code == 401


def test_a_portal_page_without_sign_in_offers_the_card_form(portal: Portal) -> None:
    page = portal.client.get("/me/consents", headers={"Accept": "text/html"})
    assert page.status_code == 401
    assert 'id="card-file"' in page.text and 'value="/me/consents"' in page.text
    api = portal.client.get("/api/v1/me/accesses")
    assert api.status_code == 401 and api.json()["type"].endswith("/unauthenticated")
    staff = portal.staff.get("/api/v1/me/accesses", headers=portal.headers("tpe-udd-clerk"))
    assert staff.status_code == 403


def test_refusals_name_the_reason(portal: Portal, tmp_path: object) -> None:
    settings: Settings = portal.env.settings
    folder = settings.data_dir / "cards" / portal.nid

    start = portal.client.post("/api/v1/citizen/sign-in/begin").json()
    assert start["challenge"].startswith("onceonly-citizen-sign-in|http://testserver|")
    forged = sign_challenge(read_card(folder)[1], start["challenge"] + "x")
    bad = _complete(portal, start, folder, signature=forged)
    assert bad.status_code == 401 and bad.json()["detail"] == "簽章與憑證不符"
    replay = _complete(portal, start, folder)
    assert replay.status_code == 401 and "已使用" in replay.json()["detail"]
    english = portal.client.post(
        "/api/v1/citizen/sign-in/complete?lang=en",
        json={"challenge_id": "nope", "certificate": "not a certificate", "signature": "AA"},
    )
    assert english.json()["detail"] == "The certificate or the signature is malformed"

    expired = issue_demo_card(
        settings,
        "A123456789",
        "過期卡",
        not_before=datetime.now(UTC) - timedelta(days=800),
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    start = portal.client.post("/api/v1/citizen/sign-in/begin").json()
    assert "不在有效期間" in _complete(portal, start, expired.directory).json()["detail"]

    other_settings = Settings(data_dir=settings.data_dir / "elsewhere")
    ensure_demo_ca(other_settings)
    stranger = issue_demo_card(other_settings, portal.nid, "冒名者")
    start = portal.client.post("/api/v1/citizen/sign-in/begin").json()
    untrusted = _complete(portal, start, stranger.directory)
    assert untrusted.status_code == 401 and "受信任" in untrusted.json()["detail"]


def test_a_revoked_card_no_longer_signs_in_and_the_cli_signs_challenges(
    portal: Portal, monkeypatch: object
) -> None:
    settings = portal.env.settings
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))  # type: ignore[attr-defined]
    folder = settings.data_dir / "cards" / portal.nid
    runner = CliRunner()

    start = portal.client.post("/api/v1/citizen/sign-in/begin").json()
    signed = runner.invoke(
        cli, ["citizen", "sign-challenge", "--card", str(folder), "--challenge", start["challenge"]]
    )
    assert signed.exit_code == 0, signed.output
    import json

    body = json.loads(signed.output)
    assert body["challenge_id"] == start["challenge_id"]
    assert portal.client.post("/api/v1/citizen/sign-in/complete", json=body).status_code == 200

    again = runner.invoke(cli, ["citizen", "demo-ca"])
    assert again.exit_code == 0 and "新製 0 張" in again.output and portal.nid in again.output

    revoked = runner.invoke(cli, ["citizen", "revoke-card", "--card", str(folder)])
    assert revoked.exit_code == 0, revoked.output
    response = portal.sign_in()
    assert response.status_code == 401 and "廢止" in response.json()["detail"]


def test_a_card_that_is_not_one_is_told_apart_from_a_missing_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A garbled card.pem was reported as "no card in ...", sending the citizen looking for a
    file that is there."""
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "en")
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "card.pem").write_text("not a card\n", "utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    runner = CliRunner()
    for card, words in ((garbled, "is not a card"), (empty, "No card (card.pem) in")):
        said = runner.invoke(cli, ["citizen", "sign-challenge", "--card", str(card),
                                   "--challenge", "x"])  # fmt: skip
        assert said.exit_code == 2 and words in said.output, said.output
