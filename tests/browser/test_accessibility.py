"""axe-core (vendored, see ``vendor/README.md``) on every main page of the README tour, as
the person who uses it: no serious or critical violation. The pages are visited as they are
served, under the site's strict CSP."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from onceonly.citizens.cards import ensure_demo_pki
from tests.browser.conftest import Site, axe_violations, expect, sign_in
from tests.browser.test_done_means import fetch_all, open_case

KNOWN: dict[str, str] = {}
"""Rule id -> why it is accepted for now; empty means every page is clean."""

PUBLIC = [
    *("/", "/verify", "/catalog", "/stats/public", "/privacy", "/accessibility"),
    "/me",  # signed out: the card sign-in form
    "/api/docs",  # last: the test goes on to use it
]
READY = {"/api/docs": "#swagger-ui .opblock"}
"""Pages drawn by script: what shows once they are drawn, so axe sees the whole page."""
BY_ROLE = {
    "tpe-udd-clerk": ["/counter", "/survey", "/counter/tell-us-once"],
    "tpe-social-owner": ["/owners/rules", "/owners/alerts"],
    "tpe-auditor": ["/audit/flags", "/audit", "/stats"],
    "admin": ["/admin/users", "/admin/api-tokens", "/admin/notify"],
    "tpe-city-admin": ["/admin/mail", "/admin/sms", "/consolidate/review"],
}


def _check(page: Page, site: Site, paths: list[str], found: list[str]) -> None:
    for path in paths:
        page.goto(site.url(path))
        expect(page.locator(READY.get(path, "h1")).first).to_be_visible(timeout=30_000)
        found.extend(axe_violations(page, KNOWN))


def test_the_tour_pages_have_no_serious_or_critical_axe_violations(
    site: Site, page: Page, browser: Browser
) -> None:
    found: list[str] = []
    _check(page, site, PUBLIC, found)
    # Swagger UI as a developer uses it: an operation opened, tried and answered.
    operation = page.locator("#operations-auth-api_create_token_api_v1_auth_tokens_post")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table .copy-to-clipboard").first).to_be_visible()
    # Swagger UI animates its buttons' colours (0.3 s): measure once they have settled.
    page.wait_for_function("() => document.getAnimations().length === 0")
    found.extend(axe_violations(page, KNOWN))
    page.goto(site.url("/catalog"))
    page.locator("a[href^='/catalog/items/']").first.click()  # one item's page
    expect(page.locator("h1").first).to_be_visible()
    found.extend(axe_violations(page, KNOWN))
    for username, paths in BY_ROLE.items():
        context = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 900})
        staff = context.new_page()
        sign_in(staff, site, username)
        if username == "tpe-udd-clerk":
            subject = site.env.sample("low_income_applicant")
            number = open_case(staff, site, "國宅", "低收入戶申請等候承租國宅", subject)
            fetch_all(staff)  # the case page with evidence, signatures and the decision form
            found.extend(axe_violations(staff, KNOWN))
            paths = [*paths, f"/counter/cases/{number}/print"]
        _check(staff, site, paths, found)
        if username == "admin":  # a form answered with its errors, as the page shows them
            staff.goto(site.url("/admin/users"))
            staff.get_by_label("帳號", exact=True).fill("x")
            staff.get_by_role("button", name="建立使用者").click()
            expect(staff.locator("[aria-invalid=true]").first).to_be_visible()
            found.extend(axe_violations(staff, KNOWN))
        context.close()

    # The citizen's own pages, signed in with the demo card.
    ensure_demo_pki(site.settings)
    card = site.settings.data_dir / "cards" / site.env.sample("low_income_applicant") / "card.pem"
    page.goto(site.url("/me"))
    page.get_by_label("憑證卡檔案").set_input_files(str(card))
    page.get_by_role("button", name="簽章並登入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("誰看過我的資料")
    found.extend(axe_violations(page, KNOWN))
    _check(page, site, ["/me/consents", "/me/previews", "/me/reports"], found)
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)
