"""The 1999 intake page in Chromium, as a hotline clerk of 臺北市 uses it: signed in, the
intake page is home; the caller's earlier request found by phone; a city and service chosen
and the FAQ answer read before filing; a request filed for 新北市 (the form re-shown with
the fields to fix first); the earlier call transferred to 新北市 with its case. axe-core
finds no serious or critical violation on the page in any of these states."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.open311 import service as open311
from tests.browser.conftest import PASSWORD, Site, axe_violations, expect

PHONE = "0933111222"


def _earlier_request(site: Site) -> str:
    engine = make_engine(site.settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            view = open311.create_request(
                db,
                jurisdiction="taipei-city",
                service_code="pothole",
                fields={"address_string": "臺北市中正區重慶南路一段122號", "phone": PHONE},
                attributes={"size": ["medium"], "lane": ["slow"]},
                filed_by=open311.Filer(
                    kind="hotline", name="tpe-hotline-clerk", jurisdiction="taipei-city"
                ),
            )
        return view.service_request_id
    finally:
        engine.dispose()


def test_the_hotline_finds_reads_files_and_transfers(site: Site, page: Page) -> None:
    earlier = _earlier_request(site)
    found: list[str] = []

    page.goto(site.url("/login"))
    page.get_by_label("帳號").fill("tpe-hotline-clerk")
    page.get_by_label("密碼").fill(PASSWORD)
    page.get_by_role("button", name="登入").click()
    expect(page).to_have_url(re.compile(r"/hotline$"))  # the hotline clerk's home
    expect(page.get_by_role("heading", level=1)).to_have_text("1999 市民服務專線受理")
    found.extend(axe_violations(page))

    page.get_by_label("來電號碼").fill(PHONE)
    page.get_by_role("button", name="查詢").click()
    row = page.locator("#caller-requests tbody tr", has_text=earlier)
    expect(row).to_contain_text("處理中")
    expect(row).to_contain_text("臺北市政府工務局")
    found.extend(axe_violations(page))

    page.get_by_label("縣市", exact=True).select_option(label="新北市")
    page.get_by_label("服務項目", exact=True).select_option(label="路燈故障")
    page.get_by_role("button", name="顯示常見問答與填寫欄位").click()
    expect(page.locator("#faq-answer")).to_contain_text("請記下燈桿上的編號")
    found.extend(axe_violations(page))

    page.get_by_label("反映內容").fill("板橋區文化路路燈閃爍")
    page.get_by_role("button", name="受理並送出").click()  # no location, no light state
    expect(page.locator("#error-summary")).to_contain_text("須提供地點")
    expect(page.get_by_label("反映內容")).to_have_value("板橋區文化路路燈閃爍")
    found.extend(axe_violations(page))

    page.get_by_label("地點（地址）").fill("新北市板橋區文化路一段1號")
    page.get_by_label("路燈狀況").select_option(label="閃爍")
    page.get_by_role("button", name="受理並送出").click()
    notice = page.get_by_role("status").filter(has_text="已受理")
    expect(notice).to_contain_text(re.compile(r"F-311-\d{3}-\d{6}"))

    transfer = page.get_by_role("form", name=f"將案件 {earlier} 轉接其他縣市")
    transfer.get_by_label("轉接至").select_option(label="新北市")
    transfer.get_by_label("轉接說明").fill("坑洞在新北市永和區")
    transfer.get_by_role("button", name="連同案件轉接").click()
    expect(page.get_by_role("status").filter(has_text=earlier)).to_contain_text("已轉接新北市")
    row = page.locator("#caller-requests tbody tr", has_text=earlier)
    expect(row).to_contain_text("新北市政府工務局")
    found.extend(axe_violations(page))
    assert found == [], "\n".join(found)
