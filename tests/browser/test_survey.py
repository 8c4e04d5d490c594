"""The staff survey in a real browser: a clerk sees the reminder, answers with the keyboard
and the mouse, and the administrator ends collection early and reads the result chart with
its table beside it."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page

from onceonly.accounts.demo_accounts import DEMO_PASSWORD
from onceonly.accounts.tenancy import Scope
from onceonly.accounts.users import create_user
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.survey import service as survey
from tests.browser.conftest import Site, expect, sign_in

UDD = "taipei-city.urban_development"


def test_a_clerk_answers_and_the_administrator_reads_the_results(site: Site, page: Page) -> None:
    engine = make_engine(site.settings.resolved_database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as db:
        create_user(db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理")
        others = [create_user(db, f"udd-{i}", None, "clerk", UDD, f"同仁{i}") for i in range(4)]
        wave = survey.open_wave(
            db,
            scope=Scope("taipei-city"),
            opened_by="tpe-admin",
            title="瀏覽器梯次",
            agencies=[UDD],
            closes_at=utcnow() + timedelta(days=7),
        )
    for user in others:
        with transaction(factory) as db:
            survey.submit(
                db, wave, user_id=user.id, role="clerk", agency_code=UDD, answers={"1": 5, "66": 2}
            )
    engine.dispose()

    sign_in(page, site, "tpe-udd-clerk")
    page.get_by_role("link", name="同仁問卷").click()
    expect(page.get_by_text("尚未填答")).to_be_visible()
    page.get_by_role("link", name="填答「瀏覽器梯次」").click()
    first = page.get_by_role("group", name="1. 透過免書證免謄本系統可獲得業務處理所需的完整資料。")
    first.get_by_label("4 同意").check()
    merger = page.get_by_role(
        "group", name="66. 在縣市合併後，免書證免謄本系統之相關資料庫已達到完全的整合。"
    )
    merger.get_by_label("無法判斷").check()
    page.get_by_role("button", name="送出問卷（送出後不能修改）").click()
    expect(page.get_by_text("已收到您的填答，謝謝您。")).to_be_visible()

    page.context.clear_cookies()
    sign_in(page, site, "tpe-admin")
    page.goto(site.url("/survey"))
    page.get_by_role("link", name="「瀏覽器梯次」的結果").click()
    expect(page.get_by_text("截止後才顯示結果")).to_be_visible()
    page.get_by_role("link", name="要提前結束收件，請到問卷頁。").click()
    page.get_by_role("button", name="結束「瀏覽器梯次」的收件").click()
    expect(page.get_by_text("已結束收件，現在可以查看結果。")).to_be_visible()
    expect(page.get_by_text("由 tpe-admin 提前結束收件")).to_be_visible()
    page.get_by_role("link", name="「瀏覽器梯次」的結果").click()
    expect(
        page.get_by_role("img", name="壹、科技系統面向：正面評價比例，本梯次與 2011 年研究對照")
    ).to_be_visible()
    table = page.locator("#table-overall")
    expect(
        table.get_by_role("row", name="1. 透過免書證免謄本系統可獲得業務處理所需的完整資料。")
    ).to_contain_text("100.0%")
    expect(table).to_contain_text("76.8% / 17.8% / 5.5% / 715 (5-1)")
    expect(page.get_by_role("link", name="下載 CSV")).to_be_visible()


def test_the_dashboard_shows_a_chart_and_its_table(site: Site, page: Page) -> None:
    engine = make_engine(site.settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        create_user(db, "tpe-admin", DEMO_PASSWORD, "admin", "taipei-city.civil_affairs", "管理")
    engine.dispose()
    sign_in(page, site, "tpe-admin")
    page.get_by_role("link", name="成效統計").click()
    expect(page.get_by_role("heading", name="成效統計", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="依承辦人工作地")).to_be_visible()
    expect(page.get_by_label("起日（臺北時間）")).to_be_visible()
    expect(page.get_by_role("link", name="下載每週案件 CSV")).to_be_visible()
    expect(page.get_by_role("link", name="下載未能線上取得 CSV")).to_be_visible()
