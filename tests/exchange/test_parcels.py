"""Evidence about a parcel, a building or a house number, not a person (issue 17).

A 臺北市 land-office clerk at 土地鑑界 asks the land register by 地段 + 地號: the land office of
the parcel's jurisdiction answers, the owners listed only as far as the rule allows (masked
names and shares, never their national IDs); a parcel renumbered by a re-survey, merger or
split is found by its former number and says so, with its history; a section renamed by
the 2010 merger is found by its old name; a building by 建號 or by its 門牌, also written as
before the merger.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from onceonly.audit.log import EntryFilter, find_entries
from onceonly.domain import subjects
from onceonly.exchange.transcript import verify_transcript
from onceonly.providers.registry import load_providers
from tests.conftest import DemoEnv
from tests.exchange.support import URL, Counter

ITEM = "land-boundary-survey"
BUILDING_ITEM = "building-number-survey"
CLERK = "tpe-land-clerk"
NEVER = ("owner_nid", "owner_name")
"""Sub-fields the demo rules of the land items do not allow."""


def store(env: DemoEnv, jurisdiction: str) -> sqlite3.Connection:
    return sqlite3.connect(env.settings.registries_dir / f"{jurisdiction}.land_office.sqlite")


def renumbered(env: DemoEnv, jurisdiction: str, reason: str) -> dict[str, str]:
    """A parcel of the demo store renumbered for ``reason``: its section, numbers, owner."""
    with store(env, jurisdiction) as db:
        section, old, new, owner = db.execute(
            "SELECT s.sect_name, h.old_land_no, m.land_no, o.owner_idno FROM land_history h "
            "JOIN land_mark m ON m.land_key = h.land_key "
            "JOIN sections s ON s.sect_code = m.sect_code "
            "JOIN land_own o ON o.land_key = m.land_key WHERE h.reason = ? "
            "ORDER BY h.land_key LIMIT 1",
            (reason,),
        ).fetchone()
    return {"section": section, "old": f"{old[:4]}-{old[4:]}", "new": f"{new[:4]}-{new[4:]}",
            "owner": owner}  # fmt: skip


def ask_about(counter: Counter, thing: dict[str, Any], item: str = ITEM, **body: Any) -> Any:
    """Open a case for a citizen at the counter and ask about ``thing`` under it."""
    citizen = counter.env.sample("taipei_home_owner")
    payload = {
        "case_id": counter.case(CLERK, citizen, item),
        "application_item": item,
        "subject": thing,
        **body,
    }
    return counter.client.post(URL, json=payload, headers=counter.headers(CLERK))


def parcel(jurisdiction: str, section: str, number: str) -> dict[str, str]:
    return {"kind": "parcel", "jurisdiction": jurisdiction, "section": section,
            "parcel_no": number}  # fmt: skip


def land(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    results = {r["evidence_type"]: r for r in response.json()["results"]}
    assert set(results) == {"land_registration"}, "only the land register answers by parcel"
    return dict(results["land_registration"])


def test_a_parcel_by_its_number_lists_owners_as_far_as_the_rule_allows(
    counter: Counter,
) -> None:
    p = renumbered(counter.env, "taipei-city", "重測")
    response = ask_about(counter, parcel("taipei-city", p["section"], p["new"]))
    result = land(response)
    assert result["status"] == "issued"
    assert result["owners"] == ["taipei-city.land_office"]
    rows = result["fields"]["parcels"]
    assert {r["parcel_no"] for r in rows} == {p["new"]}
    assert all(r["matched_by"] == "current" for r in rows)
    assert all("○" in r["owner_name_masked"] for r in rows)
    assert response.json()["about"] == f"{p['section']} {p['new']} 地號"
    # the owners' national IDs and full names never leave, neither in the answer nor signed
    text = response.text
    assert p["owner"] not in text
    for name in NEVER:
        assert all(name not in r for r in rows)
    (issued,) = result["transcripts"]
    claims = verify_transcript(issued["jws"], counter.client.get("/.well-known/jwks.json").json())
    assert claims.claims.subject == subjects.parcel("taipei-city", p["section"], p["new"]).key
    signed = json.dumps(claims.claims.fields, ensure_ascii=False)
    assert p["owner"] not in signed and 'owner_name"' not in signed


def test_the_connector_reads_no_owner_field_the_rule_leaves_out(demo_env: DemoEnv) -> None:
    """Below the exchange's own minimisation: the owner's store is not even read for them."""
    p = renumbered(demo_env, "taipei-city", "重測")
    provider = load_providers(demo_env.settings.registries_dir).for_owner("taipei-city.land_office")
    assert provider is not None
    key = subjects.parcel("taipei-city", p["section"], p["new"]).key
    record = provider.fetch(
        "land_registration", key, ["parcels.area_m2", "parcels.share_numerator"]
    )
    assert record is not None
    assert all(set(r) == {"area_m2", "share_numerator"} for r in record.fields["parcels"])
    whole = provider.fetch("land_registration", key, ["parcels"])
    assert whole is not None and p["owner"] in {r["owner_nid"] for r in whole.fields["parcels"]}


@pytest.mark.parametrize(
    "reason, code", [("重測", "resurvey"), ("合併", "merger"), ("分割", "split")]
)
def test_a_former_number_finds_the_current_parcel_and_says_so(
    counter: Counter, reason: str, code: str
) -> None:
    p = renumbered(counter.env, "taipei-city", reason)
    result = land(ask_about(counter, parcel("taipei-city", p["section"], p["old"])))
    rows = result["fields"]["parcels"]
    assert {r["parcel_no"] for r in rows} == {p["new"]}
    assert {r["matched_by"] for r in rows} == {"former_number"}
    history = result["fields"]["history"]
    step = next(h for h in history if h["former_parcel_no"] == p["old"])
    assert step["current_parcel_no"] == p["new"] and step["change_reason"] == code
    assert step["changed_on"] < "2026-06-30"


def test_a_section_renamed_by_the_merger_is_found_by_its_old_name(counter: Counter) -> None:
    with store(counter.env, "new-taipei-city") as db:
        old_name, section, number = db.execute(
            "SELECT x.old_sect_name, s.sect_name, m.land_no FROM sect_history x "
            "JOIN sections s ON s.sect_code = x.sect_code "
            "JOIN land_mark m ON m.sect_code = x.sect_code "
            "JOIN land_own o ON o.land_key = m.land_key ORDER BY m.land_key LIMIT 1"
        ).fetchone()
    number = f"{number[:4]}-{number[4:]}"
    result = land(ask_about(counter, parcel("new-taipei-city", old_name, number)))
    assert result["owners"] == ["new-taipei-city.land_office"]
    rows = result["fields"]["parcels"]
    assert {(r["section"], r["parcel_no"], r["matched_by"]) for r in rows} == {
        (section, number, "former_section")
    }
    renamed = [h for h in result["fields"]["history"] if h["change_reason"] == "section_renamed"]
    assert renamed[0]["former_section"] == old_name and renamed[0]["changed_on"] == "2010-12-25"


def test_a_building_by_its_number_and_by_its_house_number_before_the_merger(
    counter: Counter,
) -> None:
    with store(counter.env, "new-taipei-city") as db:
        section, number, door = db.execute(
            "SELECT s.sect_name, b.bldg_no, d.door_base FROM bldg_mark b "
            "JOIN sections s ON s.sect_code = b.sect_code "
            "JOIN bldg_door d ON d.bldg_key = b.bldg_key "
            "WHERE b.door_addr LIKE '臺北縣%' ORDER BY b.bldg_key LIMIT 1"
        ).fetchone()
    number = f"{number[:5]}-{number[5:]}"
    thing = {"kind": "building", "jurisdiction": "new-taipei-city", "section": section,
             "building_no": number}  # fmt: skip
    evidence = [{"type": "building_registration"}]
    by_number = ask_about(counter, thing, BUILDING_ITEM, evidence=evidence)
    assert by_number.status_code == 200, by_number.text
    (result,) = by_number.json()["results"]
    assert {b["building_no"] for b in result["fields"]["buildings"]} == {number}
    # the register still writes it as 臺北縣…; the clerk types today's 新北市… form
    today, before = subjects.parse_house_address(door)
    assert today.startswith("新北市") and before == door
    by_door = ask_about(
        counter, {"kind": "address", "address": today}, BUILDING_ITEM, evidence=evidence
    )
    assert by_door.status_code == 200, by_door.text
    (found,) = by_door.json()["results"]
    assert number in {b["building_no"] for b in found["fields"]["buildings"]}
    assert all("owner_nid" not in b for b in found["fields"]["buildings"])


def test_a_thing_asked_with_bad_parts_is_refused_naming_the_field(counter: Counter) -> None:
    bad = ask_about(counter, parcel("taipei-city", "北投段", "12-34-56"))
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["subject.parcel_no"]
    missing = ask_about(counter, {"kind": "parcel", "jurisdiction": "taipei-city"})
    assert {e["field"] for e in missing.json()["errors"]} == {
        "subject.section",
        "subject.parcel_no",
    }
    person_only = ask_about(
        counter,
        parcel("taipei-city", "北投段", "1-0"),
        evidence=[{"type": "household_registration"}],
    )
    assert person_only.status_code == 422
    assert person_only.json()["errors"][0]["field"] == "evidence[0].type"
    nowhere = ask_about(counter, {"kind": "address", "address": "新北市板橋區文化路一段"})
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"][0]["field"] == "subject.address"


def test_evidence_not_asked_by_a_parcel_is_named_in_words(counter: Counter) -> None:
    person_only = ask_about(
        counter,
        parcel("taipei-city", "北投段", "1-0"),
        evidence=[{"type": "household_registration"}],
    )
    assert person_only.status_code == 422
    (error,) = person_only.json()["errors"]
    assert error["reason"] == "戶籍資料 不能依地號、建號或門牌查詢（只能依身分證統一編號）"
    assert "household_registration" not in error["reason"]


def test_the_audit_names_the_citizen_of_the_case_and_the_parcel(counter: Counter) -> None:
    p = renumbered(counter.env, "taipei-city", "合併")
    response = ask_about(counter, parcel("taipei-city", p["section"], p["old"]))
    request_id = response.json()["request_id"]
    with counter.app.state.sessions() as db:
        found, _ = find_entries(db, EntryFilter(dataset="land_registration"))
    (entry,) = [e for e in found if e.request_id == request_id]
    assert entry.subject == counter.env.sample("taipei_home_owner")
    assert entry.details["about"] == subjects.parcel("taipei-city", p["section"], p["old"]).key
    assert "parcels.owner_nid" not in entry.fields


def test_a_national_id_request_is_unchanged(counter: Counter) -> None:
    citizen = counter.env.sample("taipei_home_owner")
    response = counter.ask("tpe-udd-clerk", citizen)
    assert response.status_code == 200, response.text
    assert response.json()["about"] is None
    assert response.json()["subject_masked"].endswith("****")


def test_a_parcel_is_found_by_its_section_written_with_its_subsection(counter: Counter) -> None:
    """A 地號 is numbered within its 小段, and a clerk copies 板橋段一小段 from the deed: the
    section written with its subsection finds the parcel, and another subsection's does not
    find it (it names a different parcel)."""
    with store(counter.env, "taipei-city") as db:
        section, subsection, number, other = db.execute(
            "SELECT s.sect_name, s.subsect_name, m.land_no, "
            "(SELECT o.subsect_name FROM sections o WHERE o.sect_name = s.sect_name "
            " AND o.subsect_name <> s.subsect_name LIMIT 1) FROM land_mark m "
            "JOIN sections s ON s.sect_code = m.sect_code "
            "WHERE s.subsect_name IS NOT NULL ORDER BY m.land_key LIMIT 1"
        ).fetchone()
    dashed = f"{number[:4]}-{number[4:]}"
    result = land(ask_about(counter, parcel("taipei-city", section + subsection, dashed)))
    assert result["status"] == "issued", result["reason"]
    rows = result["fields"]["parcels"]
    assert {(r["section"], r["subsection"], r["parcel_no"]) for r in rows} == {
        (section, subsection, dashed)
    }
    elsewhere = ask_about(counter, parcel("taipei-city", section + other, dashed))
    assert elsewhere.status_code == 404, elsewhere.text
    (reason,) = (r["reason"] for r in elsewhere.json()["results"])
    for said in reason.values():
        assert f"{section}{other}" in said and "此人" not in said and "person" not in said, said
    assert "土地登記資料；" in reason["zh-TW"] and "in Land registration;" in reason["en"], reason
