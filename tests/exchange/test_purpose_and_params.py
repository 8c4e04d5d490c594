"""Issue 12, holes 2, 3 and the predicate parts of 6: a clerk chooses neither the question a
predicate answers nor the purpose an evidence request is made for.

* predicate parameters come from the owner's rule or the catalog; a caller's other value is a
  422 naming the field, so a bisection for the income behind a yes/no learns nothing;
* a rule may list values a caller chooses among; asking one citizen with several of them
  raises an alert the owner's auditors see;
* ``NaN``, ``Infinity``, ``1e400``, 500-level nesting and a non-numeric threshold are 422s;
* every request belongs to an open case of the clerk's agency for that item and citizen;
* consent and preview follow the citizen's dataset, not the item the clerk names.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from onceonly.accounts.users import create_user
from onceonly.audit.log import EntryFilter, find_entries
from onceonly.cases import service as cases
from onceonly.db import transaction
from onceonly.exchange.schemas import EvidenceResponse
from onceonly.exchange.transcript import verify_transcript
from onceonly.policy import service as policy
from tests.casework import open_case
from tests.counter.support import PASSWORD, Visitor
from tests.exchange.support import ITEM, URL, Counter

INCOME = "household_income_below"
STATUTORY = 19013
"""The catalog's threshold for the item (application_items.yaml)."""


def _income(counter: Counter, subject: str, params: Any, **body: Any) -> Any:
    return counter.ask(
        "tpe-udd-clerk", subject, evidence=[{"type": INCOME, "params": params}], **body
    )


def _raw(counter: Counter, subject: str, params_json: str) -> Any:
    """Post a body whose ``params`` is written by hand (``NaN`` is not JSON Python emits)."""
    case = counter.case("tpe-udd-clerk", subject)
    body = (
        f'{{"case_id": "{case}", "application_item": "{ITEM}", "subject": "{subject}", '
        f'"evidence": [{{"type": "{INCOME}", "params": {params_json}}}]}}'
    )
    headers = {**counter.headers("tpe-udd-clerk"), "content-type": "application/json"}
    return counter.client.post(URL, content=body.encode(), headers=headers)


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def _income_entries(counter: Counter, subject: str) -> list[Any]:
    with counter.app.state.sessions() as db:
        entries, _ = find_entries(db, EntryFilter(subject=subject, dataset="income"), limit=100)
    return entries


# --- hole 2: the parameters are the rule's or the catalog's ------------------------------------


def test_a_bisection_of_the_threshold_learns_nothing(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    for threshold in (5000, 10000, 15000, 17500, 18000, 30000):
        refused = _income(counter, subject, {"threshold": threshold})
        assert refused.status_code == 422, refused.text
        assert _fields(refused) == ["evidence[0].params.threshold"]
        assert str(STATUTORY) in refused.json()["errors"][0]["reason"]
        assert "answer" not in refused.text
    assert _income_entries(counter, subject) == []  # the owner was never asked


def test_without_params_or_with_the_statutory_ones_the_catalog_value_is_asked(
    counter: Counter,
) -> None:
    subject = counter.env.sample("low_income_applicant")
    jwks = counter.client.get("/.well-known/jwks.json").json()
    for params in ({}, {"threshold": STATUTORY}, {"threshold": float(STATUTORY)}):
        response = _income(counter, subject, params)
        assert response.status_code == 200, response.text
        result = counter.results(response)[INCOME]
        assert result["status"] == "issued" and result["answer"] is True
        claims = verify_transcript(result["transcripts"][0]["jws"], jwks).payload
        assert claims["predicate"]["params"] == {"threshold": STATUTORY}


def test_the_income_record_itself_is_the_owners_rule_to_refuse_naming_its_fields(
    counter: Counter,
) -> None:
    """The item needs the yes/no, not the record it is read from: asking for the record is
    decided by the owner's rule against the record's fields (none were named), and the
    item's threshold, which belongs to the predicate, is not sent along with it."""
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask("tpe-udd-clerk", subject, evidence=[{"type": "income"}])
    assert response.status_code == 403, response.text
    result = counter.results(response)["income"]
    assert result["status"] == "denied", result
    assert "total_income" in result["reason"]["en"] and "total_income" in result["reason"]["zh-TW"]
    [entry] = _income_entries(counter, subject)
    assert entry.decision == "denied" and not (entry.details or {}).get("params")


def test_a_parameter_the_predicate_does_not_take_is_refused(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    refused = counter.ask(
        "tpe-udd-clerk",
        subject,
        evidence=[{"type": "is_low_income_household", "params": {"on": "2001-01-01"}}],
    )
    assert refused.status_code == 422
    assert _fields(refused) == ["evidence[0].params.on"]


def _rule_with_choices(counter: Counter, values: list[int]) -> int:
    """The income owner lets the housing department choose among ``values``."""
    with transaction(counter.app.state.sessions) as db:
        rule = policy.request_rule(
            db,
            policy.RuleRequest(
                owner_agency="central.fia",
                dataset="income",
                application_item=ITEM,
                legal_basis="tax-collection-act-art33",
                requesting_agency="taipei-city.urban_development",
                predicates=[INCOME],
                predicate_params={INCOME: {"threshold": values}},
            ),
            requested_by="tpe-udd-clerk",
        )
        policy.approve_rule(db, rule.id, "fia-owner", "central.fia", "ok")
    return rule.id


def test_a_rule_lets_a_caller_choose_only_among_its_listed_values(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    rule_id = _rule_with_choices(counter, [15000, STATUTORY, 25000])
    chosen = _income(counter, subject, {"threshold": 25000})
    assert chosen.status_code == 200, chosen.text
    assert counter.results(chosen)[INCOME]["rule_ids"] == [rule_id]
    refused = _income(counter, subject, {"threshold": 24999})
    assert refused.status_code == 422
    assert _fields(refused) == ["evidence[0].params.threshold"]
    assert "25000" in refused.json()["errors"][0]["reason"]
    default = _income(counter, subject, {})
    entry = _income_entries(counter, subject)[0]
    assert default.status_code == 200 and entry.predicate_params == {"threshold": STATUTORY}


def test_varied_parameters_about_one_citizen_alert_the_owners_auditors(
    counter: Counter,
) -> None:
    subject = counter.env.sample("low_income_applicant")
    _rule_with_choices(counter, [15000, STATUTORY, 25000])
    with transaction(counter.app.state.sessions) as db:
        create_user(db, "fia-auditor", PASSWORD, "auditor", "central.fia", "稽核")
    url = "/api/v1/access-rules/alerts"
    for threshold in (15000, 25000):
        assert _income(counter, subject, {"threshold": threshold}).status_code == 200
    assert counter.client.get(url, headers=counter.headers("fia-auditor")).json() == []

    assert _income(counter, subject, {"threshold": STATUTORY}).status_code == 200
    alerts = counter.client.get(url, headers=counter.headers("fia-auditor")).json()
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert["owner_agency"] == "central.fia" and alert["subject"] == subject
    assert alert["predicate"] == INCOME and alert["distinct_params"] == 3
    assert {p["threshold"] for p in alert["params_seen"]} == {15000, 25000, STATUTORY}
    assert alert["requesters"] == ["taipei-city.urban_development"]
    visitor = Visitor(counter.client).sign_in("fia-auditor")
    page = visitor.get("/owners/alerts")
    assert page.status_code == 200 and f'id="alert-{alert["id"]}"' in page.text
    assert subject not in page.text  # masked on the page
    counter.client.cookies.clear()
    # another jurisdiction's auditors and the clerk do not see the central owner's alerts
    assert counter.client.get(url, headers=counter.headers("tpe-auditor")).json() == []
    assert counter.client.get(url, headers=counter.headers("tpe-udd-clerk")).status_code == 403


def test_every_listed_value_in_one_request_alerts_the_owners_auditors(counter: Counter) -> None:
    """The alert counted only earlier requests: one request asking the predicate once per
    listed value (a whole bisection at once) raised nothing."""
    subject = counter.env.sample("low_income_applicant")
    _rule_with_choices(counter, [15000, STATUTORY, 25000])
    with transaction(counter.app.state.sessions) as db:
        create_user(db, "fia-auditor", PASSWORD, "auditor", "central.fia", "稽核")
    asks = [{"type": INCOME, "params": {"threshold": t}} for t in (15000, STATUTORY, 25000)]
    answered = counter.ask("tpe-udd-clerk", subject, evidence=asks)
    assert answered.status_code == 200, answered.text
    url = "/api/v1/access-rules/alerts"
    alerts = counter.client.get(url, headers=counter.headers("fia-auditor")).json()
    assert [(a["subject"], a["distinct_params"]) for a in alerts] == [(subject, 3)]
    assert {p["threshold"] for p in alerts[0]["params_seen"]} == {15000, 25000, STATUTORY}


# --- hole 6: bad parameters are 422s naming the field, never 500 or 503 -------------------------


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused_naming_the_field(counter: Counter, value: str) -> None:
    subject = counter.env.sample("low_income_applicant")
    response = _raw(counter, subject, f'{{"threshold": {value}}}')
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "threshold" in response.text and "Retry-After" not in response.headers


def test_parameters_nested_500_deep_are_refused_at_the_door(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    nested = '{"a": ' * 500 + "1" + "}" * 500
    response = _raw(counter, subject, f'{{"threshold": {nested}}}')
    assert response.status_code == 422, response.text[:500]
    assert "threshold" in response.text
    too_many = json.dumps({f"p{i}": i for i in range(50)})
    assert _raw(counter, subject, too_many).status_code == 422


def test_a_non_numeric_threshold_is_422_not_owner_unavailable(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    for value in ("many", True, 19013.5):
        response = _income(counter, subject, {"threshold": value})
        assert response.status_code == 422, response.text
        assert "Retry-After" not in response.headers
        assert _fields(response) == ["evidence[0].params.threshold"]


# --- hole 3: the purpose is a real, open case of the clerk's agency ------------------------------


def test_a_free_text_case_id_is_refused(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask("tpe-udd-clerk", subject, case_id="ANYTHING-1")
    assert response.status_code == 422
    assert _fields(response) == ["case_id"]
    assert _income_entries(counter, subject) == []


def test_a_case_of_another_agency_is_refused_like_one_that_does_not_exist(
    counter: Counter,
) -> None:
    subject = counter.env.sample("low_income_applicant")
    theirs = counter.case("tpe-social-clerk", subject, ITEM)
    assert theirs.startswith("TPE-SWD-")
    response = counter.ask("tpe-udd-clerk", subject, case_id=theirs)
    missing = counter.ask("tpe-udd-clerk", subject, case_id="TPE-UDD-115-999999")
    assert response.status_code == missing.status_code == 422
    assert _fields(response) == _fields(missing) == ["case_id"]


def test_the_case_must_be_for_the_named_item_and_citizen(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    other = counter.env.sample("taipei_home_owner")
    case = counter.case("tpe-udd-clerk", subject)
    wrong_item = counter.ask(
        "tpe-udd-clerk", subject, case_id=case, application_item="public-housing-general"
    )
    assert wrong_item.status_code == 422 and _fields(wrong_item) == ["application_item"]
    wrong_subject = counter.client.post(
        URL,
        json={"case_id": case, "application_item": ITEM, "subject": other},
        headers=counter.headers("tpe-udd-clerk"),
    )
    assert wrong_subject.status_code == 422 and _fields(wrong_subject) == ["subject"]


def test_a_decided_case_fetches_nothing_more(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    case = counter.case("tpe-udd-clerk", subject)
    fetched = counter.ask("tpe-udd-clerk", subject, case_id=case)
    assert fetched.status_code == 200
    with transaction(counter.app.state.sessions) as db:
        clerk = cases.CaseActor("tpe-udd-clerk", "taipei-city.urban_development", "clerk")
        cases.record_evidence(db, clerk, case, EvidenceResponse.model_validate(fetched.json()))
        cases.decide_case(db, clerk, case, "approved", "ok")
    decided = counter.ask("tpe-udd-clerk", subject, case_id=case)
    assert decided.status_code == 409 and _fields(decided) == ["case_id"]


LABOUR = "tpe-labour-clerk"
JOB_SEEKING = "job-seeking-transport-allowance"
"""The demo's rules ask for consent to the labour department's reads and a preview of the
welfare answer for this item."""
TEMPORARY_WORK = "temporary-work-allowance"
"""The same datasets, by rules that ask for neither."""


def test_naming_another_item_does_not_skip_consent_or_preview(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    refused = counter.ask(LABOUR, subject, application_item=JOB_SEEKING)
    assert refused.status_code == 403
    sidestep = counter.ask(LABOUR, subject, application_item=TEMPORARY_WORK)
    assert sidestep.status_code == 403, sidestep.text
    results = {r["evidence_type"]: r for r in sidestep.json()["results"]}
    assert {r["status"] for r in results.values()} == {"denied"}
    assert all(r["fields"] is None and r["answer"] is None for r in results.values())

    # the citizen consents to the temporary-work application: the household record comes,
    # the welfare answer waits for the citizen's preview, as on the other item
    case = counter.case(LABOUR, subject, TEMPORARY_WORK)
    with transaction(counter.app.state.sessions) as db:
        policy.grant_consent(db, subject, TEMPORARY_WORK, case)
    consented = counter.ask(LABOUR, subject, application_item=TEMPORARY_WORK)
    assert consented.status_code == 200, consented.text
    statuses = {r["evidence_type"]: r["status"] for r in consented.json()["results"]}
    assert statuses == {
        "household_registration": "issued",
        "is_low_income_household": "awaiting_preview",
    }


def test_a_consent_to_another_case_or_item_does_not_count(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    other_case = open_case(counter.app.state.sessions, LABOUR, TEMPORARY_WORK, subject)
    with transaction(counter.app.state.sessions) as db:
        policy.grant_consent(db, subject, JOB_SEEKING)  # standing, for the other item
        policy.grant_consent(db, subject, TEMPORARY_WORK, other_case)
    response = counter.ask(LABOUR, subject, application_item=TEMPORARY_WORK)
    assert response.status_code == 403


def test_owners_whose_rules_would_ask_different_values_are_not_all_asked_one_of_them(
    counter: Counter,
) -> None:
    """House tax is held by each city's tax office. When one of them lists a year for the
    item (2019) that the others' rules and the catalog (2026) do not, the piece is one
    question to all five: the last office's choice was sent to every office, so the others
    were asked about 2019 under rules that never approved it. Now the clerk is asked to
    name the year, which every office's rules must then allow. (The office's rule for the
    statutory year is revoked first: while it is current it allows 2026 too, see
    ``test_piece_rule_choice``.)"""
    resale, paid = "public-housing-resale", "house_tax_paid_for_year"
    subject = counter.env.sample("taipei_home_owner")
    asked = [{"type": paid}]
    before = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=asked)
    assert before.status_code == 200, before.text
    with transaction(counter.app.state.sessions) as db:
        for former in policy.list_rules(
            db, owner_agency="yilan-county.tax_office", dataset="house_tax", application_item=resale
        ):
            if former.status == "approved":
                policy.revoke_rule(db, former.id, "ila-tax-owner", "yilan-county.tax_office", "-")
        rule = policy.request_rule(
            db,
            policy.RuleRequest(
                owner_agency="yilan-county.tax_office",
                dataset="house_tax",
                application_item=resale,
                legal_basis="house-tax-act",
                requesting_agency="taipei-city.urban_development",
                predicates=[paid],
                predicate_params={paid: {"year": [2019]}},
            ),
            requested_by="tpe-udd-clerk",
        )
        policy.approve_rule(db, rule.id, "ila-tax-owner", "yilan-county.tax_office", "ok")
    refused = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=asked)
    assert refused.status_code == 422, refused.text
    assert _fields(refused) == ["evidence[0].params.year"]
    reason = refused.json()["errors"][0]["reason"]
    assert "2019" in reason and "2026" in reason and "指定" in reason
    for year in (2019, 2026):  # each refused by the offices whose rules do not allow it
        named = [{"type": paid, "params": {"year": year}}]
        answer = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=named)
        assert answer.status_code == 422, (year, answer.text)
