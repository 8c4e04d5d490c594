"""The evidence path's per-process caches are never older than the request.

Rules, tokens and signing keys are cached per worker under counters that database triggers
bump in the transaction of every change (``onceonly/cache_versions.py``). These tests change
the tables behind the app's back, with plain SQL as another worker or an operator would, and
the very next request must see it. The two-process version is ``tests/web/test_workers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from onceonly import cache_versions
from onceonly.accounts.api_tokens import (
    hash_token,
    issue_api_token,
    list_api_tokens,
    resolve_api_token,
)
from onceonly.accounts.users import create_user
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.exchange import keys
from onceonly.policy.service import RuleRequest, approve_rule, request_rule, revoke_rule
from tests.conftest import DemoEnv
from tests.exchange.support import Counter, running_counter


@pytest.fixture
def counter(demo_env: DemoEnv) -> Iterator[Counter]:
    with running_counter(demo_env) as result:
        yield result


def _versions(counter: Counter) -> cache_versions.Versions:
    with counter.app.state.sessions() as db:
        return cache_versions.read(db)


def _sql(counter: Counter, statement: str, **params: object) -> None:
    """A change made outside this app (another worker, an operator): its own engine."""
    engine = make_engine(counter.env.settings.resolved_database_url)
    with engine.begin() as connection:
        connection.execute(text(statement), params)
    engine.dispose()


def test_every_watched_change_bumps_its_counter_and_a_touch_does_not(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)

    def counters() -> cache_versions.Versions:
        with sessions() as db:
            return cache_versions.read(db)

    start = counters()
    assert set(start) == {"rules", "tokens", "keys", "catalog"}
    with transaction(sessions) as db:
        rule = request_rule(
            db,
            RuleRequest(
                "taipei-city.social",
                "welfare",
                "item",
                "law",
                requesting_agency="taipei-city.udd",
                fields=["a"],
            ),
            "someone",
        )
    assert counters()["rules"] > start["rules"]
    before = counters()
    with transaction(sessions) as db:
        approve_rule(db, rule.id, "owner", None)
    after_approve = counters()
    assert after_approve["rules"] > before["rules"]
    with transaction(sessions) as db:
        revoke_rule(db, rule.id, "owner", None, "no longer needed")
    assert counters()["rules"] > after_approve["rules"]

    with transaction(sessions) as db:
        user = create_user(db, "cache-clerk", "pass-word-1", "clerk", "taipei-city.udd", "Clerk")
        plain, _ = issue_api_token(db, user, "t", 1)
    issued = counters()
    assert issued["tokens"] > start["tokens"]
    with transaction(sessions) as db:  # the once-a-minute touch changes nothing cached
        resolve_api_token(db, plain, now=utcnow() + timedelta(hours=1))
    assert counters()["tokens"] == issued["tokens"]
    with transaction(sessions) as db:
        db.execute(
            text("UPDATE users SET active = :no WHERE id = :id"), {"no": False, "id": user.id}
        )
    assert counters()["tokens"] > issued["tokens"]

    settings = Settings(data_dir=tmp_path, database_url=database_url)
    with transaction(sessions) as db:
        keys.ensure_key(db, settings, "taipei-city.social")
    assert counters()["keys"] > start["keys"]
    engine.dispose()


def test_migrations_install_the_same_counters_and_triggers(empty_database_url: str) -> None:
    from onceonly import migrations

    migrations.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    sessions = make_session_factory(engine)
    with sessions() as db:
        start = cache_versions.read(db)
    assert set(start) == {"rules", "tokens", "keys", "catalog"}
    with transaction(sessions) as db:
        request_rule(
            db,
            RuleRequest(
                "taipei-city.social",
                "welfare",
                "item",
                "law",
                requesting_agency="taipei-city.udd",
                fields=["a"],
            ),
            "someone",
        )
    with sessions() as db:
        assert cache_versions.read(db)["rules"] > start["rules"]
    engine.dispose()


def test_a_rule_revoked_behind_the_apps_back_stops_the_next_request(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    first = counter.results(counter.ask("tpe-udd-clerk", subject))
    welfare = first["is_low_income_household"]
    assert welfare["status"] == "issued"
    again = counter.results(counter.ask("tpe-udd-clerk", subject))  # served from the cache
    assert again["is_low_income_household"]["status"] == "issued"

    rule_id = welfare["rule_ids"][0]
    _sql(
        counter,
        "UPDATE access_rules SET status = 'revoked', revoked_by = 'auditor', "
        "revoke_reason = 'out of band', revoked_at = :now WHERE id = :id",
        now=utcnow(),
        id=rule_id,
    )
    results = counter.results(counter.ask("tpe-udd-clerk", subject))
    assert results["is_low_income_household"]["status"] == "denied"
    assert f"R-{rule_id}" in results["is_low_income_household"]["reason"]["en"]


def test_a_token_revoked_behind_the_apps_back_stops_the_next_request(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    headers = counter.headers("tpe-udd-clerk")
    assert counter.ask("tpe-udd-clerk", subject).status_code == 200
    assert counter.ask("tpe-udd-clerk", subject).status_code == 200  # served from the cache
    plain = headers["Authorization"].removeprefix("Bearer ")
    _sql(
        counter,
        "UPDATE api_tokens SET revoked_at = :now WHERE token_hash = :hash",
        now=utcnow(),
        hash=hash_token(plain),
    )
    refused = counter.ask("tpe-udd-clerk", subject)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "token-revoked"


def test_an_account_disabled_behind_the_apps_back_stops_its_token(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    assert counter.ask("tpe-udd-clerk", subject).status_code == 200
    _sql(counter, "UPDATE users SET active = :no WHERE username = 'tpe-udd-clerk'", no=False)
    refused = counter.ask("tpe-udd-clerk", subject)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "account-disabled"


def test_a_token_expiring_while_cached_is_refused_at_its_expiry(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten seconds before expiry the token is resolved and cached; eleven seconds later
    (well inside the once-a-minute recheck) it has expired and must be refused."""
    from onceonly.accounts import token_cache

    subject = counter.env.sample("low_income_applicant")
    headers = counter.headers("tpe-udd-clerk")
    with counter.app.state.sessions() as db:
        plain = headers["Authorization"].removeprefix("Bearer ")
        (view,) = [v for v in list_api_tokens(db) if v.prefix == plain[:10] and v.name == "test"]
    clock = {"now": view.expires_at - timedelta(seconds=10)}
    monkeypatch.setattr(token_cache, "utcnow", lambda: clock["now"])
    assert counter.ask("tpe-udd-clerk", subject).status_code == 200
    cached = counter.app.state.token_cache._memo.peek(_versions(counter), hash_token(plain))
    assert cached is not None
    clock["now"] = view.expires_at + timedelta(seconds=1)
    refused = counter.ask("tpe-udd-clerk", subject)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "token-expired"


def test_a_rotated_key_signs_the_next_request(counter: Counter) -> None:
    subject = counter.env.sample("low_income_applicant")
    first = counter.results(counter.ask("tpe-udd-clerk", subject))
    transcript = first["is_low_income_household"]["transcripts"][0]
    owner = transcript["owner"]
    with transaction(counter.app.state.sessions) as db:
        new = keys.rotate_key(db, counter.env.settings, owner)
    assert new.kid != transcript["kid"]
    second = counter.results(counter.ask("tpe-udd-clerk", subject))
    assert second["is_low_income_household"]["transcripts"][0]["kid"] == new.kid


def test_an_approved_rule_is_used_by_the_next_request(counter: Counter) -> None:
    """A cached refusal is not kept past a new approval either."""
    subject = counter.env.sample("low_income_applicant")
    first = counter.results(counter.ask("tpe-udd-clerk", subject))
    welfare_rule = first["is_low_income_household"]["rule_ids"][0]
    with transaction(counter.app.state.sessions) as db:
        revoke_rule(db, welfare_rule, "owner", None, "pause")
    denied = counter.results(counter.ask("tpe-udd-clerk", subject))
    assert denied["is_low_income_household"]["status"] == "denied"
    _sql(
        counter,
        "INSERT INTO access_rules (owner_agency, dataset, application_item, requesting_agency, "
        "requesting_agency_kind, requesting_jurisdiction, fields, predicates, legal_basis, "
        "purpose, consent_required, preview_required, valid_from, status, requested_by, "
        "requested_at, details) "
        "SELECT owner_agency, dataset, application_item, requesting_agency, "
        "requesting_agency_kind, requesting_jurisdiction, fields, predicates, "
        "legal_basis, purpose, consent_required, preview_required, valid_from, 'approved', "
        "requested_by, requested_at, details FROM access_rules WHERE id = :id",
        id=welfare_rule,
    )
    allowed = counter.results(counter.ask("tpe-udd-clerk", subject))
    assert allowed["is_low_income_household"]["status"] == "issued"
    assert allowed["is_low_income_household"]["rule_ids"][0] != welfare_rule
