"""Transcripts people can keep, in Chromium: the clerk clicks the PDF download on a transcript
and gets a PDF whose PAdES signature pyHanko validates; the verification page (where its QR
code leads) checks the same file uploaded by anyone, signed in or not."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from tests.browser.conftest import Site, expect, shot_path, sign_in
from tests.browser.test_done_means import ITEM_NAME, fetch_all, open_case
from tests.pdf_support import validated


def _validate(data: bytes) -> Any:
    return validated(data)


def test_the_clerk_downloads_a_signed_pdf_transcript(
    site: Site, page: Page, browser: Browser, tmp_path: Path, request: object
) -> None:
    sign_in(page, site, "tpe-udd-clerk")
    number = open_case(page, site, "國宅", ITEM_NAME, site.env.sample("low_income_applicant"))
    fetch_all(page)
    page.locator(f'a[href="/counter/cases/{number}/transcripts/household_registration/0"]').click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("電子謄本")

    with page.expect_download() as waiting:
        page.get_by_role("link", name="下載 PDF 謄本（已簽章）").click()
    download = waiting.value
    assert re.fullmatch(
        rf"transcript-{number}-household_registration-1\.pdf", download.suggested_filename
    )
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF-")
    with ThreadPoolExecutor(1) as pool:  # pyHanko runs its own event loop; Playwright's is busy
        status = pool.submit(_validate, data).result()
    assert status.bottom_line and status.coverage.name == "ENTIRE_FILE"

    # anyone, signed in or not, can have the file checked where the QR code leads
    stranger = browser.new_context(locale="zh-TW")
    try:
        check = stranger.new_page()
        check.goto(site.url("/verify"))
        expect(check.get_by_role("heading", level=1)).to_have_text("電子謄本查驗")
        check.get_by_label("PDF 謄本或電子謄本檔（JWS）").set_input_files(str(saved))
        check.get_by_role("button", name="檢查").click()
        expect(check.get_by_role("status")).to_contain_text("簽章有效")
        check.screenshot(path=str(shot_path(request, "-verify")), full_page=True)  # type: ignore[arg-type]
    finally:
        stranger.close()
