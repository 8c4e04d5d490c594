"""The kinship chart (親系關係圖) at the counter: drawn from the records of four cities'
household offices, asked through the exchange under the case's purpose; heirs named; no
relative's national ID drawn, and none shown at all when the rule withholds it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from onceonly.db import make_session_factory
from onceonly.errors import Problem
from onceonly.exchange.schemas import EvidenceAsk, EvidenceRequestIn, EvidenceResponse
from onceonly.exchange.service import Actor, exchange_for, request_evidence
from onceonly.policy.models import AccessRule
from tests.conftest import DemoEnv
from tests.counter.support import Visitor

Visit = Callable[[str], Visitor]
CLERK = "tpe-hh-clerk"
ITEM = "kinship-chart"


def _open(visitor: Visitor, subject: str) -> str:
    opened = visitor.open_case(ITEM, subject, confirmed="deceased")
    assert opened.status_code == 200, opened.text
    return Visitor.case_number(opened)


def test_the_chart_names_the_heirs_from_records_of_four_cities(
    visit: Visit, demo_env: DemoEnv
) -> None:
    clerk = visit(CLERK)
    deceased = demo_env.sample("kinship_deceased")
    number = _open(clerk, deceased)
    fetched = clerk.post(f"/counter/cases/{number}/evidence")
    assert fetched.status_code == 200
    assert "親系關係圖" in fetched.text and 'id="f-kinship"' in fetched.text
    page = clerk.post(f"/counter/cases/{number}/kinship")
    assert page.status_code == 200, page.text
    svg = re.search(r"<svg[^>]*class=\"kin-chart\".*?</svg>", page.text, re.S)
    assert svg is not None
    chart = svg.group(0)
    assert '<title id="kin-title">鄭國榮之親系關係圖</title>' in chart
    for name in ("鄭國榮", "許淑惠", "蘇麗珠", "鄭怡君", "鄭家豪", "鄭文雄", "鄭國華", "鄭水木"):
        assert name in chart, (
            name,
            re.findall(r"<li>.*?</li>", page.text.split("asked_title")[-1] if False else page.text)[
                -12:
            ],
        )  # the grandparents came through the father's record
    heirs = re.search(r'<ul class="kin-heirs">(.*?)</ul>', page.text, re.S)
    assert heirs is not None
    assert {"許淑惠", "鄭怡君", "鄭家豪"} == set(
        re.findall(r"<strong>(.*?)</strong>", heirs.group(1))
    )
    assert "前配偶（已離婚，非姻親）" in page.text
    assert "臺北州宜蘭郡宜蘭街戶口調查簿" in page.text  # the Japanese-era register
    assert re.search(r"[A-Z][12]\d{8}", chart) is None  # no national ID is ever drawn
    assert 'id="f-kinship"' not in page.text  # everyone within reach is held now
    printed = clerk.get(f"/counter/cases/{number}/print")
    assert printed.status_code == 200
    assert "kin-chart" in printed.text and "鄭家豪" in printed.text


def test_a_withheld_field_never_reaches_the_page_or_the_printout(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    """The household office's rule leaves out the relatives' national IDs and birth dates:
    the chart still shows names and relations, and neither field appears anywhere."""
    factory = make_session_factory(demo_app.state.engine)
    with factory.begin() as db:
        for rule in db.scalars(select(AccessRule).where(AccessRule.dataset == "kinship")):
            rule.fields = [
                f for f in rule.fields if f not in ("relatives.national_id", "relatives.birth_date")
            ]
    clerk = visit(CLERK)
    deceased = demo_env.sample("kinship_deceased")
    number = _open(clerk, deceased)
    page = clerk.post(f"/counter/cases/{number}/evidence")
    assert page.status_code == 200
    assert "許淑惠" in page.text and "鄭家豪" in page.text  # names and relation are allowed
    printed = clerk.get(f"/counter/cases/{number}/print").text
    for text in (page.text, printed):
        ids = set(re.findall(r"[A-Z][12]\d{8}", text))
        assert ids <= {deceased}, ids
        for born in ("1960-10-15", "1992-12-03", "1982-02-14", "1957-07-07", "1930"):
            assert born not in text
    assert 'id="f-kinship"' not in page.text  # without numbers, nobody further can be asked


def test_a_stranger_cannot_be_asked_about_under_a_kinship_case(
    visit: Visit, demo_env: DemoEnv, demo_app: FastAPI
) -> None:
    """The case's purpose reaches the relatives its records name, not anyone else."""
    clerk = visit(CLERK)
    number = _open(clerk, demo_env.sample("kinship_deceased"))
    clerk.post(f"/counter/cases/{number}/evidence")
    actor = Actor(CLERK, "", "clerk", "taipei-city.household_office")

    def ask(subject: str) -> EvidenceResponse:
        body = EvidenceRequestIn(
            case_id=number,
            application_item=ITEM,
            subject=subject,
            evidence=[EvidenceAsk(type="kinship")],
        )
        return request_evidence(exchange_for(demo_app.state), actor, body, "en")

    with pytest.raises(Problem) as refused:
        ask(demo_env.sample("veteran"))
    assert refused.value.status == 422
    assert [e.code for e in refused.value.errors] == ["not_case_subject"]
    son = ask(_son(clerk, number))
    assert [r.status for r in son.results] == ["issued"]


def _son(clerk: Visitor, number: str) -> str:
    held = clerk.get(f"/counter/cases/{number}/transcripts/kinship/0")
    found = re.findall(r"C1\d{8}", held.text)
    assert found, "the son's number (a 基隆市 C...) is on the subject's transcript"
    return found[0]
