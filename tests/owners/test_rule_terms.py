"""The owner sees every term an approval makes active before approving it: the listed
predicate parameter values by their label, the ones beyond the statutory value marked, the
validity dates, consent and preview; a request that widens access unusually carries a warning
next to its approve button (found by an attacker's review: 27 tax years and a validity from
1990 to 2999 were approved from a page that showed neither)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import get_user
from onceonly.db import transaction
from tests.counter.support import Visitor
from tests.web.test_tour_pages import visible_text

Visit = Callable[[str], Visitor]
URL = "/api/v1/access-rules"
STATUTORY_YEAR = 2026
"""The catalog's statutory tax year for the item (application_items.yaml)."""
YEARS = list(range(2000, 2027))
"""27 tax years, as the attacker's request listed them; only 2026 is statutory."""
WIDE: dict[str, Any] = {
    "owner_agency": "taipei-city.tax_office",
    "dataset": "house_tax",
    "application_item": "public-housing-resale",
    "legal_basis": "house-tax-act",
    "requesting_agency": "taipei-city.urban_development",
    "predicates": ["house_tax_paid_for_year"],
    "predicate_params": {"house_tax_paid_for_year": {"year": YEARS}},
    "purpose": "確認國宅本年度房屋稅已繳清",
    "valid_from": "1990-01-01",
    "valid_until": "2999-12-31",
    "preview_required": True,
}


@pytest.fixture
def file_rule(demo_app: FastAPI) -> Iterator[Callable[..., int]]:
    """``file_rule(username, **body)``: the clerk files a rule request through the API (as an
    agency system does, with an API token) and gets its id."""
    client = TestClient(demo_app)

    def file(username: str, **body: Any) -> int:
        with transaction(demo_app.state.sessions) as db:
            user = get_user(db, username)
            assert user is not None
            token, _ = issue_api_token(db, user, "test", 1)
        response = client.post(URL, json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    yield file
    client.close()


def _article(page: str, rule_id: int) -> str:
    found = re.search(rf'<article class="rule (\w+)" id="rule-{rule_id}".*?</article>', page, re.S)
    assert found, f"rule {rule_id} is not on the page"
    return found.group(0)


def _approve_form(article: str, rule_id: int) -> str:
    found = re.search(
        rf'<form[^>]*action="/owners/rules/{rule_id}/approve".*?</form>', article, re.S
    )
    assert found, "no approve form"
    return found.group(0)


def test_the_owner_reads_every_term_and_a_warning_before_approving(
    visit: Visit, file_rule: Callable[..., int]
) -> None:
    rule_id = file_rule("tpe-udd-clerk", **WIDE)
    owner = visit("tpe-tax-owner")
    article = _article(owner.get("/owners/rules").text, rule_id)
    text = visible_text(article)

    # the question and its parameter by their catalog labels, every listed year shown
    assert "該年度房屋稅已繳清" in text and "課稅年度（西元）" in text
    assert "查詢者可從所列 27 個值中自行選用" in text
    statutory = re.search(r'<span class="badge">法定值</span>\s*(\d+)', article)
    assert statutory and statutory.group(1) == str(STATUTORY_YEAR)
    # the 26 years beyond the statutory one are marked as such, each of them
    other = re.search(r'<strong class="warn params-other">(.*?)</strong>', article, re.S)
    assert other and "非法定值（26 個）" in other.group(1)
    marked = re.findall(r"\b(\d{4})\b", other.group(1))
    assert marked == [str(y) for y in YEARS if y != STATUTORY_YEAR]
    # the validity dates, consent and preview, in words
    assert "有效期間" in text and "1990-01-01 至 2999-12-31（1009 年）" in text
    assert "須先由民眾預覽並同意，承辦人員才取得資料" in text
    consent = re.search(r"<dt>民眾同意</dt><dd>(.*?)</dd>", article)
    assert consent and consent.group(1) == "此規則未要求"

    # next to the approve button: a warning naming each widening term, and still approvable
    form = _approve_form(article, rule_id)
    warning = re.search(r'<div class="warn-box rule-warnings".*?</div>', form, re.S)
    assert warning, "no warning next to the approve button"
    said = visible_text(warning.group(0))
    assert "核准前請注意：此申請有 3 項放寬存取的條件" in said
    assert "「該年度房屋稅已繳清」的「課稅年度（西元）」列出 26 個非法定值（法定值為 2026）" in said
    assert "有效期間 1990-01-01 至 2999-12-31，長達 1009 年，超過 5 年。" in said
    assert "生效日 1990-01-01 早於提出申請的" in said and "（回溯生效）" in said
    assert f'aria-describedby="rule-{rule_id}-warnings"' in form
    assert f"核准 R-{rule_id}</button>" in form

    approved = owner.post(f"/owners/rules/{rule_id}/approve", {"reason": ""})
    assert approved.status_code == 200 and "規則已核准" in approved.text
    kept = _article(approved.text, rule_id)
    assert kept.startswith('<article class="rule approved"')
    assert "此規則有 3 項放寬存取的條件" in visible_text(kept), "shown again for review"
    assert "非法定值（26 個）" in visible_text(kept)


def test_the_english_page_says_the_terms_in_english(
    visit: Visit, file_rule: Callable[..., int]
) -> None:
    rule_id = file_rule("tpe-udd-clerk", **WIDE)
    article = _article(visit("tpe-tax-owner").get("/owners/rules?lang=en").text, rule_id)
    text = visible_text(article)
    assert "House tax paid for the year" in text and "Tax year" in text
    assert "The requester may choose any of the 27 values listed" in text
    assert re.search(r'<span class="badge">Statutory value</span>\s*2026', article)
    assert "Not the statutory value (26)" in text
    assert "1990-01-01 to 2999-12-31 (1009 years)" in text
    assert "Required: the citizen sees the evidence and approves it" in text
    said = visible_text(_approve_form(article, rule_id))
    assert "Before you approve: this request widens access in 3 ways" in said
    assert "lists 26 values of “Tax year” other than the statutory 2026" in said
    assert "1009 years, more than 5 years." in said
    assert "(backdated)" in said
    assert not re.search(r"[\u4e00-\u9fff]", visible_text(_approve_form(article, rule_id)))


def test_an_ordinary_request_reads_plainly_and_carries_no_warning(
    visit: Visit, file_rule: Callable[..., int]
) -> None:
    """What the item needs, the statutory year, no end date: said in words, no warning (a
    warning on every rule would be read on none)."""
    plain = {k: v for k, v in WIDE.items() if k not in ("valid_from", "valid_until")}
    rule_id = file_rule("tpe-udd-clerk", **plain | {"predicate_params": {}})
    article = _article(visit("tpe-tax-owner").get("/owners/rules").text, rule_id)
    text = visible_text(article)
    assert re.search(r"課稅年度（西元）[^<]*<small.*?</small>：只使用本申請項目的法定值", article)
    assert re.search(r'<span class="badge">法定值</span>\s*2026', article)
    assert re.search(r"自 \d{4}-\d{2}-\d{2} 起，無結束日期（至撤銷為止）", text)
    assert "warn-box" not in article and "params-other" not in article


def test_fields_beyond_what_the_item_needs_are_warned_of(
    visit: Visit, file_rule: Callable[..., int]
) -> None:
    """The item asks only whether the tax is paid; a request for the tax records' fields
    (the owner's name and ID among them) is more than it needs."""
    rule_id = file_rule(
        "tpe-udd-clerk",
        **WIDE | {"predicate_params": {}, "fields": ["owner_national_id", "houses"]},
    )
    article = _article(visit("tpe-tax-owner").get("/owners/rules").text, rule_id)
    fields = re.search(r"<dt>可提供的欄位</dt><dd>(.*?)</dd>", article)
    assert fields and visible_text(fields.group(1)) == "房屋稅籍\n、納稅義務人身分證統一編號"
    said = visible_text(_approve_form(article, rule_id))
    assert "申請的欄位超出本申請項目所需：房屋稅籍、納稅義務人身分證統一編號。" in said
