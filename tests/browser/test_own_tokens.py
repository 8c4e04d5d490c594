"""API tokens in a real browser: the administrator is refused a token for a clerk, in words
beside the field, makes a system account and issues its token; the clerk makes their own on
their account page. The pages have no serious accessibility violation."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.browser.conftest import Site, axe_violations, expect, sign_in


def test_a_clerks_token_is_the_clerks_own_and_a_systems_the_administrators(
    site: Site, page: Page, browser: Browser
) -> None:
    sign_in(page, site, "tpe-city-admin")
    page.goto(site.url("/admin/api-tokens"))
    page.get_by_label("帳號", exact=True).fill("tpe-udd-clerk")
    page.get_by_label("權杖名稱").fill("國宅申請系統")
    page.get_by_role("button", name="核發", exact=True).click()
    error = page.locator("#f-username-error")
    expect(error).to_contain_text("不能替 tpe-udd-clerk 核發權杖：這是以密碼登入的個人帳號")
    expect(page.get_by_role("alert")).to_contain_text("不能替 tpe-udd-clerk 核發權杖")
    expect(page.locator("#new-token")).to_have_count(0)
    assert axe_violations(page) == []

    page.goto(site.url("/admin/users"))
    page.get_by_label("帳號", exact=True).fill("tpe-udd-intake")
    page.get_by_label("顯示名稱").fill("臺北市都發局 國宅申請系統")
    page.get_by_label("機關代碼").fill("taipei-city.urban_development")
    page.get_by_label("系統帳號（給機關系統使用").check()
    page.get_by_role("button", name="建立使用者").click()
    expect(page.get_by_text("這是系統帳號，沒有密碼")).to_be_visible()
    expect(page.get_by_role("row", name="tpe-udd-intake")).to_contain_text("系統帳號")

    page.goto(site.url("/admin/api-tokens"))
    page.get_by_label("帳號", exact=True).fill("tpe-udd-intake")
    page.get_by_label("權杖名稱").fill("國宅申請系統")
    page.get_by_role("button", name="核發", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        "已核發權杖「國宅申請系統」給 tpe-udd-intake"
    )
    assert page.locator("#new-token").input_value().startswith("oot_")
    assert axe_violations(page) == []

    clerk = browser.new_context(locale="zh-TW").new_page()
    sign_in(clerk, site, "tpe-udd-clerk")
    clerk.goto(site.url("/account"))
    expect(clerk.get_by_text("權杖以您的名義行事")).to_be_visible()
    clerk.get_by_label("權杖名稱").fill("我的查調程式")
    clerk.get_by_role("button", name="核發", exact=True).click()
    expect(clerk.get_by_role("status")).to_contain_text(
        "已核發權杖「我的查調程式」給 tpe-udd-clerk"
    )
    assert clerk.locator("#new-token").input_value().startswith("oot_")
    expect(clerk.get_by_role("row", name="我的查調程式")).to_contain_text("tpe-udd-clerk")
    assert axe_violations(clerk) == []
    clerk.context.close()
