"""The temporary password in a real browser: the administrator makes a clerk, the clerk signs
in with the administrator's password and can do nothing but set their own, told who set the
first one; the page has no serious accessibility violation."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.browser.conftest import Site, axe_violations, expect, sign_in

ADMIN_CHOSEN = "the administrator chose this"
OWN = "only the clerk knows this one"


def test_a_clerk_made_by_the_administrator_sets_their_own_password_first(
    site: Site, page: Page, browser: Browser
) -> None:
    sign_in(page, site, "tpe-city-admin")
    page.goto(site.url("/admin/users"))
    page.get_by_label("帳號", exact=True).fill("tpe-new-clerk")
    page.get_by_label("顯示名稱").fill("臺北市政府勞動局 新承辦人")
    page.get_by_label("機關代碼").fill("taipei-city.labour")
    page.get_by_label("密碼", exact=True).fill(ADMIN_CHOSEN)
    page.get_by_role("button", name="建立使用者").click()
    expect(page.get_by_text("已建立使用者 tpe-new-clerk")).to_be_visible()
    expect(page.get_by_role("row", name="tpe-new-clerk")).to_contain_text("臨時密碼")

    clerk = browser.new_context(locale="zh-TW").new_page()
    clerk.goto(site.url("/login?next=/counter"))
    clerk.get_by_label("帳號").fill("tpe-new-clerk")
    clerk.get_by_label("密碼").fill(ADMIN_CHOSEN)
    clerk.get_by_role("button", name="登入").click()
    expect(clerk.get_by_role("heading", level=1)).to_have_text("變更密碼")
    expect(clerk.get_by_role("alert")).to_contain_text("別人替您設定的臨時密碼")
    expect(clerk.locator("#password-set-by")).to_contain_text("系統管理者 tpe-city-admin")
    assert axe_violations(clerk) == []

    clerk.goto(site.url("/counter"))  # nothing else opens
    expect(clerk.get_by_role("heading", level=1)).to_have_text("變更密碼")

    clerk.get_by_label("目前的密碼").fill(ADMIN_CHOSEN)
    clerk.get_by_label("新密碼", exact=True).fill(OWN)
    clerk.get_by_label("再輸入一次新密碼").fill(OWN + "?")
    clerk.get_by_role("button", name="變更密碼").click()
    expect(clerk.get_by_role("link", name="兩次輸入的新密碼不同")).to_be_visible()
    assert axe_violations(clerk) == []

    clerk.get_by_label("目前的密碼").fill(ADMIN_CHOSEN)
    clerk.get_by_label("新密碼", exact=True).fill(OWN)
    clerk.get_by_label("再輸入一次新密碼").fill(OWN)
    clerk.get_by_role("button", name="變更密碼").click()
    expect(clerk.get_by_role("status")).to_contain_text("已變更您的密碼")
    expect(clerk.locator("#password-set-by")).to_contain_text("您本人")
    clerk.get_by_role("link", name="前往工作首頁").click()
    expect(clerk).to_have_url(site.url("/counter"))
    clerk.context.close()
