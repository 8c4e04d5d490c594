"""Citizen updates: e-mail through a real SMTP server, SMS to the outbox, failures retried."""

from __future__ import annotations

import email
from collections.abc import Callable
from email.policy import default as default_policy

from sqlalchemy.orm import Session, sessionmaker

from onceonly.cases import notifications, service
from onceonly.cases.notifications import deliver_pending, retry_failed_notifications
from onceonly.config import Settings
from onceonly.db import transaction
from onceonly.demo.ports import free_port
from tests.cases.conftest import ITEM, ITEM_NAME, SUBJECT, T0, UDD, MailBox, all_issued


def _open(sessions: sessionmaker[Session], **contact: str) -> str:
    with transaction(sessions) as db:
        return service.open_case(
            db, UDD, application_item=ITEM, subject=SUBJECT, now=T0, **contact
        ).number


def test_the_citizen_gets_a_chinese_email_when_the_case_is_opened(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: Callable[[int], MailBox]
) -> None:
    port = free_port()
    box = smtp_server(port)
    mail_settings = settings.model_copy(update={"smtp_port": port})
    number = _open(sessions, contact_email="chen@example.tw")
    report = deliver_pending(sessions, mail_settings, case_number=number)
    assert len(report.sent) == 1 and report.failed == []
    [(recipients, raw)] = box.messages
    assert recipients == ["chen@example.tw"]
    message = email.message_from_bytes(raw, policy=default_policy)
    assert message["Subject"] == f"【案件收件通知】案號 {number}"
    assert message["From"] == settings.smtp_from
    body = message.get_content()
    assert ITEM_NAME in body and number in body and "臺北市政府都市發展局" in body
    with sessions() as db:
        [sent] = notifications.list_notifications(db)
        assert (sent.status, sent.attempts, sent.channel) == ("sent", 1, "email")
        last = service.timeline(db, UDD, number)[-1]
    assert last.kind == "notification_sent" and last.actor == "system"
    assert deliver_pending(sessions, mail_settings).sent == []


def test_every_state_change_is_told_in_the_citizens_language(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: Callable[[int], MailBox]
) -> None:
    port = free_port()
    box = smtp_server(port)
    mail_settings = settings.model_copy(update={"smtp_port": port})
    with transaction(sessions) as db:
        number = service.open_case(
            db,
            UDD,
            application_item=ITEM,
            subject=SUBJECT,
            contact_email="a@example.tw",
            contact_language="en",
        ).number
        service.record_evidence(db, UDD, number, all_issued(number))
        service.decide_case(db, UDD, number, "rejected", "income above the threshold")
        service.close_case(db, UDD, number)
    deliver_pending(sessions, mail_settings)
    subjects = [
        email.message_from_bytes(raw, policy=default_policy)["Subject"] for _, raw in box.messages
    ]
    assert subjects == [
        f"[Case received] Case {number}",
        f"[Gathering evidence] Case {number}",
        f"[Decision] Case {number}: rejected",
        f"[Case closed] Case {number}",
    ]
    decided = email.message_from_bytes(box.messages[2][1], policy=default_policy)
    assert "income above the threshold" in decided.get_content()


def test_sms_goes_to_the_outbox_administrators_read(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    number = _open(sessions, contact_mobile="0912-345-678")
    report = deliver_pending(sessions, settings)
    assert len(report.sent) == 1
    with sessions() as db:
        [row] = notifications.list_sms_outbox(db)
    assert row.to == "0912345678"
    assert number in row.text and ITEM_NAME in row.text


def test_a_mail_server_that_is_down_loses_nothing_and_retry_delivers(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: Callable[[int], MailBox]
) -> None:
    port = free_port()
    mail_settings = settings.model_copy(update={"smtp_port": port})
    number = _open(sessions, contact_email="lin@example.tw")
    report = deliver_pending(sessions, mail_settings)
    assert report.sent == [] and len(report.failed) == 1
    with sessions() as db:
        assert service.get_case(db, UDD, number).state == "open"
        [failed] = notifications.list_notifications(db, status="failed")
        assert "Connection" in (failed.last_error or "") or "refused" in (failed.last_error or "")
        last = service.timeline(db, UDD, number)[-1]
    assert last.kind == "notification_failed" and last.details["error"]

    box = smtp_server(port)
    again = retry_failed_notifications(sessions, mail_settings)
    assert again.sent == report.failed and again.failed == []
    assert [recipients for recipients, _ in box.messages] == [["lin@example.tw"]]
    with sessions() as db:
        [sent] = notifications.list_notifications(db)
        assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)
        kinds = [e.kind for e in service.timeline(db, UDD, number)]
    assert kinds == ["opened", "notification_failed", "notification_sent"]
    assert retry_failed_notifications(sessions, mail_settings).sent == []


def test_a_failing_sms_provider_is_recorded_and_retried(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.sent: list[tuple[str, str]] = []
            self.up = False

        def send(self, to: str, text: str) -> None:
            if not self.up:
                raise RuntimeError("gateway timeout")
            self.sent.append((to, text))

    provider = Flaky()
    number = _open(sessions, contact_mobile="0987654321")
    assert len(deliver_pending(sessions, settings, provider).failed) == 1
    provider.up = True
    assert len(retry_failed_notifications(sessions, settings, provider).sent) == 1
    assert provider.sent[0][0] == "0987654321" and number in provider.sent[0][1]


def test_a_citizen_without_contact_details_gets_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _open(sessions)
    assert deliver_pending(sessions, settings).sent == []
    with sessions() as db:
        assert notifications.list_notifications(db) == []
