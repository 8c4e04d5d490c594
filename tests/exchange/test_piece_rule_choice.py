"""Every current rule of an owner covering a predicate counts, and the piece cites the one
allowing the values asked.

An owner had two current rules for the same requester, item and predicate: an older one
allowing the item's statutory tax year (2026) and a newer one listing only 2019. The
decision took the newest rule alone, so the clerk could no longer ask for 2026 although the
owner had approved a rule allowing it. Now a value any current rule allows may be asked; the
rule cited (``rule_ids``, the reason, the legal basis) is one that allows it; deny by default
and the citizen's consent and preview hold as before, whichever rule is used."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from onceonly.audit.log import EntryFilter, find_entries
from onceonly.catalog.service import DatasetView, PredicateParamView, PredicateView
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.errors import Problem
from onceonly.exchange.piece import Piece, settle_params
from onceonly.exchange.transcript import verify_transcript
from onceonly.policy import service as policy
from onceonly.policy.service import Requester, RuleRequest, decide
from tests.exchange.support import ITEM as LOW_INCOME_ITEM
from tests.exchange.support import Counter

OWNER = "yilan-county.tax_office"
OTHER_OWNER = "taipei-city.tax_office"
CLERK = Requester("taipei-city.urban_development", "urban_development", "taipei-city")
ITEM = "public-housing-resale"
PAID = "house_tax_paid_for_year"
STATUTORY = 2026
"""The catalog's tax year for the item (application_items.yaml)."""
SUBJECT = "A123456789"
CASE = "C-1"

HOUSE_TAX = DatasetView(
    code="house_tax",
    name_zh="房屋稅資料",
    name_en="House tax",
    description_zh="",
    description_en="",
    owner_scope="local",
    digitised=True,
    fields=(),
    predicates=(
        PredicateView(
            code=PAID,
            name_zh="該年度房屋稅已繳清",
            name_en="House tax paid for the year",
            description_zh="",
            params=(
                PredicateParamView(name="year", type="integer", label_zh="年度", label_en="Year"),
            ),
        ),
    ),
)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


def _rule(
    session: Session,
    years: list[int] | None = None,
    *,
    owner: str = OWNER,
    state: str = "approved",
    **overrides: Any,
) -> int:
    """A rule of ``owner`` letting the housing department ask the predicate, listing
    ``years`` (``None``: it lists none, so the statutory year only), in ``state``."""
    today = policy.taipei_day(utcnow())  # the day the policy judges by
    request = RuleRequest(
        owner_agency=owner,
        dataset="house_tax",
        application_item=ITEM,
        legal_basis="house-tax-act",
        requesting_agency=CLERK.agency,
        predicates=[PAID],
        predicate_params={PAID: {"year": years}} if years is not None else {},
    )
    if state == "expired":
        request.valid_from, request.valid_until = date(2020, 1, 1), today - timedelta(days=1)
    if state == "not_yet_valid":
        request.valid_from = today + timedelta(days=1)
    for name, value in overrides.items():
        setattr(request, name, value)
    rule = policy.request_rule(session, request, requested_by="tpe-udd-clerk")
    if state != "pending":
        policy.approve_rule(session, rule.id, "owner", owner)
    if state == "revoked":
        policy.revoke_rule(session, rule.id, "owner", owner, "稽核")
    return rule.id


def _ask(
    session: Session, asked: dict[str, Any] | None = None, owners: tuple[str, ...] = (OWNER,)
) -> Piece:
    """The piece as ``exchange.service`` takes it through: each owner's decision
    (``_decide``), then the parameters settled (``settle_params``)."""
    piece = Piece(
        evidence_type=PAID,
        dataset=HOUSE_TAX,
        predicate=PAID,
        params={},
        fields=(),
        legal_basis="house-tax-act",
        paper_name=None,
        owners=list(owners),
        asked_params=dict(asked or {}),
        statutory={"year": STATUTORY},
        declared={"year": "integer"},
    )
    for owner in owners:
        decision = decide(
            session,
            requester=CLERK,
            owner_agency=owner,
            dataset="house_tax",
            application_item=ITEM,
            subject=SUBJECT,
            case_id=CASE,
            predicate=PAID,
        )
        piece.decisions[owner] = decision
        if not decision.allowed:
            piece.status = "denied"
            piece.reason = {"zh-TW": decision.reason_zh, "en": decision.reason_en}
            break
    else:
        first = piece.decisions[owners[0]]
        piece.reason = {"zh-TW": first.reason_zh, "en": first.reason_en}
    settle_params([piece], "en")
    return piece


def _refused(session: Session, asked: dict[str, Any], **kwargs: Any) -> str:
    """The 422's one reason, naming the year field."""
    with pytest.raises(Problem) as refused:
        _ask(session, asked, **kwargs)
    assert refused.value.status == 422
    [error] = refused.value.errors
    assert error.field == "evidence[0].params.year"
    return error.reason


def test_one_rule_is_decided_as_before(session: Session) -> None:
    rule = _rule(session, [2019])
    decision = decide(
        session,
        requester=CLERK,
        owner_agency=OWNER,
        dataset="house_tax",
        application_item=ITEM,
        subject=SUBJECT,
        case_id=CASE,
        predicate=PAID,
    )
    assert decision.allowed and decision.rule_id == rule and decision.options == ()
    assert dict(decision.param_choices) == {"year": (2019,)}
    assert _ask(session).params == {"year": 2019}
    assert "2019" in _refused(session, {"year": STATUTORY})


def test_the_statutory_year_rests_on_the_older_rule_and_2019_on_the_newer(
    session: Session,
) -> None:
    older = _rule(session)
    newer = _rule(session, [2019], legal_basis="house-tax-act-art22")
    for asked in ({}, {"year": STATUTORY}, {"year": float(STATUTORY)}):
        piece = _ask(session, asked)
        assert piece.live and piece.params["year"] == STATUTORY, asked
        assert piece.rule_ids == [older]
        assert f"R-{older}" in piece.reason["en"] and f"R-{older}" in piece.reason["zh-TW"]
        assert piece.decisions[OWNER].legal_basis == "house-tax-act"

    piece = _ask(session, {"year": 2019})
    assert piece.live and piece.params == {"year": 2019}
    assert piece.rule_ids == [newer] and f"R-{newer}" in piece.reason["en"]
    assert piece.decisions[OWNER].legal_basis == "house-tax-act-art22"

    reason = _refused(session, {"year": 2018})
    assert reason == "The owner's current rules allow only these values - 2019, 2026"


@pytest.mark.parametrize("state", ["revoked", "expired", "not_yet_valid", "pending"])
def test_a_rule_not_current_allows_nothing(session: Session, state: str) -> None:
    _rule(session, state=state)  # the statutory year, no longer (or not yet) in force
    newer = _rule(session, [2019])
    reason = _refused(session, {"year": STATUTORY})
    assert "2019" in reason and str(STATUTORY) not in reason
    piece = _ask(session)  # nothing asked: the one current rule's year
    assert piece.params == {"year": 2019} and piece.rule_ids == [newer]


def test_a_revoked_newer_rule_no_longer_allows_its_year(session: Session) -> None:
    older = _rule(session)
    _rule(session, [2019], state="revoked")
    assert "2019" not in _refused(session, {"year": 2019})
    assert _ask(session, {"year": STATUTORY}).rule_ids == [older]


def test_the_rule_allowing_the_value_asks_for_consent(session: Session) -> None:
    older = _rule(session, consent_required=True)
    _rule(session, [2019])
    for asked in ({"year": STATUTORY}, {"year": 2019}, {}):
        piece = _ask(session, asked)
        assert piece.status == "denied", asked
        decision = piece.decisions[OWNER]
        assert decision.code == "needs_consent" and decision.rule_id == older
        assert f"R-{older}" in piece.reason["en"]
    policy.grant_consent(session, SUBJECT, ITEM, case_id=CASE)
    piece = _ask(session, {"year": STATUTORY})
    assert piece.live and piece.rule_ids == [older]


@pytest.mark.parametrize("guarded", ["older", "newer"])
def test_choosing_another_rule_drops_no_consent_or_preview(session: Session, guarded: str) -> None:
    """Consent and preview follow the citizen's dataset (``policy.service._safeguards``):
    when only one of the rules asks for them, a value the other rule allows still needs
    them."""
    safeguards = {"consent_required": True, "preview_required": True}
    older = _rule(session, **(safeguards if guarded == "older" else {}))
    newer = _rule(session, [2019], **(safeguards if guarded == "newer" else {}))
    unguarded_year = STATUTORY if guarded == "newer" else 2019
    piece = _ask(session, {"year": unguarded_year})
    assert piece.status == "denied"
    assert piece.decisions[OWNER].code == "needs_consent"
    assert piece.decisions[OWNER].rule_id == (older if guarded == "older" else newer)

    policy.grant_consent(session, SUBJECT, ITEM, case_id=CASE)
    piece = _ask(session, {"year": unguarded_year})
    used = piece.decisions[OWNER]
    assert piece.live and used.rule_id == (newer if guarded == "older" else older)
    assert used.preview_required  # exchange.service holds the piece for the citizen


def test_each_owner_cites_its_own_rule_allowing_the_value(session: Session) -> None:
    older = _rule(session)
    newer = _rule(session, [2019])
    other = _rule(session, owner=OTHER_OWNER)
    both = (OWNER, OTHER_OWNER)
    piece = _ask(session, {}, owners=both)
    assert piece.params == {"year": STATUTORY} and piece.rule_ids == [older, other]
    # the other owner allows the statutory year only
    assert "(2026)" in _refused(session, {"year": 2019}, owners=both)

    other_newer = _rule(session, [2019], owner=OTHER_OWNER)
    piece = _ask(session, {"year": 2019}, owners=both)
    assert piece.params == {"year": 2019} and piece.rule_ids == [newer, other_newer]
    assert _ask(session, {}, owners=both).rule_ids == [older, other]


def test_owners_whose_only_rules_differ_still_ask_the_clerk_to_name_the_value(
    session: Session,
) -> None:
    _rule(session, [2019])
    _rule(session, owner=OTHER_OWNER)
    with pytest.raises(Problem) as refused:
        _ask(session, {}, owners=(OWNER, OTHER_OWNER))
    [error] = refused.value.errors
    assert error.code == "owners_differ" and "2019" in error.reason and "2026" in error.reason


# --- the invariant, for any rules -----------------------------------------------------------

YEARS = st.sampled_from([2019, 2020, 2025, STATUTORY])
STATES = st.sampled_from(["approved", "approved", "revoked", "expired", "pending"])
RULES = st.lists(
    st.tuples(st.one_of(st.none(), st.lists(YEARS, min_size=1, max_size=2)), STATES),
    min_size=1,
    max_size=4,
)


def _allows(years: list[int] | None, year: Any) -> bool:
    return year in years if years is not None else year == STATUTORY


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=RULES, asked=st.one_of(st.none(), YEARS, st.just(2018)))
def test_a_year_is_asked_iff_a_current_rule_allows_it_and_that_rule_is_cited(
    sessions: sessionmaker[Session], rules: list[tuple[list[int] | None, str]], asked: int | None
) -> None:
    with sessions() as session:
        try:
            made = {_rule(session, years, state=state): (years, state) for years, state in rules}
            current = [(rid, y) for rid, (y, s) in made.items() if s == "approved"]
            ask = {} if asked is None else {"year": asked}
            allowing = [rid for rid, years in current if asked is None or _allows(years, asked)]
            if not current:  # deny by default: the decision refuses, nothing is settled
                assert _ask(session, ask).status == "denied"
                return
            if not allowing:
                with pytest.raises(Problem):
                    _ask(session, ask)
                return
            piece = _ask(session, ask)
            [cited] = piece.rule_ids
            years, state = made[cited]
            year = piece.params["year"]
            assert state == "approved" and _allows(years, year)  # cites a rule allowing it
            if asked is not None:
                assert year == asked and cited == max(allowing)  # the newest allowing it
            elif any(_allows(y, STATUTORY) for _, y in current):
                assert year == STATUTORY  # a rule listing other years does not move it
        finally:
            session.rollback()


# --- through the API, on the demo ------------------------------------------------------------

INCOME = "household_income_below"
THRESHOLD = 19013
"""The catalog's threshold for the low-income housing item."""


def _income(counter: Counter, subject: str, params: dict[str, Any]) -> Any:
    asked = [{"type": INCOME, "params": params}]
    return counter.ask("tpe-udd-clerk", subject, evidence=asked)


def test_through_the_api_the_newer_rule_hides_the_older_one_no_more(counter: Counter) -> None:
    """The demo's rule of the income owner allows the item's threshold; the owner approves a
    newer one listing 15000 only, on another legal basis. Each threshold is asked under the
    rule allowing it, and the audit entry and the transcript say which."""
    subject = counter.env.sample("low_income_applicant")
    with transaction(counter.app.state.sessions) as db:
        [demo] = [
            rule.id
            for rule in policy.list_rules(
                db, owner_agency="central.fia", dataset="income", application_item=LOW_INCOME_ITEM
            )
            if rule.requesting_jurisdiction == "taipei-city" and INCOME in rule.predicates
        ]
        newer = policy.request_rule(
            db,
            RuleRequest(
                owner_agency="central.fia",
                dataset="income",
                application_item=LOW_INCOME_ITEM,
                legal_basis="pdpa-art16",
                requesting_agency="taipei-city.urban_development",
                predicates=[INCOME],
                predicate_params={INCOME: {"threshold": [15000]}},
            ),
            requested_by="tpe-udd-clerk",
        ).id
        policy.approve_rule(db, newer, "fia-owner", "central.fia", "ok")
    jwks = counter.client.get("/.well-known/jwks.json").json()

    for params, threshold, rule_id, basis in (
        ({}, THRESHOLD, demo, "tax-collection-act-art33"),
        ({"threshold": THRESHOLD}, THRESHOLD, demo, "tax-collection-act-art33"),
        ({"threshold": 15000}, 15000, newer, "pdpa-art16"),
    ):
        response = _income(counter, subject, params)
        assert response.status_code == 200, response.text
        result = counter.results(response)[INCOME]
        assert result["status"] == "issued" and result["rule_ids"] == [rule_id], params
        assert f"R-{rule_id}" in result["reason"]["en"]
        claims = verify_transcript(result["transcripts"][0]["jws"], jwks).payload
        assert claims["predicate"]["params"] == {"threshold": threshold}
        assert claims["purpose"]["legal_basis"] == basis
        with counter.app.state.sessions() as db:
            [entry, *_] = find_entries(db, EntryFilter(subject=subject, dataset="income"))[0]
        assert entry.details["rule_ids"] == [rule_id] and entry.legal_basis == basis
        assert entry.predicate_params == {"threshold": threshold}
        assert f"R-{rule_id}" in entry.reason_en

    refused = _income(counter, subject, {"threshold": 16000})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "evidence[0].params.threshold"
    assert "15000" in error["reason"] and str(THRESHOLD) in error["reason"]

    with transaction(counter.app.state.sessions) as db:
        policy.revoke_rule(db, demo, "fia-owner", "central.fia", "稽核")
    gone = _income(counter, subject, {"threshold": THRESHOLD})
    assert gone.status_code == 422, gone.text
    assert str(THRESHOLD) not in gone.json()["errors"][0]["reason"]


def test_through_the_api_owners_that_differ_are_still_named_by_the_clerk(
    counter: Counter,
) -> None:
    """``test_purpose_and_params``'s five tax offices, where one office's only current rule
    lists a year the others' rules and the catalog do not: the clerk names the year, and each
    office's rules must allow it. With its former rule still current it allows 2026 too."""
    resale = ITEM
    subject = counter.env.sample("taipei_home_owner")
    asked = [{"type": PAID}]
    with transaction(counter.app.state.sessions) as db:
        [demo] = [
            rule.id
            for rule in policy.list_rules(
                db, owner_agency=OWNER, dataset="house_tax", application_item=resale
            )
            if rule.requesting_jurisdiction == "taipei-city"
        ]
        _rule(db, [2019], legal_basis="house-tax-act")
    kept = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=asked)
    assert kept.status_code == 200, kept.text
    assert demo in counter.results(kept)[PAID]["rule_ids"]
    named = [{"type": PAID, "params": {"year": 2019}}]
    refused = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=named)
    assert refused.status_code == 422, refused.text  # the other offices allow 2026 only

    with transaction(counter.app.state.sessions) as db:
        policy.revoke_rule(db, demo, "owner", OWNER, "改列 2019")
    differ = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=asked)
    assert differ.status_code == 422, differ.text
    reason = differ.json()["errors"][0]["reason"]
    assert "2019" in reason and "2026" in reason and "指定" in reason
    for year in (2019, 2026):
        named = [{"type": PAID, "params": {"year": year}}]
        answer = counter.ask("tpe-udd-clerk", subject, application_item=resale, evidence=named)
        assert answer.status_code == 422, (year, answer.text)
