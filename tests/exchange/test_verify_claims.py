"""The public verification page shows a transcript's claims only when its signature holds.

A forged or unverifiable transcript (a changed byte, a key nobody published, a cut-off token,
a sealed PDF carrying such a JWS) is said to be not valid and why, in words; nothing read from
its unverified content (issuer, dataset, times, ids, keys) is put on the page, so a forger
cannot have a real agency's name shown beside the verdict. A valid one still shows them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.exchange import certificates, keys, pdf
from onceonly.exchange.keys import ensure_key
from onceonly.exchange.transcript import inspect_transcript, sign_transcript
from onceonly.web.app import create_app
from tests.exchange.test_transcript import OWNER, household_claims

ISSUED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
JTI = "forged-claims-0001"
CLAIMED = (
    "內政部戶政司",
    "Department of Household Registration",
    "戶籍資料",
    "Household registration",
    OWNER,
    "household_registration",
    JTI,
    pdf.taipei_time(ISSUED)[:16],
    pdf.taipei_time(ISSUED + timedelta(days=30))[:16],
)
"""What the transcript claims: the issuer's and dataset's names and codes, its id, and its
issue and expiry times as the page writes them."""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as result:
        yield result
    app.state.engine.dispose()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _genuine(client: TestClient, settings: Settings) -> str:
    with transaction(client.app.state.sessions) as db:  # type: ignore[attr-defined]
        key = ensure_key(db, settings, OWNER)
        claims = household_claims(issued_at=ISSUED, jti=JTI)
        return sign_transcript(key, claims, valid_days=30)


def _one_byte_changed(token: str) -> str:
    header, payload, signature = token.split(".")
    body = _segment(payload)
    changed = body.replace(b'"B00042"', b'"B00043"')
    assert len(changed) == len(body) and changed != body
    return f"{header}.{_b64(changed)}.{signature}"


def _unknown_key(token: str) -> str:
    """The same claims, signed by a key no one published."""
    header, payload, _ = token.split(".")
    stranger = Ed25519PrivateKey.generate()
    forged_header = _b64(json.dumps({**json.loads(_segment(header)), "kid": "stranger"}).encode())
    signing_input = f"{forged_header}.{payload}"
    return f"{signing_input}.{_b64(stranger.sign(signing_input.encode('ascii')))}"


def _check(client: TestClient, name: str, data: bytes, lang: str) -> str:
    response = client.post(
        f"/verify?lang={lang}",
        files={"file": (name, data, "application/octet-stream")},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 200, response.text[:300]
    return response.text


def _verdict(page: str) -> str:
    """The page's answer about the file: its heading and what follows, to the card's end."""
    return page.split('id="outcome-title"', 1)[1].split("</section>", 1)[0]


def _assert_invalid_and_silent(client: TestClient, name: str, data: bytes) -> None:
    zh = _check(client, name, data, "zh-TW")
    en = _check(client, name, data, "en")
    for page in (zh, en):
        shown = [claim for claim in CLAIMED if claim in page]
        assert not shown, f"{name}: the page shows claims of an unverified transcript: {shown}"
        assert 'class="keyvals"' not in _verdict(page)
    assert "✖ 無效" in _verdict(zh) and "不顯示這個檔案所寫的簽發機關" in _verdict(zh), name
    assert "✖ Not valid" in _verdict(en) and "shows none of what the file says" in en, name


def test_a_valid_transcript_still_shows_who_issued_it(
    client: TestClient, settings: Settings
) -> None:
    token = _genuine(client, settings)
    zh = _check(client, "t.jws", token.encode(), "zh-TW")
    en = _check(client, "t.jws", token.encode(), "en")
    assert "✔ 有效" in _verdict(zh) and "✔ Valid" in _verdict(en)
    assert "簽章有效，內容未經修改" in _verdict(zh)
    for claim in ("內政部戶政司", "戶籍資料", JTI, CLAIMED[7], CLAIMED[8]):
        assert claim in zh, claim
    assert "Department of Household Registration" in en and "Household registration" in en


def test_a_changed_byte_shows_no_claim(client: TestClient, settings: Settings) -> None:
    token = _genuine(client, settings)
    _assert_invalid_and_silent(client, "changed.jws", _one_byte_changed(token).encode())
    zh = _check(client, "changed.jws", _one_byte_changed(token).encode(), "zh-TW")
    assert "簽章不符" in zh


def test_an_unknown_key_shows_no_claim(client: TestClient, settings: Settings) -> None:
    token = _genuine(client, settings)
    forged = _unknown_key(token)
    _assert_invalid_and_silent(client, "stranger.jws", forged.encode())
    en = _check(client, "stranger.jws", forged.encode(), "en")
    assert "not among the keys this platform publishes" in en
    assert "stranger" not in _verdict(en)


def test_a_truncated_transcript_shows_no_claim(client: TestClient, settings: Settings) -> None:
    token = _genuine(client, settings)
    # cut inside the signature (it still decodes, so the payload could be read), and mid-way
    _assert_invalid_and_silent(client, "cut.jws", token[:-2].encode())
    _assert_invalid_and_silent(client, "half.jws", token[: len(token) // 2].encode())


def test_a_sealed_pdf_with_an_unverifiable_jws_shows_no_claim(
    client: TestClient, settings: Settings
) -> None:
    """The PDF's seal is the owner's and intact, but the JWS inside is signed by no published
    key: the page must not take the issuer's name from it."""
    token = _genuine(client, settings)
    forged = _unknown_key(token)
    with transaction(client.app.state.sessions) as db:  # type: ignore[attr-defined]
        key = keys.active_key(db, settings, OWNER)
        assert key is not None
        seal = keys.seal_key(key)
        assert seal is not None
        chain = certificates.seal_certificate_for(key, seal, "內政部戶政司")
        verified = inspect_transcript(forged, keys.published_jwks(db))
        assert not verified.valid
        unsigned = pdf.render_pdf(db, verified, "https://onceonly.example.gov.tw/verify")
        sealed = pdf._sign(unsigned, verified, seal, chain)
    _assert_invalid_and_silent(client, "t.pdf", sealed)
