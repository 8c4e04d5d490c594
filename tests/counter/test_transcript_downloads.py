"""Transcripts people can keep: the clerk downloads the JWS file and the signed PDF from the
transcript, with the same authorisation as reading it; the PDF's QR code leads to a public
page that says who issued it and when, never whose it is; an uploaded PDF is checked."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.domain.national_id import mask_national_id
from onceonly.exchange import verify
from tests.conftest import DemoEnv
from tests.counter.support import Visitor
from tests.pdf_support import assert_reader_valid, hand_over_to_a_gateway, pdfsig, validated

ITEM = "public-housing-low-income"
Visit = Callable[[str], Visitor]
EVIDENCE = "household_registration"


def _fetched_case(visit: Visit, demo_env: DemoEnv) -> tuple[Visitor, str, str]:
    clerk = visit("tpe-udd-clerk")
    subject = demo_env.sample("low_income_applicant")
    number = clerk.case_number(clerk.open_case(ITEM, subject))
    assert clerk.post(f"/counter/cases/{number}/evidence").status_code == 200
    return clerk, number, subject


def test_the_clerk_downloads_the_jws_and_a_signed_pdf(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI, tmp_path: Path
) -> None:
    clerk, number, subject = _fetched_case(visit, demo_env)
    base = f"/counter/cases/{number}/transcripts/{EVIDENCE}/0"
    page = clerk.get(base).text
    assert f'href="{base}/pdf"' in page and f'href="{base}/jws"' in page
    token = re.search(r'<p class="mono small token">([^<]+)</p>', page)
    assert token

    jws = clerk.get(f"{base}/jws")
    assert jws.status_code == 200
    assert jws.headers["content-type"] == "application/jose"
    disposition = jws.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert number in disposition and "household_registration" in disposition
    assert disposition.endswith('.jws"')
    assert jws.text == token.group(1)

    made = clerk.get(f"{base}/pdf")
    assert made.status_code == 200, made.text[:300]
    assert made.headers["content-type"] == "application/pdf"
    assert made.headers["content-disposition"].endswith('.pdf"')
    assert number in made.headers["content-disposition"]
    data = made.content
    assert data.startswith(b"%PDF-")
    status = validated(data)
    assert status.bottom_line and status.coverage.name == "ENTIRE_FILE"
    # and a common PDF reader (poppler: Evince, Okular) shows it signed by the owner agency
    assert_reader_valid(pdfsig(data, tmp_path), "內政部戶政司")
    assert verify._embedded_jws(PdfFileReader(io.BytesIO(data))) == jws.text
    # the national id is never in the file in full (the JWS inside is compressed)
    assert subject.encode() not in data

    # the QR code's page, for anyone: who issued it and when, no personal data
    url = re.search(rb"https?://[^\s<>()]+/verify/transcripts/[0-9a-f]+\?h=[0-9a-f]{32}", data)
    assert url, "the verification address is written on the page"
    path = url.group(0).decode().split("testserver", 1)[1]
    with TestClient(demo_app) as anyone:
        shown = anyone.get(path, headers={"Accept": "text/html"})
        assert shown.status_code == 200
        assert "本平臺確曾製作這份 PDF 謄本" in shown.text
        assert subject not in shown.text and mask_national_id(subject) not in shown.text
        assert "（臺北時間）" in shown.text
        kid = re.search(r"/verify/certificates/([A-Za-z0-9_-]+)", shown.text)
        assert kid
        cert = anyone.get(f"/verify/certificates/{kid.group(1)}")
        assert cert.status_code == 200 and cert.content.count(b"BEGIN CERTIFICATE") == 2
        wrong = anyone.get(path[:-4] + "0000", headers={"Accept": "text/html"})
        assert wrong.status_code == 404 and "沒有製作過" in wrong.text

        checked = anyone.post(
            "/verify",
            files={"file": ("t.pdf", data, "application/pdf")},
            headers={"Accept": "text/html"},
        )
        assert checked.status_code == 200 and "簽章有效" in checked.text
        assert subject not in checked.text
        at = data.index(b"/Producer")
        tampered = data[:at] + b"/Producex" + data[at + 9 :]
        refused = anyone.post("/verify", files={"file": ("t.pdf", tampered, "application/pdf")})
        assert refused.status_code == 200 and "PDF 簽章不符" in refused.text
        jws_checked = anyone.post(
            "/verify", files={"file": ("t.jws", jws.content, "application/jose")}
        )
        assert "簽章有效" in jws_checked.text
        junk = anyone.post(
            "/verify", files={"file": ("t.pdf", b"%PDF-1.7 junk", "application/pdf")}
        )
        assert junk.status_code == 200 and "無法讀取" in junk.text
        empty = anyone.post("/verify", headers={"Accept": "text/html"})
        assert empty.status_code == 422 and "請選擇要檢查的檔案" in empty.text


def test_no_pdf_is_offered_for_an_owner_who_signs_at_its_own_gateway(
    visit: Visit, demo_env: DemoEnv
) -> None:
    """This node cannot seal a PDF in such an owner's name: the pages say so where the link
    was (a link answering 409 was a dead end), and still offer the file the owner signed."""
    clerk, number, _ = _fetched_case(visit, demo_env)
    base = f"/counter/cases/{number}/transcripts/{EVIDENCE}/0"
    assert f'href="{base}/pdf"' in clerk.get(f"/counter/cases/{number}").text
    engine = make_engine(demo_env.settings.database_url)
    with transaction(make_session_factory(engine)) as db:
        hand_over_to_a_gateway(db, demo_env.settings, clerk.get(f"{base}/jws").text)
    engine.dispose()

    for page in (clerk.get(f"/counter/cases/{number}").text, clerk.get(base).text):
        assert f'href="{base}/pdf"' not in page
        assert f'href="{base}/jws"' in page
        assert "保管於該機關自己的閘道器" in page and "數位簽章：有效" in page
    refused = clerk.get(f"{base}/pdf")
    assert refused.status_code == 409 and "閘道器" in refused.text
    english = clerk.get(base, params={"lang": "en"}).text
    assert "keeps its signing key at its own gateway" in english


def test_another_agency_or_tenant_gets_no_file(visit: Visit, demo_env: DemoEnv) -> None:
    _, number, _ = _fetched_case(visit, demo_env)
    base = f"/counter/cases/{number}/transcripts/{EVIDENCE}/0"
    for username, status in (("tpe-land-clerk", 403), ("kee-labour-clerk", 404)):
        other = visit(username)
        assert other.get(base).status_code == status, username  # as reading it
        for suffix in ("jws", "pdf"):
            response = other.get(f"{base}/{suffix}")
            assert response.status_code == status, (username, suffix)
            assert "attachment" not in response.headers.get("content-disposition", "")
            assert not response.content.startswith(b"%PDF") and b"eyJ" not in response.content
    clerk = visit("tpe-udd-clerk")
    assert clerk.get(f"/counter/cases/{number}/transcripts/{EVIDENCE}/9/jws").status_code == 404
    assert clerk.get(f"/counter/cases/{number}/transcripts/nothing/0/pdf").status_code == 404
