"""The certificate-free query, end to end through the API on the prepared demo.

These are the evidence-exchange issue's "done means": a 臺北市都市發展局 clerk gets signed,
offline-verifiable evidence for 低收入戶申請等候承租國宅; an agency without a rule is refused
with the reason; a revoked rule refuses the next request; a tampered audit row is named.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from onceonly.audit.log import EntryFilter, find_entries
from onceonly.cli import app as cli
from onceonly.db import make_engine, make_session_factory
from onceonly.exchange.service import exchange_for
from onceonly.exchange.transcript import verify_transcript
from onceonly.web.app import create_app
from tests.conftest import DemoEnv
from tests.exchange.support import ITEM, URL, Counter


def test_the_low_income_applicant_needs_no_paper(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask("tpe-udd-clerk", subject)
    assert response.status_code == 200, response.text
    results = counter.results(response)
    assert {r["status"] for r in results.values()} == {"issued"}

    household = results["household_registration"]
    assert household["fields"]["name"] == counter.env.manifest.sample("low_income_applicant").name
    assert household["fields"]["jurisdiction"] == "taipei-city"
    assert results["is_low_income_household"]["answer"] is True
    assert results["household_income_below"]["answer"] is True
    assert results["owns_no_residential_property"]["answer"] is True

    jwks = counter.client.get("/.well-known/jwks.json").json()
    for result in results.values():
        assert result["transcripts"], result
        for transcript in result["transcripts"]:
            verified = verify_transcript(transcript["jws"], jwks)
            assert verified.claims.issuer == transcript["owner"]
            assert verified.claims.subject == subject
            assert verified.claims.application_item == ITEM
            assert verified.claims.request_id == response.json()["request_id"]


def test_predicates_release_no_raw_values(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    results = counter.results(counter.ask("tpe-udd-clerk", subject))
    income = results["household_income_below"]
    assert income["fields"] is None
    token = income["transcripts"][0]["jws"]
    payload = verify_transcript(token, counter.client.get("/.well-known/jwks.json").json()).payload
    assert "fields" not in payload
    assert set(payload["predicate"]) == {"code", "params", "answer", "as_of"}
    assert not any(word in json.dumps(payload) for word in ("total_income", "salary_income"))


def test_only_the_fields_the_rule_allows_leave(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask(
        "tpe-udd-clerk",
        subject,
        evidence=[{"type": "household_registration", "fields": ["name", "spouse_national_id"]}],
    )
    result = counter.results(response)["household_registration"]
    assert result["status"] == "issued"
    assert set(result["fields"]) == {"name"}
    assert result["withheld_fields"] == ["spouse_national_id"]
    assert "Spouse's national ID number" in result["reason"]["en"]  # in words


def test_an_agency_without_a_rule_is_refused_with_the_reason(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask("tpe-social-clerk", subject)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/no-rule")
    statuses = {r["status"] for r in problem["results"]}
    assert statuses == {"denied"}
    household = next(r for r in problem["results"] if r["dataset"] == "household_registration")
    assert household["owners"] == ["central.moi_household"]
    assert "Department of Household Registration" in household["reason"]["en"]
    assert "Taipei City Department of Social Welfare" in household["reason"]["en"]
    assert "內政部戶政司" in household["reason"]["zh-TW"]
    assert "臺北市政府社會局" in household["reason"]["zh-TW"]
    assert "未核准" in household["reason"]["zh-TW"]


def test_a_refusal_names_each_piece_in_words_not_by_its_code(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    chinese = counter.ask("tpe-social-clerk", subject).json()["detail"]
    assert chinese.startswith("戶籍資料：資料所屬機關 內政部戶政司 未核准"), chinese
    assert "；是否為低收入戶：資料所屬機關 臺北市政府社會局" in chinese
    assert "；家庭平均每人每月所得低於門檻：" in chinese and "；名下無住宅：" in chinese
    english = counter.client.post(
        f"{URL}?lang=en",
        json={
            "case_id": counter.case("tpe-social-clerk", subject),
            "application_item": ITEM,
            "subject": subject,
        },
        headers=counter.headers("tpe-social-clerk"),
    ).json()["detail"]
    assert english.startswith("Household registration: The owner Department of Household")
    assert "; Is a low-income household: The owner Taipei City Department of Social" in english
    for detail in (chinese, english):
        for code in ("household_registration", "is_low_income_household", "household_income_below"):
            assert code not in detail, detail


def test_a_piece_the_item_does_not_need_is_refused_in_words(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    response = counter.ask("tpe-udd-clerk", subject, evidence=[{"type": "business_registration"}])
    assert response.status_code == 403
    problem = response.json()
    said = "「低收入戶申請等候承租國宅」不需要 商業登記資料，依最小必要原則不予調閱"
    assert problem["detail"] == f"商業登記資料：{said}"
    reason = problem["results"][0]["reason"]
    assert reason["zh-TW"] == said
    assert 'item "Waiting list for public-housing rental: low-income household"' in reason["en"]
    assert "does not need Business registration" in reason["en"]
    assert ITEM not in str(problem["detail"]) + str(reason)
    assert "business_registration" not in str(problem["detail"]) + str(reason)


def test_a_revoked_rule_refuses_the_next_request(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    first = counter.results(counter.ask("tpe-udd-clerk", subject))
    rule_id = first["is_low_income_household"]["rule_ids"][0]

    revoked = counter.client.post(
        f"/api/v1/access-rules/{rule_id}/revoke",
        json={"reason": "稽核發現用途不符"},
        headers=counter.headers("tpe-social-owner"),
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"

    second = counter.ask("tpe-udd-clerk", subject)
    assert second.status_code == 200
    results = counter.results(second)
    welfare = results["is_low_income_household"]
    assert welfare["status"] == "denied" and welfare["transcripts"] == []
    assert (
        f"R-{rule_id}" in welfare["reason"]["en"]
        and "稽核發現用途不符" in welfare["reason"]["zh-TW"]
    )
    assert results["household_registration"]["status"] == "issued"


def test_only_the_owner_may_revoke(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    rule_id = counter.results(counter.ask("tpe-udd-clerk", subject))["is_low_income_household"][
        "rule_ids"
    ][0]
    other_owner = counter.client.post(
        f"/api/v1/access-rules/{rule_id}/revoke",
        json={"reason": "x"},
        headers=counter.headers("tpe-land-owner"),
    )
    assert other_owner.status_code == 403
    clerk = counter.client.post(
        f"/api/v1/access-rules/{rule_id}/revoke",
        json={"reason": "x"},
        headers=counter.headers("tpe-udd-clerk"),
    )
    assert clerk.status_code == 403


def test_every_request_is_audited_before_release(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    ok = counter.ask("tpe-udd-clerk", subject)
    refused = counter.ask("tpe-social-clerk", subject)
    with counter.app.state.sessions() as db:
        entries, _ = find_entries(db, EntryFilter(subject=subject), limit=100)
    by_request: dict[str, list[Any]] = {}
    for entry in entries:
        by_request.setdefault(entry.request_id, []).append(entry)
    allowed = by_request[ok.json()["request_id"]]
    assert {e.decision for e in allowed} == {"allowed"}
    assert {e.dataset for e in allowed} == {
        "household_registration",
        "welfare_status",
        "income",
        "building_registration",
    }
    household = next(e for e in allowed if e.dataset == "household_registration")
    assert household.actor_agency == "taipei-city.urban_development"
    assert household.application_item == ITEM and household.case_id == counter.case(
        "tpe-udd-clerk", subject
    )
    assert "name" in list(household.fields or [])
    assert household.legal_basis
    denied = [e for e in entries if e.actor_agency == "taipei-city.social_welfare"]
    assert len(denied) == 4 and {e.decision for e in denied} == {"denied"}
    assert refused.status_code == 403


def test_an_invalid_national_id_names_the_field_and_why(counter: Counter) -> None:
    response = counter.ask("tpe-udd-clerk", "A123456788")
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "subject"
    assert "7" in problem["errors"][0]["reason"] or "9" in problem["errors"][0]["reason"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"application_item": "no-such-item"}, "unknown-application-item"),
        ({"evidence": [{"type": "no_such_evidence"}]}, "unknown-evidence-type"),
    ],
)
def test_unknown_names_are_404(counter: Counter, body: dict[str, Any], kind: str) -> None:
    response = counter.ask("tpe-udd-clerk", counter.env.sample("low_income_applicant"), **body)
    assert response.status_code == 404
    assert response.json()["type"].endswith(kind)


def test_a_bad_body_is_a_problem_document_not_a_crash(counter: Counter) -> None:
    response = counter.client.post(
        URL,
        content=b"{not json",
        headers={**counter.headers("tpe-udd-clerk"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_owner_that_is_down_gives_503_with_a_retry_hint_and_an_audit_entry(
    counter: Counter,
) -> None:
    subject = counter.env.sample("low_income_applicant")
    store = counter.env.manifest.store("central.fia")
    path: Path = store.resolve(counter.env.settings.registries_dir)
    path.rename(path.with_suffix(".offline"))
    response = counter.ask("tpe-udd-clerk", subject, evidence=[{"type": "household_income_below"}])
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    problem = response.json()
    assert problem["results"][0]["status"] == "unavailable"
    assert "central.fia" in problem["results"][0]["reason"]["en"]
    with counter.app.state.sessions() as db:
        entries, _ = find_entries(db, EntryFilter(subject=subject), limit=10)
    assert any(e.decision == "failed" and e.dataset == "income" for e in entries)


def test_an_owner_too_slow_to_answer_is_told_in_words_in_each_language(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = counter.env.sample("low_income_applicant")
    piece = [{"type": "household_income_below"}]
    assert counter.ask("tpe-udd-clerk", subject, evidence=piece).status_code == 200
    exchange = counter.app.state.exchange
    provider = exchange.providers.for_owner("central.fia")
    release = threading.Event()
    monkeypatch.setattr(provider, "answers_locally", False)  # as an owner over the network
    monkeypatch.setattr(provider, "evaluate", lambda *args, **kwargs: release.wait(10))
    monkeypatch.setattr(exchange.settings, "provider_timeout_seconds", 0.3)
    try:
        response = counter.ask("tpe-udd-clerk", subject, evidence=piece)
    finally:
        release.set()
    assert response.status_code == 503
    reason = response.json()["results"][0]["reason"]
    assert "未在時限內回應" in reason["zh-TW"] and "did not answer" not in reason["zh-TW"]
    assert "did not answer in time" in reason["en"] and "未在" not in reason["en"]


def test_an_owner_on_this_machine_is_held_to_the_same_deadline(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite owner is asked in the request's own thread; its file locked by the owner's
    own batch writer, the clerk still hears "did not answer in time" at the exchange's
    deadline, not at the connector's longer timeout, and nothing late is issued."""
    subject = counter.env.sample("low_income_applicant")
    piece = [{"type": "household_income_below"}]
    assert counter.ask("tpe-udd-clerk", subject, evidence=piece).status_code == 200
    exchange = counter.app.state.exchange
    provider = exchange.providers.for_owner("central.fia")
    assert provider.answers_locally and provider.timeout >= 2
    monkeypatch.setattr(exchange.settings, "provider_timeout_seconds", 0.3)
    writer = sqlite3.connect(provider.path, timeout=0)
    writer.execute("BEGIN EXCLUSIVE")  # the owner's batch job, mid-write
    try:
        started = time.monotonic()
        response = counter.ask("tpe-udd-clerk", subject, evidence=piece)
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert response.status_code == 503, response.text
    assert waited < 1.5, waited
    reason = response.json()["results"][0]["reason"]
    assert "未在時限內回應" in reason["zh-TW"] and "did not answer in time" in reason["en"]
    assert counter.ask("tpe-udd-clerk", subject, evidence=piece).status_code == 200


def test_the_owner_that_took_the_time_is_the_one_named(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Land is asked of every land office on this machine, one after another; when one of
    them holds the request to the deadline, the clerk is told that office, not one after it
    that was never asked in time."""
    subject = counter.env.sample("low_income_applicant")
    piece = [{"type": "owns_no_residential_property"}]
    assert counter.ask("tpe-udd-clerk", subject, evidence=piece).status_code == 200
    exchange = counter.app.state.exchange
    offices = exchange.providers.owners_of("land_registration")
    slow = "taipei-city.land_office"
    assert slow in offices and offices.index(slow) < len(offices) - 1, offices
    monkeypatch.setattr(exchange.settings, "provider_timeout_seconds", 0.3)
    writer = sqlite3.connect(exchange.providers.for_owner(slow).path, timeout=0)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        response = counter.ask("tpe-udd-clerk", subject, evidence=piece)
    finally:
        writer.rollback()
        writer.close()
    assert response.status_code == 503, response.text
    reason = response.json()["results"][0]["reason"]["en"]
    assert slow in reason and "did not answer in time" in reason, reason


def test_owners_and_auditors_cannot_fetch_evidence(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    for username in ("tpe-social-owner", "tpe-auditor", "admin"):
        assert counter.ask(username, subject).status_code == 403


def test_a_refused_caller_is_told_so_before_anything_about_their_request(
    counter: Counter,
) -> None:
    """The token is checked in the worker thread that does the work; a request that does not
    validate never gets there, and must still be refused as the caller, not as the body."""
    bad_body = {"case_id": "", "application_item": ITEM, "evidence": "not a list"}
    for headers, status in [
        (counter.headers("tpe-auditor"), 403),
        ({"Authorization": "Bearer o1_not-a-token-anyone-was-given"}, 401),
        (counter.headers("tpe-udd-clerk"), 422),
    ]:
        response = counter.client.post(URL, json=bad_body, headers=headers)
        assert response.status_code == status, response.text
        assert ("errors" in response.json()) == (status == 422)
    bad_subject = {
        "case_id": "1",
        "application_item": ITEM,
        "subject": "A123456788",
        "evidence": [{"type": "household_registration"}],
    }
    response = counter.client.post(URL, json=bad_subject, headers=counter.headers("tpe-auditor"))
    assert response.status_code == 403  # the subject is checked after the caller


def test_a_request_never_holds_one_connection_while_waiting_for_another(
    counter: Counter,
) -> None:
    """A token the cache lacks is looked up on a connection of its own, after the request
    hands back the one it read the cache counters on: with a pool of one connection the
    request still succeeds (holding one while waiting for another, a pool's worth of such
    requests would wait for ever)."""
    subject = counter.env.sample("low_income_applicant")
    headers = counter.headers("tpe-udd-clerk")  # issued now: no worker has it cached
    case = counter.case("tpe-udd-clerk", subject)
    engine = make_engine(
        counter.env.settings.resolved_database_url, pool_size=1, max_overflow=0, pool_timeout=3
    )
    counter.app.state.engine = engine
    counter.app.state.sessions = make_session_factory(engine)
    body = {"case_id": case, "application_item": ITEM, "subject": subject}
    response = counter.client.post(URL, json=body, headers=headers)
    assert response.status_code == 200, response.text
    engine.dispose()


def test_transcripts_verify_offline_and_tampering_is_named(
    counter: Counter, tmp_path: Path
) -> None:
    subject = counter.env.sample("low_income_applicant")
    results = counter.results(counter.ask("tpe-udd-clerk", subject))
    token = results["household_registration"]["transcripts"][0]["jws"]
    jwks = tmp_path / "jwks.json"
    jwks.write_text(counter.client.get("/.well-known/jwks.json").text, encoding="utf-8")
    good = tmp_path / "transcript.jws"
    good.write_text(token, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["transcript", "verify", str(good), "--jwks", str(jwks)])
    assert ok.exit_code == 0, ok.output

    header, payload, signature = token.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    bad = tmp_path / "tampered.jws"
    bad.write_text(".".join((header, forged, signature)), encoding="utf-8")
    refused = runner.invoke(cli, ["transcript", "verify", str(bad), "--jwks", str(jwks)])
    assert refused.exit_code == 1


def test_editing_one_audit_row_is_caught_and_named(counter: Counter, monkeypatch: Any) -> None:
    subject = counter.env.sample("low_income_applicant")
    counter.ask("tpe-udd-clerk", subject)
    counter.ask("tpe-udd-clerk", subject)
    engine = counter.app.state.engine
    with engine.begin() as connection:
        seq = connection.execute(
            text(
                "SELECT seq FROM audit_entries WHERE dataset = 'welfare_status' "
                "ORDER BY seq LIMIT 1"
            )
        ).scalar_one()
        _drop_audit_guards(connection)
        connection.execute(
            text("UPDATE audit_entries SET actor_agency = 'taipei-city.fire' WHERE seq = :seq"),
            {"seq": seq},
        )
    for name, value in _environment(counter.env).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert str(seq) in result.output


def _drop_audit_guards(connection: Any) -> None:
    """An attacker with database access removes the append-only triggers first."""
    if connection.dialect.name == "sqlite":
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_entries'")
        ).scalars()
        for name in list(names):
            connection.execute(text(f'DROP TRIGGER "{name}"'))
    else:
        connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))


def _environment(env: DemoEnv) -> dict[str, str]:
    values = {"ONCEONLY_DATA_DIR": str(env.settings.data_dir)}
    if env.settings.database_url:
        values["ONCEONLY_DATABASE_URL"] = env.settings.database_url
    return values


def test_the_first_requests_of_a_busy_start_share_one_exchange(demo_env: DemoEnv) -> None:
    """Made on first use: eight requests arriving together get the one exchange, not eight
    with their own owner threads (all but one never closed)."""
    app = create_app(demo_env.settings)
    start = threading.Barrier(8)
    made: list[Any] = []

    def first_request() -> None:
        start.wait()
        made.append(exchange_for(app.state))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(made) == 8 and {id(e) for e in made} == {id(app.state.exchange)}
    finally:
        for exchange in {id(e): e for e in made}.values():
            exchange.close()
        app.state.engine.dispose()
