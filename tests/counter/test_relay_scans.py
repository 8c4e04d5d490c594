"""A scanned paper carried by a relay, over HTTP: the first time an agency that did not scan it
downloads it or sees it on the case, the citizen's "who looked" page says so, in words, once;
the agency that scanned it reads its own without an entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from onceonly.citizens.accesses import AccessFilter, list_accesses
from onceonly.db import transaction
from onceonly.i18n import t
from tests import scans
from tests.conftest import DemoEnv, citizen_headers
from tests.counter.support import Visitor

ITEM = "public-housing-low-income"
PIECE = "is_low_income_household"
UDD = "taipei-city.urban_development"
SOCIAL = "taipei-city.social_welfare"
FIRE = "taipei-city.fire"
Visit = Callable[[str], Visitor]


def _api(clerk: Visitor, method: str, url: str, **kwargs: Any) -> Any:
    headers = {"X-CSRF-Token": clerk.csrf, "Accept": "application/json"}
    return clerk.client.request(method, url, headers=headers, **kwargs)


def _relay(clerk: Visitor, number: str, to: str) -> None:
    body = {"to_agency": to, "note": "續辦"}
    answer = _api(clerk, "POST", f"/api/v1/cases/{number}/relay", json=body)
    assert answer.status_code == 200, answer.text


def _download(clerk: Visitor, number: str) -> bytes:
    answer = _api(clerk, "GET", f"/api/v1/cases/{number}/paper/{PIECE}")
    assert answer.status_code == 200, answer.text
    return bytes(answer.content)


def _carried_reads(app: FastAPI, subject: str, lang: str = "en") -> list[Any]:
    """The reads of carried pieces as the citizen's "who looked" page lists them."""
    with app.state.sessions() as db:
        found, _ = list_accesses(db, subject, AccessFilter(), lang, limit=500)
    return [a for a in found if a.event == "case.carried_read"]


def test_a_carried_scans_first_download_and_first_sight_are_on_the_citizens_list_once(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    udd, social, fire = visit("tpe-udd-clerk"), visit("tpe-social-clerk"), visit("tpe-fire-clerk")
    subject = demo_env.sample("low_income_applicant")
    number = udd.case_number(udd.open_case(ITEM, subject))
    scan = scans.pdf(note=b"low income certificate")
    attached = _api(
        udd,
        "POST",
        f"/api/v1/cases/{number}/paper",
        data={"evidence_type": PIECE},
        files={"file": ("低收證明.pdf", scan, "application/pdf")},
    )
    assert attached.status_code == 200, attached.text
    assert _download(udd, number) == scan
    _relay(udd, number, SOCIAL)
    assert _carried_reads(demo_app, subject) == []

    assert _download(social, number) == scan  # downloaded before it was ever seen on the case
    [read] = _carried_reads(demo_app, subject)
    assert (read.agency, read.case_id, read.dataset, read.outcome) == (
        SOCIAL,
        number,
        "welfare_status",
        "allowed",
    )
    assert read.dataset_name and read.dataset_name != read.dataset, "the dataset in words"
    assert read.event_text == t("citizens.event.case.carried_read", "en")
    assert read.reason == t(
        "cases.audit.carried_scan_read",
        "en",
        source="Taipei City Department of Urban Development",
        paper="Low-income household certificate",
    )
    [in_chinese] = _carried_reads(demo_app, subject, "zh-TW")
    assert in_chinese.reason == t(
        "cases.audit.carried_scan_read",
        "zh-TW",
        source="臺北市政府都市發展局",
        paper="低收入戶證明",
    )

    _download(social, number)
    page = social.get(f"/counter/cases/{number}").text
    assert f"/api/v1/cases/{number}/paper/{PIECE}" in page
    assert "閱覽隨案傳遞而來的「低收入戶證明」紙本掃描檔（由 臺北市政府都市發展局 附上）" in page
    assert _api(social, "GET", f"/api/v1/cases/{number}").status_code == 200
    _download(udd, number)
    udd.get(f"/counter/cases/{number}")
    assert len(_carried_reads(demo_app, subject)) == 1, "read again, or by its scanner: no entry"

    _relay(social, number, FIRE)
    page = fire.get(f"/counter/cases/{number}").text  # seen on the case before any download
    assert f"/api/v1/cases/{number}/paper/{PIECE}" in page
    assert _download(fire, number) == scan
    reads = _carried_reads(demo_app, subject)
    assert sorted(r.agency for r in reads) == sorted([SOCIAL, FIRE])
    assert all("Taipei City Department of Urban Development" in r.reason for r in reads)

    with transaction(demo_app.state.sessions) as db:
        citizen = citizen_headers(db, subject, "")
    with TestClient(demo_app) as portal:
        mine = portal.get("/me", headers={"Accept": "text/html", **citizen}).text
        assert mine.count(in_chinese.reason) == 2
        assert t("citizens.event.case.carried_read", "zh-TW") in mine
        english = portal.get("/me?lang=en", headers={"Accept": "text/html", **citizen}).text
        assert english.count("Low-income household certificate&#34; that Taipei City") == 2
        assert t("citizens.event.case.carried_read", "en") in english
