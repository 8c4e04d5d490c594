"""A password is its holder's own: a clerk changes theirs, and one set by anyone else (an
administrator on the web, the operator's command line) is temporary until they do.

The hole these close: a tenant's administrator made clerk accounts with passwords of their
own choosing that the clerk could never change, and so could sign in as any clerk, with the
audit log naming the clerk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from onceonly.accounts.api_tokens import issue_api_token
from onceonly.accounts.demo_accounts import seed_demo_accounts
from onceonly.accounts.password_changes import password_set_by, set_password
from onceonly.accounts.password_rules import OPERATOR, PASSWORD_CHANGE_PATH, SELF
from onceonly.accounts.principal import NODE_OPERATOR
from onceonly.accounts.signin import MAX_FAILURES
from onceonly.accounts.users import UserView, create_user, get_user
from onceonly.audit.models import AuditEntry
from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory
from onceonly.errors import Problem
from tests.accounts.conftest import PASSWORD, login
from tests.conftest import citizen_headers, post_login

MakeUser = Callable[..., UserView]
CHANGE = PASSWORD_CHANGE_PATH
CLERK = "tpe-fire-clerk"
ADMIN_CHOSEN = "the administrator chose this"
OWN = "only the clerk knows this one"


def _entries(settings: Settings, event: str) -> list[AuditEntry]:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        rows = list(db.scalars(select(AuditEntry).where(AuditEntry.event == event)))
    engine.dispose()
    return rows


def _account(settings: Settings, username: str) -> UserView:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        user = get_user(db, username)
        assert user is not None
        assert password_set_by(db, user.id) == user.password_set_by
    engine.dispose()
    return user


def _signs_in(client: TestClient, username: str, password: str) -> Any:
    fresh = TestClient(client.app, follow_redirects=False)
    return post_login(fresh, url="/login", data={"username": username, "password": password})


def _change(client: TestClient, csrf: str, current: str, new: str, again: str | None = None) -> Any:
    return client.post(
        CHANGE,
        data={
            "csrf_token": csrf,
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


# --- a clerk changes their own ---------------------------------------------------------------


def test_a_clerk_changes_their_password(
    client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    make_user("tpe-land-clerk")
    elsewhere = TestClient(client.app, follow_redirects=False)
    login(elsewhere, "tpe-land-clerk")  # another browser of the same clerk
    csrf = login(client, "tpe-land-clerk")
    account = client.get("/account")
    assert f'href="{CHANGE}"' in account.text, "reachable from the header and the account page"
    page = client.get(CHANGE)
    assert page.status_code == 200
    assert '<label for="f-current_password">目前的密碼</label>' in page.text
    assert 'autocomplete="new-password"' in page.text
    assert "新密碼 8 至 256 個字元" in page.text  # the account rules, in words

    refusals = [
        (
            "wrong current password",
            _change(client, csrf, "not my password", OWN),
            "目前的密碼不正確",
        ),
        ("mismatched", _change(client, csrf, PASSWORD, OWN, OWN + "!"), "兩次輸入的新密碼不同"),
        ("too short", _change(client, csrf, PASSWORD, "short"), "密碼至少 8 個字元"),
        ("unchanged", _change(client, csrf, PASSWORD, PASSWORD), "新密碼必須與目前的密碼不同"),
    ]
    for why, answer, words in refusals:
        assert answer.status_code == 422, why
        assert words in answer.text, why
        assert 'role="alert"' in answer.text, why
    english = client.post(
        CHANGE + "?lang=en",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "short",
            "new_password_again": "shorter",
        },
    )
    assert english.status_code == 422
    assert "A password has at least 8 characters" in english.text
    assert "The two new passwords differ" in english.text
    client.cookies.delete("lang")  # English chosen just above sticks: back to Chinese
    assert _signs_in(client, "tpe-land-clerk", PASSWORD).status_code == 303, "nothing changed"
    assert _entries(settings, "account.password_changed") == []

    no_csrf = client.post(
        CHANGE, data={"current_password": PASSWORD, "new_password": OWN, "new_password_again": OWN}
    )
    assert no_csrf.status_code == 403

    done = _change(client, csrf, PASSWORD, OWN)
    assert done.status_code == 303 and done.headers["location"] == CHANGE + "?changed=1"
    assert "已變更您的密碼" in client.get(done.headers["location"]).text
    assert client.get("/api/v1/auth/whoami").status_code == 200, "this session goes on"
    assert elsewhere.get("/api/v1/auth/whoami").status_code == 401, "the others end"
    assert _signs_in(client, "tpe-land-clerk", PASSWORD).status_code == 401, "old one stops"
    assert _signs_in(client, "tpe-land-clerk", OWN).status_code == 303, "new one works"
    account_view = _account(settings, "tpe-land-clerk")
    assert account_view.password_set_by == SELF
    assert not account_view.must_change_password
    assert "您本人於" in client.get(CHANGE).text

    [entry] = _entries(settings, "account.password_changed")
    assert entry.actor_username == "tpe-land-clerk", "the account itself is the actor"
    assert entry.actor_badge == account_view.badge
    assert entry.details["credential"]["kind"] == "session"
    assert entry.details["credential"]["issued_by"] == "self"
    assert entry.details["other_sessions_ended"] == 2  # the other browser, the check above
    assert entry.details["was_temporary"] is False
    assert OWN not in str(entry.details) and PASSWORD not in str(entry.details)


def test_a_wrong_current_password_counts_as_a_failed_sign_in(
    client: TestClient, make_user: MakeUser
) -> None:
    """A borrowed session cannot guess the password through the change form."""
    make_user("tpe-land-clerk")
    csrf = login(client, "tpe-land-clerk")
    for _ in range(MAX_FAILURES):
        _change(client, csrf, "a wrong guess", OWN)
    locked = _change(client, csrf, PASSWORD, OWN)
    assert locked.status_code == 422
    assert "連續登入失敗次數過多" in locked.text
    assert _signs_in(client, "tpe-land-clerk", PASSWORD).status_code == 429, "sign-in too"


def test_only_the_holders_own_session_changes_a_password(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    clerk = make_user("tpe-land-clerk")
    token, _ = issue_api_token(db, clerk.id, "counter system", 1)
    db.commit()
    bearer = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    form = {"current_password": PASSWORD, "new_password": OWN, "new_password_again": OWN}
    by_token = client.post(CHANGE, data=form, headers=bearer)
    assert by_token.status_code == 403 and "API 權杖不能變更密碼" in by_token.json()["detail"]
    assert client.get(CHANGE, headers=bearer).status_code == 403
    as_citizen = citizen_headers(db, "A123456789", "王小明")
    db.commit()
    citizen = client.get(CHANGE, headers=as_citizen)
    assert citizen.status_code == 403 and "required_roles" in citizen.json()


# --- a password someone else set is temporary ------------------------------------------------


def test_an_administrators_password_opens_only_the_change_page(
    client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    admin_csrf = login(client, "tpe-admin")
    made = client.post(
        "/admin/users",
        data={
            "csrf_token": admin_csrf,
            "username": CLERK,
            "display_name": "臺北市消防局 承辦人",
            "role": "clerk",
            "agency_code": "taipei-city.fire",
            "password": ADMIN_CHOSEN,
        },
    )
    assert made.status_code == 303
    assert "臨時密碼" in client.get(made.headers["location"]).text
    account = _account(settings, CLERK)
    assert account.must_change_password and account.password_set_by == "tpe-admin"
    admin = _account(settings, "tpe-admin")
    [set_entry] = _entries(settings, "account.password_set")
    assert set_entry.actor_username == "tpe-admin", "the administrator is the actor"
    assert set_entry.actor_badge == admin.badge
    assert set_entry.details["account"]["badge"] == account.badge
    assert set_entry.details["account"]["id"] == account.id
    assert set_entry.details["made"] is True
    assert set_entry.owner_agency == "taipei-city.fire", "the tenant's auditors see it"

    # the administrator (or anyone told the password) signs in with it first
    snooper = TestClient(client.app, follow_redirects=False)
    login(snooper, CLERK, ADMIN_CHOSEN)

    clerk = TestClient(client.app, follow_redirects=False)
    signed_in = post_login(clerk, url="/login", data={"username": CLERK, "password": ADMIN_CHOSEN})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == CHANGE
    page = clerk.get(CHANGE)
    assert page.status_code == 200
    assert "別人替您設定的臨時密碼" in page.text
    assert "系統管理者 tpe-admin 於" in page.text, "who set it, and when"
    csrf = _csrf(page.text)

    html = {"Accept": "text/html"}
    for path in ("/counter", "/account", "/survey", "/"):
        held = clerk.get(path, headers=html)
        assert held.status_code == 303, path
        assert held.headers["location"] == CHANGE, path
    api = clerk.get("/api/v1/auth/whoami", headers={"Accept": "application/json"})
    assert api.status_code == 403
    problem = api.json()
    assert problem["type"].endswith("password-change-required")
    assert "臨時密碼" in problem["detail"] and CHANGE in problem["detail"]
    english = clerk.get("/api/v1/auth/whoami?lang=en")
    assert "set by someone else and is temporary" in english.json()["detail"]
    posted = clerk.post(
        "/api/v1/cases",
        json={"application_item": "x", "subject": "A123456789"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert posted.status_code == 403 and posted.json()["type"].endswith("password-change-required")

    kept = _change(clerk, csrf, ADMIN_CHOSEN, ADMIN_CHOSEN)
    assert kept.status_code == 422 and "新密碼必須與目前的密碼不同" in kept.text
    assert _account(settings, CLERK).must_change_password, "the administrator's stays temporary"

    done = _change(clerk, csrf, ADMIN_CHOSEN, OWN)
    assert done.status_code == 303
    assert clerk.get("/api/v1/auth/whoami").status_code == 200, "now everything opens"
    assert clerk.get("/counter", headers=html).status_code == 200
    assert snooper.get("/api/v1/auth/whoami").status_code == 401, "the other session ended"
    assert _signs_in(client, CLERK, ADMIN_CHOSEN).status_code == 401, "theirs no longer works"
    assert _signs_in(client, CLERK, OWN).headers["location"] == "/counter"
    account = _account(settings, CLERK)
    assert account.password_set_by == SELF and not account.must_change_password
    [changed] = _entries(settings, "account.password_changed")
    assert changed.actor_username == CLERK
    assert changed.details["was_temporary"] is True
    assert changed.details["previously_set_by"] == f"badge:{admin.badge}"  # never a username


def test_sign_out_stays_open_with_a_temporary_password(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    clerk = make_user("tpe-land-clerk")
    set_password(db, clerk.username, ADMIN_CHOSEN, by=OPERATOR)
    db.commit()
    csrf = login(client, "tpe-land-clerk", ADMIN_CHOSEN)
    assert client.get("/login").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"


def test_a_token_is_not_held_back_by_a_temporary_password(
    client: TestClient, make_user: MakeUser, db: Session
) -> None:
    clerk = make_user("tpe-land-clerk")
    set_password(db, clerk.username, ADMIN_CHOSEN, by=OPERATOR)
    token, _ = issue_api_token(db, clerk.id, "counter system", 1)
    db.commit()
    whoami = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.status_code == 200 and whoami.json()["username"] == "tpe-land-clerk"


def test_an_administrator_resets_a_clerks_password_to_a_temporary_one(
    client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    make_user("tpe-admin", role="admin", agency="taipei-city.civil_affairs")
    make_user("tpe-land-clerk")
    make_user("ntpc-land-clerk", agency="new-taipei-city.land_office")
    clerk = TestClient(client.app, follow_redirects=False)
    login(clerk, "tpe-land-clerk")
    csrf = login(client, "tpe-admin")

    def reset(username: str, password: str = ADMIN_CHOSEN) -> Any:
        return client.post(
            "/admin/users/password",
            data={"csrf_token": csrf, "reset_username": username, "reset_password": password},
        )

    done = reset("tpe-land-clerk")
    assert done.status_code == 303
    assert "已為 tpe-land-clerk 設定臨時密碼" in client.get(done.headers["location"]).text
    assert clerk.get("/api/v1/auth/whoami").status_code == 401, "its sessions end"
    account = _account(settings, "tpe-land-clerk")
    assert account.must_change_password and account.password_set_by == "tpe-admin"
    [entry] = _entries(settings, "account.password_set")
    assert entry.actor_username == "tpe-admin" and entry.details["made"] is False
    assert _signs_in(client, "tpe-land-clerk", ADMIN_CHOSEN).headers["location"] == CHANGE

    weak = reset("tpe-land-clerk", "short")
    assert weak.status_code == 422 and 'id="f-reset_password-error"' in weak.text
    other_tenant = reset("ntpc-land-clerk")
    assert other_tenant.status_code == 422 and "找不到使用者 ntpc-land-clerk" in other_tenant.text
    own = reset("tpe-admin")
    assert own.status_code == 422 and CHANGE in own.text
    assert len(_entries(settings, "account.password_set")) == 1, "nothing else was set"
    assert not _account(settings, "ntpc-land-clerk").must_change_password


def test_the_platform_administrator_sets_no_password_of_a_tenants_clerk(
    client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    make_user("admin", role="admin", agency="central.ndc")
    make_user("tpe-land-clerk")
    csrf = login(client, "admin")
    refused = client.post(
        "/admin/users/password",
        data={"csrf_token": csrf, "reset_username": "tpe-land-clerk", "reset_password": "x" * 12},
    )
    assert refused.status_code == 422 and "不能替 tpe-land-clerk 設定密碼" in refused.text
    assert _signs_in(client, "tpe-land-clerk", PASSWORD).status_code == 303
    assert _entries(settings, "account.password_set") == []


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "en")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_the_operators_set_password_is_temporary_too(
    runner: CliRunner, client: TestClient, make_user: MakeUser, settings: Settings
) -> None:
    make_user("tpe-land-clerk")
    result = runner.invoke(
        cli, ["users", "set-password", "tpe-land-clerk", "--password", ADMIN_CHOSEN]
    )
    assert result.exit_code == 0, result.output
    assert "must change it at the next sign-in" in result.output
    account = _account(settings, "tpe-land-clerk")
    assert account.must_change_password and account.password_set_by == OPERATOR
    [entry] = _entries(settings, "account.password_set")
    assert entry.actor_username == NODE_OPERATOR
    assert entry.details["credential"]["issued_by"] == NODE_OPERATOR
    signed_in = _signs_in(client, "tpe-land-clerk", ADMIN_CHOSEN)
    assert signed_in.headers["location"] == CHANGE
    login(client, "tpe-land-clerk", ADMIN_CHOSEN)
    assert "節點維運者以指令" in client.get(CHANGE).text

    created = runner.invoke(
        cli,
        [
            "users",
            "create",
            "tpe-fire-clerk",
            "--role",
            "clerk",
            "--agency",
            "taipei-city.fire",
            "--display-name",
            "承辦人",
            "--password",
            ADMIN_CHOSEN,
        ],
    )
    assert created.exit_code == 0, created.output
    assert "temporary" in created.output
    assert _account(settings, "tpe-fire-clerk").password_set_by == OPERATOR
    assert _signs_in(client, "tpe-fire-clerk", ADMIN_CHOSEN).headers["location"] == CHANGE


# --- the record and its readers --------------------------------------------------------------


def test_who_set_a_password_is_recorded_and_readable(db: Session) -> None:
    unknown = create_user(db, "tpe-land-clerk", PASSWORD, "clerk", "taipei-city.land_office", "王")
    assert password_set_by(db, unknown.id) is None, "not said: not recorded"
    assert not unknown.must_change_password
    own = create_user(
        db, "tpe-udd-clerk", PASSWORD, "clerk", "taipei-city.urban_development", "李", set_by="self"
    )
    assert password_set_by(db, own.id) == "self" and not own.must_change_password
    system = create_user(
        db,
        "tpe-udd-system",
        None,
        "clerk",
        "taipei-city.urban_development",
        "系統",
        set_by="operator",
    )
    assert password_set_by(db, system.id) is None, "no password, nothing to record"
    assert not system.must_change_password
    assert password_set_by(db, 999_999) is None
    for reserved in ("self", "operator", "node-operator"):
        with pytest.raises(Problem) as refused:
            create_user(db, reserved, PASSWORD, "admin", "taipei-city.civil_affairs", "x")
        assert refused.value.errors[0].code == "reserved"


def test_the_demo_accounts_sign_in_without_a_forced_change(db: Session) -> None:
    """``./demo`` and the browser tests sign in with the published password as is."""
    accounts = seed_demo_accounts(db, ["taipei-city"])
    for account in accounts:
        view = get_user(db, account.username)
        assert view is not None
        assert not view.must_change_password, account.username
        assert view.password_set_by == SELF, account.username
    assert db.scalars(select(AuditEntry)).first() is None, "seeding sets no one's password"
