"""What citizens were sent where nothing really leaves, for a tenant's administrator: the
mail sink (``Settings.mail_sink_dir``, a real SMTP server: the demo's) at ``/admin/mail`` and
the SMS outbox at ``/admin/sms`` and in the API. A case's messages and a tell-us-once notice
both count as the tenant's; another tenant's administrator and the platform's operator see
none of them. The API shows the tenant's administrator what the CLI lists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onceonly.accounts import users as accounts
from onceonly.cases import notifications, service
from onceonly.cases.notifications import deliver_pending
from onceonly.config import Settings
from onceonly.db import transaction, utcnow
from onceonly.demo import mail_sink
from onceonly.demo.ports import free_port
from onceonly.notify.models import LifeEvent, Notice
from onceonly.notify.notices import send_notices
from onceonly.web.app import create_app
from tests.cases.conftest import ITEM, SUBJECT, UDD
from tests.conftest import DemoEnv
from tests.web.conftest import bearer_for

TENANT_ADMIN = "tpe-city-admin"
"""The demo's administrator of 臺北市 (the platform's ``admin`` reads no citizen's messages)."""
HTML = {"Accept": "text/html"}


@dataclass
class Sent:
    app: FastAPI
    client: TestClient
    sink: Path
    case_number: str
    notice_sms: str
    notice_subject: str

    def page(self, path: str, username: str) -> str:
        answer = self.client.get(path, headers=bearer_for(self.app, username) | HTML)
        assert answer.status_code == 200, answer.text
        return answer.text


def _notice(app: FastAPI, national_id: str) -> tuple[str, str]:
    """A tell-us-once notice (SMS and e-mail) about an event of 臺北市, as the notify worker
    writes it; its SMS text and its e-mail's subject."""
    event_id = str(uuid.uuid4())
    text, subject = "【通報完成】各機關已處理您的死亡登記通報。", "【通報完成】死亡登記"
    with transaction(app.state.sessions) as db:
        db.add(
            LifeEvent(
                id=event_id,
                national_id=national_id,
                seq=1,
                kind="death",
                source="household_registration",
                jurisdiction="taipei-city",
                occurred_at=utcnow(),
                payload={},
            )
        )
        db.flush()
        for channel, to, body in (("sms", "0912345678", text), ("email", "kin@example.tw", "…")):
            db.add(
                Notice(
                    event_id=event_id,
                    kind="all_processed",
                    channel=channel,
                    recipient=to,
                    subject=subject,
                    body=body,
                    status="pending",
                    attempts=0,
                    created_at=utcnow(),
                )
            )
    return text, subject


@pytest.fixture
def sent(demo_env: DemoEnv, tmp_path: Path) -> Iterator[Sent]:
    """A case of 臺北市 and a tell-us-once notice, each told by e-mail and SMS, the e-mail
    sent over SMTP to a running mail sink."""
    port = free_port()
    settings: Settings = demo_env.settings.model_copy(
        update={"smtp_port": port, "mail_sink_dir": tmp_path / "mail"}
    )
    sink = mail_sink.start(tmp_path / "mail", port)
    app = create_app(settings)
    try:
        with transaction(app.state.sessions) as db:
            number = service.open_case(
                db, UDD, application_item=ITEM, subject=SUBJECT,
                contact_email="chen@example.tw", contact_mobile="0987654321",
            ).number  # fmt: skip
            accounts.create_user(
                db, "khh-city-admin", None, "admin", "kaohsiung-city.civil_affairs", "管理"
            )
        text, subject = _notice(app, demo_env.manifest.sample("taipei_home_owner").national_id)
        report = deliver_pending(app.state.sessions, settings, case_number=number)
        assert len(report.sent) == 2 and report.failed == [], "an e-mail and an SMS"
        assert send_notices(app.state.sessions, settings).failed == []
        with TestClient(app) as client:
            yield Sent(app, client, tmp_path / "mail", number, text, subject)
    finally:
        sink.close()
        app.state.engine.dispose()


def test_mail_sent_over_smtp_is_caught_and_shown_to_the_tenants_administrator(
    sent: Sent,
) -> None:
    caught = list((sent.sink / "new").iterdir())
    assert len(caught) == 2, "the case's e-mail and the notice's, through the SMTP server"
    page = sent.page("/admin/mail", TENANT_ADMIN)
    assert f"案號 {sent.case_number}" in page and "chen@example.tw" in page
    assert sent.notice_subject in page and "kin@example.tw" in page
    assert "臺北時間" in page
    for outsider in ("khh-city-admin", "admin"):
        other = sent.page("/admin/mail", outsider)
        assert "chen@example.tw" not in other and "kin@example.tw" not in other, outsider
    assert "平臺維運管理者" in sent.page("/admin/mail", "admin")


def test_the_sms_page_and_api_show_the_tenants_administrator_what_the_cli_lists(
    sent: Sent,
) -> None:
    with sent.app.state.sessions() as db:
        listed = notifications.list_sms_outbox(db)  # what `onceonly cases sms-outbox` prints
    assert len(listed) == 2
    api = sent.client.get("/api/v1/admin/sms-outbox", headers=bearer_for(sent.app, TENANT_ADMIN))
    assert [m["id"] for m in api.json()] == [m.id for m in listed]
    page = sent.page("/admin/sms", TENANT_ADMIN)
    assert sent.notice_sms in page and "0912345678" in page and "0987654321" in page
    assert sent.case_number in page
    for outsider in ("khh-city-admin", "admin"):
        headers = bearer_for(sent.app, outsider)
        assert sent.client.get("/api/v1/admin/sms-outbox", headers=headers).json() == []
        assert "0912345678" not in sent.page("/admin/sms", outsider), outsider


def test_without_a_mail_sink_the_page_says_mail_really_leaves(demo_env: DemoEnv) -> None:
    app = create_app(demo_env.settings)
    with TestClient(app) as client:
        page = client.get("/admin/mail", headers=bearer_for(app, TENANT_ADMIN) | HTML)
    app.state.engine.dispose()
    assert page.status_code == 200 and "mail_sink_dir" in page.text
