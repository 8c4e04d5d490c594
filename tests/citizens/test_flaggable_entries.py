"""Only an access can be flagged: "Does this access look wrong?" is offered on the entries
where an agency read the citizen's data or was given it, not on a notice sent about their case
nor on the address a clerk set for its messages; and the flag route refuses such an entry in
words, naming the field, rather than only hiding the button."""

from __future__ import annotations

import re

from onceonly.audit.log import AuditRecord, append
from onceonly.citizens import flags
from onceonly.db import transaction
from onceonly.i18n import t
from tests.citizens.conftest import HOUSING_CLERK, HOUSING_ITEM, Portal

CASE = "TPE-UDD-115-000778"


def _entry(portal: Portal, event: str, **fields: object) -> int:
    """An entry about the sample citizen, written as the code that makes ``event`` does."""
    number = portal.case(HOUSING_CLERK, HOUSING_ITEM, CASE)
    with transaction(portal.app.state.sessions) as db:
        return append(
            db,
            AuditRecord(
                event=event,
                actor_agency="taipei-city.urban_development",
                application_item=HOUSING_ITEM,
                case_id=number,
                subject=portal.nid,
                reason_zh="測試",
                reason_en="test",
                **fields,  # type: ignore[arg-type]
            ),
        ).seq


def _notice_sent(portal: Portal) -> int:
    details = {"notification_id": 1, "notice": "opened", "channel": "sms", "attempt": 1}
    return _entry(portal, "case.notice_sent", actor_username="system", details=details)


def _contact_set(portal: Portal) -> int:
    return _entry(
        portal,
        "case.contact_set",
        actor_username=HOUSING_CLERK,
        actor_badge="B-TEST01",
        actor_role="clerk",
        details={"channel": "sms", "recipient": "0912***678", "registered": "own"},
    )


def _flag_forms(page: str) -> set[int]:
    return {int(seq) for seq in re.findall(r'action="/me/accesses/(\d+)/flag', page)}


def test_the_page_offers_a_flag_only_on_accesses(portal: Portal) -> None:
    assert portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE).status_code == 200
    notice, contact = _notice_sent(portal), _contact_set(portal)
    portal.sign_in()
    listed = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    reads = {a["seq"] for a in listed if a["event"] == "evidence.request"}
    assert reads and {notice, contact} <= {a["seq"] for a in listed}

    for lang in ("zh-TW", "en"):
        page = portal.client.get(f"/me?lang={lang}", headers={"Accept": "text/html"}).text
        offered = _flag_forms(page)
        assert reads <= offered, "every evidence request can be flagged"
        assert notice not in offered and contact not in offered
        # the entries are still listed, only without the action
        assert f'id="entry-{notice}"' in page and f'id="entry-{contact}"' in page
        assert t("citizens.event.case.notice_sent", lang) in page
    # the citizen's own acts (the flag just listed among them) offer none either
    own = {a["seq"] for a in listed if a["event"].startswith(("flag.", "consent.", "preview."))}
    assert not own & _flag_forms(portal.client.get("/me").text)


def test_the_flag_route_refuses_an_entry_that_is_not_an_access(portal: Portal) -> None:
    assert portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE).status_code == 200
    notice, contact = _notice_sent(portal), _contact_set(portal)
    portal.sign_in()
    csrf = portal.csrf()
    for seq, what in ((notice, "case.notice_sent"), (contact, "case.contact_set")):
        for lang in ("zh-TW", "en"):
            refused = portal.client.post(
                f"/me/accesses/{seq}/flag?lang={lang}",
                data={"note": "這是什麼？", "csrf_token": csrf},
                headers={"Accept": "application/json"},
                follow_redirects=False,
            )
            assert refused.status_code == 422, refused.text
            problem = refused.json()
            [error] = problem["errors"]
            assert error["field"] == "seq"
            assert t(f"citizens.event.{what}", lang) in error["reason"]
            words = "不是機關調閱或取得您資料" if lang == "zh-TW" else "cannot be flagged"
            assert words in error["reason"] and words in problem["detail"]
    with portal.app.state.sessions() as db:
        assert flags.flags_of_citizen(db, portal.nid) == []

    # an evidence request is still flagged as before
    listed = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    seq = next(a["seq"] for a in listed if a["event"] == "evidence.request")
    flagged = portal.client.post(
        f"/me/accesses/{seq}/flag",
        data={"note": "我沒有申請國宅", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert flagged.status_code == 303
    # and the citizen's own entry (that flag) cannot be flagged in its turn
    raised = next(
        a["seq"]
        for a in portal.client.get("/api/v1/me/accesses").json()["accesses"]
        if a["event"] == "flag.raised"
    )
    again = portal.client.post(
        f"/me/accesses/{raised}/flag",
        data={"note": "?", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "seq"


def test_which_kinds_are_accesses() -> None:
    for event in (
        "evidence.request",
        "case.carried_read",
        "case.register_check",
        "notify.register_check",
        "case.relay",
        "case.transfer",
    ):
        assert flags.flaggable(event), event
        assert not flags.flaggable(event, by_citizen=True), event
    for event in (
        "case.notice_sent",
        "case.contact_set",
        "flag.raised",
        "flag.answered",
        "consent.granted",
        "consent.revoked",
        "preview.approved",
        "preview.declined",
        "something.new",
    ):
        assert not flags.flaggable(event), event
    # each flaggable kind is one the page describes in words of its own
    for event in flags.FLAGGABLE_EVENTS:
        assert t(f"citizens.event.{event}", "en") != t("citizens.event.other", "en"), event
