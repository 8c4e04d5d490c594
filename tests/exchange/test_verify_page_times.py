"""``/verify`` says a transcript's times in the page's language: ``Issued 2026-05-01 10:00
(Taipei time)`` in English, ``簽發時間 2026-05-01 10:00（臺北時間）`` in Chinese, both where the
QR code leads (a registered PDF looked up by id) and for an uploaded file. (The PDF itself is
Chinese first; its Chinese-only time formatter is not the page's.)"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.exchange import pdf
from onceonly.exchange.keys import ensure_key
from onceonly.exchange.transcript import sign_transcript
from onceonly.web.app import create_app
from tests.exchange.test_transcript import OWNER, household_claims

ISSUED = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
"""Still valid when checked (an expired transcript is not)."""
JTI = "verify-times-0001"


def _taipei(moment: datetime) -> str:
    return (moment + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


ISSUED_AT, EXPIRES_AT, FIRST_MADE = (
    _taipei(ISSUED),
    _taipei(ISSUED + timedelta(days=30)),
    _taipei(ISSUED + timedelta(minutes=5)),
)
ROWS = {
    "en": [
        ("Issued", f"{ISSUED_AT} (Taipei time)"),
        ("Valid until", f"{EXPIRES_AT} (Taipei time)"),
    ],
    "zh-TW": [("簽發時間", f"{ISSUED_AT}（臺北時間）"), ("有效期限", f"{EXPIRES_AT}（臺北時間）")],
}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as result:
        yield result
    app.state.engine.dispose()


def _token(client: TestClient, settings: Settings, *, registered: bool) -> str:
    """A genuine transcript; ``registered``: as if a PDF of it had been made here."""
    with transaction(client.app.state.sessions) as db:  # type: ignore[attr-defined]
        key = ensure_key(db, settings, OWNER)
        token = sign_transcript(key, household_claims(issued_at=ISSUED, jti=JTI), valid_days=30)
        if registered:
            db.add(
                pdf.TranscriptPdf(
                    jti=JTI,
                    jws_sha256=pdf.fingerprint(token),
                    issuer=OWNER,
                    dataset="household_registration",
                    transcript_kid=key.kid,
                    pdf_kid=key.kid,
                    issued_at=ISSUED,
                    expires_at=ISSUED + timedelta(days=30),
                    first_made_at=ISSUED + timedelta(minutes=5),
                )
            )
    return token


def _cell(page: str, label: str) -> str:
    """What the table shows beside ``label``."""
    row = re.search(rf'<th scope="row">{re.escape(label)}</th><td[^>]*>(.*?)</td>', page, re.S)
    assert row, f"no row {label!r}"
    return html.unescape(re.sub(r"<[^>]+>", "", row.group(1))).strip()


def _assert_times_in(page: str, lang: str) -> None:
    page = html.unescape(page)
    for label, shown in ROWS[lang]:
        assert _cell(page, label) == shown, (lang, label, _cell(page, label))
    if lang == "en":
        assert "臺北時間" not in page.split("<main", 1)[1]


def test_a_looked_up_pdf_transcripts_times_are_in_the_pages_language(
    client: TestClient, settings: Settings
) -> None:
    token = _token(client, settings, registered=True)
    address = pdf.verification_path(JTI, token)
    for lang in ("en", "zh-TW"):
        response = client.get(f"{address}&lang={lang}")
        assert response.status_code == 200, response.text[:300]
        _assert_times_in(response.text, lang)
    en = html.unescape(client.get(f"{address}&lang=en").text)
    assert _cell(en, "PDF first made") == f"{FIRST_MADE} (Taipei time)"
    assert "(in use)" in _cell(en, "PDF signing key") and "（" not in _cell(en, "PDF signing key")
    zh = html.unescape(client.get(f"{address}&lang=zh-TW").text)
    assert _cell(zh, "PDF 首次製作時間") == f"{FIRST_MADE}（臺北時間）"
    assert "（使用中）" in _cell(zh, "PDF 簽章金鑰")


def test_an_uploaded_transcripts_times_are_in_the_pages_language(
    client: TestClient, settings: Settings
) -> None:
    token = _token(client, settings, registered=False)
    for lang in ("en", "zh-TW"):
        response = client.post(
            f"/verify?lang={lang}",
            files={"file": ("t.jws", token.encode(), "application/jose")},
            headers={"Accept": "text/html"},
        )
        assert response.status_code == 200, response.text[:300]
        assert 'class="sig valid"' in response.text
        _assert_times_in(response.text, lang)
