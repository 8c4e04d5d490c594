"""After signing in, each person lands on their work, under one header that names them and
their agency and signs them out, and a footer with the privacy notice and accessibility
statement; on pages of other capabilities too (the tell-us-once history, the review queue)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import PASSWORD, Site, expect


def _sign_in_plainly(page: Page, site: Site, username: str) -> None:
    """The sign-in form reached from the front page, with no page asked for."""
    page.goto(site.url("/"))
    page.locator("header.site").get_by_role("link", name="登入").click()
    page.get_by_label("帳號").fill(username)
    page.get_by_label("密碼").fill(PASSWORD)
    page.get_by_role("button", name="登入").click()


@pytest.mark.parametrize(("username", "home", "agency"), [
    ("tpe-udd-clerk", "/counter", "臺北市政府都市發展局"),
    ("tpe-social-owner", "/owners/rules", "臺北市政府社會局"),
    ("tpe-auditor", "/audit/flags", None),
    ("admin", "/admin/users", None),
])  # fmt: skip
def test_each_role_lands_on_its_home_under_one_header(
    site: Site, page: Page, username: str, home: str, agency: str | None
) -> None:
    _sign_in_plainly(page, site, username)
    expect(page).to_have_url(re.compile(re.escape(home) + r"$"))
    header = page.locator("header.site")
    expect(header).to_have_count(1)
    if agency:
        expect(header.locator(".agency")).to_contain_text(agency)
    expect(header.get_by_role("button", name="登出")).to_have_count(1)
    footer = page.locator("footer.site")
    expect(footer.get_by_role("link", name="個人資料蒐集告知")).to_be_visible()
    expect(footer.get_by_role("link", name="無障礙聲明")).to_be_visible()
    for path in ("/catalog", "/privacy"):  # public pages still know who is signed in
        page.goto(site.url(path))
        expect(page.locator("header.site").get_by_role("button", name="登出")).to_have_count(1)
    header = page.locator("header.site")
    header.get_by_role("button", name="登出").click()
    expect(page.locator("header.site").get_by_role("link", name="登入")).to_be_visible()


def test_the_privacy_notice_says_what_the_act_asks(site: Site, page: Page) -> None:
    page.goto(site.url("/privacy"))
    expect(page.get_by_role("heading", level=1)).to_have_text("個人資料蒐集告知")
    for heading in ("蒐集機關", "蒐集目的", "個人資料類別", "利用期間", "權利", "不提供", "來源"):
        expect(page.get_by_role("heading", level=2, name=re.compile(heading))).to_be_visible()
