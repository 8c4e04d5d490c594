"""Two more application items through to a decision in the browser: a factory change in
臺南市 (the owner of the factory registry is the city itself) and a land owner's address
change in 臺北市 (land searched at every land office)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import Site, expect, sign_in
from tests.browser.test_done_means import (
    assert_all_signatures_valid,
    decide_and_close,
    fetch_all,
    open_case,
)


def test_factory_change_registration_in_tainan(site: Site, page: Page) -> None:
    owner = site.env.manifest.sample("factory_owner")
    sign_in(page, site, "tnn-econ-clerk")
    open_case(page, site, "工廠", "工廠變更登記", owner.national_id)
    fetch_all(page)
    expect(page.locator("article.evidence")).to_have_count(2)
    expect(page.get_by_text("所有證件皆已取得，民眾無須提供任何紙本。")).to_be_visible()
    assert_all_signatures_valid(page)
    expect(page.locator("#ev-household_registration")).to_contain_text(owner.name)
    decide_and_close(page, "核准", "工廠變更登記資料齊備")
    expect(page.locator("ol.timeline")).to_contain_text("作成決定：核准")


def test_land_owner_address_change_rejected(site: Site, page: Page) -> None:
    citizen = site.env.manifest.sample("taipei_home_owner")
    sign_in(page, site, "tpe-land-clerk")
    open_case(page, site, "land-owner-address", "住址變更登記", citizen.national_id)
    fetch_all(page)
    assert_all_signatures_valid(page)
    land = page.locator("#ev-land_registration")
    expect(land).to_contain_text("段")
    expect(land.get_by_role("columnheader").first).to_be_visible()
    decide_and_close(page, "駁回", "新住址與戶籍資料不符，請民眾先辦理戶籍遷徙")
    expect(page.locator("dl.summary")).to_contain_text("駁回")
