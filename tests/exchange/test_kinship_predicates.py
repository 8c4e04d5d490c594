"""Issue 17: the kinship predicates a household office answers - is B within N degrees of A
(and through which line), and the heirs of a deceased A by art. 1138 - asked through the
exchange as minimised answers: codes and numbers, no name, no record."""

from __future__ import annotations

import re
from typing import Any

import pytest

from onceonly.citizens.accesses import AccessFilter, list_accesses
from tests.exchange.support import Counter

CLERK = "tpe-hh-clerk"
ITEM = "kinship-chart"
DEGREE = "within_kinship_degree"


def _ask(counter: Counter, subject: str, *evidence: dict[str, Any]) -> Any:
    return counter.ask(CLERK, subject, application_item=ITEM, evidence=list(evidence))


def _relatives(counter: Counter, subject: str) -> dict[str, str]:
    """Relation -> national ID, from the kinship record the rule lets the clerk read."""
    got = _ask(counter, subject, {"type": "kinship"})
    assert got.status_code == 200, got.text
    rows = counter.results(got)["kinship"]["fields"]["relatives"]
    return {r["relation"]: r["national_id"] for r in rows if r["relation"] != "self"}


def _no_names(result: dict[str, Any], counter: Counter, subject: str) -> None:
    """Nothing a person could be named or found by: no field, no name, no national ID."""
    text = repr(result["answer_detail"])
    assert result["fields"] is None
    assert re.search(r"[A-Z][12]\d{8}", text) is None
    assert re.search(r"[\u4e00-\u9fff]", text) is None  # no name, in any script we hold
    assert "relatives" not in text and "birth" not in text


def test_a_spouse_and_a_son_are_within_the_degree_a_stranger_is_not(counter: Counter) -> None:
    deceased = counter.env.sample("kinship_deceased")
    kin = _relatives(counter, deceased)
    got = _ask(
        counter,
        deceased,
        {"type": DEGREE, "params": {"other": kin["spouse"]}},
    )
    assert got.status_code == 200, got.text
    spouse = counter.results(got)[DEGREE]
    assert spouse["status"] == "issued" and spouse["answer"] is True
    assert spouse["answer_detail"]["line"] == "spouse"
    _no_names(spouse, counter, deceased)

    child = next(n for r, n in _kinship_rows(counter, deceased) if r == "child")
    son = counter.results(_ask(counter, deceased, {"type": DEGREE, "params": {"other": child}}))
    detail = son[DEGREE]["answer_detail"]
    assert son[DEGREE]["answer"] is True
    assert (detail["line"], detail["lineal"], detail["degree"]) == ("blood", True, 1)
    assert detail["complete"] is False  # the child's own record is kept by another city
    _no_names(son[DEGREE], counter, deceased)

    stranger = counter.env.sample("veteran")
    no = counter.results(_ask(counter, deceased, {"type": DEGREE, "params": {"other": stranger}}))
    assert no[DEGREE]["status"] == "issued" and no[DEGREE]["answer"] is False
    assert set(no[DEGREE]["answer_detail"]) == {"complete"}


def _kinship_rows(counter: Counter, subject: str) -> list[tuple[str, str]]:
    got = _ask(counter, subject, {"type": "kinship"})
    rows = counter.results(got)["kinship"]["fields"]["relatives"]
    return [(r["relation"], r["national_id"]) for r in rows]


def test_the_heirs_come_by_relationship_and_order_without_names(counter: Counter) -> None:
    deceased = counter.env.sample("kinship_deceased")
    got = _ask(counter, deceased, {"type": "heirs_of"})
    assert got.status_code == 200, got.text
    heirs = counter.results(got)["heirs_of"]
    assert heirs["answer"] is True
    detail = heirs["answer_detail"]
    assert sorted((h["relationship"], h["order"] or 0) for h in detail["heirs"]) == [
        ("descendant", 1),
        ("descendant", 1),
        ("spouse", 0),
    ]
    assert detail["deceased"] is True and detail["complete"] is False
    _no_names(heirs, counter, deceased)


def test_the_living_have_no_heirs(counter: Counter) -> None:
    deceased = counter.env.sample("kinship_deceased")
    widow = _relatives(counter, deceased)["spouse"]
    heirs = counter.results(_ask(counter, widow, {"type": "heirs_of"}))["heirs_of"]
    assert heirs["answer"] is False and heirs["answer_detail"]["heirs"] == []


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({}, "evidence[0].params.other", "missing"),
        ({"other": "A12345678X"}, "evidence[0].params.other", "invalid"),
        ({"other": "A123456789", "degree": 9}, "evidence[0].params.degree", "not_allowed"),
        ({"other": "A123456789", "who": 1}, "evidence[0].params.who", "unknown"),
    ],
)
def test_wrong_params_are_a_422_naming_the_field(
    counter: Counter, params: dict[str, Any], field: str, code: str
) -> None:
    deceased = counter.env.sample("kinship_deceased")
    got = _ask(counter, deceased, {"type": DEGREE, "params": params})
    assert got.status_code == 422, got.text
    errors = got.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)], errors


def test_the_other_person_asked_about_sees_the_look_on_their_own_page(counter: Counter) -> None:
    """Found by an attacker's review: the second person of a kinship question was read but
    the look was written only under the case's citizen, so their "who looked at my data"
    page never showed it, whoever the clerk named."""
    deceased = counter.env.sample("kinship_deceased")
    stranger = counter.env.sample("veteran")
    asked = _ask(counter, deceased, {"type": DEGREE, "params": {"other": stranger}})
    assert asked.status_code == 200, asked.text
    with counter.app.state.sessions() as db:
        shown, _ = list_accesses(db, stranger, AccessFilter(), "zh-TW")
    [look] = [a for a in shown if a.predicate == DEGREE]
    assert look.agency == "taipei-city.household_office" and not look.by_citizen
    assert look.case_id == counter.case(CLERK, deceased, ITEM)
    assert look.predicate_name and look.predicate_name != DEGREE
