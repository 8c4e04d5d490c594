"""Guardrails and consent contents in Chromium: a 臺北市勞動局 clerk opens 求職交通補助金 for the
sample citizen; with evidence missing nothing preselects 核准 (it cannot even be chosen); a
second case of the same item is warned about before it is made; the consent request the
clerk sends, and the citizen's consent page, say which data would be fetched and the law."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from onceonly.citizens.cards import ensure_demo_pki
from tests.browser.conftest import Mailbox, Site, expect, shot_path, sign_in
from tests.browser.test_done_means import fetch_all, open_case

ITEM_NAME = "求職交通補助金"
EMAIL = "job.seeker@example.tw"
QUESTION = "只問一個是非題，不取得其他資料：為低收入戶？"


def test_approve_not_preselected_second_case_warned_and_consent_says_what(
    site: Site, page: Page, browser: Browser, mailbox: Mailbox, request: pytest.FixtureRequest
) -> None:
    ensure_demo_pki(site.settings)
    subject = site.env.sample("low_income_applicant")
    counter = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 900})
    clerk = counter.new_page()
    sign_in(clerk, site, "tpe-labour-clerk")
    number = open_case(clerk, site, "求職", ITEM_NAME, subject, EMAIL)
    fetch_all(clerk)

    # Evidence waits for consent: neither choice is made for the clerk, 核准 cannot be chosen.
    approve = clerk.get_by_label("核准", exact=True)
    expect(approve).not_to_be_checked()
    expect(approve).to_be_disabled()
    expect(clerk.get_by_label("駁回", exact=True)).not_to_be_checked()
    expect(clerk.locator("#decision-approved-missing")).to_contain_text("還不能核准")

    # The consent request says what would be fetched and under which law.
    clerk.get_by_role("button", name="寄給民眾同意請求").first.click()
    expect(clerk.get_by_role("status")).to_contain_text("已寄出同意請求")
    [mail] = [m for m in mailbox.wait_for(EMAIL, 3) if "請您同意" in str(m["Subject"])]
    body = mail.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    assert number in str(mail["Subject"])
    assert "只取以下欄位：" in text and QUESTION in text and "法律依據：" in text
    clerk.screenshot(path=str(shot_path(request, "-clerk")), full_page=True)

    # A second case of the same item: warned in words, nothing made until the clerk confirms.
    clerk.goto(site.url("/counter"))
    clerk.get_by_label("搜尋申請項目").fill("求職")
    clerk.get_by_role("button", name="搜尋", exact=True).click()
    clerk.get_by_label(ITEM_NAME).check()
    clerk.get_by_label("民眾身分證統一編號").fill(subject)
    clerk.get_by_role("button", name="收件並建立案件").click()
    warning = clerk.locator("#open-cautions")
    expect(warning).to_contain_text("已有一件「求職交通補助金」的案件尚未結案")
    expect(warning).to_contain_text(number)
    assert "/counter/cases/" not in clerk.url
    clerk.screenshot(path=str(shot_path(request, "-warned")), full_page=True)
    clerk.get_by_role("button", name="已確認，仍要開案").click()
    expect(clerk.get_by_role("status")).to_contain_text("案件已建立")
    second = re.search(r"/counter/cases/([A-Z0-9-]+)", clerk.url)
    assert second and second.group(1) != number
    expect(clerk.locator("ol.timeline")).to_contain_text("已有同一項目的未結案件")
    counter.close()

    # The citizen's consent page lists the same: data and fields, the question, the law.
    card = site.settings.data_dir / "cards" / subject / "card.pem"
    page.goto(site.url("/me"))
    page.get_by_label("憑證卡檔案").set_input_files(str(card))
    page.get_by_role("button", name="簽章並登入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("誰看過我的資料")
    page.get_by_role("link", name="我的同意").click()
    ask = page.locator(".ask").filter(has_text=number)
    expect(ask).to_contain_text("同意後將調閱")
    expect(ask).to_contain_text("只取以下欄位：")
    expect(ask).to_contain_text(QUESTION)
    expect(ask).to_contain_text("法律依據：")
    expect(ask).not_to_contain_text("household_registration")
