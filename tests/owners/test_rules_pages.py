"""The data owner's rules page: decisions made there take effect on the very next evidence
request, reasons are required where the issue says so, and usage is counted."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.conftest import DemoEnv
from tests.counter.support import Visitor

Visit = Callable[[str], Visitor]
ITEM = "public-housing-low-income"


def _fetched_case(clerk: Visitor, subject: str) -> tuple[str, str]:
    # A second case of the item for the citizen is meant here: confirm the counter's warning.
    number = clerk.case_number(clerk.open_case(ITEM, subject, confirmed="open_case"))
    return number, clerk.post(f"/counter/cases/{number}/evidence").text


def _rule_id(page: str, requester: str, item_name: str, status: str = "approved") -> int:
    """The id of the rule (by default approved) shown for ``requester`` and ``item_name``:
    the demo has a request of its own pending on this page besides any a test files."""
    for article in re.findall(rf'<article class="rule {status}".*?</article>', page, re.S):
        if requester in article and item_name in article:
            found = re.search(r'id="rule-(\d+)"', article)
            assert found
            return int(found.group(1))
    raise AssertionError(f"no {status} rule for {requester} / {item_name}")


def test_revoking_on_the_page_refuses_the_next_request(visit: Visit, demo_env: DemoEnv) -> None:
    owner = visit("tpe-social-owner")
    page = owner.get("/owners/rules")
    assert page.status_code == 200
    rule_id = _rule_id(page.text, "臺北市政府都市發展局", "低收入戶申請等候承租國宅")

    missing_reason = owner.post(f"/owners/rules/{rule_id}/revoke", {"reason": " "})
    assert missing_reason.status_code == 422
    assert f'id="f-revoke-{rule_id}-reason-error"' in missing_reason.text

    revoked = owner.post(f"/owners/rules/{rule_id}/revoke", {"reason": "稽核發現用途不符"})
    assert revoked.status_code == 200 and "規則已撤銷" in revoked.text

    clerk = visit("tpe-udd-clerk")
    _, case_page = _fetched_case(clerk, demo_env.sample("low_income_applicant"))
    welfare = case_page.split('id="ev-is_low_income_household"', 1)[1].split("</article>", 1)[0]
    assert "未獲授權" in welfare and "稽核發現用途不符" in welfare
    assert "臺北市政府社會局 尚未核准本機關" in welfare


def test_a_request_approved_on_the_page_lets_the_next_fetch_through(
    visit: Visit, demo_env: DemoEnv
) -> None:
    # a land office, which owns the buildings the item asks about: no rule of its own asks for
    # consent to welfare data (the labour department's rules do, and consent follows the
    # dataset whatever item is named)
    clerk = visit("tpe-land-clerk")
    number, page = _fetched_case(clerk, demo_env.sample("low_income_applicant"))
    assert "向 臺北市政府社會局 申請存取規則" in page
    asked = clerk.post(
        f"/counter/cases/{number}/rule-request", {"evidence_type": "is_low_income_household"}
    )
    assert asked.status_code == 200 and "正等待核准" in asked.text
    again = clerk.post(
        f"/counter/cases/{number}/rule-request", {"evidence_type": "is_low_income_household"}
    )
    assert again.status_code == 409

    owner = visit("tpe-social-owner")
    rule_id = _rule_id(
        owner.get("/owners/rules").text, "臺北市各地政事務所", "低收入戶申請等候承租國宅", "pending"
    )

    no_reason = owner.post(f"/owners/rules/{rule_id}/reject", {"reason": ""})
    assert (
        no_reason.status_code == 422 and f'id="f-reject-{rule_id}-reason-error"' in no_reason.text
    )
    approved = owner.post(f"/owners/rules/{rule_id}/approve", {"reason": ""})
    assert approved.status_code == 200 and "規則已核准" in approved.text
    assert owner.post(f"/owners/rules/{rule_id}/approve").status_code == 409

    page = clerk.post(f"/counter/cases/{number}/evidence").text
    welfare = page.split('id="ev-is_low_income_household"', 1)[1].split("</article>", 1)[0]
    assert "已線上取得" in welfare and "數位簽章：有效" in welfare


def test_rejecting_with_a_reason_is_what_the_clerk_reads(visit: Visit, demo_env: DemoEnv) -> None:
    clerk = visit("tpe-land-clerk")
    number, _ = _fetched_case(clerk, demo_env.sample("low_income_applicant"))
    clerk.post(
        f"/counter/cases/{number}/rule-request", {"evidence_type": "is_low_income_household"}
    )
    owner = visit("tpe-social-owner")
    rule_id = _rule_id(
        owner.get("/owners/rules").text, "臺北市各地政事務所", "低收入戶申請等候承租國宅", "pending"
    )
    rejected = owner.post(f"/owners/rules/{rule_id}/reject", {"reason": "非社會救助目的"})
    assert rejected.status_code == 200 and "申請已駁回" in rejected.text
    page = clerk.post(f"/counter/cases/{number}/evidence").text
    assert "非社會救助目的" in page


def test_usage_is_counted_per_requesting_agency_and_item(visit: Visit, demo_env: DemoEnv) -> None:
    clerk = visit("tpe-udd-clerk")
    for _ in range(2):
        _fetched_case(clerk, demo_env.sample("low_income_applicant"))
    page = visit("tpe-social-owner").get("/owners/rules").text
    rule_id = _rule_id(page, "臺北市政府都市發展局", "低收入戶申請等候承租國宅")
    article = page.split(f'id="rule-{rule_id}"', 1)[1].split("</article>", 1)[0]
    row = re.search(
        r"<tr><td[^>]*>臺北市政府都市發展局</td><td[^>]*>低收入戶申請等候承租國宅</td><td[^>]*>(\d+)</td>",
        article,
    )
    assert row and row.group(1) == "2"


def test_only_owners_see_the_page_and_only_their_rules(visit: Visit) -> None:
    assert visit("tpe-udd-clerk").get("/owners/rules").status_code == 403
    social = visit("tpe-social-owner").get("/owners/rules").text
    headings = re.findall(r'<h3 id="rule-\d+-title">(.*?)</h3>', social)
    assert headings and all("社會福利身分資料" in h for h in headings)
    other_rule = re.search(r'id="rule-(\d+)"', visit("fia-owner").get("/owners/rules").text)
    assert other_rule
    foreign = visit("tpe-social-owner").post(
        f"/owners/rules/{other_rule.group(1)}/revoke", {"reason": "不是我的"}
    )
    assert foreign.status_code == 404, "a rule of another tenant (here: central) is not found"
