"""The issue's "done means", in a real browser: a 臺北市都市發展局 clerk handles
低收入戶申請等候承租國宅 for the sample citizen without any paper, relays the case to
臺北市政府社會局, where another clerk decides and closes it; the citizen's e-mails arrive."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page

from tests.browser.conftest import Mailbox, Site, expect, shot_path, sign_in

ITEM_NAME = "低收入戶申請等候承租國宅"
EMAIL = "lin.shufen@example.tw"


def open_case(
    page: Page, site: Site, query: str, item_name: str, subject: str, email: str = ""
) -> str:
    page.goto(site.url("/counter"))
    page.get_by_label("搜尋申請項目").fill(query)
    page.get_by_role("button", name="搜尋", exact=True).click()
    page.get_by_label(item_name).check()
    page.get_by_label("民眾身分證統一編號").fill(subject)
    if email:
        page.get_by_label("電子郵件").fill(email)
    page.get_by_role("button", name="收件並建立案件").click()
    expect(page.get_by_role("status")).to_contain_text("案件已建立")
    found = re.search(r"/counter/cases/([A-Z0-9-]+)", page.url)
    assert found, page.url
    return found.group(1)


def assert_all_signatures_valid(page: Page) -> None:
    """Every piece holds at least one transcript, and every transcript verifies."""
    pieces = page.locator("article.evidence")
    for index in range(pieces.count()):
        expect(pieces.nth(index).get_by_text("數位簽章：有效").first).to_be_visible()
    expect(page.get_by_text("數位簽章：無效")).to_have_count(0)


def fetch_all(page: Page) -> None:
    page.get_by_role("button", name="一次調閱全部證據").click()
    expect(page.get_by_role("status")).to_contain_text("已向各資料所屬機關調閱證據")


def decide_and_close(page: Page, decision: str, reason: str) -> None:
    page.get_by_label(decision, exact=True).check()
    page.get_by_label("理由").fill(reason)
    page.get_by_role("button", name="送出決定").click()
    expect(page.get_by_role("status")).to_contain_text("已作成決定")
    page.get_by_role("button", name="結案").click()
    expect(page.get_by_role("status")).to_contain_text("案件已結案")
    expect(page.locator("dl.summary")).to_contain_text("已結案")


def test_low_income_housing_case_without_paper_relayed_and_finished(
    site: Site, page: Page, browser: Browser, mailbox: Mailbox, request: object
) -> None:
    subject = site.env.sample("low_income_applicant")
    sign_in(page, site, "tpe-udd-clerk")
    number = open_case(page, site, "國宅", ITEM_NAME, subject, EMAIL)

    fetch_all(page)
    evidence = page.locator("article.evidence")
    expect(evidence).to_have_count(4)
    expect(page.get_by_text("所有證件皆已取得，民眾無須提供任何紙本。")).to_be_visible()
    assert_all_signatures_valid(page)
    expect(page.get_by_text("家戶平均每人每月所得低於 19,013 元：是")).to_be_visible()
    expect(page.get_by_text("為低收入戶：是")).to_be_visible()
    expect(page.get_by_text("名下無住宅：是").first).to_be_visible()
    expect(page.locator("form.upload")).to_have_count(0)
    name = site.env.manifest.sample("low_income_applicant").name
    expect(page.locator("#ev-household_registration")).to_contain_text(name)
    page.screenshot(path=str(shot_path(request, "-evidence")), full_page=True)  # type: ignore[arg-type]

    page.get_by_role("link", name=re.compile("檢視／列印電子謄本")).first.click()
    expect(page.get_by_role("status")).to_contain_text("有效")
    page.go_back()

    page.get_by_label("接收機關").select_option(label="臺北市政府社會局")
    page.get_by_label("傳遞說明").fill("請社會局核定低收入戶優先承租資格")
    page.get_by_role("button", name="傳遞案件").click()
    expect(page.get_by_role("status")).to_contain_text("已連同證據傳遞")
    expect(page.get_by_text("您僅能檢視")).to_be_visible()

    social = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 900})
    try:
        other = social.new_page()
        sign_in(other, site, "tpe-social-clerk")
        other.goto(site.url("/counter"))
        row = other.get_by_role("row").filter(has_text=number)
        expect(row).to_contain_text("由 臺北市政府都市發展局 傳遞")
        row.get_by_role("link", name=number).click()
        assert_all_signatures_valid(other)
        expect(other.get_by_role("button", name="一次調閱全部證據")).to_be_visible()
        decide_and_close(other, "核准", "符合低收入戶優先承租資格")
        other.screenshot(path=str(shot_path(request, "-received")), full_page=True)  # type: ignore[arg-type]
    finally:
        social.close()

    mails = mailbox.wait_for(EMAIL, 5)
    subjects = [str(m["Subject"]) for m in mails]
    assert len(mails) >= 5, subjects
    assert all(number in s for s in subjects), subjects
    bodies = "\n".join(m.get_body(("plain",)).get_content() for m in mails)  # type: ignore[union-attr]
    assert "核准" in bodies and "結案" in "".join(subjects) + bodies
