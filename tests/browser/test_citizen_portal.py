"""The citizen portal in Chromium: the sample citizen picks the demo card file, the page signs
the challenge with WebCrypto, and the citizen sees what clerks asked for, grants consent for
求職交通補助金 so the clerk's next request succeeds, approves a preview, flags an access, and
downloads a proof that ``onceonly audit prove --verify`` accepts offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from onceonly.accounts.service import get_user, issue_api_token
from onceonly.citizens.cards import ensure_demo_pki
from onceonly.db import transaction
from tests.browser.conftest import Site, expect, shot_path
from tests.citizens.conftest import CONSENT_ITEM, LABOUR_CLERK, require_preview

HOUSING_CASE = "TPE-UDD-115-000501"
LABOUR_CASE = "TPE-LAB-115-000502"


class Clerk:
    """An agency system calling the running server's API with a bearer token."""

    def __init__(self, site: Site, username: str, subject: str) -> None:
        with transaction(site.app.state.sessions) as db:
            user = get_user(db, username)
            assert user is not None
            token, _ = issue_api_token(db, user, "browser test", 1)
        self.http = httpx.Client(
            base_url=site.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.subject = subject

    def ask(self, item: str, case_id: str) -> dict[str, Any]:
        response = self.http.post(
            "/api/v1/evidence-requests",
            json={"case_id": case_id, "application_item": item, "subject": self.subject},
        )
        body: dict[str, Any] = response.json()
        body["http_status"] = response.status_code
        return body


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {r["evidence_type"]: r["status"] for r in body.get("results", [])}


def test_citizen_signs_in_with_the_card_consents_previews_flags_and_proves(
    site: Site, page: Page, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ensure_demo_pki(site.settings)
    subject = site.env.sample("low_income_applicant")
    card = site.settings.data_dir / "cards" / subject / "card.pem"
    require_preview(site.app.state.sessions, CONSENT_ITEM, "welfare_status")
    housing = Clerk(site, "tpe-udd-clerk", subject)
    labour = Clerk(site, LABOUR_CLERK, subject)
    assert housing.ask("public-housing-low-income", HOUSING_CASE)["http_status"] == 200
    refused = labour.ask(CONSENT_ITEM, LABOUR_CASE)
    assert refused["http_status"] == 403 and "同意" in refused["detail"]

    # Sign in: the portal page offers the card form; the key never leaves the page.
    page.goto(site.url("/me"))
    expect(page.get_by_role("heading", level=1)).to_have_text("以自然人憑證登入「我的資料」")
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.post_data or "") if r.method == "POST" else None)
    page.get_by_label("憑證卡檔案").set_input_files(str(card))
    page.get_by_role("button", name="簽章並登入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("誰看過我的資料")
    assert not any("PRIVATE KEY" in body for body in uploads)

    accesses = page.locator("article.access")
    expect(accesses.filter(has_text="臺北市政府都市發展局").first).to_be_visible()
    expect(accesses.filter(has_text=HOUSING_CASE).first).to_contain_text("識別編號 B-")
    expect(page.get_by_text("tpe-udd-clerk")).to_have_count(0)
    expect(page.get_by_text("有 1 個機關請求需要您的同意")).to_be_visible()
    page.screenshot(path=str(shot_path(request, "-who-looked")), full_page=True)

    # Consent for this case; the clerk's next request goes through, welfare held for preview.
    page.get_by_role("link", name="我的同意").click()
    ask = page.locator(".ask").filter(has_text=LABOUR_CASE)
    expect(ask).to_contain_text("求職交通補助金")
    ask.get_by_role("button", name="只同意這一案").click()
    expect(page.locator("tr.consent-active")).to_contain_text("僅案號 " + LABOUR_CASE)
    page.screenshot(path=str(shot_path(request, "-consent")), full_page=True)
    allowed = labour.ask(CONSENT_ITEM, LABOUR_CASE)
    assert allowed["http_status"] == 200, allowed
    assert statuses(allowed) == {
        "household_registration": "issued",
        "is_low_income_household": "awaiting_preview",
    }

    # Preview: the citizen sees the answer before the clerk does, and approves it.
    page.get_by_role("link", name="待我預覽").click()
    preview = page.locator("article.preview-pending")
    expect(preview).to_contain_text("是")
    page.screenshot(path=str(shot_path(request, "-preview")), full_page=True)
    preview.get_by_role("button", name="同意提供").click()
    expect(page.locator("article.preview-approved")).to_be_visible()
    released = labour.ask(CONSENT_ITEM, LABOUR_CASE)
    welfare = next(r for r in released["results"] if r["dataset"] == "welfare_status")
    assert welfare["status"] == "issued" and welfare["answer"] is True and welfare["transcripts"]

    # Flag the housing clerk's access to the household register.
    page.get_by_role("link", name="誰看過我的資料").click()
    entry = (
        page.locator("article.access")
        .filter(has_text=HOUSING_CASE)
        .filter(has_text="臺北市政府都市發展局")
        .first
    )
    entry.get_by_text("這筆調閱看起來可疑？").click()
    entry.get_by_label("請說明原因").fill("我這個月沒有申請國宅")
    entry.get_by_role("button", name="送出疑問").click()
    flagged = page.locator("article.access").filter(has_text="我這個月沒有申請國宅")
    expect(flagged).to_contain_text("已送交稽核人員")

    # Download the proof of that access and check it offline with the CLI.
    with page.expect_download() as download_info:
        flagged.get_by_role("link", name="下載第").click()
    proof = tmp_path / "proof.json"
    download_info.value.save_as(proof)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(httpx.get(site.url("/.well-known/jwks.json")).text, "utf-8")
    offline = {
        **os.environ,
        "ONCEONLY_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "ONCEONLY_DATA_DIR": str(tmp_path / "empty"),
    }
    command = [sys.executable, "-m", "onceonly.cli", "audit", "prove"]
    checked = subprocess.run(
        [*command, "--verify", str(proof), "--jwks", str(jwks)],
        capture_output=True,
        text=True,
        env=offline,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Proof OK" in checked.stdout
    assert json.loads(proof.read_text("utf-8"))["entry"]["case_id"] == HOUSING_CASE
    page.screenshot(path=str(shot_path(request, "-flagged")), full_page=True)
    housing.http.close()
    labour.http.close()
