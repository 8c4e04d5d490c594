"""The counter clerk's side of consent and preview on the demo's own rules: 求職交通補助金 needs
the citizen's consent, and the welfare answer is shown to the citizen before the clerk gets it.
The case page must say, in plain words, what the clerk is waiting for and what to do next."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from onceonly.citizens.previews import decide_preview, list_previews
from onceonly.db import transaction
from onceonly.policy.service import grant_consent
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

ITEM = "job-seeking-transport-allowance"
Visit = Callable[[str], Visitor]


def _case(clerk: Visitor, subject: str) -> str:
    opened = clerk.open_case(ITEM, subject)
    assert opened.status_code == 200, opened.text
    return clerk.case_number(opened)


def _decide_newest_preview(app: FastAPI, subject: str, case: str, approve: bool) -> None:
    with transaction(app.state.sessions) as db:
        pending = [p for p in list_previews(db, subject) if p.case_id == case]
        assert pending and pending[0].status == "pending"
        decide_preview(db, subject, pending[0].id, approve)


def test_consent_then_preview_then_release_as_the_clerk_sees_it(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    subject = demo_env.sample("low_income_applicant")
    clerk = visit("tpe-labour-clerk")
    case = _case(clerk, subject)

    page = clerk.post(f"/counter/cases/{case}/evidence").text
    assert "要求先取得民眾同意" in page

    with transaction(demo_app.state.sessions) as db:
        grant_consent(db, subject, ITEM, case)
    page = clerk.post(f"/counter/cases/{case}/evidence").text
    assert "請民眾登入「我的資料」入口查看並同意提供" in page
    assert "請民眾提供紙本" not in page

    _decide_newest_preview(demo_app, subject, case, approve=True)
    page = clerk.post(f"/counter/cases/{case}/evidence").text
    assert "請民眾登入「我的資料」入口查看並同意提供" not in page
    assert page.count("數位簽章：有效") >= 2


def test_a_declined_preview_tells_the_clerk_to_ask_for_paper(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    subject = demo_env.sample("low_income_applicant")
    clerk = visit("tpe-labour-clerk")
    case = _case(clerk, subject)
    with transaction(demo_app.state.sessions) as db:
        grant_consent(db, subject, ITEM, case)
    clerk.post(f"/counter/cases/{case}/evidence")
    _decide_newest_preview(demo_app, subject, case, approve=False)

    page = clerk.post(f"/counter/cases/{case}/evidence").text
    assert "民眾預覽後不同意提供這項證據" in page
    assert "規則已核准，請再調閱一次" not in page
