"""What a relay hands over, over HTTP: an agency sees an evidence piece's content only if it
fetched it or the case came to it afterwards (the piece was carried to it); a former handler
sees the status and who fetched it, and its transcript downloads are refused. A carried
piece's read shows on the citizen's "who looked" list, once. An agency with no part in an
item cannot open a case of it (the security review's way in: the fire department opened a
public-housing case and relayed it to urban development, then read what they fetched)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from onceonly.accounts.users import get_user
from onceonly.cases import service
from onceonly.citizens.accesses import AccessFilter, list_accesses
from onceonly.db import transaction
from onceonly.exchange.schemas import EvidenceResponse
from onceonly.i18n import t
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

ITEM = "public-housing-low-income"
UDD = "taipei-city.urban_development"
FIRE = "taipei-city.fire"
SOCIAL = "taipei-city.social_welfare"
EVIDENCE = "household_registration"
Visit = Callable[[str], Visitor]


def _api(clerk: Visitor, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"X-CSRF-Token": clerk.csrf, "Accept": "application/json"}
    return clerk.client.request(method, url, json=body, headers=headers)


def _relay(clerk: Visitor, number: str, to: str) -> None:
    answer = _api(clerk, "POST", f"/api/v1/cases/{number}/relay", {"to_agency": to, "note": "續辦"})
    assert answer.status_code == 200, answer.text


def _carried_reads(app: FastAPI, subject: str) -> list[Any]:
    """The reads of carried evidence as the citizen's "who looked" page lists them."""
    with app.state.sessions() as db:
        found, _ = list_accesses(db, subject, AccessFilter(), "en", limit=500)
    return [a for a in found if a.event == "case.carried_read"]


def test_an_agency_with_no_part_in_the_item_cannot_open_a_case_of_it(
    visit: Visit, demo_env: DemoEnv
) -> None:
    fire = visit("tpe-fire-clerk")
    subject = demo_env.sample("low_income_applicant")
    answer = _api(fire, "POST", "/api/v1/cases", {"application_item": ITEM, "subject": subject})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == ("application_item", "not_handled")
    assert "消防局" in error["reason"] and "都市發展局" in error["reason"]

    page = fire.open_case(ITEM, subject)
    assert page.status_code == 422
    assert "不能為它開案" in page.text and "/counter/cases/TPE-FD" not in str(page.url)

    social = visit("tpe-social-clerk")  # owns the low-income status this item asks for
    opened = _api(social, "POST", "/api/v1/cases", {"application_item": ITEM, "subject": subject})
    assert opened.status_code == 201, opened.text


def test_a_former_handler_sees_the_status_but_not_what_was_fetched_after_it_left(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    udd, fire = visit("tpe-udd-clerk"), visit("tpe-fire-clerk")
    subject = demo_env.sample("low_income_applicant")
    number = udd.case_number(udd.open_case(ITEM, subject))
    _relay(udd, number, FIRE)  # nothing fetched yet: nothing carried
    _relay(fire, number, UDD)
    fetched = _api(udd, "POST", f"/api/v1/cases/{number}/evidence", {})
    assert fetched.status_code == 200, fetched.text
    assert {r["status"] for r in fetched.json()["fetch"]["results"]} == {"issued"}

    mine = _api(udd, "GET", f"/api/v1/cases/{number}").json()
    assert all(p["held_by"] is None and p["transcripts"] for p in mine["evidence"])
    record = next(p for p in mine["evidence"] if p["evidence_type"] == EVIDENCE)["fields"]
    assert record["name"] and record["address"]

    seen = _api(fire, "GET", f"/api/v1/cases/{number}").json()
    for piece in seen["evidence"]:
        assert piece["status"] == "issued" and piece["satisfied_by"] == "online"
        assert (piece["fetched_agency"], piece["fetched_by"]) == (UDD, "tpe-udd-clerk")
        assert piece["held_by"] == UDD
        assert piece["fields"] is None and piece["answer"] is None
        assert piece["transcripts"] == [] and piece["withheld_fields"] == []
    summary = _api(fire, "GET", f"/api/v1/cases/{number}/summary").json()
    assert all(p["fields"] is None for p in summary["case"]["evidence"])

    for url in (f"/counter/cases/{number}", f"/counter/cases/{number}/print"):
        page = fire.get(url).text
        assert t("counter.evidence.held_elsewhere", "zh-TW", agency="臺北市政府都市發展局") in page
        assert "/transcripts/" not in page, url
        assert record["name"] not in page and record["address"] not in page, url

    base = f"/counter/cases/{number}/transcripts/{EVIDENCE}/0"
    for url in (base, f"{base}/jws", f"{base}/pdf"):
        refused = fire.client.get(url, headers={"Accept": "application/json"})
        assert refused.status_code == 403, url
        problem = refused.json()
        assert problem["type"].endswith("/evidence-held-elsewhere")
        assert problem["held_by"] == UDD and "臺北市政府都市發展局" in problem["detail"]
    as_page = fire.get(f"{base}/jws")
    assert as_page.status_code == 403 and "臺北市政府都市發展局" in as_page.text

    assert udd.client.get(f"{base}/jws").status_code == 200
    assert udd.client.get(f"{base}/pdf").status_code == 200

    asked = fetched.json()["fetch"]  # kept again as an answer about a thing, as a land item's
    asked = EvidenceResponse.model_validate({**asked, "about": "大灣段 0123-0004 地號"})
    with transaction(demo_app.state.sessions) as db:
        user = get_user(db, "tpe-udd-clerk")
        assert user is not None
        clerk = service.CaseActor(user.username, user.agency_code, user.role, user.badge)
        service.record_lookup(db, clerk, number, "parcel", asked)
        [piece, *_] = [h.id for h in service.lookups(db, clerk, number)]
    kept = f"/counter/cases/{number}/lookups/{piece}/0/jws"
    refused = fire.client.get(kept, headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.json()["held_by"] == UDD
    assert udd.client.get(kept).status_code == 200
    assert _carried_reads(demo_app, subject) == [], "nobody read what another agency fetched"


def test_evidence_carried_by_a_relay_stays_readable_and_its_read_is_on_the_citizens_list(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    udd, social = visit("tpe-udd-clerk"), visit("tpe-social-clerk")
    subject = demo_env.sample("low_income_applicant")
    number = udd.case_number(udd.open_case(ITEM, subject))
    assert udd.post(f"/counter/cases/{number}/evidence").status_code == 200
    _relay(udd, number, SOCIAL)

    seen = _api(social, "GET", f"/api/v1/cases/{number}").json()
    assert all(p["held_by"] is None and p["transcripts"] for p in seen["evidence"])
    assert next(p for p in seen["evidence"] if p["evidence_type"] == EVIDENCE)["fields"]
    base = f"/counter/cases/{number}/transcripts/{EVIDENCE}/0"
    assert social.client.get(f"{base}/jws").status_code == 200

    reads = _carried_reads(demo_app, subject)
    assert sorted(r.dataset for r in reads) == sorted(
        ["household_registration", "welfare_status", "income", "building_registration"]
    )
    for read in reads:
        assert (read.agency, read.case_id, read.outcome) == (SOCIAL, number, "allowed")
        assert read.event_text == t("citizens.event.case.carried_read", "en")
        assert "Taipei City Department of Urban Development" in read.reason
    household = next(r for r in reads if r.dataset == EVIDENCE)
    assert "name" in household.fields and household.legal_basis == "pdpa-art16"

    social.get(f"/counter/cases/{number}")  # every page view after the first adds nothing
    _api(social, "GET", f"/api/v1/cases/{number}")
    assert len(_carried_reads(demo_app, subject)) == len(reads)
    _api(udd, "GET", f"/api/v1/cases/{number}")  # the fetcher's own reads are the exchange's
    assert len(_carried_reads(demo_app, subject)) == len(reads)
    portal = social.get(f"/counter/cases/{number}").text
    assert "閱覽隨案傳遞而來的「戶籍謄本」" in portal
