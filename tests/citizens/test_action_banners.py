"""After each of the citizen's actions the page it returns to says what was done, about what, in
words and in the page's language (GOV.UK's notification banner): consent given or withdrawn,
previewed evidence approved or declined, an entry flagged, a report sent. The address carries
only a code and an id, looked up among the signed-in citizen's own things: an unknown code,
a crafted id or another citizen's id shows nothing, and a reload repeats nothing."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from onceonly.citizens.previews import list_previews
from onceonly.db import transaction
from onceonly.notify.demo import seed_demo_notify
from onceonly.policy.service import grant_consent, list_consents
from tests.citizens.conftest import CONSENT_ITEM, HOUSING_CLERK, HOUSING_ITEM, LABOUR_CLERK, Portal

CASE = "TPE-LAB-115-000042"
HTML = {"Accept": "text/html"}
BANNER = re.compile(
    r'<div class="ok-box done-banner" id="done"(?P<attrs>[^>]*)>(?P<body>.*?)</div>', re.S
)


def _banner(page: str) -> str | None:
    """The banner's words (tags dropped, entities read), or None when the page shows none."""
    found = BANNER.search(page)
    if found is None:
        assert 'id="done"' not in page
        return None
    assert 'role="status"' in found.group("attrs")
    assert 'aria-labelledby="done-title"' in found.group("attrs")
    assert 'tabindex="-1"' in found.group("attrs")
    words = html.unescape(re.sub(r"<[^>]+>", " ", found.group("body")))
    return " ".join(words.split())


def _shown(page: str) -> str:
    """The words of the page's main part as a person reads them (the header's language switch
    keeps the address's query in its link, which is not shown)."""
    main = page.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", main))


def _in_language(location: str, lang: str) -> str:
    return re.sub(r"lang=[^&#]+", f"lang={lang}", location)


def _other_citizen(portal: Portal) -> str:
    cards = sorted(p.name for p in (portal.env.settings.data_dir / "cards").iterdir())
    return next(c for c in cards if c != portal.nid and len(c) == 10)


def test_consent_given_and_withdrawn_say_so_for_which_item_in_both_languages(
    portal: Portal,
) -> None:
    assert portal.sign_in().status_code == 200
    granted = portal.client.post(
        "/me/consents?lang=zh-TW",
        data={"application_item": CONSENT_ITEM, "case_id": CASE, "csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    location = granted.headers["location"]
    assert "done=consent-granted" in location and location.endswith("#done")
    assert "求職" not in location  # a code and an id, never words

    zh = _banner(portal.client.get(location, headers=HTML).text)
    assert zh is not None
    assert "已完成" in zh and "您已同意「求職交通補助金」案號 " + CASE in zh
    assert CONSENT_ITEM not in zh
    en = _banner(portal.client.get(_in_language(location, "en"), headers=HTML).text)
    assert en is not None
    assert 'You gave your consent for "Job-seeking transport allowance", case ' + CASE in en

    # a reload shows the page again and gives no second consent
    with portal.app.state.sessions() as db:
        before = len(list_consents(db, portal.nid))
    again = portal.client.get(location, headers=HTML)
    assert again.status_code == 200 and _banner(again.text) == zh
    with portal.app.state.sessions() as db:
        assert len(list_consents(db, portal.nid)) == before

    # a standing consent until a day says so and says until when
    standing = portal.client.post(
        "/me/consents?lang=en",
        data={"application_item": CONSENT_ITEM, "until": "9998-12-31", "csrf_token": portal.csrf()},
    )
    words = _banner(standing.text)
    assert words is not None and 'for every case of "Job-seeking transport allowance"' in words
    assert "It lasts until" in words and "9998" in words

    consent_id = int(location.split("id=")[1].split("#")[0])
    revoked = portal.client.post(
        f"/me/consents/{consent_id}/revoke?lang=en",
        data={"csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert revoked.status_code == 303 and "done=consent-revoked" in revoked.headers["location"]
    en = _banner(portal.client.get(revoked.headers["location"], headers=HTML).text)
    assert en is not None
    assert 'You withdrew your consent for "Job-seeking transport allowance", case ' + CASE in en
    zh_page = portal.client.get(_in_language(revoked.headers["location"], "zh-TW"), headers=HTML)
    zh = _banner(zh_page.text)
    assert zh is not None and "您已撤回對「求職交通補助金」案號 " + CASE + " 的同意" in zh

    # the code of the other action names the same consent only in the state it says
    granted_now = _in_language(location, "en")
    assert _banner(portal.client.get(granted_now, headers=HTML).text) is None


def test_approving_and_declining_a_preview_say_which_agency_and_data(portal: Portal) -> None:
    with transaction(portal.app.state.sessions) as db:
        grant_consent(db, portal.nid, CONSENT_ITEM)
    assert portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE).status_code == 200
    assert portal.sign_in().status_code == 200
    with portal.app.state.sessions() as db:
        first = next(p for p in list_previews(db, portal.nid) if p.status == "pending")

    approved = portal.client.post(
        f"/me/previews/{first.id}/approve?lang=zh-TW",
        data={"csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    location = approved.headers["location"]
    assert "done=preview-approved" in location and location.endswith("#done")
    page = portal.client.get(location, headers=HTML).text
    zh = _banner(page)
    assert zh is not None
    assert f"您已同意臺北市政府勞動局使用預覽 P-{first.id} 的「社會福利身分資料」資料" in zh
    assert "welfare_status" not in zh and "taipei-city.labour" not in zh
    assert f'href="#preview-{first.id}"' in page
    en = _banner(portal.client.get(_in_language(location, "en"), headers=HTML).text)
    assert en is not None
    assert f'You approved the use of "Welfare status" in preview P-{first.id}' in en
    assert "by Taipei City Department of Labor" in en
    # once the agency collects it (released) the banner still tells the truth
    released = portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE)
    assert released.status_code == 200
    assert _banner(portal.client.get(location, headers=HTML).text) == zh

    assert portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE).status_code == 200
    with portal.app.state.sessions() as db:
        second = next(p for p in list_previews(db, portal.nid) if p.status == "pending")
    declined = portal.client.post(
        f"/me/previews/{second.id}/decline?lang=en",
        data={"csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert declined.status_code == 303 and "done=preview-declined" in declined.headers["location"]
    en = _banner(portal.client.get(declined.headers["location"], headers=HTML).text)
    assert en is not None
    assert f'You declined the use of "Welfare status" in preview P-{second.id}' in en
    assert "the agency will not get it" in en
    zh_page = portal.client.get(_in_language(declined.headers["location"], "zh-TW"), headers=HTML)
    zh = _banner(zh_page.text)
    assert zh is not None
    assert f"您已拒絕臺北市政府勞動局使用預覽 P-{second.id} 的「社會福利身分資料」資料" in zh

    # a reload decides nothing again: the declined preview stays declined, once
    with portal.app.state.sessions() as db:
        states = [(p.id, p.status) for p in list_previews(db, portal.nid)]
    portal.client.get(declined.headers["location"], headers=HTML)
    with portal.app.state.sessions() as db:
        assert [(p.id, p.status) for p in list_previews(db, portal.nid)] == states
    # and a code that does not match the preview's state says nothing
    crafted = f"/me/previews?lang=en&done=preview-approved&id={second.id}"
    assert _banner(portal.client.get(crafted, headers=HTML).text) is None


def test_flagging_an_entry_says_which_entry_went_to_the_auditors(portal: Portal) -> None:
    assert portal.ask(HOUSING_CLERK, HOUSING_ITEM, "TPE-UDD-115-000777").status_code == 200
    assert portal.sign_in().status_code == 200
    listed = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    seq = next(a["seq"] for a in listed if a["dataset"] == "household_registration")
    flagged = portal.client.post(
        f"/me/accesses/{seq}/flag?lang=zh-TW",
        data={"note": "我沒有申請國宅", "csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    assert flagged.status_code == 303
    location = flagged.headers["location"]
    assert "done=flag-raised" in location and location.endswith("#done")
    assert "我沒有" not in location
    page = portal.client.get(location, headers=HTML).text
    zh = _banner(page)
    assert zh is not None
    assert f"您對第 {seq} 筆紀錄" in zh and "臺北市政府都市發展局" in zh and "戶籍資料" in zh
    assert "已送交稽核人員" in zh and "taipei-city" not in zh
    assert f'href="#entry-{seq}"' in page
    en = _banner(portal.client.get(_in_language(location, "en"), headers=HTML).text)
    assert en is not None
    assert f"Your question about entry {seq}" in en and "went to the auditors" in en
    assert "Household registration" in en
    assert "Taipei City" in en and "Urban Development" in en
    # the reload raised no second flag (a second one would be refused with 409 anyway)
    portal.client.get(location, headers=HTML)
    with portal.app.state.sessions() as db:
        from onceonly.citizens.flags import flags_of_citizen

        assert [f.entry_seq for f in flags_of_citizen(db, portal.nid)] == [seq]


def test_a_crafted_code_or_id_shows_no_banner(portal: Portal) -> None:
    assert portal.sign_in().status_code == 200
    granted = portal.client.post(
        "/me/consents?lang=en",
        data={"application_item": CONSENT_ITEM, "case_id": CASE, "csrf_token": portal.csrf()},
        follow_redirects=False,
    )
    consent_id = int(granted.headers["location"].split("id=")[1].split("#")[0])
    crafted = [
        f"/me/consents?done=consent-deleted&id={consent_id}",  # no such code
        f"/me/consents?done=Call+0800-000-000+now&id={consent_id}",
        f"/me/consents?done=flag-raised&id={consent_id}",  # another page's code
        f"/me/consents?done=consent-revoked&id={consent_id}",  # not what happened
        "/me/consents?done=consent-granted&id=abc",
        "/me/consents?done=consent-granted&id=-1",
        "/me/consents?done=consent-granted&id=0",
        "/me/consents?done=consent-granted&id=99999999999999999999",
        f"/me/consents?done=consent-granted&id={consent_id + 1000}",
        "/me/consents?done=consent-granted",
        "/me/previews?done=preview-approved&id=1",
        "/me?done=flag-raised&id=1",
        "/me?done=%3Cscript%3E&id=1",
        "/me/reports?sent=TUO-0000-0000-0000",
        "/me/reports?sent=Your+account+is+locked,+call+0800-000-000",
    ]
    for address in crafted:
        for lang in ("zh-TW", "en"):
            page = portal.client.get(f"{address}&lang={lang}", headers=HTML)
            assert page.status_code == 200, address
            assert _banner(page.text) is None, address
            assert "0800-000-000" not in _shown(page.text) and "<script>" not in _shown(page.text)


def test_another_citizens_ids_show_nothing_of_theirs(portal: Portal) -> None:
    """The sample citizen consents, approves a preview, flags an entry and reports a change;
    another citizen given the very addresses sees no banner and none of it."""
    with transaction(portal.app.state.sessions) as db:
        seed_demo_notify(db, "taipei-city")
        grant_consent(db, portal.nid, CONSENT_ITEM)
    assert portal.ask(LABOUR_CLERK, CONSENT_ITEM, CASE).status_code == 200
    assert portal.ask(HOUSING_CLERK, HOUSING_ITEM, "TPE-UDD-115-000777").status_code == 200
    assert portal.sign_in().status_code == 200
    csrf = portal.csrf()
    addresses = []
    own_case = "TPE-LAB-115-009999"
    consent = portal.client.post(
        "/me/consents?lang=en",
        data={"application_item": CONSENT_ITEM, "case_id": own_case, "csrf_token": csrf},
        follow_redirects=False,
    )
    addresses.append(consent.headers["location"])
    with portal.app.state.sessions() as db:
        preview = next(p for p in list_previews(db, portal.nid) if p.status == "pending")
    approved = portal.client.post(
        f"/me/previews/{preview.id}/approve?lang=en",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    addresses.append(approved.headers["location"])
    listed = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    seq = next(a["seq"] for a in listed if a["dataset"] == "household_registration")
    flagged = portal.client.post(
        f"/me/accesses/{seq}/flag?lang=en",
        data={"note": "not me", "csrf_token": csrf},
        follow_redirects=False,
    )
    addresses.append(flagged.headers["location"])
    sent = _send_a_report(portal, "en")
    addresses.append(sent)
    reference = re.search(r"sent=(TUO-[0-9A-F-]+)", sent)
    assert reference is not None
    for address in addresses:  # the owner sees each banner
        assert _banner(portal.client.get(address, headers=HTML).text), address

    with TestClient(portal.app, base_url="http://testserver") as other:
        assert portal.sign_in(other, _other_citizen(portal)).status_code == 200
        for address in addresses:
            for lang in ("en", "zh-TW"):
                page = other.get(_in_language(address, lang), headers=HTML)
                assert page.status_code == 200, address
                assert _banner(page.text) is None, address
                shown = _shown(page.text)
                assert own_case not in shown and own_case not in page.text
                assert f"P-{preview.id}" not in shown
                assert f"entry {seq}" not in shown and f"第 {seq} 筆" not in shown
                assert reference.group(1) not in shown


def _send_a_report(portal: Portal, lang: str) -> str:
    """Report a new mailing address through the form; the address the send redirects to."""
    body = {
        "csrf_token": portal.csrf(),
        "kind": "mailing_address",
        "mailing_address": "臺北市大安區復興南路一段390號5樓",
    }
    preview = portal.client.post(f"/me/reports/preview?lang={lang}", data=body)
    assert preview.status_code == 200, preview.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', preview.text)
    assert key is not None
    sent = portal.client.post(
        f"/me/reports?lang={lang}",
        data=body | {"idempotency_key": key.group(1)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


def test_a_report_sent_says_its_reference_in_both_languages(portal: Portal) -> None:
    with transaction(portal.app.state.sessions) as db:
        seed_demo_notify(db, "taipei-city")
    assert portal.sign_in().status_code == 200
    location = _send_a_report(portal, "zh-TW")
    reference = re.search(r"sent=(TUO-[0-9A-F-]+)", location)
    assert reference is not None
    page = portal.client.get(location, headers=HTML).text
    zh = _banner(page)
    assert zh is not None and f"已送出，通報編號 {reference.group(1)}" in zh
    en = _banner(portal.client.get(_in_language(location, "en"), headers=HTML).text)
    assert en is not None and f"Sent, reference {reference.group(1)}." in en
