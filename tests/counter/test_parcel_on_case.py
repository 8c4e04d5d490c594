"""An answer about a parcel asked at the counter is kept on the case (issue 17): after a
reload it is still on the case page, the timeline says in words which parcel was asked and
which land office answered, the printout shows it, its signed transcript downloads; only
the fields the owner's rule let out are stored."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from onceonly.cases.models import Case, CaseThingAnswer
from onceonly.db import make_session_factory
from onceonly.exchange.transcript import verify_transcript
from onceonly.policy.models import AccessRule
from tests.conftest import DemoEnv
from tests.counter.support import Visitor
from tests.exchange.test_parcels import ITEM, NEVER, renumbered

Visit = Callable[[str], Visitor]
CLERK = "tpe-land-clerk"


def _ask_about_a_parcel(visit: Visit, demo_env: DemoEnv) -> tuple[Visitor, str, dict[str, str]]:
    clerk = visit(CLERK)
    opened = clerk.open_case(ITEM, demo_env.sample("taipei_home_owner"))
    assert opened.status_code == 200, opened.text
    number = Visitor.case_number(opened)
    p = renumbered(demo_env, "taipei-city", "合併")
    form = {"kind": "parcel", "jurisdiction": "taipei-city", "section": p["section"],
            "parcel_no": p["old"]}  # fmt: skip
    asked = clerk.post(f"/counter/cases/{number}/lookup", form)
    assert asked.status_code == 200, asked.text
    assert "?done=lookup" in str(asked.url)
    return clerk, number, p


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_the_answer_survives_a_reload_and_is_in_the_timeline_and_printout(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk, number, p = _ask_about_a_parcel(visit, demo_env)
    about = f"{p['section']} {p['old']} 地號"  # as asked (its former number)
    page = clerk.get(f"/counter/cases/{number}")  # a reload: nothing posted
    assert page.status_code == 200
    answer = page.text.split('id="lookup-answer"', 1)[1]
    assert f"查詢標的：{about}" in answer
    assert p["new"] in answer and "○" in answer  # the current parcel; masked owners
    assert "數位簽章：有效" in answer and "臺北市" in answer
    timeline = _text(page.text.split('id="timeline-title"', 1)[-1])
    assert f"查詢「{about}」之土地登記" in timeline, timeline[:2000]
    assert "已取得（答復機關：臺北市" in timeline
    printed = clerk.get(f"/counter/cases/{number}/print")
    assert printed.status_code == 200
    assert f"查詢標的：{about}" in printed.text and f"查詢「{about}」" in printed.text
    assert "/jws" not in printed.text.split('id="lookup-answer"', 1)[1].split("</section>", 1)[0]
    link = re.search(r'href="(/counter/cases/[^"]+/lookups/\d+/0/jws)"', page.text)
    assert link is not None
    jws = clerk.get(link.group(1))
    assert jws.status_code == 200 and "attachment" in jws.headers["content-disposition"]
    claims = verify_transcript(jws.text, clerk.get("/.well-known/jwks.json").json())
    assert claims.claims.fields["parcels"][0]["parcel_no"] == p["new"]
    english = clerk.get(f"/counter/cases/{number}?lang=en")
    assert "answered by" in english.text
    for shown in (page.text, printed.text, jws.text):
        assert p["owner"] not in shown


def test_a_field_the_rule_withholds_is_never_stored(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    """Besides the owners' IDs and full names (never allowed), the land offices' rule here
    also leaves out the masked names: the answer is kept without them, signed or not."""
    factory = make_session_factory(demo_app.state.engine)
    with factory.begin() as db:
        for rule in db.scalars(select(AccessRule).where(AccessRule.dataset == "land_registration")):
            rule.fields = [f for f in rule.fields if f != "parcels.owner_name_masked"]
    _, number, p = _ask_about_a_parcel(visit, demo_env)
    with factory() as db:
        case = db.scalars(select(Case).where(Case.number == number)).one()
        (row,) = db.scalars(select(CaseThingAnswer).where(CaseThingAnswer.case_id == case.id))
        assert row.status == "issued" and row.owners == ["taipei-city.land_office"]
        assert row.fields is not None and row.transcripts
        stored = json.dumps([row.fields, row.transcripts], ensure_ascii=False)
        signed = [_payload(tr["jws"]) for tr in row.transcripts]
    assert p["owner"] not in stored and "○" not in stored
    assert row.fields["parcels"], "the answer itself is kept"
    for kept in (row.fields, *signed):
        assert not {*NEVER, "owner_name_masked"} & _keys(kept), "a withheld field was stored"


def _payload(jws: str) -> Any:
    body = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _keys(value: Any) -> set[str]:
    """Every key at any depth of a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_the_pdf_downloads_and_an_unknown_piece_is_not_found(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk, number, _ = _ask_about_a_parcel(visit, demo_env)
    link = re.search(
        r"/counter/cases/[^/]+/lookups/(\d+)/0/jws", clerk.get(f"/counter/cases/{number}").text
    )
    assert link is not None
    pdf = clerk.get(f"/counter/cases/{number}/lookups/{link.group(1)}/0/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert clerk.get(f"/counter/cases/{number}/lookups/{link.group(1)}/5/jws").status_code == 404
    assert clerk.get(f"/counter/cases/{number}/lookups/999999/0/jws").status_code == 404
