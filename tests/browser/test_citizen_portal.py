"""The issue's "done means" in Chromium, on the demo's own rules: a 臺北市都市發展局 clerk
fetches evidence at the counter, then a 臺北市勞動局 clerk opens a 求職交通補助金 case (consent
and preview required). The sample citizen picks the demo card file, the page signs the
challenge with WebCrypto, and the citizen sees the counter's accesses, consents for that case,
previews and approves the welfare answer so the clerk's next fetch gets it, flags an access,
and downloads a proof that ``onceonly audit prove --verify`` accepts offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from onceonly.citizens.cards import ensure_demo_pki
from tests.browser.conftest import Site, expect, shot_path, sign_in
from tests.browser.test_done_means import fetch_all, open_case


def test_citizen_signs_in_with_the_card_consents_previews_flags_and_proves(
    site: Site, page: Page, browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ensure_demo_pki(site.settings)
    subject = site.env.sample("low_income_applicant")
    card = site.settings.data_dir / "cards" / subject / "card.pem"
    counter = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 900})
    clerk = counter.new_page()
    sign_in(clerk, site, "tpe-udd-clerk")
    housing_case = open_case(clerk, site, "國宅", "低收入戶申請等候承租國宅", subject)
    fetch_all(clerk)
    clerk.get_by_role("button", name="登出").click()
    sign_in(clerk, site, "tpe-labour-clerk")
    labour_case = open_case(clerk, site, "求職", "求職交通補助金", subject)
    fetch_all(clerk)
    expect(clerk.locator("#ev-household_registration")).to_contain_text("要求先取得民眾同意")

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
    expect(accesses.filter(has_text=housing_case).first).to_contain_text("識別編號 B-")
    expect(page.get_by_text("tpe-udd-clerk")).to_have_count(0)
    expect(page.get_by_text("有 1 個機關請求需要您的同意")).to_be_visible()
    page.screenshot(path=str(shot_path(request, "-who-looked")), full_page=True)

    # Consent for this case; the clerk's next request goes through, welfare held for preview.
    page.get_by_role("link", name="我的同意").click()
    ask = page.locator(".ask").filter(has_text=labour_case)
    expect(ask).to_contain_text("求職交通補助金")
    ask.get_by_role("button", name="只同意這一案").click()
    expect(page.locator("tr.consent-active")).to_contain_text("僅案號 " + labour_case)
    page.screenshot(path=str(shot_path(request, "-consent")), full_page=True)
    fetch_all(clerk)
    expect(clerk.locator("#ev-household_registration")).to_contain_text("數位簽章：有效")
    held = clerk.locator("#ev-is_low_income_household")
    expect(held).to_contain_text("等待民眾預覽")
    expect(held).to_contain_text("請民眾登入「我的資料」入口查看並同意提供")
    clerk.screenshot(path=str(shot_path(request, "-clerk-waits")), full_page=True)

    # Preview: the citizen sees the answer before the clerk does, and approves it.
    page.get_by_role("link", name="待我預覽").click()
    preview = page.locator("article.preview-pending")
    expect(preview).to_contain_text("是")
    page.screenshot(path=str(shot_path(request, "-preview")), full_page=True)
    preview.get_by_role("button", name="同意提供").click()
    expect(page.locator("article.preview-approved")).to_be_visible()
    fetch_all(clerk)
    released = clerk.locator("#ev-is_low_income_household")
    expect(released).to_contain_text("為低收入戶：是")
    expect(released).to_contain_text("數位簽章：有效")
    expect(clerk.get_by_text("所有證件皆已取得，民眾無須提供任何紙本。")).to_be_visible()
    counter.close()

    # Flag the housing clerk's access to the household register.
    page.get_by_role("link", name="誰看過我的資料").click()
    entry = (
        page.locator("article.access")
        .filter(has_text=housing_case)
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
    assert b"tpe-udd-clerk" not in proof.read_bytes()  # the clerk only by badge and commitment
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
    assert "Proof OK" in checked.stdout and "leaves the clerk's username out" in checked.stdout
    assert json.loads(proof.read_text("utf-8"))["entry"]["case_id"] == housing_case
    page.screenshot(path=str(shot_path(request, "-flagged")), full_page=True)
