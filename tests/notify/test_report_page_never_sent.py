"""The counter's report page (``/counter/tell-us-once?reference=...``) says of a delivery that
will never be sent (dead, no dead letter, its subscription revoked as void) what the citizen's
pages say: not sent, and why; never "failed, an administrator is handling it"."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from onceonly.db import transaction
from onceonly.i18n import t
from onceonly.notify import intake
from onceonly.notify.models import Delivery
from onceonly.notify.subscriptions import OWNER_AGENCY, revoke_subscription
from tests.conftest import DemoEnv
from tests.notify.test_counter_pages import _csrf, clerk  # noqa: F401  (the fixture)


def _report(clerk: TestClient, person: str) -> str:  # noqa: F811
    """Record a death at the counter; the report page's address."""
    token = _csrf(clerk.get("/counter/tell-us-once?kind=death").text)
    body = {"csrf_token": token, "kind": "death", "national_id": person}
    body |= {"death_date": "2026-01-02", "idempotency_key": "never-sent-1"}
    sent = clerk.post("/counter/tell-us-once", data=body)
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


def _status_of(page: str, agency: str) -> str:
    """The status cell of ``agency``'s row in the report's table, as the reader sees it."""
    row = re.search(rf"<tr><td>{re.escape(agency)}</td>\s*<td[^>]*>([^<]*)</td>", page)
    assert row, f"no row for {agency}"
    return row.group(1)


def test_a_void_subscriptions_delivery_reads_not_sent_on_the_report_page(
    clerk: TestClient,  # noqa: F811
    demo_env: DemoEnv,
) -> None:
    address = _report(clerk, demo_env.sample("low_income_applicant"))
    sessions = clerk.app.state.sessions  # type: ignore[attr-defined]
    with transaction(sessions) as db:
        event_id = intake.find_by_reference(db, address.split("reference=")[1].split("&")[0])
        assert event_id is not None
        deliveries = list(db.scalars(select(Delivery).where(Delivery.event_id == event_id.id)))
        assert len(deliveries) >= 2
        void, other = deliveries[0], deliveries[1]
        revoke_subscription(db, void.subscription_id, "test", OWNER_AGENCY)
        db.execute(
            update(Delivery).where(Delivery.id == void.id).values(status="dead", feed_position=None)
        )
        names = {
            lang: (
                intake.recipient_name(db, void.agency_code, lang),
                intake.recipient_name(db, other.agency_code, lang),
            )
            for lang in ("zh-TW", "en")
        }

    for lang in ("zh-TW", "en"):
        response = clerk.get(f"{address}&lang={lang}")
        assert response.status_code == 200, response.text
        page = html.unescape(response.text)
        void_name, other_name = names[lang]
        shown = _status_of(page, void_name)
        assert shown == t("notify.delivery.never_sent", lang), (lang, shown)
        assert t("notify.delivery.failed", lang) not in page, lang
        assert _status_of(page, other_name) != t("notify.delivery.never_sent", lang)
    en = html.unescape(clerk.get(f"{address}&lang=en").text)
    assert "Not sent: that agency's subscription was void and has been revoked" in en
    assert "failed, an administrator is handling it" not in en
    zh = clerk.get(f"{address}&lang=zh-TW").text
    assert "未送出：該機關的訂閱核准無效，已撤銷，這筆通報不會傳送" in zh
    assert "傳送失敗，管理人員處理中" not in zh

    # every other agency processed it: nobody is still working on it, and the page says so
    with transaction(sessions) as db:
        db.execute(
            update(Delivery)
            .where(Delivery.event_id == event_id.id, Delivery.id != void.id)
            .values(status="processed")
        )
    for lang in ("zh-TW", "en"):
        page = html.unescape(clerk.get(f"{address}&lang={lang}").text)
        assert t("citizens.reports.done_where_sent", lang) in page, lang
        assert t("notify.citizen.all_done", lang) not in page, lang
