"""Deny by default; an approved, current rule of the owner allows exactly what it names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from onceonly.db import make_engine, make_session_factory, utcnow
from onceonly.errors import Problem
from onceonly.policy.service import (
    Requester,
    RuleRequest,
    approve_rule,
    decide,
    get_rule,
    grant_consent,
    reject_rule,
    request_rule,
    revoke_consent,
    revoke_rule,
    taipei_day,
)

OWNER = "taipei-city.social_welfare"
CLERK = Requester("taipei-city.urban_development", "urban_development", "taipei-city")
ITEM = "public-housing-low-income"
SUBJECT = "A123456789"


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        yield session
    engine.dispose()


def _rule(session: Session, approve: bool = True, **overrides: object) -> int:
    request = RuleRequest(
        owner_agency=OWNER,
        dataset="welfare_status",
        application_item=ITEM,
        legal_basis="social-assistance-act",
        requesting_agency_kind="urban_development",
        requesting_jurisdiction="taipei-city",
        fields=["low_income_status", "low_income_valid_until"],
        predicates=["is_low_income_household"],
    )
    for name, value in overrides.items():
        setattr(request, name, value)
    rule = request_rule(session, request, requested_by="tpe-udd-clerk")
    if approve:
        approve_rule(session, rule.id, "tpe-sw-owner", OWNER)
    return rule.id


def _ask(session: Session, **overrides: object) -> object:
    arguments: dict[str, object] = {
        "requester": CLERK,
        "owner_agency": OWNER,
        "dataset": "welfare_status",
        "application_item": ITEM,
        "subject": SUBJECT,
        "case_id": "C-1",
        "predicate": "is_low_income_household",
    }
    arguments.update(overrides)
    return decide(session, **arguments)  # type: ignore[arg-type]


def test_nothing_is_allowed_without_a_rule(session: Session) -> None:
    decision = _ask(session)
    assert not decision.allowed
    assert decision.code == "no_rule"
    assert OWNER in decision.reason_en and "taipei-city.urban_development" in decision.reason_en
    assert "未核准" in decision.reason_zh


def test_an_approved_rule_allows_and_says_which(session: Session) -> None:
    rule_id = _rule(session)
    decision = _ask(session)
    assert decision.allowed and decision.rule_id == rule_id
    assert f"R-{rule_id}" in decision.reason_en and "social-assistance-act" in decision.reason_en


def test_a_pending_request_grants_nothing(session: Session) -> None:
    rule_id = _rule(session, approve=False)
    decision = _ask(session)
    assert (decision.allowed, decision.code, decision.rule_id) == (False, "rule_pending", rule_id)


def test_a_rejected_request_says_why(session: Session) -> None:
    rule_id = _rule(session, approve=False)
    reject_rule(session, rule_id, "tpe-sw-owner", OWNER, "用途不明確")
    decision = _ask(session)
    assert decision.code == "rule_rejected" and "用途不明確" in decision.reason_zh


def test_revocation_holds_from_the_next_request(session: Session) -> None:
    rule_id = _rule(session)
    assert _ask(session).allowed
    revoke_rule(session, rule_id, "tpe-sw-owner", OWNER, "稽核發現濫用")
    decision = _ask(session)
    assert not decision.allowed and decision.code == "rule_revoked"
    assert "稽核發現濫用" in decision.reason_zh


def test_an_expired_rule_no_longer_allows(session: Session) -> None:
    yesterday = utcnow().date() - timedelta(days=1)
    _rule(session, valid_from=date(2020, 1, 1), valid_until=yesterday)
    decision = _ask(session)
    assert decision.code == "rule_expired" and yesterday.isoformat() in decision.reason_en


def test_a_rule_ends_at_midnight_in_taipei_not_eight_hours_later(session: Session) -> None:
    """Its last day, 31 December, is over at 00:00 on 1 January in Taipei (16:00 UTC)."""
    _rule(session, valid_from=date(2020, 1, 1), valid_until=date(2026, 12, 31))
    last_minute = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)
    assert _ask(session, now=last_minute).allowed
    new_year_in_taipei = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert _ask(session, now=new_year_in_taipei).code == "rule_expired"


def test_a_rule_asked_for_in_the_taipei_morning_starts_that_day(session: Session) -> None:
    rule = _rule(session, valid_from=None)
    assert get_rule(session, rule).valid_from == taipei_day(utcnow())  # type: ignore[union-attr]


def test_a_rule_for_another_agency_kind_or_jurisdiction_does_not_apply(session: Session) -> None:
    _rule(session)
    labour = Requester("taipei-city.labour", "labour", "taipei-city")
    assert _ask(session, requester=labour).code == "no_rule"
    elsewhere = Requester("yilan-county.urban_development", "urban_development", "yilan-county")
    assert _ask(session, requester=elsewhere).code == "no_rule"


def test_only_the_fields_the_rule_names_leave(session: Session) -> None:
    _rule(session)
    decision = _ask(session, predicate=None, fields=["low_income_status", "disability_level"])
    assert decision.allowed
    assert decision.fields == ("low_income_status",)
    assert decision.withheld == ("disability_level",)
    assert "disability_level" in decision.reason_en


def test_fields_outside_the_rule_are_refused(session: Session) -> None:
    _rule(session)
    decision = _ask(session, predicate=None, fields=["disability_level"])
    assert decision.code == "fields_not_allowed"


def test_a_predicate_the_rule_does_not_name_is_refused(session: Session) -> None:
    _rule(session)
    decision = _ask(session, predicate="has_disability_certificate")
    assert decision.code == "predicate_not_allowed"


def test_consent_is_needed_when_the_rule_says_so(session: Session) -> None:
    _rule(session, consent_required=True)
    assert _ask(session).code == "needs_consent"
    consent_id = grant_consent(session, SUBJECT, ITEM, case_id="C-1")
    assert _ask(session).allowed
    assert _ask(session, case_id="C-2").code == "needs_consent"
    revoke_consent(session, consent_id, SUBJECT)
    assert _ask(session).code == "needs_consent"


def test_a_standing_consent_covers_every_case_until_it_expires(session: Session) -> None:
    _rule(session, consent_required=True)
    grant_consent(session, SUBJECT, ITEM, expires_at=utcnow() - timedelta(seconds=1))
    assert _ask(session).code == "needs_consent"
    grant_consent(session, SUBJECT, ITEM)
    assert _ask(session, case_id="C-9").allowed


def test_only_the_owner_approves_and_states_are_respected(session: Session) -> None:
    rule_id = _rule(session, approve=False)
    with pytest.raises(Problem) as other:
        approve_rule(session, rule_id, "someone", "taipei-city.urban_development")
    assert other.value.status == 403
    approve_rule(session, rule_id, "tpe-sw-owner", OWNER)
    with pytest.raises(Problem) as twice:
        approve_rule(session, rule_id, "tpe-sw-owner", OWNER)
    assert twice.value.status == 409
    with pytest.raises(Problem) as no_reason:
        revoke_rule(session, rule_id, "tpe-sw-owner", OWNER, "  ")
    assert no_reason.value.status == 422 and no_reason.value.errors[0].field == "reason"


def test_a_rule_must_allow_something_and_name_a_requester(session: Session) -> None:
    with pytest.raises(Problem) as excinfo:
        request_rule(
            session,
            RuleRequest(OWNER, "welfare_status", ITEM, "social-assistance-act"),
            requested_by="x",
        )
    fields = {e.field for e in excinfo.value.errors}
    assert fields == {"requesting_agency", "fields"}
