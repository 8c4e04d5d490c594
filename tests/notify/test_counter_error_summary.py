"""The tell-us-once form's error summary names each wrong field by the label the form shows,
with what is wrong, and links to it; in both languages, and all at once (a bad contact does
not hide the event's own problems until the next try)."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from tests.notify.test_counter_pages import _csrf, clerk  # noqa: F401  (the fixture)

EXPECTED = {
    "en": [
        ("f-national_id", "The person's national ID: checksum digit should be 9"),
        ("f-moved_out_on", "Date of moving out: month must be 1-12, got 13"),
        ("f-old_address", "Old address (as registered): This field is required"),
        ("f-to_jurisdiction", "Moving to (city or county): This field is required"),
        ("f-contact_mobile", 'Mobile number (optional, for text messages): "12" is not'),
    ],
    "zh-TW": [
        ("f-national_id", "當事人身分證統一編號：檢查碼錯誤"),
        ("f-moved_out_on", "遷出日期：月份應為 1-12，不是 13"),
        ("f-old_address", "原住址（須與戶籍登記相同）：必填欄位"),
        ("f-to_jurisdiction", "遷往縣市：必填欄位"),
        ("f-contact_mobile", "手機號碼（選填，用於簡訊通知）：「12」不是有效的手機號碼"),
    ],
}
"""Each line of the summary: where it leads and how it begins, in the form's order."""


def _summary(page: str) -> list[tuple[str, str]]:
    """The summary's lines as a reader meets them: (link target, words)."""
    box = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    return [
        (target, html.unescape(words))
        for target, words in re.findall(r'<li><a href="#([^"]+)">([^<]*)</a></li>', box)
    ]


def test_the_summary_names_each_wrong_field_with_its_error(clerk: TestClient) -> None:  # noqa: F811
    for lang, expected in EXPECTED.items():
        form = clerk.get(f"/counter/tell-us-once?kind=move_out&lang={lang}")
        body = {
            "csrf_token": _csrf(form.text),
            "kind": "move_out",
            "national_id": "A123456788",
            "moved_out_on": "2024-13-01",
            "contact_mobile": "12",
        }
        page = clerk.post(f"/counter/tell-us-once/preview?lang={lang}", data=body)
        assert page.status_code == 422
        lines = _summary(page.text)
        shown = dict(lines)
        for target, start in expected:
            assert shown.get(target, "").startswith(start), (lang, target, shown.get(target))
        assert [target for target, _ in lines] == [target for target, _ in expected], lang
        for target, _ in lines:  # each link leads to the field it names
            assert f'id="{target}"' in page.text, target
