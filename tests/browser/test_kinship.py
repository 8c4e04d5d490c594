"""A kinship chart (親系關係圖) at the counter, in Chromium: a Taipei household office's clerk
opens the case of a man who died, fetches his kinship record, asks for his relatives' records
(kept by three other cities' offices), and sees the chart drawn with his heirs named; the
case page and its printout pass axe-core."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.browser.conftest import Site, axe_violations, expect, sign_in
from tests.browser.test_accessibility import KNOWN
from tests.browser.test_done_means import fetch_all


def test_a_kinship_chart_at_the_counter_names_the_heirs(site: Site, page: Page) -> None:
    sign_in(page, site, "tpe-hh-clerk")
    page.goto(site.url("/counter"))
    page.get_by_label("搜尋申請項目").fill("親系")
    page.get_by_role("button", name="搜尋", exact=True).click()
    page.get_by_label("親等關聯資料（親系關係圖）申請").check()
    page.get_by_label("民眾身分證統一編號").fill(site.env.sample("kinship_deceased"))
    page.get_by_role("button", name="收件並建立案件").click()
    expect(page.get_by_role("alert")).to_contain_text("死亡")  # the register says so
    page.get_by_role("button", name="已確認，仍要開案").click()
    expect(page.get_by_role("status")).to_contain_text("案件已建立")
    number = re.search(r"/counter/cases/([A-Z0-9-]+)", page.url)
    assert number is not None

    fetch_all(page)
    page.get_by_role("button", name="向各戶政事務所調閱親屬之親等資料").click()
    expect(page.get_by_role("status")).to_contain_text("親系關係圖如下")
    chart = page.get_by_role("img", name="鄭國榮之親系關係圖")
    expect(chart).to_be_visible()
    for heir in ("許淑惠", "鄭怡君", "鄭家豪"):
        expect(chart.locator("g.kin-heir", has_text=heir)).to_be_visible()
    expect(chart.locator("g.kin-heir")).to_have_count(3)
    expect(chart).to_contain_text("鄭水木")  # the grandfather, from the Japanese-era register
    expect(page.locator("ul.kin-heirs")).to_contain_text("配偶，當然繼承人")
    found = axe_violations(page, KNOWN)

    page.goto(site.url(f"/counter/cases/{number.group(1)}/print"))
    expect(page.get_by_role("img", name="鄭國榮之親系關係圖")).to_be_visible()
    found += axe_violations(page, KNOWN)
    assert found == []
