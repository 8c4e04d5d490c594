"""A tell-us-once delivery that will never be sent is said so on the citizen's page.

Migration 0031 marked ``dead`` (no dead letter, out of the feed) the deliveries of subscriptions
whose approval was void, and revoked those subscriptions: nobody handles them. The citizen's
report said "傳送失敗，管理人員處理中 / failed, an administrator is handling it" for them, and
"仍有機關處理中" for a report no agency was still working on. A delivery the worker gave up on
(a dead letter an administrator replays) still says failed."""

from __future__ import annotations

import html
import re

from sqlalchemy import select, update

from onceonly.catalog import service as catalog
from onceonly.db import transaction, utcnow
from onceonly.notify.demo import seed_demo_notify
from onceonly.notify.events import LifeEventIn, record_life_event
from onceonly.notify.models import DeadLetter, Delivery
from onceonly.notify.subscriptions import OWNER_AGENCY, revoke_subscription
from tests.citizens.conftest import Portal

NOT_SENT = (
    "不再傳送：這筆通報所屬訂閱的核准無效（由申請機關自己或機關系統帳號核准），"
    "已於資料修正 0031 撤銷"
    " / Never sent: the approval of this delivery's subscription was void (by the agency that"
    " asked for it, or by an agency system's account); data fix 0031 revoked it"
)
"""The words migration 0031 wrote in ``last_error`` (the page must not need them)."""


def _report(portal: Portal) -> tuple[str, list[Delivery]]:
    """A death recorded for the sample citizen, told to the demo's Taipei subscribers."""
    with transaction(portal.app.state.sessions) as db:
        seed_demo_notify(db, "taipei-city")
        event = record_life_event(
            db,
            LifeEventIn(
                kind="death",
                national_id=portal.nid,
                jurisdiction="taipei-city",
                payload={"death_date": "2026-06-01"},
            ),
        )
        rows = list(
            db.scalars(select(Delivery).where(Delivery.event_id == event.id).order_by(Delivery.id))
        )
        for row in rows:
            db.expunge(row)
    assert len(rows) >= 3, "the demo tells several agencies of a death"
    return event.id, rows


def _void(portal: Portal, delivery: Delivery) -> None:
    """What migration 0031 did to a delivery of a subscription whose approval was void."""
    with transaction(portal.app.state.sessions) as db:
        revoke_subscription(db, delivery.subscription_id, "migration:0031", OWNER_AGENCY)
        db.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(status="dead", last_error=NOT_SENT, feed_position=None)
        )


def _given_up(portal: Portal, delivery: Delivery, revoke: bool) -> None:
    """What the worker does after the last attempt: dead, with a dead letter to replay."""
    with transaction(portal.app.state.sessions) as db:
        if revoke:
            revoke_subscription(db, delivery.subscription_id, "owner-person", OWNER_AGENCY)
        db.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(status="dead", attempts=8, last_error="HTTP 503")
        )
        db.add(DeadLetter(delivery_id=delivery.id, attempts=8, last_error="HTTP 503"))


def _processed(portal: Portal, delivery: Delivery) -> None:
    with transaction(portal.app.state.sessions) as db:
        now = utcnow()
        db.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(status="processed", delivered_at=now, processed_at=now)
        )


def _statuses(portal: Portal, lang: str) -> dict[str, str]:
    """Each agency's status as the citizen's page words it, by the agency's name."""
    page = portal.client.get(f"/me/reports?lang={lang}")
    assert page.status_code == 200
    rows = re.findall(r'<tr><td>([^<]+)</td><td class="status-[^"]+">([^<]+)</td></tr>', page.text)
    return {html.unescape(name): html.unescape(status) for name, status in rows}


def _name(portal: Portal, code: str, lang: str) -> str:
    with portal.app.state.sessions() as db:
        agency = catalog.get_agency(db, code)
        assert agency is not None, code
        return str(agency.name_en if lang == "en" else agency.name_zh)


def test_a_delivery_of_a_void_subscription_is_not_sent_not_failed(portal: Portal) -> None:
    _, rows = _report(portal)
    void, failed, *others = rows
    _void(portal, void)
    _given_up(portal, failed, revoke=True)
    assert portal.sign_in().status_code == 200

    zh, en = _statuses(portal, "zh-TW"), _statuses(portal, "en")
    assert zh[_name(portal, void.agency_code, "zh-TW")] == (
        "未送出：該機關的訂閱核准無效，已撤銷，這筆通報不會傳送"
    )
    assert en[_name(portal, void.agency_code, "en")] == (
        "Not sent: that agency's subscription was void and has been revoked, so this will not "
        "be sent"
    )
    # a delivery the worker gave up on is still an administrator's to replay, even if its
    # subscription was revoked since: it says failed, as before
    assert zh[_name(portal, failed.agency_code, "zh-TW")] == "傳送失敗，管理人員處理中"
    assert en[_name(portal, failed.agency_code, "en")] == "failed, an administrator is handling it"
    for other in others:
        assert zh[_name(portal, other.agency_code, "zh-TW")] == "傳送中"
    page = portal.client.get("/me/reports?lang=zh-TW").text
    assert "不再傳送" not in page and "0031" not in page

    # once every agency it reached has processed it, no one is said to be still working on it
    for row in (failed, *others):
        _processed(portal, row)
    done = portal.client.get("/me/reports?lang=zh-TW").text
    assert "仍有機關處理中" not in done and "所有機關均已處理完成" not in done
    assert "沒有機關仍在處理：收到通報的機關均已處理完成" in done
    english = portal.client.get("/me/reports?lang=en").text
    assert "No agency is still working on it" in english


def test_the_staff_history_of_the_citizen_says_so_too(portal: Portal) -> None:
    """An auditor answering the citizen reads the same thing on the citizen's notify page."""
    _, rows = _report(portal)
    _void(portal, next(r for r in rows if r.agency_code.startswith("taipei-city.")))
    page = portal.staff.get(
        f"/notify/citizens/{portal.nid}",
        headers={**portal.headers("tpe-auditor"), "Accept": "text/html"},
    )
    assert page.status_code == 200, page.text[:300]
    assert "未送出：該機關的訂閱核准無效，已撤銷" in page.text
    assert "傳送失敗" not in page.text
