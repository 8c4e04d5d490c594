"""The citizen sees who looked at their data (by badge, never by name), filters and exports
it, downloads a proof that verifies offline, and flags an access; an auditor answers."""

from __future__ import annotations

import csv
import io

from onceonly.audit.log import EntryFilter, find_entries
from onceonly.audit.proofs import check_proof
from onceonly.db import transaction
from tests.citizens.conftest import HOUSING_CLERK, HOUSING_ITEM, Portal

CASE = "TPE-UDD-115-000777"


def test_who_looked_shows_badge_agency_item_basis_and_outcome(portal: Portal) -> None:
    asked = portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE)
    assert asked.status_code == 200, asked.text
    assert portal.sign_in().status_code == 200
    body = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    mine = [a for a in body if a["case_id"] == CASE]
    assert {a["dataset"] for a in mine} >= {"household_registration", "welfare_status"}
    household = next(a for a in mine if a["dataset"] == "household_registration")
    assert (
        household["badge"].startswith("B-") and household["agency_name"] == "臺北市政府都市發展局"
    )
    assert household["outcome"] == "issued" and household["legal_basis"]
    assert household["fields"] and household["application_item_name"]
    predicate = next(a for a in mine if a["predicate"])
    assert predicate["fields"] == [] and predicate["predicate"]

    page = portal.client.get("/me", headers={"Accept": "text/html"}).text
    assert household["badge"] in page and "臺北市政府都市發展局" in page
    assert HOUSING_CLERK not in page and "都市發展局 承辦人" not in page
    english = portal.client.get("/me?lang=en", headers={"Accept": "text/html"}).text
    assert "Who looked at my data" in english and "Released to the agency" in english


def test_filters_and_exports(portal: Portal) -> None:
    portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE)
    portal.sign_in()
    every = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    only_income = portal.client.get("/api/v1/me/accesses?dataset=income").json()["accesses"]
    assert only_income and {a["dataset"] for a in only_income} == {"income"}
    assert len(only_income) < len(every)
    none_yet = portal.client.get("/api/v1/me/accesses?until=2001-01-01").json()["accesses"]
    assert none_yet == []
    bad = portal.client.get("/api/v1/me/accesses?since=2026-02-30")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"

    exported = portal.client.get("/me/accesses.csv?dataset=income")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [int(r["seq"]) for r in rows] == [a["seq"] for a in only_income]
    assert rows[0]["badge"].startswith("B-") and "actor_username" not in rows[0]
    as_json = portal.client.get("/me/accesses.json").json()["accesses"]
    assert [a["seq"] for a in as_json] == [a["seq"] for a in every]


def test_each_access_has_a_proof_that_verifies_offline(portal: Portal) -> None:
    portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE)
    portal.sign_in()
    seq = portal.client.get("/api/v1/me/accesses").json()["accesses"][0]["seq"]
    page = portal.client.get("/me", headers={"Accept": "text/html"}).text
    assert f'href="/me/accesses/{seq}/proof"' in page
    proof = portal.client.get(f"/me/accesses/{seq}/proof")
    assert proof.status_code == 200 and "attachment" in proof.headers["content-disposition"]
    jwks = portal.client.get("/.well-known/jwks.json").json()
    result = check_proof(proof.json(), jwks)
    assert result.ok, result.reason_en
    latest = portal.client.get("/api/v1/audit/tree-heads/latest").json()
    assert proof.json()["tree_head"]["root_hash"] == latest["root_hash"]

    other = portal.env.sample("taipei_home_owner")
    portal.ask(HOUSING_CLERK, HOUSING_ITEM, "TPE-UDD-115-000778", subject=other)
    with transaction(portal.app.state.sessions) as db:
        strangers, _ = find_entries(db, EntryFilter(subject=other), limit=1)
    assert strangers
    assert portal.client.get(f"/me/accesses/{strangers[0].seq}/proof").status_code == 404
    via_api = portal.client.get(f"/api/v1/audit/entries/{strangers[0].seq}/proof")
    assert via_api.status_code == 404
    assert portal.client.get(f"/api/v1/audit/entries/{seq}/proof").status_code == 200


def test_a_flag_reaches_the_auditor_and_the_citizen_reads_the_answer(portal: Portal) -> None:
    portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE)
    portal.sign_in()
    accesses = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    seq = next(a["seq"] for a in accesses if a["dataset"] == "household_registration")
    csrf = portal.csrf()
    empty = portal.client.post(
        f"/me/accesses/{seq}/flag", data={"note": " ", "csrf_token": csrf}, follow_redirects=False
    )
    assert empty.status_code == 422
    flagged = portal.client.post(
        f"/me/accesses/{seq}/flag",
        data={"note": "我沒有申請國宅", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert flagged.status_code == 303
    again = portal.client.post(
        f"/me/accesses/{seq}/flag", data={"note": "再一次", "csrf_token": csrf}
    )
    assert again.status_code == 409

    queue = portal.staff.get("/api/v1/audit/flags", headers=portal.headers("tpe-auditor")).json()
    flag = next(f for f in queue if f["entry_seq"] == seq)
    assert flag["note"] == "我沒有申請國宅" and "taipei-city" in flag["jurisdictions"]
    assert flag["subject_masked"] != portal.nid
    elsewhere = portal.staff.get("/api/v1/audit/flags", headers=portal.headers("nwt-auditor"))
    assert all(f["id"] != flag["id"] for f in elsewhere.json())

    reply = portal.staff.post(
        f"/audit/flags/{flag['id']}/reply",
        data={"reply": "經查為承辦人誤植案號，已更正並告誡。"},
        headers=portal.headers("nwt-auditor"),
    )
    assert reply.status_code == 404
    reply = portal.staff.post(
        f"/audit/flags/{flag['id']}/reply",
        data={"reply": "經查為承辦人誤植案號，已更正並告誡。"},
        headers=portal.headers("tpe-auditor"),
        follow_redirects=False,
    )
    assert reply.status_code == 303
    queue_page = portal.staff.get(
        "/audit/flags", headers={**portal.headers("tpe-auditor"), "Accept": "text/html"}
    )
    assert queue_page.status_code == 200 and "我沒有申請國宅" in queue_page.text
    assert "已回覆" in queue_page.text and portal.nid not in queue_page.text
    page = portal.client.get("/me", headers={"Accept": "text/html"}).text
    assert "經查為承辦人誤植案號" in page
    events = [a["event"] for a in portal.client.get("/api/v1/me/accesses").json()["accesses"]]
    assert "flag.raised" in events and "flag.answered" in events
