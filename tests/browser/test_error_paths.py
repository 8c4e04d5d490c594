"""What the clerk sees when something cannot be done online: an invalid national ID (as typed
and from the server), no access rule (which owner, and a request to it that the owner then
approves on its rules page), an owner whose system is down, and data never digitised, for
which a scanned paper is attached instead."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from onceonly.domain.national_id import make_national_id
from tests import scans
from tests.browser.conftest import Site, expect, shot_path, sign_in
from tests.browser.test_done_means import ITEM_NAME, fetch_all, open_case

# A tiny but real PDF: what a scanner hands the clerk, as far as the checks go.
PDF = scans.pdf()


def test_invalid_national_id_shows_the_reason_next_to_the_field(site: Site, page: Page) -> None:
    valid = make_national_id("A", 1, 2345678)
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    sign_in(page, site, "tpe-udd-clerk")
    page.goto(site.url("/counter?q=國宅"))
    page.get_by_label(ITEM_NAME).check()
    field = page.get_by_label("民眾身分證統一編號")
    field.fill(wrong)
    live = page.locator("#f-subject-live")
    expect(live).to_have_text(f"檢查碼錯誤：最後一碼應為 {valid[-1]}")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill(valid)
    expect(live).to_have_text("格式正確")

    field.fill("B3" + wrong[2:])
    page.get_by_role("button", name="收件並建立案件").click()
    error = page.locator("#f-subject-error")
    expect(error).to_have_text("第二碼應為 1（男）或 2（女）")
    described = page.get_by_label("民眾身分證統一編號").get_attribute("aria-describedby") or ""
    assert "f-subject-error" in described.split()
    expect(page.get_by_role("alert")).to_contain_text("第二碼應為 1（男）或 2（女）")
    expect(page.get_by_label(ITEM_NAME)).to_be_checked()


def test_no_rule_names_the_owner_and_the_owner_approves_a_request(
    site: Site, page: Page, browser: Browser, request: pytest.FixtureRequest
) -> None:
    subject = site.env.sample("low_income_applicant")
    # a land office, which owns the buildings the item asks about (an agency with no part in
    # the item cannot open its case): no rule of its own asks for consent to household
    # records (the labour department's do, and consent follows the dataset whatever item is
    # named)
    sign_in(page, site, "tpe-land-clerk")
    open_case(page, site, "國宅", ITEM_NAME, subject)
    fetch_all(page)
    household = page.locator("#ev-household_registration")
    expect(household).to_contain_text("未獲授權")
    expect(household).to_contain_text("內政部戶政司 尚未核准本機關為此項目調閱這項資料")
    expect(household).to_contain_text("請民眾提供紙本：戶籍謄本")
    expect(page.get_by_text("民眾無須提供任何紙本")).to_have_count(0)
    household.get_by_role("button", name="向 內政部戶政司 申請存取規則").click()
    expect(page.get_by_role("status")).to_contain_text("已向資料所屬機關提出存取規則申請")
    expect(page.locator("#ev-household_registration")).to_contain_text("正等待核准")

    owner_context = browser.new_context(locale="zh-TW")
    try:
        owner = owner_context.new_page()
        sign_in(owner, site, "moi-household-owner")
        owner.goto(site.url("/owners/rules"))
        pending = owner.locator("article.rule.pending").filter(has_text="臺北市各地政事務所")
        expect(pending).to_have_count(1)
        label = re.search(r"R-\d+", pending.get_by_role("heading").inner_text())
        assert label
        pending.get_by_role("button", name=f"核准 {label.group(0)}").click()
        expect(owner.get_by_role("status")).to_contain_text("規則已核准")
        owner.screenshot(path=str(shot_path(request, "-owner")))
    finally:
        owner_context.close()

    fetch_all(page)
    expect(page.locator("#ev-household_registration")).to_contain_text("已線上取得")
    expect(page.locator("#ev-household_registration").get_by_text("數位簽章：有效")).to_be_visible()


def test_owner_down_says_try_again_later(site: Site, page: Page) -> None:
    store = site.settings.registries_dir / "central.fia.sqlite"
    store.rename(store.with_suffix(".offline"))
    subject = site.env.sample("low_income_applicant")
    sign_in(page, site, "tpe-udd-clerk")
    open_case(page, site, "國宅", ITEM_NAME, subject)
    fetch_all(page)
    income = page.locator("#ev-household_income_below")
    expect(income).to_contain_text("資料機關暫時無法連線")
    expect(income).to_contain_text(re.compile(r"請約 \d+ 分鐘後再試一次"))
    expect(page.locator("#ev-is_low_income_household")).to_contain_text("已線上取得")


def test_not_digitised_piece_gets_a_scanned_paper(site: Site, page: Page, tmp_path: object) -> None:
    from pathlib import Path

    citizen = site.env.manifest.sample("taipei_home_owner")
    sign_in(page, site, "tpe-land-clerk")
    open_case(page, site, "鑑界", "土地鑑界", citizen.national_id)
    fetch_all(page)
    cadastral = page.locator("#ev-cadastral_map")
    expect(cadastral).to_contain_text("尚未數位化")
    expect(cadastral).to_contain_text("請民眾提供紙本")
    scan = Path(str(tmp_path)) / "地籍圖謄本.pdf"
    scan.write_bytes(PDF)
    cadastral.get_by_label(re.compile("上傳紙本掃描檔")).set_input_files(str(scan))
    cadastral.get_by_role("button", name="上傳掃描檔").click()
    expect(page.get_by_role("status")).to_contain_text("已附上紙本掃描檔")
    cadastral = page.locator("#ev-cadastral_map")
    expect(cadastral).to_contain_text("已附紙本")
    expect(cadastral.get_by_role("link", name=re.compile("下載掃描檔"))).to_be_visible()
    expect(page.get_by_text("證件齊全，其中 1 件為紙本掃描檔。")).to_be_visible()
