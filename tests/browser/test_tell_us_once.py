"""Tell us once (通報) in Chromium: a household-registration clerk records a death at the
counter, sees which agencies will be told, sends it and finds it again by its reference; a
move whose old address is not the registered one and a second death are refused on the form.
The citizen signs in with the card, reports a new mailing address once and sees each agency's
status in words."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from onceonly.citizens.cards import ensure_demo_pki
from tests.browser.conftest import Site, expect, shot_path, sign_in

TITLE = "通報（一次申報，各機關同步更新）"


def _choose(page: Page, kind: str) -> None:
    page.get_by_label("事件類別").select_option(label=kind)
    page.get_by_role("button", name="選擇").click()


def test_a_clerk_records_a_death_and_finds_it_by_reference(
    site: Site, page: Page, request: pytest.FixtureRequest
) -> None:
    subject = site.env.sample("low_income_applicant")
    sign_in(page, site, "tpe-hh-clerk")
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)

    _choose(page, "遷出登記（遷往他縣市）")
    page.get_by_label("當事人身分證統一編號").fill(subject)
    page.get_by_label("遷出日期").fill("2026-01-05")
    page.get_by_label("原住址（須與戶籍登記相同）").fill("臺北市中正區重慶南路一段122號")
    page.get_by_label("遷往縣市").select_option(label="高雄市")
    page.get_by_role("button", name="查核並預覽將通知的機關").click()
    expect(page.locator("#f-old_address-error")).to_have_text("原住址與戶籍登記的住址不符")

    _choose(page, "死亡登記")
    page.get_by_label("當事人身分證統一編號").fill(subject)
    page.get_by_label("死亡日期").fill("民國115年1月2日")
    page.get_by_label("手機號碼").fill("0912-345-678")
    page.get_by_role("button", name="查核並預覽將通知的機關").click()
    told = page.locator("ul.recipients")
    for name in ("臺北市政府社會局", "衛生福利部中央健康保險署", "交通部公路局監理單位"):
        expect(told).to_contain_text(name)
    expect(told).not_to_contain_text("central.")
    page.screenshot(path=str(shot_path(request, "-who-will-be-told")), full_page=True)
    page.get_by_role("button", name="確認送出通報").click()

    expect(page.get_by_role("status")).to_contain_text("已送出通報")
    text = page.locator("p.reference").inner_text()
    found = re.search(r"TUO-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", text)
    assert found, text
    expect(page.locator("table.recipients")).to_contain_text("傳送中")

    page.goto(site.url("/counter/tell-us-once"))
    page.get_by_label("通報編號（例如 TUO-1A2B-3C4D-5E6F）").fill(found.group(0).lower())
    page.get_by_role("button", name="查詢").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("死亡登記")
    expect(page.locator("p.reference")).to_contain_text(found.group(0))

    page.goto(site.url("/counter/tell-us-once?kind=death"))
    page.get_by_label("當事人身分證統一編號").fill(subject)
    page.get_by_label("死亡日期").fill("2026-01-03")
    page.get_by_role("button", name="查核並預覽將通知的機關").click()
    expect(page.locator("#f-national_id-error")).to_have_text(
        "此人的死亡已經登記過，不能再登記一次"
    )
    page.screenshot(path=str(shot_path(request)), full_page=True)


def test_the_citizen_reports_a_new_mailing_address_once(
    site: Site, page: Page, browser: Browser, request: pytest.FixtureRequest
) -> None:
    ensure_demo_pki(site.settings)
    subject = site.env.sample("low_income_applicant")
    card = site.settings.data_dir / "cards" / subject / "card.pem"
    page.goto(site.url("/me/reports"))
    page.get_by_label("憑證卡檔案").set_input_files(str(card))
    page.get_by_role("button", name="簽章並登入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("我的通報與各機關辦理情形")

    page.get_by_label("事件類別").select_option(label="通訊地址變更")
    page.get_by_role("button", name="選擇").click()
    page.get_by_role("button", name="查核並預覽將通知的機關").click()
    expect(page.locator("#f-mailing_address-error")).to_be_visible()
    page.get_by_label("通訊地址").fill("臺北市大安區復興南路一段390號5樓")
    page.get_by_role("button", name="查核並預覽將通知的機關").click()
    told = page.locator("ul.recipients")
    for name in ("臺北市稅捐稽徵處", "交通部公路局監理單位", "勞動部勞工保險局"):
        expect(told).to_contain_text(name)
    page.get_by_role("button", name="確認送出通報").click()

    expect(page.get_by_role("status")).to_contain_text("已送出，通報編號 TUO-")
    report = page.locator("section.card", has_text="通訊地址變更 ·")
    expect(report).to_contain_text("交通部公路局監理單位")
    expect(report).to_contain_text("傳送中")
    expect(report).not_to_contain_text("central.motor_vehicles")
    page.screenshot(path=str(shot_path(request)), full_page=True)
