"""Where a case's messages go is on the record, seen by the citizen, and told to the contact
they registered themselves (:mod:`onceonly.cases.contacts`).

A clerk types the e-mail address or mobile number a case's messages go to (the decision with
its reason among them). Each address set is an audit entry about the citizen that their page
of who handled their data says in words, masked; each message that left is one too; and when
the citizen registered a contact with tell-us-once that the case's address is not, that
contact is told. The typed address still gets every message.
"""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.policy import default as default_policy
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.sessions import create_session
from onceonly.accounts.users import get_user
from onceonly.audit.models import AuditEntry
from onceonly.cases import notifications
from onceonly.citizens.accesses import AccessFilter, list_accesses
from onceonly.citizens.accounts import ensure_citizen
from onceonly.db import transaction
from onceonly.demo.ports import free_port
from onceonly.domain.contacts import mask_email, mask_mobile
from onceonly.i18n import t
from onceonly.notify.events import report_change
from onceonly.web.app import create_app
from tests.cases.conftest import MailBox
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

ITEM = "public-housing-low-income"
CLERK = "tpe-udd-clerk"
TYPED = "someone.else@elsewhere.example"
TYPED_MASKED = "s***@elsewhere.example"
OWN_EMAIL = "citizen@home.example"
OWN_MOBILE = "0911222333"


@dataclass
class Counter:
    """The demo app with its mail going to a real SMTP server, the sample citizen, a clerk."""

    app: FastAPI
    client: TestClient
    box: MailBox
    nid: str
    clerk: dict[str, str]

    def register_contact(self, **payload: str) -> None:
        """The citizen's own tell-us-once report of their contact details."""
        with transaction(self.app.state.sessions) as db:
            report_change(db, self.nid, "contact_details", payload)

    def open(self, **contact: str) -> str:
        body = {"application_item": ITEM, "subject": self.nid, **contact}
        response = self.client.post("/api/v1/cases", json=body, headers=self.clerk)
        assert response.status_code == 201, response.text
        return str(response.json()["number"])

    def decide(self, number: str, reason: str) -> None:
        fetched = self.client.post(f"/api/v1/cases/{number}/evidence", json={}, headers=self.clerk)
        assert fetched.status_code == 200, fetched.text
        decided = self.client.post(
            f"/api/v1/cases/{number}/decide",
            json={"decision": "rejected", "reason": reason},
            headers=self.clerk,
        )
        assert decided.status_code == 200, decided.text

    def mails(self) -> list[tuple[str, str, str]]:
        """(recipient, subject, body) of every message the SMTP server received."""
        found = []
        for recipients, raw in self.box.messages:
            message = email.message_from_bytes(raw, policy=default_policy)
            for to in recipients:
                found.append((to, str(message["Subject"]), str(message.get_content())))
        return found

    def texts(self) -> list[tuple[str, str]]:
        with self.app.state.sessions() as db:
            return [(r.to, r.text) for r in notifications.list_sms_outbox(db)]

    def citizen(self) -> dict[str, str]:
        with transaction(self.app.state.sessions) as db:
            signed_in = create_session(db, ensure_citizen(db, self.nid, "王小明").id, 60)
        return {"Cookie": f"onceonly_session={signed_in.token}"}

    def entries(self, event: str) -> list[AuditEntry]:
        with self.app.state.sessions() as db:
            query = select(AuditEntry).where(
                AuditEntry.subject == self.nid, AuditEntry.event == event
            )
            return list(db.scalars(query.order_by(AuditEntry.seq)))

    def shown(self, event: str, lang: str = "en") -> list[Any]:
        """The entries of ``event`` as the citizen's "who looked" list describes them."""
        with self.app.state.sessions() as db:
            found, _ = list_accesses(db, self.nid, AccessFilter(), lang)
        return [a for a in found if a.event == event]


@pytest.fixture
def counter(demo_env: DemoEnv, smtp_server: Callable[[int], MailBox]) -> Iterator[Counter]:
    port = free_port()
    box = smtp_server(port)
    app = create_app(demo_env.settings.model_copy(update={"smtp_port": port}))
    client = TestClient(app, raise_server_exceptions=False)
    with transaction(app.state.sessions) as db:
        user = get_user(db, CLERK)
        assert user is not None
        token, _ = issue_api_token(db, user, "test", 1)
    yield Counter(
        app,
        client,
        box,
        demo_env.sample("low_income_applicant"),
        {"Authorization": f"Bearer {token}"},
    )
    client.close()
    exchange = getattr(app.state, "exchange", None)
    if exchange is not None:
        exchange.close()
    app.state.engine.dispose()


def test_masks_keep_enough_to_recognise() -> None:
    assert mask_email(TYPED) == TYPED_MASKED
    assert mask_email("x@y.tw") == "x***@y.tw"
    assert mask_email("no-at-sign") == "***"
    assert mask_mobile("0912345678") == "0912***678"
    assert mask_mobile("12") == "***"


def test_a_typed_address_is_audited_and_the_citizen_reads_it_masked_on_me(
    counter: Counter,
) -> None:
    counter.register_contact(email=OWN_EMAIL)
    number = counter.open(contact_email=TYPED)

    [entry] = counter.entries("case.contact_set")
    assert (entry.case_id, entry.actor_username, entry.actor_agency) == (
        number,
        CLERK,
        "taipei-city.urban_development",
    )
    assert entry.actor_badge, "the clerk is named by badge to the citizen"
    assert entry.details["channel"] == "email"
    assert entry.details["recipient"] == TYPED_MASKED
    assert entry.details["registered"] == "other"

    [shown] = counter.shown("case.contact_set")
    assert shown.event_text == t("citizens.event.case.contact_set", "en")
    assert shown.event_text != t("citizens.event.other", "en"), "said in words"
    assert TYPED_MASKED in shown.reason and number in shown.reason
    assert shown.badge == entry.actor_badge

    citizen = counter.citizen()
    page = counter.client.get("/me", headers=citizen)
    assert page.status_code == 200
    assert t("citizens.event.case.contact_set", "zh-TW") in page.text
    assert t("citizens.event.case.notice_sent", "zh-TW") in page.text
    assert t("citizens.me.sent_automatically", "zh-TW") in page.text
    assert TYPED_MASKED in page.text
    english = counter.client.get("/me?lang=en", headers=citizen).text
    assert t("citizens.event.case.contact_set", "en") in english
    exported = counter.client.get("/api/v1/me/accesses", headers=citizen).text
    assert TYPED_MASKED in exported
    for shown_text in (page.text, english, exported):
        assert TYPED not in shown_text, "the full address is never shown"
    with counter.app.state.sessions() as db:
        stored = [e.details for e in db.scalars(select(AuditEntry))]
    assert TYPED not in repr(stored), "nor written to the audit log"


def test_each_message_that_left_is_on_the_citizens_page(counter: Counter) -> None:
    number = counter.open(contact_email=TYPED)
    counter.decide(number, "家庭年收入超過門檻")
    sent_to_typed = [m for m in counter.mails() if m[0] == TYPED]
    sent = counter.entries("case.notice_sent")
    assert len(sent) == len(sent_to_typed) == 3  # opened, gathering, decided
    assert [e.details["notice"] for e in sent] == ["opened", "gathering", "decided"]
    assert {e.details["recipient"] for e in sent} == {TYPED_MASKED}
    assert {e.case_id for e in sent} == {number}

    shown = counter.shown("case.notice_sent", "zh-TW")
    assert {a.event_text for a in shown} == {t("citizens.event.case.notice_sent", "zh-TW")}
    decided = t("cases.notice_name.decided", "zh-TW")
    assert any(decided in a.reason and TYPED_MASKED in a.reason for a in shown)


def test_the_registered_contact_is_told_when_the_case_goes_elsewhere(counter: Counter) -> None:
    counter.register_contact(email=OWN_EMAIL, phone=OWN_MOBILE)
    number = counter.open(contact_email=TYPED)
    counter.decide(number, "家庭年收入超過門檻")

    own = [m for m in counter.mails() if m[0] == OWN_EMAIL]
    [(_, subject, body)] = own
    assert subject == f"【案件通知收件地址】案號 {number}"
    assert TYPED_MASKED in body and "臺北市政府都市發展局" in body
    assert TYPED not in body and "家庭年收入" not in body, "a warning, not the decision"
    [(to, text)] = counter.texts()
    assert to == OWN_MOBILE and number in text and TYPED_MASKED in text

    # the typed address still gets every message, the decision as it was
    typed = [m for m in counter.mails() if m[0] == TYPED]
    assert [s for _, s, _ in typed] == [
        f"【案件收件通知】案號 {number}",
        f"【資料調閱中】案號 {number}",
        f"【案件審核結果】案號 {number}：駁回",
    ]
    assert "理由：家庭年收入超過門檻" in typed[2][2]

    # the warnings that left are on the citizen's page too
    notices = [e.details["notice"] for e in counter.entries("case.notice_sent")]
    assert notices.count("contact_elsewhere") == 2


def test_a_typed_mobile_number_elsewhere_is_told_to_the_registered_one(
    counter: Counter,
) -> None:
    counter.register_contact(phone=OWN_MOBILE)
    number = counter.open(contact_mobile="0987-654-321")
    texts = dict(counter.texts())
    assert set(texts) == {OWN_MOBILE, "0987654321"}
    assert "0987***321" in texts[OWN_MOBILE] and number in texts[OWN_MOBILE]
    [entry] = counter.entries("case.contact_set")
    assert (entry.details["channel"], entry.details["recipient"]) == ("sms", "0987***321")


def test_nothing_extra_when_the_typed_address_is_the_registered_one(counter: Counter) -> None:
    counter.register_contact(email=OWN_EMAIL, phone=OWN_MOBILE)
    number = counter.open(contact_email=OWN_EMAIL.upper(), contact_mobile=OWN_MOBILE)
    assert [(to, s) for to, s, _ in counter.mails()] == [
        (OWN_EMAIL.upper(), f"【案件收件通知】案號 {number}")
    ]
    assert [to for to, _ in counter.texts()] == [OWN_MOBILE]
    entries = counter.entries("case.contact_set")
    assert [(e.details["channel"], e.details["registered"]) for e in entries] == [
        ("email", "own"),
        ("sms", "own"),
    ]
    assert t("cases.audit.contact_set.own", "en") in counter.shown("case.contact_set")[0].reason


def test_nothing_extra_when_the_citizen_registered_no_contact(counter: Counter) -> None:
    number = counter.open(contact_email=TYPED)
    assert [(to, s) for to, s, _ in counter.mails()] == [(TYPED, f"【案件收件通知】案號 {number}")]
    assert counter.texts() == []
    [entry] = counter.entries("case.contact_set")
    assert entry.details["registered"] == "none"


def test_the_counter_form_is_audited_and_told_alike(counter: Counter) -> None:
    counter.register_contact(email=OWN_EMAIL)
    with TestClient(counter.app) as browser:
        clerk = Visitor(browser).sign_in(CLERK)
        opened = clerk.open_case(ITEM, counter.nid, contact_email=TYPED)
    assert opened.status_code == 200, opened.text[:500]
    number = Visitor.case_number(opened)
    [entry] = counter.entries("case.contact_set")
    assert (entry.case_id, entry.actor_username) == (number, CLERK)
    assert [s for to, s, _ in counter.mails() if to == OWN_EMAIL] == [
        f"【案件通知收件地址】案號 {number}"
    ]


def test_a_case_with_no_contact_writes_nothing(counter: Counter) -> None:
    counter.register_contact(email=OWN_EMAIL)
    counter.open()
    assert counter.entries("case.contact_set") == []
    assert counter.mails() == [] and counter.texts() == []
