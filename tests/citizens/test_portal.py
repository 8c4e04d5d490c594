"""The citizen sees who looked at their data (by badge, never by name), filters and exports
it, downloads a proof that verifies offline, and flags an access; an auditor answers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.users import create_user
from onceonly.audit.log import AuditRecord, EntryFilter, find_entries
from onceonly.audit.proofs import check_proof
from onceonly.cli import app as cli
from onceonly.db import transaction
from tests.audit.conftest import append_format_1
from tests.citizens.conftest import HOUSING_CLERK, HOUSING_ITEM, Portal
from tests.conftest import post_login

CASE = "TPE-UDD-115-000777"


def test_who_looked_shows_badge_agency_item_basis_and_outcome(portal: Portal) -> None:
    asked = portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE)
    assert asked.status_code == 200, asked.text
    assert portal.sign_in().status_code == 200
    body = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    mine = [a for a in body if a["case_id"] == portal.case(HOUSING_CLERK, HOUSING_ITEM, CASE)]
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


def _verify_offline(tmp_path: Path, proof: bytes, jwks: bytes) -> str:
    """``onceonly audit prove --verify FILE --jwks JWKS``; returns its output, asserting it
    accepted the file."""
    (tmp_path / "proof.json").write_bytes(proof)
    (tmp_path / "jwks.json").write_bytes(jwks)
    files = [str(tmp_path / "proof.json"), "--jwks", str(tmp_path / "jwks.json")]
    checked = CliRunner().invoke(cli, ["audit", "prove", "--verify", *files])
    assert checked.exit_code == 0, checked.output
    return checked.output


def test_each_access_has_a_proof_that_verifies_offline(portal: Portal, tmp_path: Path) -> None:
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
    assert result.redacted
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


def test_the_citizens_proof_names_the_clerk_by_badge_and_commitment_only(
    portal: Portal, tmp_path: Path
) -> None:
    portal.ask(HOUSING_CLERK, HOUSING_ITEM, CASE)
    portal.sign_in()
    accesses = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    number = portal.case(HOUSING_CLERK, HOUSING_ITEM, CASE)
    access = next(a for a in accesses if a["case_id"] == number and a["dataset"])
    seq = access["seq"]
    auditor = portal.headers("tpe-auditor")
    full = portal.staff.get(f"/api/v1/audit/entries/{seq}/proof", headers=auditor).json()
    jwks = portal.client.get("/.well-known/jwks.json").content  # the audit key is made by now
    assert full["entry"]["actor_username"] == HOUSING_CLERK  # the auditor can tell who it was
    salt = full["entry"]["actor_salt"]

    for path in (f"/me/accesses/{seq}/proof", f"/api/v1/audit/entries/{seq}/proof"):
        raw = portal.client.get(path).content
        assert HOUSING_CLERK.encode() not in raw and salt.encode() not in raw, path
        entry = json.loads(raw)["entry"]
        assert entry["actor_badge"] == access["badge"] and entry["entry_format"] == 2
        assert entry["actor_commitment"] == full["entry"]["actor_commitment"]
        assert "leaves the clerk's username out" in _verify_offline(tmp_path, raw, jwks)

    raw = portal.client.get(f"/me/accesses/{seq}/proof").content
    for field, value in (("actor_badge", "B-000000"), ("actor_commitment", "0" * 64)):
        changed = json.loads(raw)
        changed["entry"][field] = value
        (tmp_path / "changed.json").write_text(json.dumps(changed), "utf-8")
        refused = CliRunner().invoke(
            cli, ["audit", "prove", "--verify", str(tmp_path / "changed.json")]
        )
        assert refused.exit_code == 1 and "was changed" in refused.output, field


def test_no_staff_username_reaches_the_citizens_proof_through_the_credential(
    portal: Portal,
) -> None:
    """Every entry records the credential and its issuer under the entry hash, so the proof
    a citizen downloads carries them: a clerk's sign-in session and a token an administrator
    issued (for the agency's system account: a person's tokens are the person's own) must
    name neither the accounts nor the administrator by username."""
    number = portal.case(HOUSING_CLERK, HOUSING_ITEM, CASE)
    body = {"case_id": number, "application_item": HOUSING_ITEM, "subject": portal.nid}
    with transaction(portal.app.state.sessions) as db:
        admin = create_user(
            db, "tpe-it-admin", None, "admin", "taipei-city.urban_development", "資訊室"
        )
        system = create_user(
            db, "tpe-udd-system", None, "clerk", "taipei-city.urban_development", "櫃檯系統"
        )
        minted, _ = issue_api_token(db, system, "counter system", 1, created_by=admin.id)
    by_token = portal.staff.post(
        "/api/v1/evidence-requests", json=body, headers={"Authorization": f"Bearer {minted}"}
    )
    assert by_token.status_code == 200, by_token.text
    browser = TestClient(portal.app, base_url="http://testserver", follow_redirects=False)
    signed_in = post_login(browser, {"username": HOUSING_CLERK, "password": "onceonly-demo"})
    assert signed_in.status_code == 303
    csrf = browser.get("/api/v1/auth/whoami").json()["csrf_token"]
    by_session = browser.post(
        "/api/v1/evidence-requests", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert by_session.status_code == 200, by_session.text

    portal.sign_in()
    ours = {by_token.json()["request_id"], by_session.json()["request_id"]}
    accesses = portal.client.get("/api/v1/me/accesses").json()["accesses"]
    seqs = [a["seq"] for a in accesses if a.get("request_id") in ours] or [
        a["seq"] for a in accesses if a["case_id"] == number
    ]
    assert len(seqs) >= 2
    issuers = set()
    for seq in seqs:
        raw = portal.client.get(f"/me/accesses/{seq}/proof").content
        for name in (HOUSING_CLERK, "tpe-udd-system", "tpe-it-admin"):
            assert name.encode() not in raw, (seq, name)
        issuers.add(json.loads(raw)["entry"]["details"]["credential"]["issued_by"])
    assert "self" in issuers and f"badge:{admin.badge}" in issuers


def _older_entry(portal: Portal, username: str, role: str, badge: str) -> int:
    """An entry about the sample citizen written as the code before entry format 2 did."""
    with transaction(portal.app.state.sessions) as db:
        return append_format_1(
            db,
            AuditRecord(
                event="evidence.request",
                actor_username=username,
                actor_badge=badge,
                actor_role=role,
                actor_agency="taipei-city.urban_development",
                application_item=HOUSING_ITEM,
                case_id="TPE-UDD-114-000001",
                subject=portal.nid,
                dataset="household_registration",
                fields=["name"],
                owner_agency="central.moi_household",
                details={"status": "issued"},
            ),
        )


def test_an_older_entry_by_a_clerk_offers_no_proof_and_says_why(
    portal: Portal, tmp_path: Path
) -> None:
    """Every proof of a format-1 entry that verifies contains the clerk's username, so the
    citizen is told why there is none (and how to have it checked) instead of getting it."""
    portal.sign_in()
    own_username = portal.client.get("/api/v1/auth/whoami").json()["username"]
    by_clerk = _older_entry(portal, HOUSING_CLERK, "clerk", "B-OLD001")
    by_self = _older_entry(portal, own_username, "citizen", "")

    listed = {a["seq"]: a for a in portal.client.get("/api/v1/me/accesses").json()["accesses"]}
    assert listed[by_clerk]["proof_available"] is False
    assert listed[by_self]["proof_available"] is True
    page = portal.client.get("/me", headers={"Accept": "text/html"}).text
    assert f'href="/me/accesses/{by_clerk}/proof"' not in page
    assert "較早的紀錄：其證明會揭露承辦人帳號" in page
    assert f'href="/me/accesses/{by_self}/proof"' in page

    for path in (f"/me/accesses/{by_clerk}/proof", f"/api/v1/audit/entries/{by_clerk}/proof"):
        refused = portal.client.get(path, headers={"Accept": "application/json"})
        assert refused.status_code == 403, path
        assert HOUSING_CLERK not in refused.text
        problem = refused.json()
        assert problem["entry_format"] == 1 and "format 1" not in problem["title"]
        english = portal.client.get(path + "?lang=en", headers={"Accept": "application/json"})
        assert "would reveal that name" in english.json()["detail"]

    # The citizen's own older entry names no one else: its full proof is given and verifies.
    own = portal.client.get(f"/me/accesses/{by_self}/proof")
    assert own.status_code == 200 and own.json()["entry"]["actor_username"] == own_username
    jwks = portal.client.get("/.well-known/jwks.json").content
    _verify_offline(tmp_path, own.content, jwks)
    # The auditor still gets the clerk's older entry in full, and it verifies.
    auditor = portal.staff.get(
        f"/api/v1/audit/entries/{by_clerk}/proof", headers=portal.headers("tpe-auditor")
    )
    assert auditor.json()["entry"]["actor_username"] == HOUSING_CLERK
    _verify_offline(tmp_path, auditor.content, jwks)


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
