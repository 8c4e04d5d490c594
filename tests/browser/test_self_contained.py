"""The demo works without internet and without a mail server, in Chromium: an e-mail sent
over SMTP to the demo's mail sink shows on 臺北市's administrators' page, the SMS outbox has
its page, and the API documentation draws itself from this site's own files under its CSP,
asking no other host for anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request

from onceonly.cases import service
from onceonly.cases.notifications import deliver_pending
from onceonly.db import transaction
from onceonly.demo import mail_sink
from onceonly.demo.ports import free_port
from tests.browser.conftest import Site, expect, serve, shot_path, sign_in
from tests.cases.conftest import ITEM, SUBJECT, UDD
from tests.conftest import DemoEnv


@pytest.fixture
def sink_site(demo_env: DemoEnv, tmp_path: Path) -> Iterator[Site]:
    """The demo app with the demo's mail sink as its SMTP server, as ``onceonly demo`` runs."""
    port = free_port()
    sink = mail_sink.start(tmp_path / "mail", port)
    settings = demo_env.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "mail_sink_dir": tmp_path / "mail"}
    )
    try:
        with serve(demo_env, settings) as served:
            yield served
    finally:
        sink.close()


def test_the_administrator_reads_the_caught_mail_and_the_sms_outbox(
    sink_site: Site, page: Page, request: pytest.FixtureRequest
) -> None:
    sessions = sink_site.app.state.sessions
    with transaction(sessions) as db:
        number = service.open_case(
            db,
            UDD,
            application_item=ITEM,
            subject=SUBJECT,
            contact_email="chen@example.tw",
            contact_mobile="0987654321",
        ).number
    report = deliver_pending(sessions, sink_site.settings, case_number=number)
    assert report.failed == [], "nothing fails: the sink listens on the SMTP port"

    sign_in(page, sink_site, "tpe-city-admin")
    page.goto(sink_site.url("/admin/mail"))
    expect(page.get_by_role("heading", level=1)).to_have_text("攔截的電子郵件")
    mail = page.locator("article.caught-mail")
    expect(mail).to_have_count(1)
    expect(mail.get_by_role("heading", level=2)).to_contain_text(f"案號 {number}")
    expect(mail).to_contain_text("chen@example.tw")
    page.screenshot(path=str(shot_path(request, "-mail")), full_page=True)

    page.locator("#main").get_by_role("link", name="簡訊寄件匣").click()  # not the menu's
    expect(page.get_by_role("heading", level=1)).to_have_text("簡訊寄件匣")
    expect(page.locator("table.sms-outbox")).to_contain_text("0987654321")
    expect(page.locator("table.sms-outbox")).to_contain_text(number)


def test_the_api_docs_draw_from_this_site_alone(site: Site, page: Page) -> None:
    asked: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if isinstance(r, Request) else None)
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if isinstance(m, ConsoleMessage) and m.type == "error" else None
        ),
    )
    page.goto(site.url("/api/docs"))
    # the schema is built on the first ask: seconds on a loaded 2-core machine
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("onceonly", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    hosts = {urlsplit(url).netloc for url in asked if not url.startswith("data:")}
    assert hosts == {urlsplit(site.base).netloc}, hosts
    assert not [p for p in problems if "Content Security Policy" in p], problems
