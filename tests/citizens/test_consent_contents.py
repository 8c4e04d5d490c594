"""A consent request says what it would fetch, as the EU once-only system's preview does:
which agency's data and which fields (or the one yes/no question), under which law and for
what; on the citizen's consent page and in the message the counter sends to ask."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy import select

from onceonly.cases.models import Notification
from onceonly.catalog import service as catalog
from tests.citizens.conftest import CONSENT_ITEM, LABOUR_CLERK, Portal
from tests.counter.support import Visitor


def _expected(app: FastAPI, lang: str) -> list[str]:
    """The words the request must show, read from the catalog the item names."""
    english = lang == "en"
    with app.state.sessions() as db:
        item = catalog.get_application_item(db, CONSENT_ITEM)
        assert item is not None
        words = []
        for requirement in item.required_evidence:
            dataset = catalog.get_dataset(db, requirement.dataset)
            assert dataset is not None
            words.append(dataset.name_en if english else dataset.name_zh)
            words.append(
                requirement.legal_basis_citation_en
                if english
                else requirement.legal_basis_citation_zh
            )
            for name in requirement.fields:
                spec = dataset.field(name)
                assert spec is not None
                words.append(spec.label_en if english else spec.label_zh)
        return words


def test_the_consent_page_says_what_would_be_fetched_and_under_which_law(
    portal: Portal,
) -> None:
    refused = portal.ask(LABOUR_CLERK, CONSENT_ITEM, "TPE-LAB-115-000042")
    assert refused.status_code == 403
    portal.sign_in()
    for lang, question in (
        ("zh-TW", "只問一個是非題，不取得其他資料：為低收入戶？"),
        ("en", "Is a low-income household?"),
    ):
        page = portal.client.get(f"/me/consents?lang={lang}", headers={"Accept": "text/html"}).text
        asks = page.split('id="asks-title"', 1)[1].split('id="grant-title"', 1)[0]
        for words in _expected(portal.app, lang):
            assert words in asks, (lang, words)
        assert question in asks
        assert "臺北市政府社會局" in asks or "Taipei City Department of Social Welfare" in asks
        assert "welfare_status" not in asks and "employment-allowance-rules" not in asks


def test_the_message_the_counter_sends_says_the_same(portal: Portal) -> None:
    clerk = Visitor(portal.staff).sign_in(LABOUR_CLERK)
    opened = clerk.open_case(CONSENT_ITEM, portal.nid, contact_email="citizen@example.test")
    assert opened.status_code == 200, opened.text[:2000]
    number = clerk.case_number(opened)
    page = clerk.post(f"/counter/cases/{number}/evidence").text
    assert "寄給民眾同意請求" in page
    sent = clerk.post(f"/counter/cases/{number}/consent-request")
    assert sent.status_code == 200 and "已寄出同意請求" in sent.text
    with portal.app.state.sessions() as db:
        [message] = db.scalars(
            select(Notification).where(Notification.event == "consent_requested")
        ).all()
    assert message.recipient == "citizen@example.test"
    for words in _expected(portal.app, "zh-TW"):
        assert words in message.body, words
    assert "只問一個是非題，不取得其他資料：為低收入戶？" in message.body
    assert number in message.subject
    assert re.search(r"法律依據：", message.body)
    # The timeline keeps what was sent.
    assert "寄給民眾同意請求，列出要調閱的資料與法律依據" in sent.text


def test_no_request_is_sent_when_nothing_waits_for_consent(portal: Portal) -> None:
    clerk = Visitor(portal.staff).sign_in(LABOUR_CLERK)
    number = clerk.case_number(
        clerk.open_case(CONSENT_ITEM, portal.nid, contact_email="citizen@example.test")
    )
    refused = clerk.post(f"/counter/cases/{number}/consent-request")
    assert refused.status_code == 422 and "沒有需要民眾同意的證明資料" in refused.text
