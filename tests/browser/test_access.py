"""Usable by everyone: the case page at phone width (375 px) without sideways scrolling, and
the whole way from signing in to fetching evidence with the keyboard alone."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.browser.conftest import Site, expect, shot_path, sign_in
from tests.browser.test_done_means import ITEM_NAME, fetch_all, open_case


def test_case_page_at_phone_width(site: Site, browser: Browser, request: object) -> None:
    phone = browser.new_context(
        locale="zh-TW", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    try:
        page = phone.new_page()
        sign_in(page, site, "tpe-udd-clerk")
        open_case(page, site, "國宅", ITEM_NAME, site.env.sample("low_income_applicant"))
        fetch_all(page)
        expect(page.get_by_text("所有證件皆已取得，民眾無須提供任何紙本。")).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=str(shot_path(request)), full_page=True)  # type: ignore[arg-type]
        assert overflow <= 1, f"the page scrolls sideways by {overflow}px at 375px"
        page.goto(site.url("/counter"))
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=str(shot_path(request, "-home")), full_page=True)  # type: ignore[arg-type]
        assert overflow <= 1, f"the counter home scrolls sideways by {overflow}px at 375px"
    finally:
        phone.close()


def _tab_to(page: Page, check: str, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies the JS expression ``check`` (on ``el``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({check}); }})()"):
            return
    raise AssertionError(f"Tab never reached an element where {check}")


def test_sign_in_and_open_a_case_with_the_keyboard_only(site: Site, page: Page) -> None:
    page.goto(site.url("/login?next=/counter"))
    _tab_to(page, "el.id === 'f-username'")
    page.keyboard.type("tpe-udd-clerk")
    page.keyboard.press("Tab")
    page.keyboard.type("onceonly-demo")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="櫃檯收件")).to_be_visible()

    _tab_to(page, "el.id === 'f-q'")
    page.keyboard.type(ITEM_NAME)
    page.keyboard.press("Enter")
    expect(page.get_by_label(ITEM_NAME)).to_be_visible()
    _tab_to(page, "el.name === 'application_item'")
    page.keyboard.press("Space")
    expect(page.get_by_label(ITEM_NAME)).to_be_checked()
    _tab_to(page, "el.id === 'f-subject'")
    page.keyboard.type(site.env.sample("low_income_applicant"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("案件已建立")

    _tab_to(page, "el.textContent.includes('一次調閱全部證據')")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("已向各資料所屬機關調閱證據")
    expect(page.get_by_text("所有證件皆已取得，民眾無須提供任何紙本。")).to_be_visible()
