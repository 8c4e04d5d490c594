"""A parcel query at the counter (issue 17): a 臺北市 land-office clerk at 土地鑑界 asks about a
新北市 parcel by the number it had before two parcels were merged; the page shows the current
parcel, that it was found by its former number, its history and the owners' masked names,
signed by 新北市's land office, and never an owner's national ID; the answer is kept on the
case (after a reload, in the timeline and in the printout)."""

from __future__ import annotations

import sqlite3

from playwright.sync_api import Page

from tests.browser.conftest import Site, axe_violations, expect, sign_in
from tests.browser.test_done_means import open_case


def test_a_parcel_by_its_former_number_at_the_counter(site: Site, page: Page) -> None:
    store = site.env.settings.registries_dir / "new-taipei-city.land_office.sqlite"
    with sqlite3.connect(store) as db:
        section, old, new, owner = db.execute(
            "SELECT s.sect_name, h.old_land_no, m.land_no, o.owner_idno FROM land_history h "
            "JOIN land_mark m ON m.land_key = h.land_key "
            "JOIN sections s ON s.sect_code = m.sect_code "
            "JOIN land_own o ON o.land_key = m.land_key WHERE h.reason = '合併' "
            "ORDER BY h.land_key LIMIT 1"
        ).fetchone()
    citizen = site.env.manifest.sample("taipei_home_owner")
    sign_in(page, site, "tpe-land-clerk")
    open_case(page, site, "鑑界", "土地鑑界", citizen.national_id)

    page.get_by_label("土地（地段＋地號）").check()
    page.get_by_label("縣市", exact=True).select_option("new-taipei-city")
    page.get_by_label("地段（段名或段代碼）").fill(section)
    page.get_by_label("地號", exact=True).fill(f"{old[:4]}-{old[4:]}")
    page.get_by_role("button", name="查詢", exact=True).click()

    answer = page.locator("#lookup-answer")
    expect(answer).to_contain_text(f"{new[:4]}-{new[4:]}")
    expect(answer).to_contain_text("重測、合併或分割前之舊地號")
    expect(answer).to_contain_text(f"{old[:4]}-{old[4:]}")
    expect(answer).to_contain_text("○")
    expect(answer.get_by_text("數位簽章：有效").first).to_be_visible()
    expect(answer).to_contain_text("新北市")
    expect(page.locator("body")).not_to_contain_text(owner)
    assert axe_violations(page, {}) == [], "the form and its answer are accessible"

    # kept on the case: a reload, the timeline and the printout still have it
    page.reload()
    kept = page.locator("#lookup-answer")
    expect(kept).to_contain_text(f"{section} {old[:4]}-{old[4:]} 地號")
    expect(kept).to_contain_text(f"{new[:4]}-{new[4:]}")
    expect(kept.get_by_text("數位簽章：有效").first).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text(f"查詢「{section} {old[:4]}-{old[4:]} 地號」")
    expect(page.locator(".timeline")).to_contain_text("答復機關：新北市")
    page.goto(page.url.split("?")[0].split("#")[0] + "/print")
    expect(page.locator("#lookup-answer")).to_contain_text(f"{new[:4]}-{new[4:]}")
    expect(page.locator("body")).not_to_contain_text(owner)


def test_a_bad_parcel_number_is_named_next_to_its_field(site: Site, page: Page) -> None:
    citizen = site.env.manifest.sample("taipei_home_owner")
    sign_in(page, site, "tpe-land-clerk")
    open_case(page, site, "鑑界", "土地鑑界", citizen.national_id)
    page.get_by_label("土地（地段＋地號）").check()
    page.get_by_label("縣市", exact=True).select_option("taipei-city")
    page.get_by_label("地段（段名或段代碼）").fill("北投段")
    page.get_by_label("地號", exact=True).fill("12-34-56")
    page.get_by_role("button", name="查詢", exact=True).click()
    expect(page.locator("#f-lookup-subject-parcel_no-error")).to_contain_text("地號格式錯誤")
