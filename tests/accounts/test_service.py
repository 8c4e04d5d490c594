"""Accounts service: users, badge numbers, lockout, sessions, API tokens, demo accounts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onceonly.accounts.api_tokens import (
    issue_api_token,
    list_api_tokens,
    resolve_api_token,
    revoke_api_token,
)
from onceonly.accounts.demo_accounts import DEMO_PASSWORD, seed_demo_accounts
from onceonly.accounts.models import ROLES, LoginThrottle, User, UserSession
from onceonly.accounts.password_changes import set_password
from onceonly.accounts.password_rules import OPERATOR
from onceonly.accounts.sessions import create_session, resolve_session, revoke_session
from onceonly.accounts.signin import authenticate
from onceonly.accounts.users import (
    UserView,
    badge_number,
    create_user,
    get_user,
    get_user_by_badge,
    list_users,
    set_active,
)
from onceonly.db import utcnow
from onceonly.errors import Problem

PASSWORD = "correct horse battery"
BADGE = re.compile(r"B-[0-9A-HJKMNP-TV-Z]{6}")


def _user(db: Session, username: str = "tpe-land-clerk", role: str = "clerk") -> UserView:
    return create_user(db, username, PASSWORD, role, "taipei-city.land_office", "王小明")


# --- users and badges ----------------------------------------------------------------------


def test_create_user_gives_a_badge_and_stores_no_plain_password(db: Session) -> None:
    user = _user(db, "TPE-Land-Clerk ")
    assert user.username == "tpe-land-clerk"
    assert BADGE.fullmatch(user.badge)
    assert user.active and user.role == "clerk"
    row = db.get(User, user.id)
    assert row is not None and PASSWORD not in (row.password_hash or "")
    assert get_user_by_badge(db, user.badge.lower()) == user


def test_invalid_fields_are_all_named_and_nothing_is_written(db: Session) -> None:
    with pytest.raises(Problem) as caught:
        create_user(db, "x", "short", "mayor", "taipei", "", lang="en")
    problem = caught.value
    assert problem.status == 422
    assert {e.field for e in problem.errors} == {
        "username",
        "password",
        "role",
        "agency_code",
        "display_name",
    }
    assert "at least 8" in problem.detail
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_duplicate_username_is_refused_with_the_reason(db: Session) -> None:
    _user(db)
    with pytest.raises(Problem) as caught:
        _user(db)
    assert caught.value.errors[0].field == "username"
    assert "tpe-land-clerk" in caught.value.errors[0].reason


def test_badges_are_distinct_and_derived_from_id_and_key() -> None:
    key = b"k" * 32
    assert badge_number(7, key) == badge_number(7, key)
    assert badge_number(7, key) != badge_number(7, b"other key")
    badges = {badge_number(i, key) for i in range(2000)}
    assert len(badges) == 2000


@given(st.integers(min_value=1, max_value=2**62), st.binary(min_size=1, max_size=64))
def test_badge_format(user_id: int, key: bytes) -> None:
    assert BADGE.fullmatch(badge_number(user_id, key))


def test_badge_is_stable_across_reads(db: Session) -> None:
    user = _user(db)
    db.commit()
    assert get_user(db, "tpe-land-clerk") == user


# --- signing in and lockout ----------------------------------------------------------------


def test_wrong_password_and_unknown_user_look_the_same(db: Session) -> None:
    _user(db)
    with pytest.raises(Problem) as wrong:
        authenticate(db, "tpe-land-clerk", "nope nope nope")
    with pytest.raises(Problem) as unknown:
        authenticate(db, "nobody-here", "nope nope nope")
    assert (wrong.value.status, wrong.value.title) == (unknown.value.status, unknown.value.title)
    assert wrong.value.kind == "login-failed"


def test_five_failures_lock_the_username_for_a_minute(db: Session) -> None:
    _user(db)
    start = utcnow()
    for attempt in range(4):
        with pytest.raises(Problem) as caught:
            authenticate(db, "tpe-land-clerk", "wrong", now=start + timedelta(seconds=attempt))
        assert caught.value.status == 401
    with pytest.raises(Problem) as fifth:
        authenticate(db, "tpe-land-clerk", "wrong", now=start + timedelta(seconds=4))
    assert (fifth.value.status, fifth.value.retry_after) == (429, 60)

    # even the right password is refused while locked, with the time left
    with pytest.raises(Problem) as locked:
        authenticate(db, "tpe-land-clerk", PASSWORD, now=start + timedelta(seconds=34), lang="en")
    assert locked.value.status == 429
    assert locked.value.retry_after == 30
    assert "30 seconds" in locked.value.detail

    user = authenticate(db, "tpe-land-clerk", PASSWORD, now=start + timedelta(seconds=65))
    assert user.username == "tpe-land-clerk"
    assert db.get(LoginThrottle, "tpe-land-clerk") is None, "success clears the counter"


def test_lockout_is_per_username(db: Session) -> None:
    _user(db, "tpe-land-clerk")
    _user(db, "tpe-tax-clerk")
    for _ in range(5):
        with pytest.raises(Problem):
            authenticate(db, "tpe-land-clerk", "wrong")
    assert authenticate(db, "tpe-tax-clerk", PASSWORD).username == "tpe-tax-clerk"


def test_disabled_account_cannot_sign_in(db: Session) -> None:
    user = _user(db)
    set_active(db, user.id, False, by="operator")
    with pytest.raises(Problem) as caught:
        authenticate(db, "tpe-land-clerk", PASSWORD)
    assert caught.value.kind == "account-disabled"


def test_set_password_replaces_it_and_ends_sessions(db: Session) -> None:
    user = _user(db)
    live = create_session(db, user.id, 60)
    set_password(db, "tpe-land-clerk", "a brand new password", by=OPERATOR)
    assert resolve_session(db, live.token) is None
    with pytest.raises(Problem):
        authenticate(db, "tpe-land-clerk", PASSWORD)
    assert authenticate(db, "tpe-land-clerk", "a brand new password").id == user.id


# --- sessions ------------------------------------------------------------------------------


def test_session_resolves_until_it_expires(db: Session) -> None:
    user = _user(db)
    now = utcnow()
    new = create_session(db, user.id, 30, now=now)
    principal = resolve_session(db, new.token, now=now + timedelta(minutes=29))
    assert principal is not None
    assert (principal.username, principal.auth_method, principal.csrf_token) == (
        "tpe-land-clerk",
        "session",
        new.csrf_token,
    )
    assert resolve_session(db, new.token, now=now + timedelta(minutes=30)) is None


def test_session_with_zero_minutes_is_dead_at_once(db: Session) -> None:
    user = _user(db)
    new = create_session(db, user.id, 0)
    assert resolve_session(db, new.token) is None


def test_only_the_token_hash_is_stored(db: Session) -> None:
    user = _user(db)
    new = create_session(db, user.id, 30)
    stored = db.scalar(select(UserSession.token_hash))
    assert stored is not None and new.token not in stored and len(stored) == 64


def test_revoked_session_no_longer_resolves(db: Session) -> None:
    user = _user(db)
    new = create_session(db, user.id, 30)
    assert revoke_session(db, new.token)
    assert resolve_session(db, new.token) is None
    assert not revoke_session(db, new.token)


def test_unknown_session_token_resolves_to_nobody(db: Session) -> None:
    assert resolve_session(db, "made-up") is None
    assert resolve_session(db, "") is None


# --- API tokens ----------------------------------------------------------------------------


def test_token_works_until_it_expires(db: Session) -> None:
    user = _user(db)
    now = utcnow()
    plain, view = issue_api_token(db, user, "國宅申請系統", 90, now=now)
    assert plain.startswith("oot_") and view.prefix == plain[:10]
    principal = resolve_api_token(db, plain, now=now + timedelta(days=89))
    assert (principal.auth_method, principal.token_id, principal.csrf_token) == (
        "token",
        view.id,
        None,
    )
    with pytest.raises(Problem) as caught:
        resolve_api_token(db, plain, now=now + timedelta(days=90), lang="en")
    assert caught.value.status == 401
    assert caught.value.extra["reason"] == "token-expired"
    assert "expired" in caught.value.detail


def test_revoked_token_is_refused_with_the_reason(db: Session) -> None:
    user = _user(db)
    plain, view = issue_api_token(db, user, "system", 10)
    revoked = revoke_api_token(db, view.id)
    assert revoked.status() == "revoked"
    with pytest.raises(Problem) as caught:
        resolve_api_token(db, plain)
    assert caught.value.extra["reason"] == "token-revoked"
    assert revoke_api_token(db, view.id).revoked_at == revoked.revoked_at


def test_unknown_token_and_disabled_owner_are_refused(db: Session) -> None:
    user = _user(db)
    plain, _ = issue_api_token(db, user, "system", 10)
    with pytest.raises(Problem) as unknown:
        resolve_api_token(db, plain + "x")
    assert unknown.value.extra["reason"] == "token-unknown"
    set_active(db, user.id, False, by="operator")
    with pytest.raises(Problem) as disabled:
        resolve_api_token(db, plain)
    assert disabled.value.extra["reason"] == "account-disabled"


def test_token_list_shows_status_and_creator(db: Session) -> None:
    admin = _user(db, "admin", "admin")
    system = create_user(db, "tpe-land-system", None, "clerk", "taipei-city.land_office", "系統")
    issue_api_token(db, system, "first", 1, now=utcnow() - timedelta(days=2))
    issue_api_token(db, system, "second", 30, created_by=admin.id)
    tokens = list_api_tokens(db)
    assert [t.name for t in tokens] == ["second", "first"]
    assert [t.status() for t in tokens] == ["active", "expired"]
    assert tokens[0].created_by == "admin"
    assert list_api_tokens(db, admin.id) == []


def test_token_needs_a_name_and_sane_validity(db: Session) -> None:
    user = _user(db)
    with pytest.raises(Problem) as caught:
        issue_api_token(db, user, " ", 0)
    assert {e.field for e in caught.value.errors} == {"name", "days"}


# --- demo accounts -------------------------------------------------------------------------

DEMO_JURISDICTIONS = ["taipei-city", "kaohsiung-city", "tainan-city"]


def test_seed_demo_accounts_covers_every_role_in_every_jurisdiction(db: Session) -> None:
    accounts = seed_demo_accounts(db, DEMO_JURISDICTIONS)
    assert all(a.created for a in accounts)
    for jurisdiction in DEMO_JURISDICTIONS:
        roles = {a.role for a in accounts if a.agency_code.startswith(jurisdiction + ".")}
        own_admin = {"admin"} if jurisdiction == "taipei-city" else set()
        assert roles == {"clerk", "owner", "auditor", *own_admin}, jurisdiction
        clerks = {
            a.agency_code
            for a in accounts
            if a.role == "clerk" and a.agency_code.startswith(jurisdiction + ".")
        }
        for kind in (
            "urban_development",
            "social_welfare",
            "land_office",
            "tax_office",
            "economic_development",
            "labour",
            "fire",
            "health",
            "water",
            "household_office",
            "indigenous",
            "education",
            "district_office",
        ):
            assert f"{jurisdiction}.{kind}" in clerks
        owners = {
            a.agency_code
            for a in accounts
            if a.role == "owner" and a.agency_code.startswith(jurisdiction + ".")
        }
        assert owners == {
            f"{jurisdiction}.{k}"
            for k in (
                "social_welfare",
                "land_office",
                "tax_office",
                "economic_development",
                "household_office",
            )
        }
    central_owners = {
        a.agency_code
        for a in accounts
        if a.role == "owner" and a.agency_code.startswith("central.")
    }
    assert central_owners == {"central.moi_household", "central.fia", "central.vac"}
    assert [a.username for a in accounts if a.role == "admin"] == ["tpe-city-admin", "admin"]
    assert {"tpe-udd-clerk", "khh-social-owner", "tnn-auditor"} <= {a.username for a in accounts}
    assert all(re.search(r"[\u4e00-\u9fff]", a.display_name) for a in accounts)

    clerk = authenticate(db, "tpe-udd-clerk", DEMO_PASSWORD)
    assert clerk.agency_code == "taipei-city.urban_development"
    assert set(ROLES) - {a.role for a in accounts} == {"citizen"}


def test_seed_demo_accounts_is_idempotent(db: Session) -> None:
    first = seed_demo_accounts(db, DEMO_JURISDICTIONS)
    count = db.scalar(select(func.count()).select_from(User))
    badges = {u.username: u.badge for u in list_users(db)}
    second = seed_demo_accounts(db, DEMO_JURISDICTIONS)
    assert not any(a.created for a in second)
    assert [a.username for a in second] == [a.username for a in first]
    assert db.scalar(select(func.count()).select_from(User)) == count
    assert {u.username: u.badge for u in list_users(db)} == badges


def test_seed_follows_the_agencies_a_jurisdiction_has(db: Session) -> None:
    accounts = seed_demo_accounts(
        db, ["penghu-county"], {"penghu-county": ["penghu-county.land_office", "tax_office"]}
    )
    names = {a.username for a in accounts}
    assert {
        "pen-land-clerk",
        "pen-land-owner",
        "pen-tax-clerk",
        "pen-tax-owner",
        "pen-auditor",
    } <= names
    assert "pen-udd-clerk" not in names
